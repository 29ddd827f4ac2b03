"""No epoch trained twice: an interrupted or killed trial goes on from its last epoch and
ends as an uninterrupted one would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

from tests.tiny import TINY, TINY_SETS
from tuner import StudySpec, categorical, interrupt, records
from tuner.storage import artifact_store
from tuner.study.objective import Objective
from tuner.workers.runner import RunOptions, prepare_study, run_worker

EPOCHS = 6
SPEC = StudySpec(name="resume", sampler="grid", pruner="none",
                 space=dict(lr=categorical([2e-3])))
OVERRIDES = {**TINY, "epochs": EPOCHS}


def run(url: str, stop_after: int | None = None, spec: StudySpec = SPEC,
        overrides: dict | None = None) -> None:
    """One worker of ``spec`` in this process; ``stop_after``: Ctrl-C while that epoch's
    hook runs (raised as the next epoch ends, before it is reported or kept)."""
    overrides = OVERRIDES if overrides is None else overrides
    options = RunOptions(storage=url, overrides=overrides, galleries=False)
    prepare_study(spec, options)

    def hook(trial, report, epochs) -> None:
        if report.epoch == stop_after:
            os.kill(os.getpid(), signal.SIGINT)  # recorded; raised at the next epoch's end

    objective = Objective(spec, overrides, artifact_store(url), galleries=False, on_epoch=hook)
    try:
        run_worker(spec, options, objective=objective)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupt._requested.clear()


def test_ctrl_c_requeues_the_trial_and_the_rerun_goes_on_from_its_last_epoch(tmp_path):
    whole, stopped = (f"sqlite:///{tmp_path / name}.db" for name in ("whole", "stopped"))
    run(whole)
    with pytest.raises(KeyboardInterrupt):
        run(stopped, stop_after=2)  # raised at the end of epoch 3, before it is reported
    trial = optuna.load_study(study_name="resume", storage=stopped).trials[0]
    assert trial.state == TrialState.WAITING and sorted(trial.intermediate_values) == [1, 2]
    assert list((tmp_path / "artifacts").glob(f"{records.CHECKPOINT_PREFIX}*"))
    run(stopped)
    [done] = optuna.load_study(study_name="resume", storage=stopped).trials
    [reference] = optuna.load_study(study_name="resume", storage=whole).trials
    assert done.number == 0 and done.state == TrialState.COMPLETE
    assert done.user_attrs[records.RESUMED] == {"epoch": 2, "of": EPOCHS, "retry_of": None}
    assert done.value == reference.value
    assert done.intermediate_values == reference.intermediate_values
    assert done.user_attrs[records.CURVES]["val_dice"] == \
        reference.user_attrs[records.CURVES]["val_dice"]
    assert not list((tmp_path / "artifacts").glob(f"{records.CHECKPOINT_PREFIX}*"))


STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="killed", sampler="grid", pruner="none",
                      space=dict(lr=categorical([2e-3])))
"""


KILLED_EPOCHS = 30


@pytest.mark.slow
def test_a_sigkilled_trial_is_retried_from_its_last_epoch(tmp_path, any_storage_url, study_name):
    file = tmp_path / "killed.py"
    file.write_text(textwrap.dedent(STUDY.replace('"killed"', repr(study_name))))
    # the uninterrupted reference runs in another process: precision=auto may time its way to
    # another choice there (on a CPU with AVX512-BF16), so both compute in fp32
    # 30 tiny epochs (about 0.04 s each on a quiet machine) polled every 0.05 s: the kill
    # lands mid-run, not after the last epoch (where the checkpoint is already removed)
    sets = [*TINY_SETS, "--set", f"epochs={KILLED_EPOCHS}", "--set", "precision=fp32"]
    command = [sys.executable, "-m", "tuner.cli", "run", str(file), "--storage",
               any_storage_url, "--workers", "1", "--no-galleries", "--heartbeat-interval",
               "1", "--grace-period", "2", *sets]
    env = {**os.environ, "TUNER_ARTIFACTS": str(tmp_path / "artifacts")}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            trials = optuna.load_study(study_name=study_name, storage=any_storage_url).trials
        except KeyError:
            continue
        if trials and len(trials[0].intermediate_values) >= 4:
            break
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name=study_name, storage=any_storage_url)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    resumed = retry.user_attrs[records.RESUMED]
    assert resumed["retry_of"] == 0 and resumed["epoch"] >= 3
    assert f"resumed at epoch {resumed['epoch'] + 1} of {KILLED_EPOCHS}" in again.stderr
    # the kill may land mid-write (the checkpoint is renamed whole) or after an epoch was
    # reported and before it was kept (the retry trains it again without reporting it)
    assert "checkpoint unreadable" not in again.stderr
    assert "already reported" not in again.stderr
    assert sorted(retry.intermediate_values) == list(range(1, KILLED_EPOCHS + 1))
    # the same run never stopped: the same best validation Dice
    whole = subprocess.run([*command[:6], f"sqlite:///{tmp_path / 'whole.db'}",
                            *command[7:]], env=env, capture_output=True, text=True,
                           timeout=300)
    assert whole.returncode == 0, whole.stderr
    reference = optuna.load_study(study_name=study_name,
                                  storage=f"sqlite:///{tmp_path / 'whole.db'}").trials[0]
    assert retry.value == reference.value
