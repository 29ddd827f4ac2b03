"""Study files: loading, validation with one-line errors, grid points, configs per trial."""

from __future__ import annotations

import textwrap

import optuna
import pytest

from tuner.errors import TunerError
from tuner.search.pruners import FloorPruner, SameFoldPruner, build_pruner
from tuner.search.samplers import build_sampler
from tuner.study.spec import StudySpec, categorical, float_range, load_spec, unit_parts


def write(tmp_path, body: str, name: str = "study.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_load_spec_reads_the_study(tmp_path):
    path = write(tmp_path, """
        from tuner import StudySpec, categorical
        study = StudySpec(name="wd", space=dict(weight_decay=categorical([0.1, 0.01])),
                          sampler="grid", repeats=2)
    """)
    spec = load_spec(path)
    assert spec.name == "wd" and spec.source == str(path)
    assert spec.grid_points() == [{"weight_decay": 0.1}, {"weight_decay": 0.01}]
    assert spec.default_n_trials() == 4


@pytest.mark.parametrize(("body", "match"), [
    ("study = (", "syntax error at line"),
    ("x = 1", "defines no study"),
    ("from tuner import StudySpec\nstudy = StudySpec(name='a', base=dict(lrr=1))",
     "unknown config field 'lrr' \\(did you mean 'lr'\\?\\)"),
    ("from tuner import StudySpec\nstudy = StudySpec(name='a', base=dict(lr=-1))",
     "'lr': got -1"),
    ("from tuner import StudySpec\nstudy = StudySpec(name='a', space=dict(lr=[1, 2]))",
     "expected categorical"),
    ("from tuner import StudySpec, float_range\n"
     "study = StudySpec(name='a', space=dict(lr=float_range(1e-4, 1e-2)), sampler='grid')",
     "sampler 'grid' needs"),
    ("import nonexistent_module", "ModuleNotFoundError"),
])
def test_bad_study_files_give_one_line_naming_the_file(tmp_path, body, match):
    path = write(tmp_path, body)
    with pytest.raises(TunerError, match=match) as info:
        load_spec(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_failing_study_file_names_its_own_line(tmp_path):
    path = write(tmp_path, "from tuner import StudySpec\n\nrate = 1 / 0\n"
                           "study = StudySpec(name='a')")
    with pytest.raises(TunerError) as info:
        load_spec(path)
    assert str(info.value) == (f"study file {str(path)!r} at line 3 (`rate = 1 / 0`): "
                               "ZeroDivisionError: division by zero")
    path = write(tmp_path, "from tuner import StudySpec\n"
                           "study = StudySpec(name='a', base={'lr': -1})")
    with pytest.raises(TunerError, match=r"at line 2 \(`study = StudySpec"):
        load_spec(path)


def test_missing_study_file(tmp_path):
    with pytest.raises(TunerError, match="not found"):
        load_spec(tmp_path / "nope.py")


def test_config_layers_base_params_overrides_and_repeat_seed():
    spec = StudySpec(name="a", base=dict(lr=1e-2, epochs=3, seed=5),
                     space=dict(weight_decay=categorical([0.1])))
    cfg = spec.config({"weight_decay": 0.1}, {"epochs": 7}, repeat=2)
    assert (cfg.lr, cfg.weight_decay, cfg.epochs, cfg.seed) == (1e-2, 0.1, 7, 7)


def test_suggest_uses_optuna_distributions_and_function_spaces():
    study = optuna.create_study()
    spec = StudySpec(name="a", space=dict(lr=float_range(1e-4, 1e-2, log=True),
                                          loss=categorical(["bce", "dice"])))
    trial = study.ask()
    params = spec.suggest(trial)
    assert 1e-4 <= params["lr"] <= 1e-2 and params["loss"] in ("bce", "dice")
    assert trial.params == params

    def space(trial):
        opt = trial.suggest_categorical("optimizer", ["sgd"])
        return dict(optimizer=opt, lr=trial.suggest_float("lr_sgd", 1e-3, 1e-1, log=True))

    conditional = StudySpec(name="b", space=space)
    params = conditional.suggest(study.ask())
    assert params["optimizer"] == "sgd" and "lr" in params


def test_samplers_and_pruners_by_name():
    grid = StudySpec(name="g", space=dict(lr=categorical([1e-3, 1e-2])), sampler="grid")
    assert isinstance(build_sampler(grid), optuna.samplers.RandomSampler)  # see samplers.py
    for name, kind in [("median", optuna.pruners.MedianPruner),
                       ("hyperband", optuna.pruners.HyperbandPruner),
                       ("patient", optuna.pruners.PatientPruner),
                       ("percentile", optuna.pruners.PercentilePruner),
                       ("threshold", FloorPruner),
                       ("hopeless", FloorPruner),
                       ("none", optuna.pruners.NopPruner)]:
        pruner = build_pruner(StudySpec(name="p", pruner=name))
        assert isinstance(getattr(pruner, "inner", pruner), kind)  # SameFoldPruner: inner
        assert isinstance(pruner, SameFoldPruner) == (kind not in (FloorPruner,
                                                                   optuna.pruners.NopPruner))
    with pytest.raises(TunerError, match="unknown pruner 'medain'; expected one of: median"):
        build_pruner(StudySpec(name="p", pruner="medain"))
    with pytest.raises(TunerError, match="pruner .median. has no option .nope."):
        build_pruner(StudySpec(name="p", pruner="median", pruner_options=dict(nope=1)))


def test_a_paired_unit_is_a_fold_and_a_seed_repeat():
    """Units 0..folds-1 are every fold of seed repeat 0; without folds a unit is the repeat."""
    assert [unit_parts(u, 3) for u in range(6)] == [(0, 0), (1, 0), (2, 0),
                                                     (0, 1), (1, 1), (2, 1)]
    assert [unit_parts(u, 1) for u in range(3)] == [(0, 0), (0, 1), (0, 2)]
    spec = StudySpec(name="f", base={"folds": 3, "seed": 7}, repeats=2)
    assert [(spec.config({}, None, u).fold, spec.config({}, None, u).seed)
            for u in range(6)] == [(0, 7), (1, 7), (2, 7), (0, 8), (1, 8), (2, 8)]
    assert spec.units() == 6 and spec.default_n_trials() == 120
    plain = StudySpec(name="p", repeats=2)
    assert plain.config({}, None, 1) == plain.config({}, None, 0).replace(seed=1)
    assert plain.units() == 2 and plain.units({"folds": 5}) == 10


def test_folds_come_from_the_base_or_the_run_and_fold_is_never_set_by_hand(tmp_path):
    path = write(tmp_path, """
        from tuner import StudySpec, categorical
        study = StudySpec(name="g", sampler="grid", space=dict(lr=categorical([1e-3, 1e-2])))
    """)
    spec = load_spec(path, overrides={"folds": 4})
    assert spec.folds_of() == 4 and spec.default_n_trials() == 8
    assert load_spec(path).folds_of() == 1
    with pytest.raises(TunerError, match="'fold' is set per trial"):
        StudySpec(name="f", base={"folds": 3, "fold": 1})
    with pytest.raises(TunerError, match="'fold' is set per trial"):
        StudySpec(name="f").config({}, {"folds": 3, "fold": 1})
    with pytest.raises(TunerError, match=r"space\['folds'\]: folds decide how"):
        StudySpec(name="f", space=dict(folds=categorical([1, 5])))
