"""Connections per process on PostgreSQL: one pool shared by a run's setup, its worker, its
heartbeat and its progress poll (at most two connections at any moment), each named for
its process and role in ``pg_stat_activity``."""

from __future__ import annotations

import collections
import threading
import time

import pytest
import sqlalchemy

from tests.tiny import TINY_SETS
from tests.workers.test_local_workers import finish, spawned_workers, tuner, write_grid


class ConnectionSampler(threading.Thread):
    """Every 50 ms: tuner's connections on the server, counted by application_name."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = sqlalchemy.create_engine(  # autocommit: a fresh snapshot per query
            url, poolclass=sqlalchemy.pool.NullPool, isolation_level="AUTOCOMMIT")
        self.peak: collections.Counter[str] = collections.Counter()
        self.done = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.done.is_set():
                rows = conn.execute(sqlalchemy.text(
                    "select application_name, count(*) from pg_stat_activity "
                    "where application_name like 'tuner %' group by 1")).all()
                for name, count in rows:
                    self.peak[name] = max(self.peak[name], count)
                time.sleep(0.05)
        self.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_holds_at_most_two_connections_per_process(workers, tmp_path, postgres_url,
                                                          study_name):
    study_file = write_grid(tmp_path, study_name, 3)
    sampler = ConnectionSampler(postgres_url)
    sampler.start()
    run = tuner(study_file, "--storage", postgres_url, *TINY_SETS, "--set", "epochs=8",
                "--workers", str(workers), "--heartbeat-interval", "1")
    children: set[int] = set()
    while run.poll() is None:
        children |= set(spawned_workers(run.pid))
        time.sleep(0.2)
    output = finish(run)
    sampler.done.set()
    sampler.join()
    assert run.returncode == 0, output
    mine = {name: peak for name, peak in sampler.peak.items()
            if name == f"tuner run pid {run.pid}" or
            any(name == f"tuner worker 2 pid {pid}" for pid in children)}
    assert f"tuner run pid {run.pid}" in mine, sampler.peak
    assert len(mine) == workers, (mine, children)  # every process names its role
    assert max(mine.values()) <= 2, mine
