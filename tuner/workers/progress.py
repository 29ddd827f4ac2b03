"""Progress on the terminal: a bar over trials, a bar over the running trial's epochs, and
one line per finished trial. With several worker processes the parent polls the storage.

The trial bar counts pieces of work, not trial numbers: a trial whose worker died fails,
and its retry (a new number, Optuna's retry callback links them) finishes the same piece,
so the bar never shows more done than the run's total. A poll the storage could not answer
(a dropped connection, after the storage's own retries) is skipped: the next one catches up.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tuner import records
from tuner.optuna_internals import retry_history
from tuner.records import trial_params
from tuner.storage import is_transient
from tuner.training import EpochReport


def describe_trial(trial: FrozenTrial) -> str:
    """One line: number, state, Dice, parameters, epochs and seconds."""
    params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in trial_params(trial).items())
    attrs = trial.user_attrs
    repeat = attrs.get(records.REPEAT, 0)
    params += f" repeat={repeat}" if repeat else ""
    epochs, seconds = attrs.get(records.EPOCHS_RUN, 0), attrs.get(records.SECONDS, 0.0)
    if trial.state == TrialState.COMPLETE:
        head = f"trial {trial.number} complete: val Dice {trial.value:.4f}"
    elif records.DUPLICATE_OF in attrs:
        return f"trial {trial.number} skipped: {attrs.get(records.PRUNE_REASON)} ({params})"
    elif trial.state == TrialState.PRUNED:
        head = f"trial {trial.number} pruned at epoch {attrs.get(records.PRUNED_AT, '?')}"
        if attrs.get(records.PRUNE_REASON):
            head += f" ({attrs[records.PRUNE_REASON]})"
    else:
        reason = records.fail_reason(trial)
        return f"trial {trial.number} {trial.state.name.lower()}: {reason} ({params})"
    return f"{head}  {params}  ({epochs} epochs, {seconds:.1f} s)"


class StudyProgress:
    """Context manager showing a study's progress; feed it epochs and finished trials."""

    def __init__(self, total: int, console: Console | None = None,
                 enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=self.console, disable=not enabled, transient=False)
        self._total = total
        self._trials = self._progress.add_task("trials", total=total)
        self._epochs = None
        self._seen: set[int] = set()  # trial numbers already shown
        self._done: set[int] = set()  # the first trial of each piece of work finished

    @property
    def done(self) -> int:
        """Pieces of work finished, as the bar shows them (at most the total)."""
        return min(len(self._done), self._total)

    def __enter__(self) -> StudyProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def epoch(self, trial_number: int, report: EpochReport, epochs: int) -> None:
        text = (f"trial {trial_number} epoch {report.epoch}/{epochs} "
                f"val Dice {report.metrics['val_dice']:.3f}")
        if self._epochs is None:
            self._epochs = self._progress.add_task(text, total=epochs)
        self._progress.update(self._epochs, description=text, completed=report.epoch,
                              total=epochs)

    def trial_end(self, trial: FrozenTrial) -> None:
        """Show a finished trial once; a retry finishes the piece its failed trial began."""
        if trial.number in self._seen:
            return
        self._seen.add(trial.number)
        self._done.add(min([trial.number, *retry_history(trial)]))
        self._progress.update(self._trials, completed=self.done)
        self._progress.console.print(describe_trial(trial))

    def poll(self, study: optuna.Study, since: set[int]) -> None:
        """Report trials that other processes finished (not in ``since``, not seen yet)."""
        try:
            finished = study.get_trials(deepcopy=False, states=(
                TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        except Exception as exc:
            if not is_transient(exc):
                raise
            return  # only the display waits: the next poll reads what this one missed
        for trial in finished:
            if trial.number not in since:
                self.trial_end(trial)
