"""Benchmark: does a study's pruner pay? The same study with its pruner and with none.

Runs a study (default ``studies/lr_by_optimizer.py``: TPE over optimizer, learning rate
and loss; a grid study runs its whole grid, and one seed is enough there) once per pruner
variant and sampler seed, each in a fresh SQLite storage in this one process (the data
pool is built once and shared; one worker; galleries off, as they are not what is
compared). Every variant of a seed gets the same sampler seed and the same trial count;
the order of the variants rotates from seed to seed so that a busy moment on the machine
does not always hit the same one. Per run it reports the trials (complete / pruned), the
epochs consumed (trained epochs over all trials, pruned ones included), wall seconds and
the best validation Dice of the finished trials (and which trial it was); then, per
variant, the medians over seeds of epochs and wall time as fractions of the unpruned
run's, and of the Dice gap to it.

The target of issue 9: best Dice within 0.01 of the unpruned run with at most 1/3 of its
epochs. Variants: ``shipped`` (the study file's pruner), ``none``, and any
``--variant NAME=PRUNER[:key=value,...]``, e.g.
``--variant sh=successive_halving:min_resource=1,reduction_factor=3``.

    .venv/bin/python bench/pruning.py [--seeds 0,1,2] [--n-trials 40] [--set epochs=15]
        [--study studies/lr_by_optimizer.py] [--variant NAME=PRUNER:k=v,...]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import optuna  # noqa: E402
from machine import cpu_report  # noqa: E402  (bench/machine.py)
from optuna.trial import TrialState  # noqa: E402

from tuner import records  # noqa: E402
from tuner.config import TrainConfig, parse_assignments  # noqa: E402
from tuner.study.runner import RunOptions, prepare_study, run_worker  # noqa: E402
from tuner.study.spec import StudySpec, load_spec  # noqa: E402
from tuner.training.loop import fit  # noqa: E402


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``NAME=PRUNER:k=v,k=v`` -> (name, pruner, options); values are Python literals."""
    name, _, rest = text.partition("=")
    pruner, _, options = rest.partition(":")
    values = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        values[key.strip()] = ast.literal_eval(value.strip())
    return name, pruner, values


def run_variant(spec: StudySpec, seed: int, n_trials: int, overrides: dict,
                folder: Path) -> dict:
    """One study run: its trials, epochs consumed, wall seconds and best Dice."""
    if not spec.is_grid:  # a grid is enqueued in order: no sampler decides anything
        spec = dataclasses.replace(spec, n_trials=n_trials,
                                   sampler_options={**spec.sampler_options, "seed": seed})
    url = f"sqlite:///{folder / f'{time.monotonic_ns()}.db'}"
    options = RunOptions(storage=url, n_trials=n_trials, overrides=overrides, galleries=False)
    start = time.perf_counter()
    study = prepare_study(spec, options)
    run_worker(spec, options)
    wall = time.perf_counter() - start
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value) if complete else None
    return dict(trials=len(trials), complete=len(complete),
                pruned=sum(t.state == TrialState.PRUNED for t in trials),
                epochs=sum(t.user_attrs.get(records.EPOCHS_RUN, 0) for t in trials),
                wall=wall, best=best.value if best else 0.0,
                best_params=best.params if best else {}, best_number=best.number if best else -1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="studies/lr_by_optimizer.py")
    parser.add_argument("--seeds", default="0,1,2", help="sampler seeds, e.g. 0,1,2")
    parser.add_argument("--n-trials", type=int, default=None,
                        help="trials per run (default: the study's n_trials)")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="a config override for every trial, e.g. epochs=15")
    parser.add_argument("--variant", action="append", default=[],
                        help="another pruner to try: NAME=PRUNER:key=value,...")
    parser.add_argument("--skip", default="",
                        help="variants to leave out, e.g. shipped,none (measured in another "
                        "run; without 'none' no ratios are printed)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec = load_spec(args.study)
    overrides = parse_assignments(args.sets)
    n_trials = args.n_trials or spec.default_n_trials()
    variants = {"shipped": (spec.pruner, dict(spec.pruner_options)), "none": ("none", {})}
    for text in args.variant:
        name, pruner, options = parse_variant(text)
        variants[name] = (pruner, options)
    for name in filter(None, args.skip.split(",")):
        variants.pop(name, None)
    print(cpu_report())
    print(f"study {spec.name}: {n_trials} trials per run, sampler {spec.sampler}, "
          f"overrides {overrides}; shipped pruner {spec.pruner} {dict(spec.pruner_options)}")
    fit(TrainConfig.from_dict({**spec.base, **overrides, "epochs": 1}))  # warm-up: pool, kernels
    rows: dict[str, list[dict]] = {name: [] for name in variants}
    names = list(variants)
    with tempfile.TemporaryDirectory() as tmp:
        for index, seed in enumerate(int(s) for s in args.seeds.split(",")):
            for name in names[index % len(names):] + names[:index % len(names)]:
                pruner, options = variants[name]
                variant_spec = dataclasses.replace(spec, pruner=pruner, pruner_options=options)
                row = run_variant(variant_spec, seed, n_trials, overrides, Path(tmp))
                row["seed"] = seed
                rows[name].append(row)
                print(f"seed {seed} {name} ({pruner} {options}): {row['trials']} trials "
                      f"({row['complete']} complete, {row['pruned']} pruned), "
                      f"{row['epochs']} epochs, {row['wall']:.0f} s, best val Dice "
                      f"{row['best']:.4f} (trial {row['best_number']}) at {row['best_params']}",
                      flush=True)
    if "none" in rows:
        summarize(rows)
    print(f"load now {os.getloadavg()[0]:.1f}")
    return 0


def summarize(rows: dict[str, list[dict]]) -> None:
    """Per variant: medians over seeds of epochs and wall time as fractions of the
    unpruned run of the same seed, and of the Dice gap (variant - unpruned)."""
    base = {row["seed"]: row for row in rows["none"]}
    print("| variant | epochs (median) | epochs / unpruned | wall / unpruned | "
          "best Dice (median) | Dice - unpruned: median (worst) |")
    print("|---|---|---|---|---|---|")
    for name, runs in rows.items():
        epochs = [r["epochs"] / base[r["seed"]]["epochs"] for r in runs]
        walls = [r["wall"] / base[r["seed"]]["wall"] for r in runs]
        gaps = [r["best"] - base[r["seed"]]["best"] for r in runs]
        print(f"| {name} | {statistics.median(r['epochs'] for r in runs):.0f} | "
              f"{statistics.median(epochs):.2f} | {statistics.median(walls):.2f} | "
              f"{statistics.median(r['best'] for r in runs):.4f} | "
              f"{statistics.median(gaps):+.4f} ({min(gaps):+.4f}) |")


if __name__ == "__main__":
    raise SystemExit(main())
