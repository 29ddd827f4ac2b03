"""Benchmark: wall time of README's main command, and 1 worker x 2 threads vs 2 x 1.

Runs ``tuner run studies/weight_decay.py`` exactly as a user does (a fresh process, the
built-in synthetic data, a fresh SQLite storage) once with ``--workers 1`` (torch's default
of 2 threads on this machine) and once with ``--workers 2`` (1 thread each), alternating
when ``--rounds`` > 1. Reports wall seconds, trials per hour, the best validation Dice and
how many trials were pruned, read back from the storage.

    .venv/bin/python bench/main_command.py [--rounds 1] [--study studies/weight_decay.py]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parent.parent


def run_once(study_file: str, workers: int, folder: Path) -> dict:
    url = f"sqlite:///{folder / f'w{workers}_{time.monotonic_ns()}.db'}"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    start = time.perf_counter()
    done = subprocess.run([str(ROOT / ".venv/bin/tuner"), "run", study_file, "--storage", url,
                           "--workers", str(workers)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"tuner run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    (summary,) = optuna.get_all_study_summaries(url)
    trials = optuna.load_study(study_name=summary.study_name, storage=url).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    best = max(complete, key=lambda t: t.value)
    return dict(workers=workers, wall=wall, trials=len(trials), complete=len(complete),
                pruned=len(pruned), per_hour=3600 * len(trials) / wall, best=best.value,
                best_params=best.params,
                trial_seconds=sum(t.user_attrs.get("seconds", 0.0) for t in trials))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--study", default="studies/weight_decay.py")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for workers in (1, 2):
                row = run_once(args.study, workers, Path(tmp))
                rows.append(row)
                print(f"workers {workers}: {row['wall']:.0f} s wall, {row['trials']} trials "
                      f"({row['complete']} complete, {row['pruned']} pruned), "
                      f"{row['per_hour']:.0f} trials/h, best val Dice {row['best']:.4f} "
                      f"at {row['best_params']}, sum of trial seconds "
                      f"{row['trial_seconds']:.0f}", flush=True)
    print(f"python {sys.version.split()[0]}, load now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
