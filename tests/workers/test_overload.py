"""Each grid point once under overload: more `tuner run` processes than cores on one study.

Eight processes on 2 cores once trained a grid point twice (a run starting while a trial
held only part of its point read the point as missing and queued it again). Here three
processes share a SQLite study and three more a PostgreSQL one, all at once on a machine
of two cores, with a heartbeat grace of 2 s: starved trials may be taken over, and still
every point has exactly one COMPLETE trial and every run exits 0.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.tiny import TINY_SETS

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3  # per storage: six in all, on two cores
LR, DROPOUT = [1e-3, 2e-3, 3e-3], [0.0, 0.1, 0.2, 0.3]  # 12 points of two fields each
BEAT = ["--heartbeat-interval", "1", "--grace-period", "2"]


def write_grid(folder: Path, name: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(f"""
        from tuner import StudySpec, categorical
        study = StudySpec(name="{name}", sampler="grid", pruner="none",
                          space=dict(lr=categorical({LR}), dropout=categorical({DROPOUT})))
    """))
    return path


def start(study_file: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "TUNER_WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "run", str(study_file), "--storage", url,
         "--workers", "1", *BEAT, *TINY_SETS, "--set", "epochs=1", "--set", "threads=1",
         "--no-galleries"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def trials_of(url: str, name: str) -> list:
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    finally:
        storage.engine.dispose()


@pytest.mark.slow
def test_more_processes_than_cores_train_each_grid_point_once(tmp_path, postgres_url,
                                                              study_name):
    urls = {"sqlite": f"sqlite:///{tmp_path / 'tuner.db'}", "postgres": postgres_url}
    study_file = write_grid(tmp_path, study_name)
    began = time.monotonic()
    runs = {kind: [start(study_file, url) for _ in range(PROCESSES)]
            for kind, url in urls.items()}
    try:
        outputs = {kind: [p.communicate(timeout=240)[0] for p in processes]
                   for kind, processes in runs.items()}
    finally:
        for process in (p for processes in runs.values() for p in processes):
            if process.poll() is None:
                process.kill()
    seconds = time.monotonic() - began
    for kind, url in urls.items():
        codes = [p.returncode for p in runs[kind]]
        assert codes == [0] * PROCESSES, (kind, codes, outputs[kind])
        trials = trials_of(url, study_name)
        complete = collections.Counter(
            (t.params["lr"], t.params["dropout"]) for t in trials
            if t.state == TrialState.COMPLETE)
        assert complete == {(lr, d): 1 for lr in LR for d in DROPOUT}, (kind, complete)
        retried = {t.system_attrs.get("failed_trial") for t in trials} - {None}
        failed = [t.number for t in trials if t.state == TrialState.FAIL]
        assert set(failed) <= retried, (kind, failed)  # a failure only as a takeover
        longest = max((t.datetime_complete - t.datetime_start).total_seconds()
                      for t in trials if t.state == TrialState.COMPLETE)
        print(f"{kind}: {PROCESSES} processes, {len(complete)} points, "
              f"{sum(complete.values())} COMPLETE, {len(failed)} taken over, "
              f"longest trial {longest:.1f} s")
    print(f"{2 * PROCESSES} processes in {seconds:.1f} s")
