"""Sampling that is right: every worker, machine and resume draws new configurations, and
trial k's draws depend on the study's seed and k alone. Real SQLite and PostgreSQL; the
objective is a plain function of the parameters (the sampling is the point)."""

from __future__ import annotations

import math
import threading

import optuna
import pytest

from tuner.search.samplers import TrialSeededSampler, build_sampler, trial_seed
from tuner.storage import open_storage
from tuner.study.spec import StudySpec
from tuner.workers.worker import run_trials

LR_RANGES = {"adam": (1e-5, 1e-2), "sgd": (1e-4, 3e-1), "rmsprop": (1e-5, 1e-2)}


def space(trial):
    optimizer = trial.suggest_categorical("optimizer", list(LR_RANGES))
    low, high = LR_RANGES[optimizer]
    return dict(optimizer=optimizer,
                lr=trial.suggest_float(f"lr_{optimizer}", low, high, log=True),
                loss=trial.suggest_categorical("loss", ["bce", "switching"]))


SPEC = StudySpec(name="lr", space=space, sampler="tpe",
                 sampler_options=dict(n_startup_trials=10, seed=0), n_trials=40)


def objective(trial) -> float:
    fields = SPEC.suggest(trial)
    return -(math.log10(fields["lr"]) + 3) ** 2 - (fields["loss"] == "bce") * 0.1


def open_study(url: str, name: str) -> optuna.Study:
    """A study as a worker opens it: its own storage connection, its own sampler."""
    return optuna.create_study(study_name=name, storage=open_storage(url),
                               sampler=build_sampler(SPEC), direction="maximize",
                               load_if_exists=True)


def run_workers(url: str, name: str, workers: int, trials_each: int) -> None:
    def work() -> None:
        run_trials(open_study(url, name), objective, claim_only=False, max_trials=trials_each)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def drawn(url: str, name: str) -> list[tuple]:
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    return [tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)]


def test_two_workers_draw_distinct_configurations(any_storage_url, study_name):
    run_workers(any_storage_url, study_name, workers=2, trials_each=8)
    configurations = drawn(any_storage_url, study_name)
    assert len(configurations) == 16 and len(set(configurations)) == 16


def test_a_resumed_run_continues_the_sequence(any_storage_url, study_name):
    run_workers(any_storage_url, study_name, workers=1, trials_each=6)
    run_workers(any_storage_url, study_name, workers=1, trials_each=6)  # a new process's
    configurations = drawn(any_storage_url, study_name)
    assert len(configurations) == 12 and len(set(configurations)) == 12


def test_one_and_two_workers_draw_the_same_start_up_set(any_storage_url, study_name):
    run_workers(any_storage_url, study_name + "-one", workers=1, trials_each=10)
    run_workers(any_storage_url, study_name + "-two", workers=2, trials_each=5)
    assert set(drawn(any_storage_url, study_name + "-one")) == \
        set(drawn(any_storage_url, study_name + "-two"))


def test_trial_draws_depend_on_the_seed_and_the_number_only():
    assert trial_seed(0, 3) == trial_seed(0, 3)
    assert len({trial_seed(seed, n) for seed in (0, 1) for n in range(50)}) == 100
    other = StudySpec(name="lr", space=space, sampler="tpe",
                      sampler_options=dict(n_startup_trials=10, seed=1))
    first = optuna.create_study(sampler=build_sampler(SPEC))
    second = optuna.create_study(sampler=build_sampler(other))
    first.optimize(objective, n_trials=3)
    second.optimize(objective, n_trials=3)
    assert [t.params for t in first.trials] != [t.params for t in second.trials]


def test_each_sampler_is_seeded_per_trial_with_its_options():
    tpe = build_sampler(SPEC)
    assert isinstance(tpe, TrialSeededSampler) and tpe.seed == 0
    assert isinstance(tpe.prototype, optuna.samplers.TPESampler)
    assert tpe.prototype._constant_liar  # several workers: running trials steer draws away
    assert tpe.prototype._n_startup_trials == 10  # the study file's options arrive
    unseeded = build_sampler(StudySpec(name="s", sampler="random"))
    assert unseeded.seed == 0  # reproducible by default
    qmc = build_sampler(StudySpec(name="s", sampler="qmc", sampler_options=dict(seed=4)))
    assert isinstance(qmc, optuna.samplers.QMCSampler)  # one scrambling for every worker
    for name, kind in [("cmaes", optuna.samplers.CmaEsSampler),
                       ("gp", optuna.samplers.GPSampler)]:
        assert isinstance(build_sampler(StudySpec(name="s", sampler=name)).prototype, kind)


def test_a_sampler_option_mistake_is_one_line():
    from tuner.errors import TunerError

    with pytest.raises(TunerError, match="sampler 'tpe': .*unexpected keyword argument 'nope'"):
        build_sampler(StudySpec(name="s", sampler="tpe", sampler_options=dict(nope=1)))
    with pytest.raises(TunerError, match="sampler_options 'seed': got 'x'"):
        build_sampler(StudySpec(name="s", sampler="tpe", sampler_options=dict(seed="x")))
