"""More `tuner run` processes than cores on one grid (issue 26, item 3): do they finish,
each point once, no trial lost, and how long does it take?

Starts K independent ``tuner run STUDY --workers 1`` processes at once (as K cluster jobs
would) on one 48-point grid (6 learning rates x 8 dropouts) of the tiny synthetic setup,
against one PostgreSQL database (a fresh one, dropped afterwards) or a SQLite file, and
reports: the wall time to the last exit, every exit code, COMPLETE trials per grid point,
failed and retried trials, the process CPU seconds, and the load average.

    .venv/bin/python bench/overload.py --processes 8 16 --storage postgres
    .venv/bin/python bench/overload.py --processes 16 --size default  # 64 px, 3 epochs

``--threads 1`` passes ``--set threads=1`` (docs/scale-out.md asks for it when several
processes share a machine); ``default`` leaves torch's own thread count in every process.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import optuna
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LR = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2]
DROPOUT = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
SIZES = {  # tiny: the tests' setup, seconds per trial; default: the default run, 3 epochs
    "tiny": ["--set", "image_size=32", "--set", "synthetic_images=24",
             "--set", "base_channels=4", "--set", "batch_size=8", "--set", "epochs=2"],
    "default": ["--set", "epochs=3"],
}


def grid_file(folder: Path) -> Path:
    path = folder / "overload_grid.py"
    path.write_text(textwrap.dedent(f"""
        from tuner import StudySpec, categorical
        study = StudySpec(name="overload", sampler="grid", pruner="none",
                          space=dict(lr=categorical({LR}), dropout=categorical({DROPOUT})))
    """))
    return path


def fresh_postgres() -> tuple[str, callable]:
    name = f"tuner_overload_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"create database {name}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"drop database if exists {name} with (force)"))
        admin.dispose()

    url = sqlalchemy.engine.make_url(BASE_URL).set(database=name)
    return url.render_as_string(hide_password=False), drop


def run_once(processes: int, storage: str, threads: str, size: str, folder: Path) -> dict:
    url, drop = (fresh_postgres() if storage == "postgres"
                 else (f"sqlite:///{folder / f'overload-{processes}.db'}", lambda: None))
    study = grid_file(folder)
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "TUNER_DATA_CACHE": "off"}
    extra = ["--set", "threads=1"] if threads == "1" else []
    command = [sys.executable, "-m", "tuner.cli", "run", str(study), "--storage", url,
               "--workers", "1", "--no-galleries", *SIZES[size], *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(processes)]
    outputs = [run.communicate()[0] for run in runs]
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        storage_ = optuna.storages.RDBStorage(url)
        try:
            trials = optuna.load_study(study_name="overload", storage=storage_).get_trials()
        except KeyError:  # no run created the study: say why
            raise SystemExit("no study was created; the runs said:\n"
                             + "\n---\n".join(out[-1500:] for out in outputs[:3])) from None
        finally:
            storage_.engine.dispose()
    finally:
        drop()
    complete = collections.Counter((t.params["lr"], t.params["dropout"]) for t in trials
                                   if t.state == optuna.trial.TrialState.COMPLETE)
    states = collections.Counter(t.state.name for t in trials)
    return {
        "processes": processes, "storage": storage, "threads": threads, "size": size,
        "wall_s": round(wall, 1), "exit_codes": sorted(r.returncode for r in runs),
        "points_complete_once": sum(c == 1 for c in complete.values()),
        "points_complete_twice_or_more": sum(c > 1 for c in complete.values()),
        "points": len(LR) * len(DROPOUT), "states": dict(states),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "load_1min_after": round(os.getloadavg()[0], 1),
        "taken_over": sum("taken over" in out or "failed as stale" in out for out in outputs),
        "last_lines": [out.strip().splitlines()[-1][:160] for out in outputs
                       if out.strip()][:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--storage", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--threads", choices=["1", "default"], default="default")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    args = parser.parse_args()
    print(f"cpu: {os.cpu_count()} logical; load before {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        for count in args.processes:
            print(run_once(count, args.storage, args.threads, args.size, Path(folder)),
                  flush=True)


if __name__ == "__main__":
    main()
