"""`tuner run`: sampler, pruner and component options refused by the pre-run check (issue
27): exit 2, one line naming the option, no database created (the run names a new SQLite
file, which must not appear) and the kept study untouched."""

from tests.cli.hostile import Case
from tests.tiny import TINY_SETS

SAMPLED = """from tuner import StudySpec, float_range
study = StudySpec(name="s", space=dict(lr=float_range(1e-4, 1e-2, log=True)), n_trials=2,
                  sampler={sampler!r}, sampler_options={sampler_options},
                  pruner={pruner!r}, pruner_options={pruner_options})
"""
GRID = """from tuner import StudySpec, categorical
study = StudySpec(name="s", sampler="grid", space=dict(lr=categorical([1e-3])))
"""


def run(sampler="tpe", sampler_options="{}", pruner="median", pruner_options="{}", *sets):
    study = SAMPLED.format(sampler=sampler, sampler_options=sampler_options, pruner=pruner,
                           pruner_options=pruner_options)
    return lambda p: ["run", p.file("study.py", study), "--storage",
                      f"sqlite:///{p.folder / 'new.db'}", *sets, *TINY_SETS]


def grid(*sets):
    return lambda p: ["run", p.file("study.py", GRID), "--storage",
                      f"sqlite:///{p.folder / 'new.db'}", *sets, *TINY_SETS]


CASES = [
    Case("run tpe with n_startup_trials in words", run("tpe", "dict(n_startup_trials='ten')"),
         "sampler 'tpe' option 'n_startup_trials': got 'ten', expected an integer >= 0"),
    Case("run hyperband with min_resource 0", run(pruner="hyperband",
                                                  pruner_options="dict(min_resource=0)"),
         "pruner 'hyperband' option 'min_resource': got 0, expected a value >= 1"),
    Case("run sampler_options None", run("tpe", "None"),
         "StudySpec 'sampler_options': got None, expected a dict of options"),
    Case("run cmaes with a negative sigma0", run("cmaes", "dict(sigma0=-1)"),
         "sampler 'cmaes' option 'sigma0': got -1.0, expected a value > 0 or None"),
    Case("run median with n_startup_trials in words",
         run(pruner_options="dict(n_startup_trials='five')"),
         "pruner 'median' option 'n_startup_trials': got 'five', expected an integer >= 0"),
    Case("run options of an unknown loss", grid("--set", "loss_options.nosuch.x=1"),
         "config field 'loss_options': unknown loss 'nosuch'; expected one of: bce"),
    Case("run focal options out of range with another loss",
         grid("--set", "loss=dice", "--set", "loss_options.focal.gamma=11"),
         "loss 'focal' option 'gamma': got 11.0, expected a value in [0, 10]"),
]
