"""One run of a study: check and prepare it, say what will run, train with progress on the
local workers, and say what happened. :func:`tuner.api.run_study` (``tuner run``, each
stage of ``tuner campaign``) calls it and then shows the best trials.

Everything it says goes to ``console`` (stderr in the command, any rich Console in a
notebook); it returns a :class:`StudyRun` whose outcome's exit code is the command's. A
mistake found before anything ran raises ``TunerError`` (exit 2); one found while trials
ran becomes :class:`TrialsFailed` after its line and the "N of M trials failed" line are
printed (exit 1); Ctrl-C propagates as ``KeyboardInterrupt`` once the workers stopped.
While the study is checked, a terminal shows a transient status line and nothing is
printed: a mistake found by the checks is the one line the command prints.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field, replace

import optuna
from optuna.trial import TrialState
from rich.console import Console

from tuner import interrupt, records
from tuner.data import build_splits, describe_data, describe_location
from tuner.data.caveats import steps_per_epoch
from tuner.errors import TrialsFailed, TunerError
from tuner.optuna_internals import retry_history
from tuner.results.caveats import weak_result
from tuner.search.pruners import pruner_cannot_act
from tuner.storage import redact, storage_url
from tuner.study.notes import save_study_note
from tuner.study.spec import StudySpec
from tuner.training import resolve_runtime
from tuner.workers.local_workers import choose_workers, run_local, with_worker_threads
from tuner.workers.outcome import RunOutcome, finished_numbers, run_outcome
from tuner.workers.progress import StudyProgress
from tuner.workers.runner import RunOptions, prepare_study, remaining_work


@dataclass
class StudyRun:
    """What one run did: the study, the outcome (counted in the storage), the workers'
    warnings, the storage URL."""

    study: optuna.Study
    outcome: RunOutcome
    url: str
    notices: list[str] = field(default_factory=list)


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def run_study(spec: StudySpec, options: RunOptions, requested_workers: int | None,
              console: Console) -> StudyRun:
    """Prepare ``spec``'s study and run what is left of it with progress on ``console``."""
    url = storage_url(options.storage)
    with console.status(f"checking study {spec.name!r} from {spec.source} ..."):
        study = prepare_study(spec, options)  # transient: a mistake is the only line
    base = spec.config({}, options.overrides)
    _say(console, describe_data(base))
    _say(console, describe_location(base))
    for caveat in study.user_attrs.get(records.CAVEATS) or []:
        _say(console, f"caution: {caveat}")
    todo = remaining_work(study, spec)
    if options.n_trials is not None:
        todo = options.n_trials if not spec.is_grid else min(todo, options.n_trials)
    workers, why = choose_workers(requested_workers, todo, options.devices)
    options = replace(options, workers=workers)
    per_worker = spec.config({}, with_worker_threads(options).overrides) if workers > 1 \
        else base  # decided at the thread count each worker will train with
    _say(console, f"runtime: {resolve_runtime(per_worker).describe()}")
    cannot_prune = pruner_cannot_act(
        spec, base.epochs, steps_per_epoch(len(build_splits(base).train), base))
    if cannot_prune and todo:
        _say(console, f"note: {cannot_prune}")
    _say(console, f"study {study.study_name!r} in {redact(url)}: {todo} trial(s) to run"
         + (f" on {workers} worker(s) ({why})" if todo else ""))
    before = finished_numbers(study)
    notices = _train(spec, options, study, todo, console, before)
    outcome = handed_on(study, run_outcome(study, before))
    outcome.left = remaining_work(study, spec)
    if outcome.ran:  # the note names the best configuration so far; nothing ran: unchanged
        save_study_note(study, spec, options.overrides)
    return StudyRun(study, outcome, url, notices)


def handed_on(study: optuna.Study, outcome: RunOutcome) -> RunOutcome:
    """``outcome`` with a failure whose retry another worker is running now counted as
    recovered: this run's worker was starved past the grace period and its trial taken
    over, not lost (the retry's own run reports how it ends)."""
    running = {number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               for number in retry_history(t)}
    taken = [t for t in outcome.failed if t.number in running]
    outcome.failed = [t for t in outcome.failed if t.number not in running]
    outcome.recovered += len(taken)
    return outcome


def _train(spec: StudySpec, options: RunOptions, study: optuna.Study, todo: int,
           console: Console, before: set[int]) -> list[str]:
    try:
        with StudyProgress(todo, console, enabled=todo > 0) as progress:
            if todo == 0:
                _say(console, "nothing left to run: every trial of this study is finished "
                              "(--n-trials N runs more of a sampled study)")
                return []
            return run_local(spec, options, study, progress)
    except KeyboardInterrupt:
        _say(console, f"interrupted ({signal.Signals(interrupt.received()).name}): the "
                      "running trials are back in the queue; run the same command again to "
                      "resume them first")
        raise
    except TunerError as exc:  # found while trials ran: not "before anything ran" (exit 2)
        _say(console, f"tuner: error: {exc}")
        outcome = handed_on(study, run_outcome(study, before))
        if outcome.failed:  # exit 1 always says how many failed
            _say(console, f"tuner: {outcome.failure_line(study.study_name)}")
        raise TrialsFailed(str(exc)) from None


def summarize(run: StudyRun, console: Console, results: Console) -> None:
    """What a run leaves to say after its best trials: warnings, duplicates, caveats, where
    the results are (on ``results``), and the failures' line."""
    study, outcome = run.study, run.outcome
    for notice in run.notices:
        _say(console, f"warning: {notice}")
    if outcome.duplicates:
        _say(console, f"note: {outcome.duplicates} sampled configuration(s) were ones the "
                      "study held already (same parameters and repeat): recorded as "
                      "duplicates, not trained again")
    weak = weak_result(study)
    if weak and outcome.ran:
        _say(console, f"caution: {weak}")
    if outcome.study_complete == 0 and outcome.pruned:
        _say(console, f"no trial of this study completed: all {outcome.pruned} run now were "
                      "pruned (the pruner's threshold or warm-up may not suit this data); "
                      f"see tuner best {study.study_name} --state pruned")
    _say(results, f"results: {redact(run.url)} (study {study.study_name!r}); tables and "
                  f"plots: tuner export {study.study_name}; live view: tuner dashboard")
    if outcome.failed:
        _say(console, f"tuner: {outcome.failure_line(study.study_name)}")
