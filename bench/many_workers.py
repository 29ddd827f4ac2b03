"""Many worker processes on one PostgreSQL: peak connections and trials/s (issues 19 and 26).

Each process runs tuner's worker path (``tuner.workers.worker.run_trials`` claiming the
WAITING trials of an enqueued grid, heartbeats on, storage from ``tuner.storage.
open_storage``) with a trivial objective, then as many run raw Optuna (``study.optimize``,
the same objective and grid). ``--mode direct`` connects every process to the database
(capped at the connections the server has free, less a margin, and said so); ``--mode
grpc`` starts ``tuner proxy`` (a subprocess) and every worker opens
``grpc://127.0.0.1:PORT`` (raw Optuna through its ``GrpcStorageProxy``). All in a fresh
database ``tuner_many_<uuid>``, dropped afterwards; its connections sampled every 0.2 s.

    .venv/bin/python bench/many_workers.py --processes 200 --direct-processes 40 \
        --points 200 --mode both --race 20

``--race K``: K processes at once do what ``tuner run`` does before training (create or
load the study, store a setup, enqueue the missing grid points under ``study_lock``, which
a ``grpc://`` URL cannot take) through Optuna's own proxy server, then through ``tuner
proxy``, and the points queued more than once are counted (``--mode race``: only that).
"""

from __future__ import annotations

import argparse
import collections
import inspect
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GRPC_PORT = 13077
GRPC_URL = f"grpc://127.0.0.1:{GRPC_PORT}"
MARGIN = 15  # connections left free for everyone else on the server


def objective(trial):
    """The trivial objective: the grid point's one parameter, returned."""
    return float(trial.suggest_int("x", 0, 10**9))


# -- the database -----------------------------------------------------------------------------
def admin_engine(base: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT",
                                    poolclass=sqlalchemy.pool.NullPool)


def free_connections(base: str) -> int:
    """Connections the server can still give to a non-superuser, now."""
    with admin_engine(base).connect() as conn:
        limit = int(conn.execute(sqlalchemy.text("show max_connections")).scalar())
        reserved = int(conn.execute(sqlalchemy.text(
            "show superuser_reserved_connections")).scalar())
        used = conn.execute(sqlalchemy.text("select count(*) from pg_stat_activity "
                                            "where backend_type = 'client backend'")).scalar()
    return limit - reserved - int(used)


def is_worker(application_name: str) -> bool:
    """A worker process's connection: named by ``PGAPPNAME`` (``many-<i>``), or by tuner
    itself (``tuner <role> pid <pid>``), neither the proxy's nor this process's."""
    return application_name.startswith("many-") or (
        application_name.startswith("tuner ") and "proxy" not in application_name
        and not application_name.endswith(f" pid {os.getpid()}"))


class Sampler(threading.Thread):
    """The database's connections every 0.2 s: the peak in all and per process name."""

    def __init__(self, base: str, database: str) -> None:
        super().__init__(daemon=True)
        self.engine = sqlalchemy.create_engine(base, poolclass=sqlalchemy.pool.StaticPool)
        self.database, self.stop = database, threading.Event()
        self.peak_total, self.peak_per_process = 0, 0

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.wait(0.2):
                rows = conn.execute(sqlalchemy.text(
                    "select application_name, count(*) from pg_stat_activity "
                    "where datname = :d group by 1"), {"d": self.database}).all()
                conn.rollback()
                workers = [n for name, n in rows if is_worker(name)]
                self.peak_total = max(self.peak_total, sum(n for _, n in rows))
                self.peak_per_process = max([self.peak_per_process, *workers])

    def finish(self) -> tuple[int, int]:
        self.stop.set()
        self.join()
        self.engine.dispose()
        return self.peak_total, self.peak_per_process


# -- one worker process -----------------------------------------------------------------------
def worker_storage(url: str, via_grpc: bool, tuner_path: bool):
    if via_grpc and tuner_path:
        from tuner.storage import open_storage

        return open_storage(GRPC_URL)  # tuner.storage.grpc: the proxy answers, or one line
    if via_grpc:
        from optuna.storages import GrpcStorageProxy

        proxy = GrpcStorageProxy(host="127.0.0.1", port=GRPC_PORT)
        proxy.wait_server_ready(timeout=120)
        return proxy
    if tuner_path:
        from tuner.optuna_internals import stale_trial_retry
        from tuner.storage import open_storage
        from tuner.workers.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S

        return open_storage(url, heartbeat_interval=HEARTBEAT_INTERVAL_S,
                            grace_period=GRACE_PERIOD_S,
                            stale_trial_callback=stale_trial_retry(3))
    return url  # raw Optuna: its own RDBStorage, default pool


def work(index: int, url: str, name: str, via_grpc: bool, tuner_path: bool, points: int,
         ready, go) -> None:
    """One worker process: open the storage, wait for the start, run trials, exit."""
    os.environ["PGAPPNAME"] = f"many-{index}"

    def run() -> None:
        import optuna

        from tuner.optuna_internals import quiet_optuna

        quiet_optuna()
        study = optuna.load_study(study_name=name,
                                  storage=worker_storage(url, via_grpc, tuner_path))
        study.get_trials(deepcopy=False)  # connected before the clock starts
        ready.release()
        go.wait()
        if tuner_path:
            from tuner.workers.heartbeat import HEARTBEAT_INTERVAL_S
            from tuner.workers.worker import run_trials

            # through the proxy the heartbeat is a count the worker raises (tuner:beat)
            beat = {"heartbeat_interval": HEARTBEAT_INTERVAL_S} if "heartbeat_interval" in \
                inspect.signature(run_trials).parameters else {}
            run_trials(study, objective, claim_only=True, **beat)
        else:
            from optuna.study import MaxTrialsCallback
            from optuna.trial import TrialState

            taken = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL)
            study.optimize(objective, callbacks=[MaxTrialsCallback(points, states=taken)])

    exit_after(f"worker {index}", run)


def exit_after(label: str, body) -> None:
    """Run ``body`` in a forked process, then exit: 0, or 1 with the error on stderr (the
    parent counts what was done); no inherited finaliser touches the parent's sockets."""
    code = 0
    try:
        body()
    except BaseException as exc:  # noqa: BLE001 - reported, the parent counts what was done
        print(f"{label}: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


#: Optuna's own proxy server (``--race``: what there was before ``tuner proxy``): one
#: storage whose pool holds a connection per thread; argv: URL, port, threads
OPTUNA_PROXY = """
import sys; from concurrent.futures import ThreadPoolExecutor
import optuna; from optuna.storages import RDBStorage, get_storage, run_grpc_proxy_server
from tuner.storage import engine_kwargs
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kwargs = {**engine_kwargs(url), "pool_size": threads, "max_overflow": 0}
run_grpc_proxy_server(get_storage(RDBStorage(url, engine_kwargs=kwargs)), host="127.0.0.1",
                      port=port, thread_pool=ThreadPoolExecutor(max_workers=threads))
"""


def start_proxy(url: str, threads: int, optunas_own: bool = False) -> subprocess.Popen:
    """``tuner proxy`` (or Optuna's own) on :data:`GRPC_PORT`, once a plain socket connects
    (no gRPC channel here: this process forks the workers, and gRPC does not survive it)."""
    import socket

    if optunas_own:
        command = ["-W", "ignore", "-c", OPTUNA_PROXY, url, str(GRPC_PORT), str(threads)]
    else:
        command = ["-m", "tuner.cli", "proxy", "--storage", url, "--port", str(GRPC_PORT),
                   "--threads", str(threads)]
    server = subprocess.Popen([sys.executable, *command], cwd=ROOT, env={
        **os.environ, "PGAPPNAME": "proxy", "NO_ALBUMENTATIONS_UPDATE": "1"})
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", GRPC_PORT), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the proxy did not start") from None
            time.sleep(0.2)


def stop_proxy(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=60)
    assert code in (143, -signal.SIGTERM), f"the proxy ended with {code} on SIGTERM"


def all_at_once(target, args_of, count: int, wave: int) -> tuple[list, float]:
    """``count`` forked processes of ``target(*args_of(index, ready, go))``, started in
    waves of ``wave`` (200 connects at once is a storm), each ready before any is let go;
    the processes and the seconds from the go to the last one's end."""
    context = multiprocessing.get_context("fork")
    ready, go = context.Semaphore(0), context.Event()
    children = []
    for start in range(0, count, wave):
        for index in range(start, min(start + wave, count)):
            child = context.Process(target=target, args=args_of(index, ready, go))
            child.start()
            children.append(child)
        for _ in range(start, min(start + wave, count)):
            ready.acquire()
    began = time.perf_counter()
    go.set()
    for child in children:
        child.join()
    return children, time.perf_counter() - began


# -- one measured run -------------------------------------------------------------------------
def run_once(url: str, database: str, base: str, processes: int, points: int,
             via_grpc: bool, tuner_path: bool, wave: int) -> dict:
    import optuna

    from tuner.optuna_internals import sql_engine
    from tuner.storage import open_storage, study_lock

    name = f"many-{'tuner' if tuner_path else 'optuna'}-{uuid.uuid4().hex[:6]}"
    storage = open_storage(url)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    with study_lock(url, name):  # as trial_queue.enqueue_grid does
        for x in range(points):
            study.enqueue_trial({"x": x})
    sql_engine(storage).dispose()  # nothing pooled is inherited by the forked workers
    sampler = Sampler(base, database)
    sampler.start()
    children, seconds = all_at_once(
        work, lambda index, ready, go: (index, url, name, via_grpc, tuner_path, points,
                                        ready, go), processes, wave)
    peak_total, peak_per_process = sampler.finish()
    trials = study.get_trials(deepcopy=False)
    complete = collections.Counter(t.params.get("x") for t in trials
                                   if t.state == optuna.trial.TrialState.COMPLETE)
    per_point = collections.Counter(complete.get(x, 0) for x in range(points))
    extra = sum(n for x, n in complete.items() if x is None or not 0 <= x < points)
    sql_engine(storage).dispose()
    return {"seconds": seconds, "complete": sum(complete.values()),
            "trials_per_s": sum(complete.values()) / seconds, "per_point": dict(per_point),
            "outside_grid": extra, "failed_workers": sum(c.exitcode != 0 for c in children),
            "peak_total": peak_total, "peak_per_process": peak_per_process}


def run_mode(mode: str, url: str, database: str, base: str, processes: int, points: int,
             wave: int, threads: int) -> None:
    via_grpc = mode == "grpc"
    if not via_grpc:
        free = free_connections(base) - MARGIN
        if 2 * processes > free:
            capped = max(1, free // 2)
            print(f"direct: {processes} processes x 2 connections > {free} free on the "
                  f"server (less a margin of {MARGIN}): running {capped}")
            processes = capped
    server = start_proxy(url, threads) if via_grpc else None
    try:
        for tuner_path in (True, False):
            result = run_once(url, database, base, processes, points, via_grpc, tuner_path,
                              wave)
            who = "tuner run_trials" if tuner_path else "raw optimize  "
            once = result["per_point"].get(1, 0)
            print(f"{mode:6} {who} {processes:4} processes: {result['trials_per_s']:7.1f} "
                  f"trials/s ({result['complete']} COMPLETE in {result['seconds']:.1f} s); "
                  f"peak connections {result['peak_total']} in all, "
                  f"{result['peak_per_process']} per worker process; points COMPLETE "
                  f"once {once}/{points}, by count {result['per_point']}, outside the grid "
                  f"{result['outside_grid']}; workers failed {result['failed_workers']}",
                  flush=True)
            if tuner_path:
                assert result["per_point"] == {1: points}, result
    finally:
        if server is not None:
            stop_proxy(server)


# -- the grid race through a proxy -------------------------------------------------------------
def enqueue_like_a_run(index: int, name: str, points: int, ready, go) -> None:
    """What ``tuner run`` does before it trains (workers/runner.py, ``_create_or_resume``),
    through the proxy: create or load the study, store a setup, enqueue what is missing."""
    def run() -> None:
        import optuna

        from tuner import StudySpec, categorical, records
        from tuner.optuna_internals import quiet_optuna
        from tuner.storage import open_storage, study_lock
        from tuner.workers.trial_queue import enqueue_grid

        quiet_optuna()
        storage = open_storage(GRPC_URL)
        spec = StudySpec(name=name, sampler="grid", pruner="none", space={
            "lr": categorical([round(1e-5 * (i + 1), 8) for i in range(points)])})
        ready.release()
        go.wait()
        with study_lock(GRPC_URL, name):  # nothing to lock: a proxy's URL names no database
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                        load_if_exists=True)
            if records.SETUP not in study.user_attrs:
                study.set_user_attr(records.SETUP, {"bench": "race"})
            enqueue_grid(study, spec)

    exit_after(f"run {index}", run)


def run_race(url: str, runs: int, points: int, threads: int, tuner_server: bool) -> None:
    """``runs`` processes enqueue one grid at once through a proxy; points queued twice."""
    import optuna

    from tuner.optuna_internals import sql_engine
    from tuner.storage import open_storage

    storage = open_storage(url)  # the tables, before Optuna's server opens them
    server = start_proxy(url, threads, optunas_own=not tuner_server)
    name = f"race-{uuid.uuid4().hex[:6]}"
    try:
        children, seconds = all_at_once(
            enqueue_like_a_run, lambda index, ready, go: (index, name, points, ready, go),
            runs, runs)
    finally:
        stop_proxy(server)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    queued = collections.Counter(t.system_attrs["fixed_params"]["lr"] for t in trials)
    who = "tuner proxy " if tuner_server else "Optuna proxy"
    print(f"race   {who} {runs:4} runs at once, {points}-point grid: {len(trials)} trials "
          f"queued for {len(queued)} points; {sum(n > 1 for n in queued.values())} points "
          "queued more than once "
          f"({len(trials) - len(queued)} extra trials); runs failed "
          f"{sum(c.exitcode != 0 for c in children)}; {seconds:.1f} s", flush=True)
    sql_engine(storage).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--direct-processes", type=int, default=None,
                        help="processes in direct mode (default --processes; capped at the "
                        "server's free connections)")
    parser.add_argument("--race", type=int, default=0, metavar="K",
                        help="also K runs enqueueing one grid at once through each proxy")
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--mode", choices=("direct", "grpc", "both", "race"), default="both",
                        help="race: only the grid race (--race K, default 20)")
    parser.add_argument("--url", default=os.environ.get("TUNER_BENCH_PG", BASE_URL),
                        help="a database on the server; the bench creates its own beside it")
    parser.add_argument("--wave", type=int, default=25, help="processes started at once")
    parser.add_argument("--proxy-threads", type=int, default=8,
                        help="the proxy's threads")
    args = parser.parse_args()
    from tuner.optuna_internals import quiet_optuna

    quiet_optuna()
    import tuner.workers.worker  # noqa: F401 - imported once, shared by the forked workers
    database = f"tuner_many_{uuid.uuid4().hex[:10]}"
    with admin_engine(args.url).connect() as conn:
        conn.execute(sqlalchemy.text(f"create database {database}"))
    url = sqlalchemy.engine.make_url(args.url).set(database=database).render_as_string(
        hide_password=False)
    try:
        modes = {"both": ("direct", "grpc"), "race": ()}.get(args.mode, (args.mode,))
        race = args.race or (20 if args.mode == "race" else 0)
        for mode in modes:
            processes = args.direct_processes or args.processes if mode == "direct" \
                else args.processes
            run_mode(mode, url, database, args.url, processes, args.points, args.wave,
                     args.proxy_threads)
        for tuner_server in (False, True) if race else ():
            run_race(url, race, args.points, args.proxy_threads, tuner_server)
    finally:
        with admin_engine(args.url).connect() as conn:
            conn.execute(sqlalchemy.text(f"drop database if exists {database} with (force)"))


if __name__ == "__main__":
    main()
