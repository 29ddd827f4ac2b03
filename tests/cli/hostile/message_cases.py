"""Issue 27, item 7: arguments refused in the API's words (empty names, negative counts,
folders given as files), a text file given as a database, `--best` of a study whose trials
were all pruned, and plots asked for that kaleido cannot draw."""

import optuna
from optuna.distributions import FloatDistribution

from tests.cli.hostile import KEPT, Case, Place
from tests.cli.hostile.campaign_cases import campaign
from tests.cli.hostile.output_cases import images
from tests.cli.hostile.run_cases import STUDY, run

NO_BROWSER = (("BROWSER_PATH", "/nonexistent/chrome"),)


def folder(p: Place) -> str:
    """A folder named like a study file."""
    path = p.folder / "study.py"
    path.mkdir()
    return str(path)


def new_db(p: Place) -> str:
    """A SQLite file that does not exist yet (a mistake must not create it)."""
    return f"sqlite:///{p.folder / 'new.db'}"


def pruned(p: Place) -> str:
    """A storage holding the study 'pruned': two trials, both pruned."""
    url = f"sqlite:///{p.folder / 'pruned.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="pruned", storage=url, direction="maximize")
    for lr in (1e-3, 2e-3):
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED, params={"lr": lr},
            distributions={"lr": FloatDistribution(1e-4, 1e-2, log=True)},
            intermediate_values={1: 0.1}))
    return url


ALL_PRUNED = ("study 'pruned': no completed trial to evaluate (2 pruned); tuner best pruned "
              "--state pruned says why")

CASES = [
    Case("run with an empty --study-name", run(STUDY, "--study-name", ""),
         "--study-name: got '', expected a non-empty name"),
    Case("run a study path that is a folder", lambda p: ["run", folder(p)],
         "is a folder; expected a .py file that defines study = StudySpec(...)"),
    Case("campaign file that is a folder", lambda p: ["campaign", folder(p)],
         "is a folder; expected a .py file that defines campaign = Campaign(...)"),
    Case("run --n-trials -1 creates no database",
         lambda p: ["run", p.file("study.py", STUDY), "--storage", new_db(p), "--n-trials",
                    "-1"], "--n-trials: got -1, expected a whole number >= 1"),
    Case("run --timeout -5", run(STUDY, "--timeout", "-5"),
         "--timeout: got -5, expected a number of seconds >= 1"),
    Case("run --data ''", run(STUDY, "--data", ""), "--data: got '', expected 'synthetic'"),
    Case("run --devices -1", run(STUDY, "--devices", "-1"),
         "--devices: got -1, expected GPU numbers >= 0"),
    Case("campaign --n-trials 0", campaign("--n-trials", "0"),
         "--n-trials: got 0, expected a whole number >= 1"),
    Case("campaign --status --n-trials 0", campaign("--status", "--n-trials", "0"),
         "--n-trials: got 0"),
    Case("studies of a text file",
         lambda p: ["studies", "--storage",
                    f"sqlite:///{p.file('a-text-file.txt', 'not a database' * 100)}"],
         "file is not a database"),
    Case("evaluate --best of a study whose trials were all pruned",
         lambda p: ["evaluate", "pruned", "--best", "--storage", pruned(p)], ALL_PRUNED,
         leaves=("pruned.lock",)),
    Case("predict --best of a study whose trials were all pruned",
         lambda p: ["predict", "pruned", "--best", "--images", images(p), "--out",
                    str(p.folder / "out"), "--storage", pruned(p)], ALL_PRUNED,
         leaves=("pruned.lock",)),
    Case("export --format svg without a browser",
         lambda p: ["export", KEPT, "--format", "svg"],
         "--format svg: cannot draw the svg plots: kaleido found no Chrome or Chromium at "
         "BROWSER_PATH=/nonexistent/chrome", env=NO_BROWSER),
    Case("export --target-dice 2", lambda p: ["export", KEPT, "--target-dice", "2"],
         "--target-dice: got 2, expected a validation Dice between 0 and 1"),
    Case("evaluate --trial -1", lambda p: ["evaluate", KEPT, "--trial", "-1"],
         "--trial: got -1, expected a trial number >= 0"),
]
