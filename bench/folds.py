"""Benchmark: what folds cost, a tiny grid study with folds=1 and folds=5 side by side.

Runs ``tuner run`` on a two-point grid (weight_decay 0.1 / 0.0) on the built-in synthetic
data, as a user runs it (a fresh process, a fresh SQLite storage, one worker), once with
``folds=1`` and once with ``folds=5``, alternating over ``--rounds`` so that machine noise
hits both alike. Reports per run the command's wall seconds and CPU seconds (its process
and workers, user + system: what moves least when others load the machine), the trials,
the training seconds the trials recorded (``records.SECONDS``, summed), and the ratio of
folds=5 to folds=1 for each; expected: about 5x (five runs per configuration, each on 4/5
of the non-test images instead of 3/5 of the pool), a little less for the whole command,
whose start-up is paid once. Measured on a shared 2-core AMD EPYC (load average 6-39):
CPU 4.2x, wall 5.8x (medians of 2 rounds).

    .venv/bin/python bench/folds.py [--rounds 2] [--epochs 3] [--images 60]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import optuna
from machine import cpu_report  # bench/machine.py, beside this file
from optuna.trial import TrialState

from tuner import records

ROOT = Path(__file__).resolve().parent.parent
STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="folds_bench", sampler="grid", pruner="none",
                      space=dict(weight_decay=categorical([0.1, 0.0])))
"""


def run_once(folds: int, args: argparse.Namespace, folder: Path) -> dict:
    """One ``tuner run`` of the grid with ``folds``: wall seconds, trials, trained seconds."""
    study_file = folder / "folds_bench.py"
    study_file.write_text(textwrap.dedent(STUDY))
    url = f"sqlite:///{folder / f'folds{folds}_{time.monotonic_ns()}.db'}"
    sets = {"folds": folds, "epochs": args.epochs, "image_size": 32, "base_channels": 8,
            "synthetic_images": args.images, "batch_size": 8}
    command = [str(ROOT / ".venv/bin/tuner"), "run", str(study_file), "--storage", url,
               "--workers", "1"]
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - before
    if done.returncode != 0:
        raise SystemExit(f"folds={folds}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    trials = optuna.load_study(study_name="folds_bench", storage=url).get_trials(
        states=(TrialState.COMPLETE,))
    trained = sum(float(t.user_attrs.get(records.SECONDS, 0.0)) for t in trials)
    return {"folds": folds, "wall": wall, "cpu": cpu, "trials": len(trials),
            "trained": trained, "best": max(t.value for t in trials)}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far: on a machine
    others load, the figure that moves least with their load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=60)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(cpu_report())
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            order = (1, 5) if round_ % 2 == 0 else (5, 1)  # alternate: drift hits both
            for folds in order:
                run = run_once(folds, args, Path(folder))
                runs.append(run)
                print(f"folds={run['folds']}: {run['trials']} trials, wall {run['wall']:.1f} s,"
                      f" CPU {run['cpu']:.1f} s, trained {run['trained']:.1f} s, best val "
                      f"Dice {run['best']:.3f}")
    by = {f: [r for r in runs if r["folds"] == f] for f in (1, 5)}
    for what in ("wall", "cpu", "trained"):
        one = statistics.median(r[what] for r in by[1])
        five = statistics.median(r[what] for r in by[5])
        print(f"{what}: folds=1 {one:.1f} s, folds=5 {five:.1f} s (medians of "
              f"{args.rounds}): {five / one:.2f}x")


if __name__ == "__main__":
    main()
