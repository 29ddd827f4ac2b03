"""The Python surface of tuner: everything the ``tuner`` command does, as typed functions.

A notebook, a benchmark or a test runs a study with :func:`run_study`, a campaign with
:func:`run_campaign`, and writes exports, reports, evaluations and predictions with
:func:`export`, :func:`report`, :func:`evaluate` and :func:`predict`, exactly as the
command line does (``tuner.cli`` only parses arguments, calls these and prints). Every
argument is checked first (:mod:`tuner.arguments`: a wrong type, None, a negative count);
a user mistake raises :class:`~tuner.errors.TunerError` (one line in the command's words,
the command's exit 2) before anything is stored; progress goes to ``console`` (default:
stderr). Optuna's own log stays at warnings unless ``$TUNER_VERBOSE`` is set (``tuner
--verbose``).

    from tuner import api
    outcome = api.run_study("studies/weight_decay.py", sets={"epochs": 5}, workers=1)
    api.export("weight_decay", formats="csv,md")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tuner import arguments as check
from tuner import interrupt
from tuner.config import TrainConfig, parse_assignments
from tuner.startup import heavy_imports
from tuner.workers.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S

Settings = Mapping[str, Any] | Sequence[str] | str | None
__all__ = ["CampaignResult", "TrainConfig", "TrainResult", "campaign_status", "evaluate",
           "export", "predict", "report", "run_campaign", "run_study", "settings", "train",
           "workers_of"]
RUN_OPTIONS = ("storage", "study_name", "n_trials", "timeout", "save_weights", "galleries",
               "heartbeat_interval", "grace_period", "devices")
#: what a campaign says the moment a stop is asked for (:mod:`tuner.stop_notice`)
STOPPING = ("stopping ({signal}) after the current batch: running trials go back in the "
            "queue, frozen stages stay frozen; run the same command again to go on "
            "(Ctrl-C again: stop at once)")


def settings(sets: Settings = None, data: str | None = None) -> dict[str, Any]:
    """``--set`` values (``{"epochs": 5}``, ``["epochs=5"]`` or one ``"epochs=5"``) and
    ``--data`` as one dict of config fields, each value checked."""
    given, data = check.assignments(sets), check.dataset(data)
    values = given if isinstance(given, dict) else parse_assignments(given)
    if data is not None:
        values["dataset"] = data
    TrainConfig.from_dict(values, "--set")  # a bad value fails here, before anything else
    return values


workers_of = check.workers  # ``--workers``: None for auto, else a number >= 1


def _console(console: Console | None) -> Console:
    return console or Console(stderr=True, soft_wrap=True)


def _quiet() -> None:
    from tuner.optuna_internals import quiet_optuna

    quiet_optuna()


def run_study(study: str | Path | Any, *, storage: str | None = None,
              study_name: str | None = None, n_trials: int | None = None,
              timeout: float | None = None, data: str | None = None, sets: Settings = None,
              workers: int | str | None = "auto", save_weights: bool = False,
              galleries: bool = True, devices: Sequence[int] | None = None,
              heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
              grace_period: int = GRACE_PERIOD_S, console: Console | None = None,
              results: Console | None = None):
    """Create or resume a study (a study file's path, or a ``StudySpec``) and run its
    trials with progress; returns the :class:`~tuner.workers.outcome.RunOutcome` (its
    ``exit_code``: 0 all finished, 1 some failed). ``results`` gets the best trials and
    where they are stored (default: ``console``)."""
    study = check.source(study, "study", "tuner.study.spec.StudySpec")
    options = dict(zip(RUN_OPTIONS, check.each(
        storage=storage, study_name=study_name, n_trials=n_trials, timeout=timeout,
        save_weights=save_weights, galleries=galleries, heartbeat_interval=heartbeat_interval,
        grace_period=grace_period, devices=devices), strict=True))
    console, results = check.each(console=console, results=results)
    storage, n_trials = options["storage"], options["n_trials"]
    requested, options["overrides"] = workers_of(workers), settings(sets, data)
    _quiet()
    from tuner.data.cache import use_root
    from tuner.storage import data_cache_dir
    from tuner.workers.fork_server import warm_up

    use_root(data_cache_dir(storage))

    warm_up(requested, n_trials)  # the fork server imports beside this process
    with heavy_imports():
        from tuner.study.spec import load_spec
        from tuner.workers.local_workers import run_local  # noqa: F401  (the training stack)
        from tuner.workers.runner import RunOptions

    spec = load_spec(study, storage, options["overrides"]) if check.is_path(study) else study
    return _run(spec, RunOptions(**options), requested, _console(console), results)


def _run(spec, options, requested: int | None, console: Console, results: Console | None):
    """One study run through :mod:`tuner.workers.session`, then its best trials and summary."""
    from tuner.reports.console import best_trials_table
    from tuner.workers import session

    _quiet()
    run = session.run_study(spec, options, requested, console)
    results = results or console
    results.print(best_trials_table(run.study))
    session.summarize(run, console, results)
    release_connections(run.study)  # a campaign's next stage opens its own
    return run.outcome


def release_connections(study) -> None:
    """Close the pooled connections of ``study``'s storage (a server database's)."""
    from tuner.optuna_internals import sql_engine, storage_of

    engine = sql_engine(storage_of(study))
    if engine is not None:
        engine.dispose()


@dataclass
class CampaignResult:
    """A campaign after a run: the frozen winner of each stage done, the stages in order,
    the final test scores once every stage is frozen (else None), and whether a stage
    failed trials (the command's exit 1)."""

    campaign: Any
    record: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] | None = None
    failed: bool = False
    #: the trials of each stage not frozen yet, by state (``{"COMPLETE": 2, "FAIL": 2}``)
    trials: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return len(self.record) == len(self.campaign.stages)


def run_campaign(campaign: str | Path | Any, *, storage: str | None = None,
                 data: str | None = None, sets: Settings = None, n_trials: int | None = None,
                 workers: int | str | None = "auto", save_weights: bool = False,
                 console: Console | None = None, results: Console | None = None
                 ) -> CampaignResult:
    """Run a campaign's stages in order, each as the study ``CAMPAIGN/STAGE`` fixing the
    frozen winners of the stages before; ``n_trials`` gives every sampled stage that many
    trials in all (grid stages run their grid); ends with the last winner's test scores,
    stored once in the campaign's record. A stop (Ctrl-C, SIGTERM) is answered at once
    with a line on ``console`` and ends the campaign within a batch."""
    from tuner.storage import data_cache_dir, storage_url
    from tuner.study.campaign import load_campaign

    campaign = check.source(campaign, "campaign", "tuner.study.campaign.Campaign")
    storage, n_trials, save_weights, console, results = check.each(
        storage=storage, n_trials=n_trials, save_weights=save_weights, console=console,
        results=results)
    requested, overrides = workers_of(workers), settings(sets, data)
    _quiet()
    from tuner.data.cache import use_root
    from tuner.stop_notice import StopNotice
    from tuner.study.campaign_setup import check_stages
    from tuner.workers.fork_server import warm_up

    use_root(data_cache_dir(storage))
    warm_up(requested, n_trials)
    with heavy_imports():
        from tuner.workers.local_workers import run_local  # noqa: F401  (the training stack)
    console, url = _console(console), storage_url(storage)
    interrupt.install()
    with StopNotice(lambda line: _say(console, line), STOPPING) as notice:
        with notice.at_once():  # loading and checking the stages stores nothing
            loaded = load_campaign(campaign, storage, overrides) if check.is_path(
                campaign) else campaign
            check_stages(loaded, overrides)
        _hold_campaign_setup(loaded, url, overrides)
        if n_trials is not None:
            _say(console, f"--n-trials {n_trials}: every sampled stage runs {n_trials} trials "
                          "in all (its own n_trials set aside); grid stages run their grid")
        result = _run_stages(loaded, url, overrides, n_trials, requested, save_weights,
                             console, results)
        if result.done and not result.failed:
            from tuner.reports.campaign_final import final_test_scores

            result.final = final_test_scores(loaded, url, lambda line: _say(console, line),
                                             notice.at_once)
    return result


def _hold_campaign_setup(campaign, url: str, overrides: dict[str, Any]) -> None:
    """The campaign's setup (its stages checked) stored on its first run or insisted on
    (:mod:`tuner.study.campaign_setup`)."""
    from tuner.storage import open_storage, study_lock
    from tuner.study.campaign_setup import campaign_setup, hold_setup

    setup = campaign_setup(campaign, overrides)
    storage = open_storage(url)
    with study_lock(url, campaign.name):
        hold_setup(storage, url, campaign, setup)


def _run_stages(campaign, url: str, overrides: dict[str, Any], n_trials: int | None,
                requested: int | None, save_weights: bool, console: Console,
                results: Console | None) -> CampaignResult:
    """The stages in order until one is unfinished or failed trials."""
    from tuner.reports.campaign_report import readable_rule
    from tuner.results.runs import choose_winner
    from tuner.storage import open_storage
    from tuner.study.campaign import (
        fixed_by,
        freeze_winner,
        read_record,
        stage_budget,
        stage_study,
    )
    from tuner.study.checks import searched_fields
    from tuner.workers.runner import RunOptions

    storage = open_storage(url)
    record = read_record(storage, campaign)
    for stage in campaign.stages:
        interrupt.raise_if_requested()  # between two stages: a safe point
        if stage.name in record:
            _say(console, f"stage {stage.name!r}: frozen ({_fields(record[stage.name])})")
            continue
        spec = campaign.spec(stage, fixed_by(campaign, record, stage), n_trials)
        options = RunOptions(storage=url, overrides=overrides, save_weights=save_weights,
                             stage=stage.name, stage_n_trials=n_trials)
        _say(console, f"stage {stage.name!r} of campaign {campaign.name!r}")
        outcome = _run(spec, options, requested, console, results)
        if outcome.failed:
            return CampaignResult(campaign, record, failed=True)
        if outcome.left:
            _say(console, f"stage {stage.name!r}: {outcome.left} trial(s) left; its winner "
                          "is chosen when it is complete")
            return CampaignResult(campaign, record)
        study = stage_study(storage, spec.name)
        winner = choose_winner(study, sorted(searched_fields(spec))).as_record()
        record = freeze_winner(storage, campaign, stage, {**winner,
                                                          "budget": stage_budget(spec)})
        _say(console, f"stage {stage.name!r}: winner frozen: {readable_rule(winner['rule'])}")
    return CampaignResult(campaign, record)


def _fields(winner: dict[str, Any]) -> str:
    from tuner.results.formatting import param

    return ", ".join(f"{k}={param(v, k)}" for k, v in winner["fields"].items())


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def campaign_status(campaign: str | Path, storage: str | None = None) -> CampaignResult:
    """A campaign's frozen winners, its other stages' trials and its final scores as
    stored, without running anything."""
    campaign = check.path("campaign", campaign, "a campaign file's path")
    storage = check.storage(storage)
    _quiet()
    import optuna

    from tuner.storage import open_storage, storage_url
    from tuner.study.campaign import load_campaign, read_final, read_record

    loaded = load_campaign(campaign, storage)
    stored = open_storage(storage_url(storage), create=False)
    record = read_record(stored, loaded)
    names = set(optuna.get_all_study_names(stored))
    trials = {stage.name: dict(Counter(t.state.name for t in optuna.load_study(
                  study_name=loaded.study_name(stage), storage=stored).get_trials(deepcopy=False)))
              for stage in loaded.stages
              if stage.name not in record and loaded.study_name(stage) in names}
    return CampaignResult(loaded, record, read_final(stored, loaded), trials=trials)


def export(study_name: str, *, storage: str | None = None, out: Path | None = None,
           formats: str | Sequence[str] | None = None, metric: str = "val_dice",
           target: float | None = None) -> list[Path]:
    """Write a study's tables, plots and galleries (``docs/exports.md``); the paths.
    ``formats`` (a subset of csv,md,tex,html,png,svg,pdf) default: csv, md, tex, html and
    png where kaleido can draw it (else a note says why); png, svg or pdf asked for and not
    drawn is a TunerError, and nothing is written."""
    study_name, storage, out, formats, metric, target = check.each(
        study=study_name, storage=storage, out=out, formats=formats, metric=metric,
        target=target)
    _quiet()
    from tuner.reports.export import export_study
    from tuner.storage import storage_url

    return export_study(storage_url(storage), study_name, out, formats, metric, target)


def report(study_names: str | Sequence[str], *, storage: str | None = None,
           out: Path | None = None, metric: str = "val_dice",
           target: float | None = None) -> Path:
    """Write one self-contained HTML page about ``study_names`` (one name, or several;
    campaigns expand to their lineage and stages); its path."""
    names, storage, out, metric, target = check.each(
        studies=study_names, storage=storage, out=out, metric=metric, target=target)
    _quiet()
    from tuner.reports import html_report
    from tuner.storage import storage_url

    url = storage_url(storage)
    return html_report.write_report(url, names, out or html_report.default_report_path(
        url, names), metric, target)


def evaluate(study_name: str, *, storage: str | None = None, trial: int | None = None,
             best: bool = False, split: str | None = None, data: str | None = None,
             out: Path | None = None, gallery: Path | None = None, native: bool = True):
    """Score a trial's model (saved weights, or a retrain) on a split or another dataset,
    at each image's own size (not with ``native`` False) and at the training size, and
    write the evaluation files; returns ``(Evaluation, folder)``. Every argument and
    output is checked before the work, and nothing is written on a mistake."""
    study_name, storage, trial, best, split, data, out, gallery, native = check.each(
        study=study_name, storage=storage, trial=trial, best=best, split=split, data=data,
        out=out, gallery=gallery, native=native)
    _quiet()
    with heavy_imports():
        from tuner.inference.evaluation import check_picture_path, choose, evaluate_choice
        from tuner.reports import evaluation_files as files
    from tuner.storage import storage_url

    if gallery is not None:
        check_picture_path(gallery, "--gallery")
    url = storage_url(storage)
    choice = choose(url, study_name, trial, data, split, best)
    folder = out if out is not None else files.default_folder(
        url, study_name, choice.split, data)
    files.check_folder(folder, gallery)
    result = evaluate_choice(choice, native)
    files.write_evaluation(result, study_name, folder, gallery)
    return result, folder


def predict(study_name: str, *, images: Path, out: Path, storage: str | None = None,
            trial: int | None = None, best: bool = False, threshold: float | None = None,
            probabilities: bool = False, console: Console | None = None,
            max_image_pixels: int | None = None):
    """Write a mask per image of ``images`` with a trial's saved weights; the
    :class:`~tuner.inference.prediction.Prediction`. ``out`` is checked before any work
    and made only once the study, the trial and its weights are found; images above
    ``max_image_pixels`` (default: the trial's) are skipped."""
    (study_name, storage, trial, best, images, out, threshold, probabilities, console,
     max_image_pixels) = check.each(
        study=study_name, storage=storage, trial=trial, best=best, images=images,
        masks_out=out, threshold=threshold, probabilities=probabilities, console=console,
        max_image_pixels=max_image_pixels)
    _quiet()
    with heavy_imports():
        from tuner.inference.prediction import predict_images
        from tuner.reports.export import check_output

    check_output(out, "--out")
    return predict_images(storage, study_name, images, out, trial, best, threshold,
                          probabilities, console=_console(console), max_pixels=max_image_pixels)


@dataclass
class TrainResult:
    """A plain training run: the resolved config, the fit and the test scores (empty
    without a test split)."""

    config: TrainConfig
    fit: Any
    test: dict[str, float] = field(default_factory=dict)


def train(sets: Settings = None, data: str | None = None, on_epoch=None,
          console: Console | None = None) -> TrainResult:
    """One training run of ``TrainConfig`` defaults with ``sets`` (no study, no Optuna);
    ``on_epoch(report)`` sees every epoch. Ctrl-C or SIGTERM stops it at the next batch
    with :class:`tuner.training.Interrupted`, which holds the finished epochs."""
    cfg = TrainConfig.from_dict(settings(sets, data))
    on_epoch, console = check.each(on_epoch=on_epoch, console=console)
    console = _console(console)
    interrupt.install()
    with heavy_imports():
        from tuner.data import build_splits, describe_data, describe_location
        from tuner.training import build_model, fit, score

    splits = build_splits(cfg)
    build_model(cfg)  # a model mistake is the command's only line, before the data's
    console.print(describe_data(cfg, splits), markup=False, highlight=False)
    console.print(describe_location(cfg), markup=False, highlight=False)
    result = fit(cfg, splits, on_epoch=on_epoch)
    test = score(result.model, splits.test, cfg, result.runtime, result.normalize) \
        if len(splits.test) else {}
    return TrainResult(cfg, result, test)
