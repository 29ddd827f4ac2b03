"""Progress on the terminal: a bar over trials, a bar over the running trial's epochs, and
one line per finished trial. With several worker processes the parent polls the storage."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tuner import records
from tuner.records import trial_params
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
        reason = attrs.get(records.FAIL_REASON, "see the log")
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
        self._trials = self._progress.add_task("trials", total=total)
        self._epochs = None
        self._seen: set[int] = set()

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
        self._seen.add(trial.number)
        self._progress.advance(self._trials)
        self._progress.console.print(describe_trial(trial))

    def poll(self, study: optuna.Study, since: set[int]) -> None:
        """Report trials that other processes finished (not in ``since``, not seen yet)."""
        for trial in study.get_trials(deepcopy=False,
                                      states=(TrialState.COMPLETE, TrialState.PRUNED,
                                              TrialState.FAIL)):
            if trial.number not in since and trial.number not in self._seen:
                self.trial_end(trial)
