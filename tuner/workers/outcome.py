"""What one ``tuner run`` did, read back from the storage: the exit code is a promise.

Every worker of a run (this process, the spawned ones) writes its trials to the storage,
so the run's outcome is counted there, not in one process: the trials that were not
finished when the run began and are finished now. A trial that failed because its worker
died and whose retry then finished (Optuna's retry callback links them) was recovered: it
is worth a warning, not a failure. Exit codes: 0 every trial the run ran finished
(complete or pruned), 1 some failed (a mistake found only while trials ran, such as a
file gone mid-run, fails its trial, ends the run with its one-line error, and counts
here), 2 a user mistake before anything ran, 130 Ctrl-C.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.optuna_internals import retry_history


@dataclass
class RunOutcome:
    """The trials a run finished, by state, and the failures nothing recovered."""

    complete: int = 0
    pruned: int = 0
    duplicates: int = 0  # sampled configurations the study held already: not trained
    failed: list[FrozenTrial] = field(default_factory=list)  # not recovered by a retry
    recovered: int = 0  # failed with a dead worker, then retried to the end
    study_complete: int = 0  # completed trials of the whole study, this run's and before
    left: int = 0  # trials of the study still to run after this run (set by the caller)

    @property
    def ran(self) -> int:
        return self.complete + self.pruned + self.duplicates + len(self.failed) + self.recovered

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def failure_line(self, study_name: str) -> str:
        """``2 of 12 trials failed (last: ...): see tuner best STUDY`` (one line)."""
        last = self.failed[-1].user_attrs.get(records.FAIL_REASON, "") if self.failed else ""
        last = str(last).splitlines()[0][:160] if last else "no reason recorded"
        return (f"{len(self.failed)} of {self.ran} trials failed (last, trial "
                f"{self.failed[-1].number}: {last}); see tuner best {study_name} --state fail")


def finished_numbers(study: optuna.Study) -> set[int]:
    """Numbers of the study's finished trials: what a run does not count as its own."""
    return {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}


def run_outcome(study: optuna.Study, finished_before: set[int]) -> RunOutcome:
    """Count the trials finished since ``finished_before`` was taken."""
    trials = study.get_trials(deepcopy=False)
    retried_to_the_end = {
        number for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        for number in retry_history(t)
    }
    outcome = RunOutcome(study_complete=sum(t.state == TrialState.COMPLETE for t in trials))
    for trial in trials:
        if trial.number in finished_before or not trial.state.is_finished():
            continue
        if trial.state == TrialState.COMPLETE:
            outcome.complete += 1
        elif trial.state == TrialState.PRUNED and records.DUPLICATE_OF in trial.user_attrs:
            outcome.duplicates += 1
        elif trial.state == TrialState.PRUNED:
            outcome.pruned += 1
        elif trial.number in retried_to_the_end:
            outcome.recovered += 1
        else:
            outcome.failed.append(trial)
    return outcome
