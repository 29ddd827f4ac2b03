"""Benchmark: time to quality. Does a study's pruner reach the unpruned run's best Dice
with a fraction of its epochs?

Runs a study (default ``studies/lr_by_optimizer.py``: TPE over optimizer, learning rate
and loss) once per pruner variant and sampler seed, each in a fresh SQLite storage in this
one process (the data pool is built once and shared; one worker; galleries off). Every
variant of a seed gets the same sampler seed; the order of the variants rotates from seed
to seed. The unpruned run (``none``) trains the study's ``n_trials``; a pruned variant may
train more trials (``--max-trials``, default 3x) but stops once it has consumed
``--budget`` (default 0.5) of the unpruned run's nominal epochs (n_trials x epochs): the
comparison is at equal epochs, which is the point of pruning.

Per run it records the anytime curve (after each trial: epochs consumed so far, pruned
trials included, and the best validation Dice of the completed trials so far) and prints
the epochs each variant needed to come within ``--tolerance`` (default 0.005) of the
unpruned run's final best, as a fraction of the unpruned run's epochs, and the best Dice
at 1/10, 1/5, 1/3 and 1/2 of them; then the medians over seeds. Epochs consumed does not
depend on the machine's load; the wall column does.

Issue 19's target: the shipped setting within 0.005 of the unpruned 40-trial run's best
with at most 1/5 of its epochs, median over 3 seeds. Variants: ``shipped`` (the study
file's pruner), ``none``, and any ``--variant NAME=PRUNER[:key=value,...]``, e.g.
``--variant sh=successive_halving:min_resource=1,reduction_factor=3``; a variant may also
set the sampler's options with ``@key=value`` items, e.g. ``...,@n_startup_trials=5``.

    .venv/bin/python bench/pruning.py [--seeds 0,1,2] [--n-trials 40] [--set epochs=15]
        [--budget 0.5] [--max-trials 120] [--study studies/lr_by_optimizer.py]
        [--variant NAME=PRUNER:k=v,...] [--json OUT.json]
    .venv/bin/python bench/pruning.py --merge seed0.json seed1.json seed2.json
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
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
from tuner.storage import artifact_store  # noqa: E402
from tuner.study.objective import Objective  # noqa: E402
from tuner.study.spec import StudySpec, load_spec  # noqa: E402
from tuner.training.loop import fit  # noqa: E402
from tuner.workers.runner import RunOptions, prepare_study, run_worker  # noqa: E402


def parse_variant(text: str) -> tuple[str, str, dict, dict]:
    """``NAME=PRUNER:k=v,@k=v`` -> (name, pruner, pruner options, sampler options); values
    are Python literals, ``@`` marks a sampler option."""
    name, _, rest = text.partition("=")
    pruner, _, options = rest.partition(":")
    values: dict = {}
    sampler: dict = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        target = sampler if key.startswith("@") else values
        target[key.lstrip("@")] = ast.literal_eval(value.strip())
    return name, pruner, values, sampler


def run_variant(spec: StudySpec, seed: int, max_trials: int, max_epochs: int | None,
                overrides: dict, folder: Path) -> dict:
    """One study run, trial after trial until ``max_trials`` or ``max_epochs`` consumed:
    its trials, epochs, wall seconds, best Dice and anytime curve."""
    if not spec.is_grid:  # a grid is enqueued in order: no sampler decides anything
        spec = dataclasses.replace(spec, n_trials=max_trials,
                                   sampler_options={**spec.sampler_options, "seed": seed})
    url = f"sqlite:///{folder / f'{time.monotonic_ns()}.db'}"
    options = RunOptions(storage=url, n_trials=max_trials, overrides=overrides,
                         galleries=False)
    start = time.perf_counter()
    study = prepare_study(spec, options)
    objective = Objective(spec, overrides, artifact_store(url), False, False)
    curve: list[tuple[int, float]] = []
    consumed, best = 0, 0.0

    def record(trial) -> None:
        nonlocal consumed, best
        consumed += trial.user_attrs.get(records.EPOCHS_RUN, 0)
        if trial.state == TrialState.COMPLETE:
            best = max(best, trial.value)
        curve.append((consumed, best))

    while len(curve) < max_trials and (max_epochs is None or consumed < max_epochs):
        run_worker(spec, options, max_trials=1, objective=objective, on_trial_end=record)
    wall = time.perf_counter() - start
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    top = max(complete, key=lambda t: t.value) if complete else None
    return dict(trials=len(trials), complete=len(complete),
                pruned=sum(t.state == TrialState.PRUNED for t in trials),
                epochs=consumed, wall=wall, best=top.value if top else 0.0,
                best_params=top.params if top else {}, best_number=top.number if top else -1,
                curve=curve)


def epochs_to(curve: list[tuple[int, float]], target: float) -> int | None:
    """The epochs consumed when the best Dice first reached ``target`` (None: never)."""
    return next((epochs for epochs, best in curve if best >= target), None)


def best_at(curve: list[tuple[int, float]], epochs: float) -> float:
    """The best Dice after at most ``epochs`` consumed (0 before the first trial ends)."""
    return max((best for used, best in curve if used <= epochs), default=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="studies/lr_by_optimizer.py")
    parser.add_argument("--seeds", default="0,1,2", help="sampler seeds, e.g. 0,1,2")
    parser.add_argument("--n-trials", type=int, default=None,
                        help="trials of the unpruned run (default: the study's n_trials)")
    parser.add_argument("--max-trials", type=int, default=None,
                        help="trials a pruned run may train at most (default 3x n-trials)")
    parser.add_argument("--budget", type=float, default=0.5,
                        help="a pruned run stops after this share of the unpruned run's "
                        "nominal epochs (n_trials x epochs)")
    parser.add_argument("--tolerance", type=float, default=0.005)
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="a config override for every trial, e.g. epochs=15")
    parser.add_argument("--variant", action="append", default=[],
                        help="another pruner to try: NAME=PRUNER:key=value,...,@sampler_key=v")
    parser.add_argument("--skip", default="",
                        help="variants to leave out, e.g. shipped (measured in another run)")
    parser.add_argument("--json", type=Path, help="write every run (curves too) here")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="train nothing: summarize the runs of these --json files "
                        "(e.g. one process per seed, run side by side)")
    args = parser.parse_args(argv)
    if args.merge:
        rows = merge(args.merge)
        summarize(rows, args.tolerance)
        return 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec = load_spec(args.study)
    overrides = parse_assignments(args.sets)
    n_trials = args.n_trials or spec.default_n_trials()
    epochs = spec.config({}, overrides).epochs
    max_epochs = int(args.budget * n_trials * epochs)
    variants = {"shipped": (spec.pruner, dict(spec.pruner_options), {}),
                "none": ("none", {}, {})}
    for text in args.variant:
        name, pruner, options, sampler = parse_variant(text)
        variants[name] = (pruner, options, sampler)
    for name in filter(None, args.skip.split(",")):
        variants.pop(name, None)
    print(cpu_report())
    print(f"study {spec.name}: unpruned {n_trials} trials x {epochs} epochs; pruned runs "
          f"up to {args.max_trials or 3 * n_trials} trials or {max_epochs} epochs; sampler "
          f"{spec.sampler}, overrides {overrides}; shipped pruner {spec.pruner} "
          f"{dict(spec.pruner_options)}")
    fit(TrainConfig.from_dict({**spec.base, **overrides, "epochs": 1}))  # warm-up: pool, kernels
    rows: dict[str, list[dict]] = {name: [] for name in variants}
    names = list(variants)
    with tempfile.TemporaryDirectory() as tmp:
        for index, seed in enumerate(int(s) for s in args.seeds.split(",")):
            for name in names[index % len(names):] + names[:index % len(names)]:
                pruner, options, sampler = variants[name]
                variant_spec = dataclasses.replace(
                    spec, pruner=pruner, pruner_options=options,
                    sampler_options={**spec.sampler_options, **sampler})
                unpruned = pruner == "none"
                row = run_variant(variant_spec, seed,
                                  n_trials if unpruned else args.max_trials or 3 * n_trials,
                                  None if unpruned else max_epochs, overrides, Path(tmp))
                row.update(seed=seed, variant=name, pruner=pruner, options=options,
                           sampler=sampler)
                rows[name].append(row)
                if args.json:  # after every run: a long benchmark cut short keeps its runs
                    args.json.write_text(json.dumps(rows, indent=1, default=str))
                print(f"seed {seed} {name} ({pruner} {options} {sampler}): {row['trials']} "
                      f"trials ({row['complete']} complete, {row['pruned']} pruned), "
                      f"{row['epochs']} epochs, {row['wall']:.0f} s, best val Dice "
                      f"{row['best']:.4f} (trial {row['best_number']}) at {row['best_params']}",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    if "none" in rows:
        summarize(rows, args.tolerance)
    print(f"load now {os.getloadavg()[0]:.1f}")
    return 0


FRACTIONS = (0.1, 0.2, 1 / 3, 0.5)


def merge(paths: list[Path]) -> dict[str, list[dict]]:
    """The runs of several ``--json`` files, by variant, in the order of the files."""
    rows: dict[str, list[dict]] = {}
    for path in paths:
        for name, runs in json.loads(path.read_text()).items():
            rows.setdefault(name, []).extend(runs)
    if "none" not in rows:
        raise SystemExit(f"--merge: no unpruned run ('none') in {[str(p) for p in paths]}")
    return rows


def summarize(rows: dict[str, list[dict]], tolerance: float) -> None:
    """Per run and per variant (medians over seeds): the epochs to come within
    ``tolerance`` of the unpruned run's final best, as a share of the unpruned run's
    epochs, and the best Dice at fixed shares of them, as a gap to that best."""
    base = {row["seed"]: row for row in rows["none"]}
    shares = " | ".join(f"Dice gap at {f:.2f}" for f in FRACTIONS)
    print(f"| seed | variant | trials (complete / pruned) | epochs to within {tolerance} "
          f"| share of unpruned | {shares} |")
    print("|---|---|---|---|---|" + "---|" * len(FRACTIONS))
    needed: dict[str, list[float]] = {name: [] for name in rows}
    gaps: dict[str, list[list[float]]] = {name: [] for name in rows}
    for name, runs in rows.items():
        for run in runs:
            reference = base[run["seed"]]
            target = reference["best"] - tolerance
            reached = epochs_to(run["curve"], target)
            share = reached / reference["epochs"] if reached is not None else float("inf")
            needed[name].append(share)
            at = [best_at(run["curve"], f * reference["epochs"]) - reference["best"]
                  for f in FRACTIONS]
            gaps[name].append(at)
            print(f"| {run['seed']} | {name} | {run['trials']} ({run['complete']} / "
                  f"{run['pruned']}) | {reached if reached is not None else 'never'} | "
                  f"{share:.2f} | " + " | ".join(f"{g:+.4f}" for g in at) + " |")
    print()
    print(f"| variant | epochs to within {tolerance}: share of unpruned, median (worst) | "
          + " | ".join(f"median gap at {f:.2f}" for f in FRACTIONS) + " |")
    print("|---|---|" + "---|" * len(FRACTIONS))
    for name in (name for name in rows if gaps[name]):  # a variant with runs
        columns = [statistics.median(g[i] for g in gaps[name]) for i in range(len(FRACTIONS))]
        print(f"| {name} | {statistics.median(needed[name]):.2f} "
              f"({max(needed[name]):.2f}) | " + " | ".join(f"{c:+.4f}" for c in columns)
              + " |")


if __name__ == "__main__":
    raise SystemExit(main())
