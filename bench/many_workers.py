"""Many worker processes on one PostgreSQL: peak connections and trials/s (issue 19, part 5).

Each process runs tuner's real worker path (``tuner.workers.worker.run_trials`` claiming the
WAITING trials of an enqueued grid, heartbeats on, storage from ``tuner.storage.
open_storage``) with a trivial objective (suggest the grid's parameter, return it), then
the same number of processes run raw Optuna (``study.optimize``, the same objective, the
same enqueued grid) for comparison. ``--mode direct`` connects every process to the
database; ``--mode grpc`` puts Optuna's gRPC storage proxy (one server process, one
bounded pool) between them and the database. Everything runs in a fresh database
``tuner_many_<uuid>`` that is dropped afterwards. The connections of the database are
sampled every 0.2 s (``pg_stat_activity``, each process named by ``PGAPPNAME``).

    .venv/bin/python bench/many_workers.py --processes 50 --points 400 --mode both

Direct mode refuses to take more connections than the server has free (less a margin for
other users): it runs with fewer processes then, and says so.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sys
import threading
import time
import uuid

import sqlalchemy

BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GRPC_PORT = 13077
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
                workers = [n for name, n in rows if name.startswith("many-")]
                self.peak_total = max(self.peak_total, sum(n for _, n in rows))
                self.peak_per_process = max([self.peak_per_process, *workers])

    def finish(self) -> tuple[int, int]:
        self.stop.set()
        self.join()
        self.engine.dispose()
        return self.peak_total, self.peak_per_process


# -- one worker process -----------------------------------------------------------------------
def worker_storage(url: str, via_grpc: bool, tuner_path: bool):
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
    code = 0
    try:
        import optuna

        from tuner.optuna_internals import quiet_optuna

        quiet_optuna()
        study = optuna.load_study(study_name=name,
                                  storage=worker_storage(url, via_grpc, tuner_path))
        study.get_trials(deepcopy=False)  # connected before the clock starts
        ready.release()
        go.wait()
        if tuner_path:
            from tuner.workers.worker import run_trials

            run_trials(study, objective, claim_only=True)
        else:
            from optuna.study import MaxTrialsCallback
            from optuna.trial import TrialState

            taken = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL)
            study.optimize(objective, callbacks=[MaxTrialsCallback(points, states=taken)])
    except BaseException as exc:  # noqa: BLE001 - reported, the parent counts what was done
        print(f"worker {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no inherited finaliser touches the parent's sockets


def grpc_server(url: str, threads: int) -> None:
    """The proxy: one process, one storage whose pool holds a connection per thread."""
    os.environ["PGAPPNAME"] = "proxy"
    from concurrent.futures import ThreadPoolExecutor

    import optuna
    from optuna.storages import RDBStorage, get_storage, run_grpc_proxy_server

    from tuner.storage import engine_kwargs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {**engine_kwargs(url), "pool_size": threads, "max_overflow": 0}
    storage = get_storage(RDBStorage(url, engine_kwargs=kwargs, skip_table_creation=True))
    run_grpc_proxy_server(storage, host="127.0.0.1", port=GRPC_PORT,
                          thread_pool=ThreadPoolExecutor(max_workers=threads))


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
    context = multiprocessing.get_context("fork")
    ready, go = context.Semaphore(0), context.Event()
    sampler = Sampler(base, database)
    sampler.start()
    children = []
    for start in range(0, processes, wave):  # in waves: 200 connects at once is a storm
        for index in range(start, min(start + wave, processes)):
            child = context.Process(target=work, args=(index, url, name, via_grpc,
                                                       tuner_path, points, ready, go))
            child.start()
            children.append(child)
        for _ in range(start, min(start + wave, processes)):
            ready.acquire()
    began = time.perf_counter()
    go.set()
    for child in children:
        child.join()
    seconds = time.perf_counter() - began
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
    server = None
    if via_grpc:
        from tuner.optuna_internals import sql_engine
        from tuner.storage import open_storage

        sql_engine(open_storage(url)).dispose()  # the tables, before the proxy opens them
        server = multiprocessing.get_context("fork").Process(
            target=grpc_server, args=(url, threads), daemon=True)
        server.start()
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
            server.terminate()
            server.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--mode", choices=("direct", "grpc", "both"), default="both")
    parser.add_argument("--url", default=os.environ.get("TUNER_BENCH_PG", BASE_URL),
                        help="a database on the server; the bench creates its own beside it")
    parser.add_argument("--wave", type=int, default=25, help="processes started at once")
    parser.add_argument("--proxy-threads", type=int, default=8,
                        help="the gRPC server's threads, one pooled connection each")
    args = parser.parse_args()
    import tuner.workers.worker  # noqa: F401 - imported once, shared by the forked workers
    database = f"tuner_many_{uuid.uuid4().hex[:10]}"
    with admin_engine(args.url).connect() as conn:
        conn.execute(sqlalchemy.text(f"create database {database}"))
    url = sqlalchemy.engine.make_url(args.url).set(database=database).render_as_string(
        hide_password=False)
    try:
        for mode in ("direct", "grpc") if args.mode == "both" else (args.mode,):
            run_mode(mode, url, database, args.url, args.processes, args.points, args.wave,
                     args.proxy_threads)
    finally:
        with admin_engine(args.url).connect() as conn:
            conn.execute(sqlalchemy.text(f"drop database if exists {database} with (force)"))


if __name__ == "__main__":
    main()
