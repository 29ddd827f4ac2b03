"""Several workers on one study, against the real PostgreSQL (and SQLite): every grid
point exactly once, a SIGKILLed worker's trial retried, Ctrl-C then resume, connections
the server drops mid-run survived; the progress bar counts a retried trial once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from tests.tiny import TINY_SETS
from tuner import records
from tuner.workers.progress import StudyProgress

ROOT = Path(__file__).resolve().parents[2]


def write_grid(tmp_path, name: str, points: int) -> Path:
    path = tmp_path / f"{name}.py"
    values = [round(0.1 * (i + 1), 2) for i in range(points)]
    path.write_text(textwrap.dedent(f"""
        from tuner import StudySpec, categorical
        study = StudySpec(name="{name}", sampler="grid", pruner="none",
                          space=dict(dropout=categorical({values})))
    """))
    return path


def tuner(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.Popen([sys.executable, "-m", "tuner.cli", "run", *map(str, args)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


def trials_of(url: str, name: str):
    """The study's trials, read over a connection that is closed again (polled often)."""
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    finally:
        storage.engine.dispose()


def wait_for_running(url: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(t.state == TrialState.RUNNING and t.user_attrs.get("curves")
                   for t in trials_of(url, name)):
                return
        except KeyError:
            pass  # the study is not created yet
        time.sleep(0.3)
    raise AssertionError("no trial started running")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_workers_on_two_machines_train_every_grid_point_once(kind, tmp_path, study_name,
                                                             request):
    url = (f"sqlite:///{tmp_path / 'tuner.db'}" if kind == "sqlite"
           else request.getfixturevalue("postgres_url"))
    study_file = write_grid(tmp_path, study_name, 6)
    # two "machines" start at once, with 2 and 1 workers: the grid is enqueued once
    first = tuner(study_file, "--storage", url, "--workers", "2", *TINY_SETS)
    second = tuner(study_file, "--storage", url, "--workers", "1", *TINY_SETS)
    outputs = finish(first), finish(second)
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert "database is locked" not in "".join(outputs)
    trials = trials_of(url, study_name)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6, outputs
    assert sorted(t.params["dropout"] for t in trials) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_sigkilled_worker_trial_is_failed_retried_and_the_study_completes(
        tmp_path, postgres_url, study_name):
    study_file = write_grid(tmp_path, study_name, 1)  # the rerun has only the dead trial
    slow = [*TINY_SETS, "--set", "epochs=30"]  # the same setup for both: a study is one
    beat = ["--heartbeat-interval", "1", "--grace-period", "3"]
    victim = tuner(study_file, "--storage", postgres_url, *beat, *slow, "--n-trials", "1")
    wait_for_running(postgres_url, study_name)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    rescuer = tuner(study_file, "--storage", postgres_url, *beat, *slow)
    output = finish(rescuer)
    assert rescuer.returncode == 0, output
    trials = trials_of(postgres_url, study_name)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(failed) == 1 and len(complete) == 1, [(t.number, t.state) for t in trials]
    retried = [t for t in complete if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retried) == 1 and retried[0].params == failed[0].params


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_and_the_study_resumes(workers, tmp_path, sqlite_url, study_name):
    study_file = write_grid(tmp_path, study_name, 2)
    same_setup = [*TINY_SETS, "--set", "epochs=20"]  # long enough to be interrupted
    run = tuner(study_file, "--storage", sqlite_url, *same_setup,
                "--workers", str(workers), start_new_session=True)
    wait_for_running(sqlite_url, study_name)
    time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process
    output = finish(run)
    assert run.returncode == 130, output
    assert "run the same command again to resume" in output
    assert "Traceback" not in output
    interrupted = {t.number for t in trials_of(sqlite_url, study_name)
                   if t.state == TrialState.WAITING and t.intermediate_values}
    states = [t.state for t in trials_of(sqlite_url, study_name)]
    assert TrialState.RUNNING not in states and TrialState.FAIL not in states
    assert interrupted  # back in the queue with its number and reported epochs
    resumed = tuner(study_file, "--storage", sqlite_url, *same_setup)
    output = finish(resumed)
    assert resumed.returncode == 0, output
    trials = trials_of(sqlite_url, study_name)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 2 and sorted(t.params["dropout"] for t in complete) == [0.1, 0.2]
    assert all(records.RESUMED in t.user_attrs for t in trials if t.number in interrupted)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found[int(proc.name)] = (ppid, cmdline)
    return found


def spawned_workers(parent: int) -> list[int]:
    """Pids of the worker processes of ``parent``: the children of its fork server."""
    table = _processes()
    servers = {pid for pid, (ppid, cmd) in table.items()
               if ppid == parent and "forkserver" in cmd}
    return [pid for pid, (ppid, _) in table.items() if ppid in servers]


def test_a_killed_local_worker_is_a_warning_when_the_study_completes(tmp_path, sqlite_url,
                                                                     study_name):
    """--workers 2, the spawned worker is SIGKILLed mid-trial: this process waits out the
    grace period, takes the retried trial over, and the run ends with exit 0 and a warning."""
    study_file = write_grid(tmp_path, study_name, 2)
    run = tuner(study_file, "--storage", sqlite_url, *TINY_SETS, "--set", "epochs=150",
                "--workers", "2", "--heartbeat-interval", "1", "--grace-period", "3")
    deadline, children = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        try:
            running = [t for t in trials_of(sqlite_url, study_name)
                       if t.state == TrialState.RUNNING and t.user_attrs.get("curves")]
        except KeyError:  # the study is not created yet
            running = []
        children = spawned_workers(run.pid)
        if len(running) == 2 and children:
            break
        time.sleep(0.3)
    assert children, "the spawned worker never started a trial"
    os.kill(children[0], signal.SIGKILL)
    output = finish(run)
    assert run.returncode == 0, output
    assert "warning: worker 2 was killed (SIGKILL)" in output
    states = sorted(t.state.name for t in trials_of(sqlite_url, study_name))
    assert states == ["COMPLETE", "COMPLETE", "FAIL"], output


@pytest.fixture
def own_postgres(postgres_url):
    """(admin engine, URL, name) of a new database on the test server, dropped afterwards:
    its connections can be killed without touching anyone else's."""
    name = f"tuner_drop_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT",
                                     pool_pre_ping=True)  # a restart drops its connection
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"create database {name}"))
    url = sqlalchemy.engine.make_url(postgres_url).set(database=name)
    try:
        yield admin, url.render_as_string(hide_password=False), name
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"drop database if exists {name} with (force)"))
        admin.dispose()


def terminate_backends(admin, database: str) -> int:
    """What an admin (or a restarting server) does: kill every connection to ``database``."""
    with admin.connect() as conn:
        return conn.execute(sqlalchemy.text(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = :d and pid <> pg_backend_pid()"), {"d": database}).scalar_one()


def test_connections_dropped_during_a_run_are_survived(own_postgres, tmp_path, study_name):
    """issue 17: killing the run's connections again and again while --workers 2 train a
    grid ended in exit 1 (a traceback from the progress poll, or "lost the database" with
    trials left FAIL/RUNNING). Every process reconnects and retries: exit 0, every point
    complete once."""
    admin, url, database = own_postgres
    study_file = write_grid(tmp_path, study_name, 4)
    run = tuner(study_file, "--storage", url, "--workers", "2", *TINY_SETS, "--set",
                "epochs=3", "--heartbeat-interval", "1", "--grace-period", "3")
    deadline = time.monotonic() + 180
    while run.poll() is None and time.monotonic() < deadline:  # until the grid is stored
        try:
            if trials_of(url, study_name):
                break
        except (KeyError, sqlalchemy.exc.SQLAlchemyError):
            pass  # no schema or no study yet
        time.sleep(0.2)
    killed = rounds = 0
    while run.poll() is None and time.monotonic() < deadline:
        killed += terminate_backends(admin, database)
        rounds += 1
        time.sleep(0.3)
    output = finish(run)
    assert run.returncode == 0, output
    assert "Traceback" not in output and "Caught an error from sqlalchemy" not in output
    assert killed >= 3, f"{killed} connections killed in {rounds} rounds: too few to test"
    trials = trials_of(url, study_name)
    assert sorted(t.params["dropout"] for t in trials if t.state == TrialState.COMPLETE) \
        == [0.1, 0.2, 0.3, 0.4], [(t.number, t.state.name) for t in trials]
    assert not [t for t in trials if not t.state.is_finished()]


def _restart_command() -> list[str] | None:
    """The command that restarts the local test server, where this process may run it."""
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() \
        else []
    if not clusters or not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[0].parent.name, "main",
            "restart"]


@pytest.mark.slow
@pytest.mark.restarts_server
def test_a_server_restart_during_a_run_is_survived(own_postgres, tmp_path, study_name):
    """issue 17: the database server restarted while --workers 2 train a grid: every
    process reconnects within its retries; exit 0, every point complete once."""
    restart = _restart_command()
    if restart is None:
        pytest.skip("cannot restart the local PostgreSQL server here (not root, or no cluster)")
    _, url, _ = own_postgres
    study_file = write_grid(tmp_path, study_name, 4)
    run = tuner(study_file, "--storage", url, "--workers", "2", *TINY_SETS, "--set",
                "epochs=4", "--heartbeat-interval", "1", "--grace-period", "5")
    deadline = time.monotonic() + 180
    while run.poll() is None and time.monotonic() < deadline:  # until a trial trains
        try:
            if any(t.intermediate_values for t in trials_of(url, study_name)):
                break
        except (KeyError, sqlalchemy.exc.SQLAlchemyError):
            pass
        time.sleep(0.2)
    started = time.monotonic()
    subprocess.run(restart, check=True, capture_output=True, timeout=60)
    down_for = time.monotonic() - started
    output = finish(run)
    assert run.returncode == 0, f"restart took {down_for:.1f} s\n{output}"
    assert "Traceback" not in output
    trials = trials_of(url, study_name)
    assert sorted(t.params["dropout"] for t in trials if t.state == TrialState.COMPLETE) \
        == [0.1, 0.2, 0.3, 0.4], [(t.number, t.state.name) for t in trials]


def frozen(number: int, state: TrialState, retries: list[int] = ()) -> FrozenTrial:
    system = {"failed_trial": retries[0], "retry_history": list(retries)} if retries else {}
    return FrozenTrial(number=number, state=state,
                       value=0.5 if state == TrialState.COMPLETE else None,
                       datetime_start=None, datetime_complete=None, params={},
                       distributions={}, user_attrs={}, system_attrs=system,
                       intermediate_values={}, trial_id=number + 1)


@pytest.mark.parametrize("order", ["failed first", "retry first"])
def test_progress_counts_a_retried_trial_once(order):
    """A dead worker's trial fails and its retry completes the same grid point: 2 of 2, not
    3 of 2 (the bar showed 7/4), whichever of the two the parent sees first."""
    progress = StudyProgress(2, enabled=False)
    failed, retry = frozen(0, TrialState.FAIL), frozen(2, TrialState.COMPLETE, [0])
    ends = [failed, frozen(1, TrialState.COMPLETE), retry]
    for trial in ends if order == "failed first" else ends[::-1]:
        progress.trial_end(trial)
        progress.trial_end(trial)  # the poll and the worker itself: shown once
    assert progress.done == 2
    assert progress._progress.tasks[0].completed == 2
