"""Benchmark: wall time of README's main command, as a user runs it, with the CPU it ran on.

Runs ``tuner run studies/weight_decay.py`` exactly as a user does (a fresh process, the
built-in synthetic data, a fresh SQLite storage) for each variant in turn, alternating the
variants over ``--rounds`` so that machine noise hits all alike. A variant is a number of
workers (``--workers 1,2``; ``default`` passes no ``--workers``, so that the tree's own
default decides) times a source tree (this checkout, and with ``--before PATH``
an older copy, e.g. ``git archive HEAD | tar -x -C /tmp/before``, run from its own folder
with its own study file). ``--set`` and ``--env`` apply to every run: ``--env
ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`` makes oneDNN emulate bf16 as on a CPU without
AVX512-BF16/AMX (measured 2.6x slower than fp32 here, like the real thing).

Reports, per run, wall seconds, trials per hour, complete / pruned trials, the best
validation Dice, the question's answer (the worst cell, e.g. weight decay 0.1 at 20 % of
the data), the precisions the trials computed in (stored with each trial; a tree
before that attribute shows none) and where the time outside training went (to the first
trial, to a second worker's first trial, after the last trial); per tree the runtime
line of a one-epoch ``tuner train``; and, once, the CPU: model name, the /proc/cpuinfo
flags that decide bf16, torch's capability dict (its bf16 keys) and the oneDNN cap if any.

    .venv/bin/python bench/main_command.py [--rounds 1] [--workers 1,2] [--before PATH]
        [--study studies/weight_decay.py] [--set precision=fp32] [--env KEY=VALUE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from machine import cpu_report  # bench/machine.py, beside this file
from optuna.trial import TrialState

from tuner import records

ROOT = Path(__file__).resolve().parent.parent


def tree_command(tree: Path) -> list[str]:
    """How to start tuner from ``tree``: this checkout's entry point, or another copy's
    package through PYTHONPATH (it shadows the editable install)."""
    if tree == ROOT:
        return [str(ROOT / ".venv/bin/tuner")]
    return [str(ROOT / ".venv/bin/python"), "-m", "tuner.cli"]


def run_env(tree: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", **extra}
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)
    return env


def precision_line(tree: Path, sets: list[str], extra: dict[str, str]) -> str:
    """The runtime line ``tuner train`` prints for a 1-epoch run with these settings."""
    args = [*tree_command(tree), "train", "--set", "epochs=1"]
    for assignment in sets:
        args += ["--set", assignment]
    done = subprocess.run(args, cwd=tree, env=run_env(tree, extra), capture_output=True,
                          text=True)
    line = (done.stdout.strip().splitlines() or ["?"])[-1]
    return line[line.find("(") + 1:].rsplit(",", 1)[0] if "(" in line else line


def run_once(study_file: str, workers: str, tree: Path, sets: list[str],
             extra: dict[str, str], folder: Path) -> dict:
    tag = "now" if tree == ROOT else "before"
    url = f"sqlite:///{folder / f'{tag}_w{workers}_{time.monotonic_ns()}.db'}"
    args = [*tree_command(tree), "run", study_file, "--storage", url]
    if workers != "default":
        args += ["--workers", workers]
    for assignment in sets:
        args += ["--set", assignment]
    start, started_at = time.perf_counter(), time.time()
    done = subprocess.run(args, cwd=tree, env=run_env(tree, extra), capture_output=True,
                          text=True)
    wall, ended_at = time.perf_counter() - start, time.time()
    if done.returncode != 0:
        raise SystemExit(f"tuner run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    (summary,) = optuna.get_all_study_summaries(url)
    trials = optuna.load_study(study_name=summary.study_name, storage=url).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    best = max(complete, key=lambda t: t.value)
    dice = {tuple(sorted(t.params.items())): t.user_attrs.get(records.BEST_VAL_DICE, 0.0)
            for t in trials}
    worst = min(dice, key=dice.get)
    return dict(workers=workers, wall=wall, trials=len(trials), complete=len(complete),
                pruned=len(pruned), per_hour=3600 * len(trials) / wall, best=best.value,
                best_params=best.params, worst=dict(worst), worst_dice=dice[worst],
                epochs=sum(t.user_attrs.get(records.EPOCHS_RUN, 0) for t in trials),
                trial_seconds=sum(t.user_attrs.get(records.SECONDS, 0.0) for t in trials),
                precisions=sorted({t.user_attrs.get(records.RUNTIME, {}).get("precision", "?")
                                   for t in trials}),
                **timeline(trials, started_at, ended_at))


def timeline(trials: list, started_at: float, ended_at: float) -> dict:
    """Where the wall time outside training went: seconds from the command's start to its
    first trial (imports, checks, data), from that trial's start to the moment a second
    trial ran beside it (a spawned worker's start; None with one worker), the time the
    last trial ran alone at the end (the other workers idle; None with one worker), and
    from the last trial's end to the command's end (summary, exit)."""
    spans = sorted((t.datetime_start.timestamp(), t.datetime_complete.timestamp())
                   for t in trials if t.datetime_start and t.datetime_complete)
    first = spans[0][0]
    overlap = next((begin for index, (begin, _end) in enumerate(spans)
                    if any(begin < end for _start, end in spans[:index])), None)
    by_end = sorted(spans, key=lambda span: span[1])
    alone = None
    if overlap is not None and len(by_end) > 1:
        (last_start, last_end), previous_end = by_end[-1], by_end[-2][1]
        alone = last_end - max(last_start, previous_end)
    return dict(to_first_trial=first - started_at,
                to_second_worker=None if overlap is None else overlap - first,
                last_trial_alone=alone, after_last_trial=ended_at - by_end[-1][1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--study", default="studies/weight_decay.py")
    parser.add_argument("--workers", default="default,1",
                        help="worker counts to compare, e.g. 1,2 or default,1")
    parser.add_argument("--before", type=Path, help="an older source tree to compare with")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="a config override for every run, e.g. precision=fp32")
    parser.add_argument("--env", action="append", default=[],
                        help="an environment variable for every run, e.g. "
                        "ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI")
    parser.add_argument("--keep", type=Path,
                        help="keep the storages in this folder (default: a temporary one)")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    os.environ.update(extra)  # so that the CPU report shows the oneDNN cap
    print(cpu_report(), flush=True)
    trees = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    for name, tree in trees.items():
        print(f"{name}: precision {precision_line(tree, args.sets, extra)}", flush=True)
    walls: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for workers in args.workers.split(","):
                    row = run_once(args.study, workers, tree, args.sets, extra, folder)
                    walls.setdefault((name, workers), []).append(row["wall"])
                    second = ("(none)" if row["to_second_worker"] is None
                              else f"{row['to_second_worker']:.1f}")
                    alone = ("" if row["last_trial_alone"] is None else
                             f", the last trial {row['last_trial_alone']:.1f} s alone")
                    print(f"{name} workers {workers}: {row['wall']:.0f} s wall, "
                          f"{row['trials']} trials ({row['complete']} complete, "
                          f"{row['pruned']} pruned, {row['epochs']} epochs), "
                          f"{row['per_hour']:.0f} trials/h, best val Dice {row['best']:.4f} "
                          f"at {row['best_params']}, worst {row['worst_dice']:.3f} at "
                          f"{row['worst']}, sum of trial seconds {row['trial_seconds']:.0f}, "
                          f"precision {'/'.join(row['precisions'])}; first trial after "
                          f"{row['to_first_trial']:.1f} s, a second worker's trial "
                          f"{second} s later{alone}, exit {row['after_last_trial']:.1f} s "
                          "after the last trial",
                          flush=True)
    for (name, workers), values in walls.items():
        print(f"median {name} workers {workers}: {statistics.median(values):.0f} s "
              f"({len(values)} runs)")
    print(f"python {sys.version.split()[0]}, load now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
