"""Benchmark: can a cheap run rank configurations as the full run does?

Successive halving and Hyperband judge a trial by its validation Dice after a few epochs;
a lower image resolution would be a cheaper fidelity still. Either is only worth using if
it ranks configurations as the full run ranks them. This trains the same random
configurations of a study's space (default ``studies/lr_by_optimizer.py``) at the full
setting and at a lower image size, and reports the rank correlation (Spearman's rho and
Kendall's tau, scipy.stats) with the full run's best validation Dice of:

- the low-resolution run's best Dice (same epochs), and its cost as a share of the full run;
- the full run's best Dice after epoch 1, 2, 3, 5 and 9 (the rungs of successive halving
  from 1 epoch, factors 2 and 3), and the share of the epochs each costs;

and, for each, whether the full run's top configuration is in the cheap fidelity's top
third (what a pruner with reduction factor 3 would keep).

    .venv/bin/python bench/fidelity.py [--configs 24] [--low 16] [--seed 0]
        [--set image_size=32 --set base_channels=8] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import optuna  # noqa: E402
from machine import cpu_report  # noqa: E402  (bench/machine.py)
from scipy import stats  # noqa: E402

from tuner.config import parse_assignments  # noqa: E402
from tuner.study.spec import load_spec  # noqa: E402
from tuner.training.loop import fit  # noqa: E402

RUNGS = (1, 2, 3, 5, 9)


def random_configurations(spec, count: int, seed: int) -> list[dict]:
    """``count`` parameter sets drawn at random from the study's space (its own code)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(count):
        trial = study.ask()
        drawn.append(spec.space(trial))
        study.tell(trial, 0.0)
    return drawn


def train(spec, params: dict, overrides: dict) -> dict:
    """One run of ``params``: its per-epoch validation Dice and seconds."""
    config = spec.config(params, overrides)
    start = time.perf_counter()
    result = fit(config)
    return dict(val_dice=[float(v) for v in result.history.get("val_dice", [])],
                best=float(result.best_val_dice), seconds=time.perf_counter() - start)


def best_after(values: list[float], epoch: int) -> float:
    """The best validation Dice of the first ``epoch`` epochs (a run that stopped early
    keeps its best)."""
    return max(values[:epoch], default=0.0)


def agreement(cheap: list[float], full: list[float]) -> dict:
    """Spearman's rho, Kendall's tau, and whether the full best is in the cheap top third."""
    rho = stats.spearmanr(cheap, full).statistic
    tau = stats.kendalltau(cheap, full).statistic
    third = max(1, len(cheap) // 3)
    top_third = sorted(range(len(cheap)), key=lambda i: cheap[i], reverse=True)[:third]
    winner = max(range(len(full)), key=lambda i: full[i])
    return dict(rho=float(rho), tau=float(tau), keeps_winner=winner in top_third)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="studies/lr_by_optimizer.py")
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--low", type=int, default=16, help="the cheap fidelity's image_size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draws")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="a config override of the full run, e.g. image_size=32")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    spec = load_spec(args.study)
    overrides = parse_assignments(args.sets)
    full_size = spec.config({}, overrides).image_size
    epochs = spec.config({}, overrides).epochs
    print(cpu_report())
    print(f"study {spec.name}: {args.configs} random configurations, full {full_size} px vs "
          f"low {args.low} px, {epochs} epochs, overrides {overrides}", flush=True)
    runs = []
    for index, params in enumerate(random_configurations(spec, args.configs, args.seed)):
        full = train(spec, params, overrides)
        low = train(spec, params, {**overrides, "image_size": args.low})
        runs.append(dict(params=params, full=full, low=low))
        print(f"{index + 1}/{args.configs} {params}: full {full['best']:.4f} "
              f"({full['seconds']:.1f} s), low {low['best']:.4f} ({low['seconds']:.1f} s)",
              flush=True)
        if args.json:
            args.json.write_text(json.dumps(runs, indent=1))
    final = [run["full"]["best"] for run in runs]
    full_seconds = sum(run["full"]["seconds"] for run in runs)
    print("\n| cheap fidelity | cost (share of the full runs) | Spearman rho | Kendall tau "
          "| full winner in cheap top third |\n|---|---|---|---|---|")
    cheap = [run["low"]["best"] for run in runs]
    low_cost = sum(run["low"]["seconds"] for run in runs) / full_seconds
    rows = [(f"{args.low} px, {epochs} epochs", f"{low_cost:.2f} (wall)", cheap)]
    rows += [(f"{full_size} px, epoch {rung}", f"{rung / epochs:.2f} (epochs)",
              [best_after(run["full"]["val_dice"], rung) for run in runs])
             for rung in RUNGS if rung < epochs]
    for name, cost, values in rows:
        found = agreement(values, final)
        print(f"| {name} | {cost} | {found['rho']:.2f} | {found['tau']:.2f} | "
              f"{'yes' if found['keeps_winner'] else 'no'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
