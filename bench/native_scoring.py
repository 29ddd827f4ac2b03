"""Benchmark: what scoring at each image's own size adds to ``tuner evaluate``.

Trains a one-trial study on the ISBI 2012 membranes (a folder dataset: 30 images of
512x512 px) with ``--save-weights --set image_size=64 epochs=2``, then times ``tuner
evaluate`` with own-size scoring (the default) and without it (``--training-size-only``):

- as a user runs it: the command in a fresh process each time (imports, storage, model,
  decoding the pool, scoring, files);
- in this process (``tuner.api.evaluate``, the pool decoded once and cached): the
  evaluation's own work, and the own-size part's two pieces: reading the mask files again
  (``native_truth``) and scoring every image at 512x512 (``NativeScorer.add``: restore,
  counts, HD95 and ASD).

On the test split (6 images) and on all 30 (``--split all``), the two variants
alternating, ``--repeats`` times each; medians, with the CPU in one line.

    .venv/bin/python bench/native_scoring.py [--data folder:PATH] [--repeats 3]
        [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from machine import cpu_report  # noqa: E402  (bench/machine.py)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = f"folder:{ROOT.parent / 'shared' / 'data' / 'isbi2012_membrane'}"
STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="native", sampler="grid", pruner="none",
                      space=dict(lr=categorical([3e-3])))
"""
TUNER = [sys.executable, "-m", "tuner.cli"]


def train(folder: Path, url: str, data: str) -> None:
    study = folder / "study.py"
    study.write_text(textwrap.dedent(STUDY))
    subprocess.run([*TUNER, "run", str(study), "--storage", url, "--data", data,
                    "--save-weights", "--no-galleries", "--workers", "1",
                    "--set", "image_size=64", "--set", "epochs=2"],
                   check=True, cwd=ROOT, capture_output=True)


def command_seconds(url: str, split: str, out: Path, native: bool) -> tuple[float, str]:
    """Seconds of one ``tuner evaluate`` in a fresh process, and what it printed."""
    args = [*TUNER, "evaluate", "native", "--storage", url, "--split", split,
            "--out", str(out)] + ([] if native else ["--training-size-only"])
    start = time.perf_counter()
    done = subprocess.run(args, check=True, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def timed(owner, name: str, totals: dict[str, float]) -> None:
    """Replace ``owner.name`` by a wrapper that adds the seconds spent in it to
    ``totals[name]`` (a plain function: on a class it binds like the method it wraps)."""
    inner = getattr(owner, name)
    totals[name] = 0.0

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def in_process(url: str, split: str, out: Path, repeats: int) -> dict:
    from tuner import api
    from tuner.inference import evaluation, native

    totals: dict[str, float] = {}
    if not hasattr(evaluation.native_truth, "__wrapped_by_bench__"):
        timed(evaluation, "native_truth", totals)
        timed(native.NativeScorer, "add", totals)
        evaluation.native_truth.__wrapped_by_bench__ = totals
    totals = evaluation.native_truth.__wrapped_by_bench__
    api.evaluate("native", storage=url, split=split, out=out)  # decode and cache the pool
    runs: dict[str, list[float]] = {"with": [], "without": [], "truth": [], "scoring": []}
    for _ in range(repeats):
        for variant in ("with", "without"):
            totals.update(native_truth=0.0, add=0.0)
            start = time.perf_counter()
            evaluated, _ = api.evaluate("native", storage=url, split=split, out=out,
                                        native=variant == "with")
            runs[variant].append(time.perf_counter() - start)
            if variant == "with":
                result = evaluated
                runs["truth"].append(totals["native_truth"])
                runs["scoring"].append(totals["add"])
    own = result.native
    return {"medians": {k: statistics.median(v) for k, v in runs.items()}, "runs": runs,
            "images": result.images,
            "sizes": sorted({f"{r.width}x{r.height}" for r in own.itertuples()}),
            "hd95_px": result.summary.set_index(["metric", "size"]).loc[
                ("hd95_px", "own"), "median_iqr"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(cpu_report(), flush=True)
    report: dict = {"cpu": cpu_report(), "data": args.data, "splits": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'tuner.db'}"
        start = time.perf_counter()
        train(folder, url, args.data)
        print(f"trained the study in {time.perf_counter() - start:.1f} s", flush=True)
        for split in ("test", "all"):
            command: dict[str, list[float]] = {"with": [], "without": []}
            shown = ""
            for _ in range(args.repeats):
                for variant in ("with", "without"):
                    seconds, printed = command_seconds(url, split, folder / f"cli-{split}",
                                                       variant == "with")
                    command[variant].append(seconds)
                    shown = printed if variant == "with" else shown
            print(shown, end="", flush=True)
            inside = in_process(url, split, folder / f"api-{split}", args.repeats)
            cli = {k: statistics.median(v) for k, v in command.items()}
            m = inside["medians"]
            report["splits"][split] = {"command": cli, "command_runs": command, **inside}
            print(f"{split} split, {inside['images']} images of "
                  f"{', '.join(inside['sizes'])} px (HD95 {inside['hd95_px']} px): "
                  f"tuner evaluate {cli['with']:.2f} s with own-size scores, "
                  f"{cli['without']:.2f} s without (+{cli['with'] - cli['without']:.2f} s); "
                  f"in process {m['with']:.3f} s vs {m['without']:.3f} s "
                  f"(+{m['with'] - m['without']:.3f} s: reading the masks {m['truth']:.3f} s, "
                  f"scoring at their size {m['scoring']:.3f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
