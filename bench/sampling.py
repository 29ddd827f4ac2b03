"""Benchmark: does a sampled study on two workers train new configurations every trial?

Runs ``tuner run studies/lr_by_optimizer.py --workers 2 --n-trials N`` (TPE seeded in the
study file) with the code of each ``--tree`` (a checkout: ``git worktree add`` an older
commit to compare), each into a fresh SQLite file, alternating trees over ``--rounds``,
and reports per run: distinct configurations out of the trials run, the best validation
Dice, and the wall time of the whole command.

    git worktree add /tmp/tuner-before COMMIT
    .venv/bin/python bench/sampling.py --tree before=/tmp/tuner-before --tree after=. \\
        [--n-trials 20] [--rounds 1] [--set base_channels=8 ...]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_report  # bench/machine.py


def run_once(tree: Path, n_trials: int, sets: list[str]) -> dict:
    """One whole ``tuner run`` with ``tree``'s code; its trials read back from SQLite."""
    tree = tree.resolve()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "tuner.db"
        env = {**os.environ, "PYTHONPATH": str(tree), "NO_ALBUMENTATIONS_UPDATE": "1",
               "TUNER_ARTIFACTS": str(Path(folder) / "artifacts")}
        command = [sys.executable, "-m", "tuner.cli", "run",
                   str(tree / "studies" / "lr_by_optimizer.py"), "--workers", "2",
                   "--n-trials", str(n_trials), "--storage", f"sqlite:///{db}",
                   "--no-galleries", *[arg for s in sets for arg in ("--set", s)]]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{tree}: exit {done.returncode}\n{done.stderr[-2000:]}")
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "select t.trial_id, t.state, v.value from trials t left join trial_values v "
                "on v.trial_id = t.trial_id").fetchall()
            params = connection.execute(
                "select trial_id, param_name, param_value from trial_params").fetchall()
    configs: dict[int, list] = {}
    for trial_id, name, value in params:
        configs.setdefault(trial_id, []).append((name, value))
    trained = [tuple(sorted(configs.get(t, []))) for t, state, _ in rows
               if state in ("COMPLETE", "PRUNED")]
    values = [v for _, state, v in rows if state == "COMPLETE" and v is not None]
    return dict(trials=len(rows), distinct=len(set(trained)), best=max(values, default=0.0),
                seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True,
                        help="NAME=PATH of a checkout (repeatable)")
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    print(cpu_report(), flush=True)
    print("| round | tree | trials | distinct configurations | best val Dice | wall s |")
    print("|---|---|---|---|---|---|")
    for round_ in range(args.rounds):
        order = list(trees.items()) if round_ % 2 == 0 else list(trees.items())[::-1]
        for name, path in order:
            r = run_once(Path(path), args.n_trials, args.sets)
            print(f"| {round_ + 1} | {name} | {r['trials']} | {r['distinct']} | "
                  f"{r['best']:.4f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
