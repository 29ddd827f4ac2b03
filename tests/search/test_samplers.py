"""Sampling that is right: every worker, machine and resume draws new configurations, and
trial k's draws depend on the study's seed and k alone. Real SQLite and PostgreSQL; the
objective is a plain function of the parameters (the sampling is the point)."""

from __future__ import annotations

import inspect
import math
import threading

import optuna
import pytest

from tests.search import refusal
from tests.tiny import TINY
from tuner.errors import TunerError
from tuner.search.samplers import SAMPLERS, TrialSeededSampler, build_sampler, trial_seed
from tuner.storage import open_storage
from tuner.study.spec import StudySpec, categorical, float_range
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
    with pytest.raises(TunerError, match="study file '<study>': sampler 'tpe' has no option "
                                         "'nope'; its options: n_startup_trials"):
        build_sampler(StudySpec(name="s", sampler="tpe", sampler_options=dict(nope=1)))
    with pytest.raises(TunerError, match="sampler 'tpe' option 'seed': got 'x', expected an "
                                         "integer >= 0"):
        build_sampler(StudySpec(name="s", sampler="tpe", sampler_options=dict(seed="x")))


@pytest.mark.parametrize(("sampler", "options", "words"), [
    ("tpe", dict(n_startup_trials="ten"),
     "option 'n_startup_trials': got 'ten', expected an integer >= 0"),
    ("tpe", dict(n_startup_trials=-1), "option 'n_startup_trials': got -1, expected a value >= 0"),
    ("tpe", dict(n_startup_trials=2.5), "expected an integer >= 0"),
    ("tpe", dict(constant_liar="yes"), "option 'constant_liar': got 'yes', expected true or false"),
    ("tpe", dict(n_ei_candidates=0), "option 'n_ei_candidates': got 0, expected a value >= 1"),
    ("cmaes", dict(sigma0=-1), "option 'sigma0': got -1.0, expected a value > 0 or None"),
    ("cmaes", dict(sigma0=0), "option 'sigma0': got 0.0, expected a value > 0 or None"),
    ("cmaes", dict(popsize=1), "option 'popsize': got 1, expected a value >= 2 or None"),
    ("gp", dict(n_startup_trials=None), "option 'n_startup_trials': got None, expected an integer"),
    ("qmc", dict(qmc_type="faure"), "option 'qmc_type': got 'faure', expected one of sobol, "
                                     "halton"),
    ("random", dict(seed=-3), "option 'seed': got -3, expected a value >= 0"),
    ("grid", dict(n_startup_trials=5), "sampler 'grid' has no option 'n_startup_trials'; its "
                                       "options: seed"),
    # combinations Optuna itself refuses: its own words, on one line
    ("tpe", dict(group=True, multivariate=False), "sampler 'tpe': ``group`` option can only"),
    ("cmaes", dict(use_separable_cma=True, with_margin=True),
     "sampler 'cmaes': Currently, we do not support `use_separable_cma=True` and "
     "`with_margin=True`"),
])
def test_every_option_is_checked_before_a_trial_draws(sampler, options, words):
    space_of = dict(space=dict(lr=categorical([1e-3]))) if sampler == "grid" else {}
    spec = StudySpec(name="s", sampler=sampler, sampler_options=options, source="s.py",
                     **space_of)
    message = refusal(spec)  # what the pre-run check says
    assert message.startswith(f"study file 's.py': sampler {sampler!r}") and words in message


def test_the_declared_options_are_the_samplers_own():
    """Each declared option is a keyword argument of the Optuna sampler it reaches, with
    Optuna's default (but tuner's seed, and TPE's constant_liar, which Optuna 5 also has
    on); a sampler built with every default draws."""
    reaches = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
               "cmaes": optuna.samplers.CmaEsSampler, "gp": optuna.samplers.GPSampler,
               "qmc": optuna.samplers.QMCSampler, "grid": optuna.samplers.RandomSampler}
    assert set(reaches) == set(SAMPLERS)
    for name, kind in reaches.items():
        parameters = inspect.signature(kind).parameters
        for option in SAMPLERS.component(name).options:
            assert option.name in parameters, (name, option.name)
            if option.name not in ("seed", "multivariate"):  # Optuna: None, i.e. True here
                assert parameters[option.name].default == option.default, (name, option.name)
            assert option.help, (name, option.name)
    assert SAMPLERS.component("cmaes").requires == "cmaes"
    assert [name for name in SAMPLERS if SAMPLERS.component(name).extra.get("shared_seed")] \
        == ["qmc", "grid"]
    tuned = build_sampler(StudySpec(name="s", sampler="cmaes", sampler_options=dict(
        sigma0=0.3, popsize=6, n_startup_trials=2)))
    assert tuned.prototype._sigma0 == 0.3 and tuned.prototype._popsize == 6


def test_none_for_options_is_refused_with_the_field_named():
    for field in ("sampler_options", "pruner_options"):
        with pytest.raises(TunerError, match=f"StudySpec '{field}': got None, expected a dict "
                                             r"of options \(dict\(\) for none"):
            StudySpec(name="s", **{field: None})
    with pytest.raises(TunerError, match="'sampler_options': got \\[1\\]"):
        StudySpec(name="s", sampler_options=[1])


def test_a_refused_option_creates_no_study(any_storage_url, study_name, tmp_path):
    """The pre-run check refuses before the storage is opened: no SQLite file, no
    PostgreSQL study."""
    from tuner import api

    spec = StudySpec(name=study_name, space=dict(lr=float_range(1e-4, 1e-2, log=True)),
                     sampler="tpe", sampler_options=dict(n_startup_trials="ten"), n_trials=2)
    with pytest.raises(TunerError, match="sampler 'tpe' option 'n_startup_trials'"):
        api.run_study(spec, storage=any_storage_url, sets=TINY, workers=1, galleries=False)
    if any_storage_url.startswith("sqlite"):
        assert not (tmp_path / "tuner.db").exists()
    else:
        assert study_name not in optuna.get_all_study_names(open_storage(any_storage_url))
