"""Storage throughput: how many trials per second SQLite and PostgreSQL coordinate.

Each configuration (storage kind x number of worker processes) gets a fresh study and a
near-zero-cost objective (two float parameters, TPE), so the time measured is Optuna's
ask + tell through the storage, the only shared resource between workers. Every worker is
a spawned process that opens the storage with :func:`tuner.storage.open_storage` (the
project's engine options: SQLite busy timeout, PostgreSQL pre-ping) and runs
``study.optimize`` for its share of the trials; all start together behind a barrier.

Reported per configuration: trials per second (all trials / wall time from the first
worker's start to the last one's end), per-trial latency p50/p95 (time between a worker's
consecutive finished trials: ask + objective + tell), and the accounting check: the study
holds exactly the requested number of trials, all COMPLETE, none RUNNING, none lost.

    .venv/bin/python bench/storage_throughput.py                 # both kinds, 1/4/16 workers
    .venv/bin/python bench/storage_throughput.py --storages sqlite --workers 1,2 --trials 50
    .venv/bin/python bench/storage_throughput.py --engines tuner,optuna   # engine options' cost

Exit status 1 if any trial is unaccounted for or a worker failed. PostgreSQL: the server of
``TUNER_TEST_POSTGRES_URL`` (or ``--postgres-url``); each run's study is deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tuner.storage import open_storage, redact  # noqa: E402

DEFAULT_POSTGRES = os.environ.get(
    "TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WORKER_TIMEOUT_S = 300


def objective(trial: optuna.Trial) -> float:
    """Near-zero cost: the bench measures the storage, not the objective."""
    x = trial.suggest_float("x", -10.0, 10.0)
    y = trial.suggest_float("y", -10.0, 10.0)
    return x * x + y * y


def _open(url: str, plain: bool) -> optuna.storages.RDBStorage:
    """The project's storage, or (``plain``) Optuna's with its default engine options."""
    return optuna.storages.RDBStorage(url) if plain else open_storage(url)


def worker(url: str, plain: bool, study_name: str, n_trials: int, seed: int,
           barrier, results) -> None:
    """One worker process: open the storage, wait for the others, optimize its share."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=_open(url, plain),
                                  sampler=optuna.samplers.TPESampler(seed=seed))
        finished: list[float] = []
        barrier.wait()
        wall_start, start = time.time(), time.perf_counter()
        study.optimize(objective, n_trials=n_trials,
                       callbacks=[lambda _s, _t: finished.append(time.perf_counter())])
        latencies = np.diff([start, *finished]).tolist()
        results.put({"start": wall_start, "end": time.time(), "latencies": latencies})
    except Exception as exc:  # reported, counted as a failed configuration
        results.put({"error": f"{type(exc).__name__}: {exc}"})


@dataclass
class Row:
    storage: str
    workers: int
    requested: int
    seconds: float
    p50_ms: float
    p95_ms: float
    complete: int
    running: int
    other: int
    errors: list[str]
    load: float  # the machine's 1-minute load average when the configuration started

    @property
    def accounted(self) -> bool:
        return (not self.errors and self.complete == self.requested
                and self.running == 0 and self.other == 0)

    def markdown(self) -> str:
        check = "yes" if self.accounted else f"NO ({'; '.join(self.errors)[:120]})"
        return (f"| {self.storage} | {self.workers} | {self.requested} | {self.seconds:.1f} "
                f"| {self.requested / self.seconds:.1f} | {self.p50_ms:.0f} | {self.p95_ms:.0f} "
                f"| {self.complete} / {self.running} / {self.other} | {check} | {self.load:.1f} |")


HEADER = ("| storage | workers | trials | wall s | trials/s | p50 ms | p95 ms "
          "| complete / running / other | all accounted for | load |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def run_one(kind: str, url: str, workers: int, total_trials: int, plain: bool = False) -> Row:
    """One configuration on a fresh study; the study is deleted afterwards."""
    name = f"bench-throughput-{kind}-{workers}-{uuid.uuid4().hex[:8]}"
    load = os.getloadavg()[0]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    optuna.create_study(storage=storage, study_name=name)
    per_worker = max(1, total_trials // workers)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, plain, name, per_worker, seed, barrier, results))
             for seed in range(workers)]
    try:
        for proc in procs:
            proc.start()
        reports = [results.get(timeout=WORKER_TIMEOUT_S) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        errors = [r["error"] for r in reports if "error" in r]
        errors += [f"exit code {p.exitcode}" for p in procs if p.exitcode != 0]
        done = [r for r in reports if "error" not in r]
        latencies = np.concatenate([r["latencies"] for r in done]) if done else np.zeros(1)
        seconds = (max(r["end"] for r in done) - min(r["start"] for r in done)) if done else 1.0
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        states = [t.state for t in trials]
        complete = states.count(optuna.trial.TrialState.COMPLETE)
        running = states.count(optuna.trial.TrialState.RUNNING)
        if sorted(t.number for t in trials) != list(range(len(trials))):
            errors.append("trial numbers not 0..n-1")
        label = f"{kind} (Optuna defaults)" if plain else kind
        return Row(label, workers, per_worker * workers, seconds,
                   1e3 * float(np.percentile(latencies, 50)),
                   1e3 * float(np.percentile(latencies, 95)),
                   complete, running, len(trials) - complete - running, errors, load)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        optuna.delete_study(study_name=name, storage=storage)
        storage.engine.dispose()


def machine_note(postgres_url: str | None) -> str:
    """CPU, Python and library versions, and the PostgreSQL server version if used."""
    cpu = platform.processor() or platform.machine()
    note = (f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), load {os.getloadavg()[0]:.1f}"
            f", Python {platform.python_version()}, optuna {optuna.__version__}, "
            f"SQLAlchemy {sqlalchemy.__version__}")
    if postgres_url:
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.connect() as conn:
            version = conn.execute(sqlalchemy.text("show server_version")).scalar_one()
        engine.dispose()
        note += f", PostgreSQL {version} on {redact(postgres_url)}"
    return note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storages", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,4,16", help="comma-separated process counts")
    parser.add_argument("--trials", type=int, default=200,
                        help="trials per configuration, split evenly between the workers")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--engines", default="tuner",
                        help="tuner (tuner.storage.open_storage), optuna (Optuna's default "
                        "engine options) or both, run one after the other per configuration")
    args = parser.parse_args(argv)
    kinds = args.storages.split(",")
    counts = [int(n) for n in args.workers.split(",")]
    note = machine_note(args.postgres_url if "postgres" in kinds else None)
    print(f"# {datetime.date.today()}  {note}")
    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(HEADER, flush=True)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as folder:
        for kind in kinds:
            for workers in counts:
                url = (f"sqlite:///{folder}/{kind}-{workers}.db" if kind == "sqlite"
                       else args.postgres_url)
                for engine in args.engines.split(","):
                    row = run_one(kind, url, workers, args.trials, plain=engine == "optuna")
                    ok &= row.accounted
                    print(row.markdown(), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
