"""Benchmark: does the shipped campaign pay? ``studies/campaign.py`` against the plain recipe.

The plain recipe is ``tuner train`` with tuner's defaults (Adam 1e-3, BCE + Dice, flips, no
schedule); the campaign is ``tuner campaign studies/campaign.py --n-trials N`` (its five
stages, every grid stage's own grid). Both get the same data, the same fixed split
(``split_seed`` 0: tuner's 60/20/20), the same image size, batch size and epochs per run,
and the same training seed; the campaign chooses on validation Dice only, and each side's
model is scored on the held-out test split once, at the end (the campaign's final test
scores: its last stage's winner; the plain run's best-validation weights). Each seed is a
fresh SQLite storage and decoded-data cache in a temporary folder.

``--sides`` may add ``longer``: the plain recipe with twice the epochs, the optimizer
steps of a winner that trains one augmented copy per image (``n_aug=1``), to tell tuning
from training longer.

Compute beside it: epochs trained in all (every trial's epochs run, plus the final
retrain of the winner that the campaign's test scoring does without saved weights) and
process CPU seconds of training and validation (the per-epoch ``cpu_seconds`` curves of
every trial; the plain run's own), wall seconds only with the load average they ran under.

    nice -n 19 .venv/bin/python bench/tuning_pays.py [--seeds 3] [--n-trials 15]
        [--epochs 10] [--datasets synthetic,isbi] [--campaign studies/campaign.py]
        [--sides plain,campaign,longer]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from machine import cpu_report  # noqa: E402  (bench/machine.py)
from rich.console import Console  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ISBI = Path(os.environ.get("TUNER_ISBI_DIR", ROOT.parent / "shared/data/isbi2012_membrane"))
#: per dataset: the data spec and the settings both sides train with (sized to this bench)
DATASETS = {
    "synthetic": (None, {"image_size": 32}),
    "isbi": (f"folder:{ISBI}", {"image_size": 96, "batch_size": 4}),
}


def load_average() -> float:
    return os.getloadavg()[0]


def trial_costs(url: str, prefix: str) -> dict:
    """Epochs, CPU seconds and trials of every stage study of the campaign ``prefix``."""
    import optuna

    from tuner import records

    storage = optuna.storages.RDBStorage(url)
    out = {"trials": 0, "pruned": 0, "epochs": 0, "cpu_seconds": 0.0, "wall_seconds": 0.0,
           "stages": {}}
    for name in optuna.get_all_study_names(storage):
        if not name.startswith(f"{prefix}/"):
            continue
        study = optuna.load_study(study_name=name, storage=storage)
        stage = {"trials": 0, "pruned": 0, "epochs": 0, "cpu_seconds": 0.0}
        for trial in study.get_trials(deepcopy=False):
            curves = trial.user_attrs.get(records.CURVES) or {}
            epochs = len(curves.get("val_dice") or [])
            if not epochs:
                continue  # a duplicate, never trained
            stage["trials"] += 1
            stage["pruned"] += trial.state.name == "PRUNED"
            stage["epochs"] += epochs
            stage["cpu_seconds"] += sum(v for v in curves.get(records.CPU_SECONDS) or []
                                        if v is not None)
            out["wall_seconds"] += sum(v for v in curves.get(records.WALL_SECONDS) or []
                                       if v is not None)
        out["stages"][name.split("/", 1)[1]] = stage
        for key in ("trials", "pruned", "epochs", "cpu_seconds"):
            out[key] += stage[key]
    return out


def run_campaign(campaign: str, data: str | None, sets: dict, n_trials: int,
                 folder: Path, log: Console) -> dict:
    from tuner import api

    url = f"sqlite:///{folder / 'campaign.db'}"
    start, load = time.perf_counter(), load_average()
    result = api.run_campaign(campaign, storage=url, data=data, sets=sets, n_trials=n_trials,
                              console=log, results=log)
    wall = time.perf_counter() - start
    if not result.done or result.final is None:
        raise SystemExit(f"campaign did not finish (failed: {result.failed})")
    final = result.final
    costs = trial_costs(url, result.campaign.name)
    winner_epochs = _winner_epochs(url, final["study"], final["trial"])
    return {"test_dice": final["metrics_at_training_size"]["dice"],
            "test_dice_native": final["metrics"].get("dice"),
            "val_dice": result.record[result.campaign.stages[-1].name]["mean"],
            "lineage": {stage: {"fields": w["fields"], "mean": w["mean"], "n": w["n"],
                                "budget": w.get("budget")}
                        for stage, w in result.record.items()},
            "epochs": costs["epochs"] + winner_epochs, "final_retrain_epochs": winner_epochs,
            "cpu_seconds": costs["cpu_seconds"], "trials": costs["trials"],
            "pruned": costs["pruned"], "stages": costs["stages"],
            "trial_wall_seconds": costs["wall_seconds"], "wall_seconds": wall,
            "load_start": load, "load_end": load_average()}


def _winner_epochs(url: str, study_name: str, number: int) -> int:
    import optuna

    from tuner import records

    study = optuna.load_study(study_name=study_name, storage=url)
    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    return int(trial.user_attrs.get(records.EPOCHS_RUN) or 0)


def run_plain(data: str | None, sets: dict, log: Console) -> dict:
    from tuner import api

    start, load = time.perf_counter(), load_average()
    result = api.train(sets=sets, data=data, console=log)
    wall = time.perf_counter() - start
    return {"test_dice": result.test["dice"], "val_dice": result.fit.best_val_dice,
            "epochs": result.fit.epochs_run, "cpu_seconds": result.fit.cpu_seconds,
            "trial_wall_seconds": result.fit.seconds, "wall_seconds": wall,
            "load_start": load, "load_end": load_average()}


SIDES = {"plain": "plain recipe", "longer": "plain recipe, 2x epochs", "campaign": "campaign"}


def summary(rows: list[dict], dataset: str) -> list[str]:
    """Markdown rows for one dataset: each side's mean ± sd over seeds, and the paired
    differences (campaign - each other side) with their sd."""
    def ms(values: list[float], digits: int = 3) -> str:
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else float("nan")
        return f"{mean:.{digits}f} ± {sd:.{digits}f}"

    mine = [r for r in rows if r["dataset"] == dataset]
    sides = [side for side in SIDES if mine and side in mine[0]]
    out = []
    for side in sides:
        runs = [r[side] for r in mine]
        out.append(f"| {dataset} | {SIDES[side]} | {ms([r['test_dice'] for r in runs])} | "
                   f"{ms([r['val_dice'] for r in runs])} | "
                   f"{statistics.fmean(r['epochs'] for r in runs):,.0f} | "
                   f"{statistics.fmean(r['cpu_seconds'] for r in runs):,.0f} | "
                   f"{statistics.fmean(r['wall_seconds'] for r in runs):,.0f} "
                   f"(load {statistics.fmean(r['load_start'] for r in runs):.1f}) |")
    for other in (s for s in sides if s != "campaign" and "campaign" in sides):
        diff = [r["campaign"]["test_dice"] - r[other]["test_dice"] for r in mine]
        out.append(f"| {dataset} | campaign - {SIDES[other]}, paired | {ms(diff)} | | | | |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-trials", type=int, default=15,
                        help="the campaign's sampled (lr) stage budget; grids run theirs")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--datasets", default="synthetic,isbi")
    parser.add_argument("--image-size", type=int, default=None,
                        help="one image size for every dataset (default: each its own)")
    parser.add_argument("--campaign", default=str(ROOT / "studies/campaign.py"))
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each seed's storage under this folder (default: removed)")
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON")
    parser.add_argument("--sides", default="plain,campaign",
                        help=f"which of {', '.join(SIDES)} to run")
    args = parser.parse_args()
    print(cpu_report(), flush=True)
    names = args.datasets.split(",")
    if "isbi" in names and not ISBI.is_dir():
        raise SystemExit(f"no ISBI data at {ISBI} (set TUNER_ISBI_DIR)")
    rows, began = [], time.perf_counter()
    log = Console(file=open(os.devnull, "w"), soft_wrap=True)  # noqa: SIM115
    cache = tempfile.TemporaryDirectory(prefix="tuning_pays_cache_")
    os.environ["TUNER_DATA_CACHE"] = cache.name  # decoded once for the whole bench
    for seed in range(args.seeds):
        for name in names if seed % 2 == 0 else reversed(names):
            data, sized = DATASETS[name]
            sets = {**sized, "epochs": args.epochs, "seed": seed, "precision": "fp32",
                    "threads": 1}  # one thread a side: CPU seconds without OpenMP spinning
            if args.image_size is not None:
                sets["image_size"] = args.image_size
            with tempfile.TemporaryDirectory(prefix="tuning_pays_") as tmp:
                folder = Path(tmp) if args.keep is None else args.keep / f"{name}-seed{seed}"
                folder.mkdir(parents=True, exist_ok=True)
                row = {"dataset": name, "seed": seed, "sets": sets}
                sides = args.sides.split(",")
                for side in sides if seed % 2 == 0 else reversed(sides):
                    row[side] = (
                        run_plain(data, sets, log) if side == "plain" else
                        run_plain(data, {**sets, "epochs": 2 * args.epochs}, log)
                        if side == "longer" else
                        run_campaign(args.campaign, data, sets, args.n_trials, folder, log))
                    r = row[side]
                    print(f"{name} seed {seed} {side}: test Dice {r['test_dice']:.4f}, val "
                          f"{r['val_dice']:.4f}, {r['epochs']} epochs, {r['cpu_seconds']:.0f}"
                          f" CPU s, wall {r['wall_seconds']:.0f} s (load {r['load_start']:.1f}"
                          f" -> {r['load_end']:.1f})", flush=True)
                rows.append(row)
                if "campaign" in row:
                    print("  lineage: " + "; ".join(
                        f"{stage} {w['fields']} {w['mean']:.4f}"
                        for stage, w in row["campaign"]["lineage"].items()), flush=True)
            if args.out is not None:
                args.out.write_text(json.dumps(rows, indent=1, default=str))
    print(f"\n{args.seeds} seeds, {args.epochs} epochs per run, --n-trials {args.n_trials}; "
          f"whole bench {time.perf_counter() - began:,.0f} s wall")
    print("| data | side | test Dice (mean ± sd over seeds) | val Dice | epochs | CPU s | "
          "wall s (load at start) |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        print("\n".join(summary(rows, name)))
    cache.cleanup()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
