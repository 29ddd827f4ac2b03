"""``tuner proxy`` and ``grpc://`` storages: commands through the proxy, one-line errors, the
heartbeat watch (a fake clock) and one queued trial per grid point.

The subprocess tests start ``tuner proxy`` on a free port in front of a fresh PostgreSQL
study (or a SQLite file) and run the real commands through ``grpc://127.0.0.1:PORT``.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tests.tiny import TINY
from tests.workers.test_overload import DROPOUT, LR, write_grid  # a 12-point grid
from tuner import StudySpec, categorical, records
from tuner.errors import TunerError
from tuner.optuna_internals import cached_storage, trial_id
from tuner.storage import open_storage
from tuner.storage.grpc import is_grpc, open_grpc_storage, proxy_address
from tuner.workers.proxy_watch import ProxyWatch, ServedStorage
from tuner.workers.trial_queue import enqueue_grid

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env() -> dict[str, str]:
    return {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "TUNER_WORKERS": "1"}


def tuner(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuner.cli", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr)
    assert lines[0].startswith("tuner: error: ")
    return lines[0]


class Proxies:
    """``tuner proxy`` subprocesses of a test: started on a free port (or a given one),
    stopped with SIGTERM (exit code 143)."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, url: str, *options: str, port: int | None = None) -> str:
        """``grpc://127.0.0.1:PORT`` of a ``tuner proxy`` serving ``url``, once it listens."""
        port = port or free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", "proxy", "--storage", url, "--port", str(port),
             *options], cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        address = f"grpc://127.0.0.1:{port}"
        self.running[address] = process
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return address
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "tuner proxy did not listen within 60 s"
                time.sleep(0.1)

    def stop(self, address: str) -> None:
        process = self.running.pop(address)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 143, err
        assert "tuner proxy: serving" in err


@pytest.fixture
def proxies():
    started = Proxies()
    yield started
    for address in list(started.running):
        started.stop(address)


def run_grid(study_file: Path, url: str, *options: str, epochs: int = 1) -> list[str]:
    sets = [arg for key, value in {**TINY, "epochs": epochs, "threads": 1}.items()
            for arg in ("--set", f"{key}={value}")]
    return ["run", str(study_file), "--storage", url, "--workers", "1", *sets,
            "--no-galleries", *options]


def stored_trials(database_url: str, name: str) -> list:
    if name not in optuna.get_all_study_names(database_url):
        return []
    return optuna.load_study(study_name=name, storage=database_url).get_trials()


def complete_once(database_url: str, name: str) -> None:
    trials = stored_trials(database_url, name)
    complete = collections.Counter((t.params["lr"], t.params["dropout"]) for t in trials
                                   if t.state == TrialState.COMPLETE)
    assert complete == {(lr, d): 1 for lr in LR for d in DROPOUT}, trials
    assert len(trials) == len(LR) * len(DROPOUT)


# -- through a running proxy ----------------------------------------------------------------
@pytest.mark.slow
def test_run_studies_best_and_export_through_the_proxy(postgres_url, study_name, tmp_path,
                                                       proxies):
    url = proxies.start(postgres_url)
    ran = tuner(*run_grid(write_grid(tmp_path, study_name), url))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    complete_once(postgres_url, study_name)
    listed = tuner("studies", "--storage", url)
    assert listed.returncode == 0 and study_name in listed.stdout, listed.stderr
    best = tuner("best", study_name, "--storage", url, "--format", "csv", "--top", "99")
    rows = best.stdout.strip().splitlines()
    assert best.returncode == 0 and len(rows) == 1 + len(LR) * len(DROPOUT), best.stderr
    exported = tuner("export", study_name, "--storage", url, "--out", str(tmp_path / "out"),
                     "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out" / "comparison.csv").is_file()


@pytest.mark.slow
def test_a_grid_runs_through_a_proxy_on_sqlite(tmp_path, study_name, proxies):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    ran = tuner(*run_grid(write_grid(tmp_path, study_name), proxies.start(database)))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    complete_once(database, study_name)


@pytest.mark.slow
def test_a_run_goes_on_through_a_restart_of_the_proxy(postgres_url, study_name, tmp_path,
                                                      proxies):
    port = free_port()
    url = proxies.start(postgres_url, port=port)
    run = subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", *run_grid(write_grid(tmp_path, study_name), url,
                                                      epochs=6)],
        cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(t.state == TrialState.COMPLETE for t in stored_trials(postgres_url,
                                                                             study_name)):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.3)
        proxies.stop(url)  # while the run trains the other points
        assert len(stored_trials(postgres_url, study_name)) > sum(
            t.state == TrialState.COMPLETE for t in stored_trials(postgres_url, study_name))
        proxies.start(postgres_url, port=port)
        output = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, output
    complete_once(postgres_url, study_name)


@pytest.mark.slow
def test_runs_enqueueing_one_grid_at_once_queue_each_point_once(postgres_url, study_name,
                                                                proxies):
    """What ``tuner run`` does before training, in four runs at once through the proxy
    (measured without tuner proxy: every point queued by every run, bench/RESULTS.md)."""
    url = proxies.start(postgres_url)
    spec = StudySpec(name=study_name, sampler="grid", pruner="none", repeats=2,
                     space={"lr": categorical([round(1e-4 * (i + 1), 6) for i in range(25)])})
    clients = [open_storage(url) for _ in range(4)]
    at_once = threading.Barrier(len(clients))
    failures = []

    def enqueue(storage) -> None:
        try:
            at_once.wait()
            study = optuna.create_study(study_name=study_name, storage=storage,
                                        direction="maximize", load_if_exists=True)
            study.set_user_attr(records.SETUP, {"test": "race"})
            enqueue_grid(study, spec)
        except Exception as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    runs = [threading.Thread(target=enqueue, args=(client,)) for client in clients]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    assert failures == []
    trials = optuna.load_study(study_name=study_name, storage=postgres_url).get_trials()
    queued = collections.Counter((t.system_attrs[records.FIXED_PARAMS]["lr"],
                                  t.user_attrs[records.REPEAT]) for t in trials)
    assert len(trials) == 50 and set(queued.values()) == {1}


@pytest.mark.slow
def test_a_killed_proxied_worker_s_trial_is_failed_and_retried(postgres_url, study_name,
                                                               tmp_path, proxies):
    url = proxies.start(postgres_url, "--heartbeat-interval", "1", "--grace-period", "3")
    path = tmp_path / f"{study_name}.py"
    path.write_text(f"from tuner import StudySpec, categorical\nstudy = StudySpec(name="
                    f"'{study_name}', sampler='grid', pruner='none', "
                    "space=dict(lr=categorical([1e-3])))\n")
    worker = subprocess.Popen(  # a trial of 500 epochs: killed while it trains
        [sys.executable, "-m", "tuner.cli",
         *run_grid(path, url, "--heartbeat-interval", "1", epochs=500)],
        cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    study = None
    try:
        deadline = time.monotonic() + 60
        while True:  # until its trial runs and has beaten through the proxy
            assert worker.poll() is None and time.monotonic() < deadline
            names = optuna.get_all_study_names(postgres_url)
            study = optuna.load_study(study_name=study_name, storage=postgres_url) \
                if study_name in names else None
            running = study.get_trials(states=(TrialState.RUNNING,)) if study else []
            if running and records.PROXY_HEARTBEAT in running[0].system_attrs:
                break
            time.sleep(0.3)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    killed = running[0]
    deadline = time.monotonic() + 20
    while study.get_trials()[killed.number].state == TrialState.RUNNING:
        assert time.monotonic() < deadline, "the silent trial was not failed"
        time.sleep(0.5)
    trials = study.get_trials()
    assert trials[killed.number].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.system_attrs[records.FAILED_TRIAL] == killed.number
    assert retry.system_attrs[records.FIXED_PARAMS] == {"lr": 1e-3}
    assert records.PROXY_HEARTBEAT not in retry.system_attrs


# -- mistakes: one line, exit code 2 --------------------------------------------------------
@pytest.mark.slow
def test_a_bad_proxy_url_and_a_proxy_not_running_are_one_line(tmp_path):
    assert "no port" in one_error_line(tuner("studies", "--storage", "grpc://127.0.0.1"))
    began = time.monotonic()
    line = one_error_line(tuner("best", "x", "--storage", f"grpc://127.0.0.1:{free_port()}"))
    assert "no proxy answers" in line and time.monotonic() - began < 30


@pytest.mark.slow
def test_the_proxy_refuses_a_proxy_or_an_in_memory_database_and_a_taken_port(tmp_path):
    assert "proxy's address" in one_error_line(
        tuner("proxy", "--storage", "grpc://127.0.0.1:13000"))
    assert "in-memory" in one_error_line(tuner("proxy", "--storage", "sqlite:///:memory:"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(tuner("proxy", "--storage", f"sqlite:///{tmp_path / 'x.db'}",
                                    "--port", str(port)))
    assert "cannot listen" in line


@pytest.mark.parametrize("url, words", [
    ("grpc://127.0.0.1", "no port"), ("grpc://:13000", "no host"),
    ("grpc://127.0.0.1:port", "not a valid port"), ("grpc://127.0.0.1:99999", "not a valid"),
    ("grpc://user:pw@127.0.0.1:13000/db", "only a host and a port"),
])
def test_proxy_urls_other_than_host_and_port_are_refused(url, words):
    with pytest.raises(TunerError, match=words):
        proxy_address(url)


def test_proxy_urls_are_told_from_database_urls():
    assert is_grpc("grpc://h:1") and is_grpc("GRPC://h:1")
    assert not is_grpc("postgresql+psycopg://u@h/db") and not is_grpc(None)
    assert proxy_address("grpc://[::1]:13000") == ("[::1]", 13000)
    with pytest.raises(TunerError, match="within 0.5 s"):
        open_grpc_storage(f"grpc://127.0.0.1:{free_port()}", timeout=0.5)


# -- the heartbeat watch -----------------------------------------------------------------------
def test_the_watch_fails_a_silent_trial_and_queues_its_retry(sqlite_url, study_name):
    storage = open_storage(sqlite_url)
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")

    def running(x: int, beat: int | None) -> int:
        study.enqueue_trial({"x": x})
        trial = study.ask()  # takes the queued trial: x as given
        trial.suggest_int("x", 0, 9)
        trial.report(0.1 * x, 1)
        if beat is not None:
            storage.set_trial_system_attr(trial_id(trial), records.PROXY_HEARTBEAT, beat)
        return trial.number

    silent, beating, unbeaten = running(1, 4), running(2, 1), running(3, None)
    put_back = running(4, 7)  # by Ctrl-C through the proxy, then taken by a direct worker
    served = ServedStorage(storage, sqlite_url)
    put_back_id = trial_id(study.get_trials()[put_back])
    assert served.set_trial_state_values(put_back_id, TrialState.WAITING)
    assert served.set_trial_state_values(put_back_id, TrialState.RUNNING)
    assert study.get_trials()[put_back].system_attrs[records.PROXY_HEARTBEAT] is None
    ids = {number: trial_id(study.get_trials()[number]) for number in (silent, beating)}
    now = [0.0]
    watch = ProxyWatch(storage, sqlite_url, interval=1, grace_period=30, clock=lambda: now[0])
    assert watch.check() == []  # first sight starts every clock
    for moment, beat in ((20.0, 2), (31.0, 3)):
        now[0] = moment
        storage.set_trial_system_attr(ids[beating], records.PROXY_HEARTBEAT, beat)
        assert watch.check() == ([] if moment < 30 else [ids[silent]])
    states = {t.number: t.state for t in study.get_trials()}
    assert states[silent] == TrialState.FAIL
    assert states[beating] == states[unbeaten] == states[put_back] == TrialState.RUNNING
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.system_attrs[records.FAILED_TRIAL] == silent
    assert retry.params == {"x": 1} and retry.intermediate_values == {1: 0.1}
    assert records.PROXY_HEARTBEAT not in retry.system_attrs
    restarted = ProxyWatch(storage, sqlite_url, interval=1, grace_period=30,
                           clock=lambda: 1e6)
    assert restarted.check() == []  # a restarted proxy fails nothing at first sight


# -- one queued trial per point --------------------------------------------------------------
def queued(point: dict, unit: int = 0):
    """The trial ``Study.enqueue_trial`` creates for ``point`` (as a grid queues it)."""
    return create_trial(state=TrialState.WAITING, system_attrs={records.FIXED_PARAMS: point},
                        user_attrs={records.REPEAT: unit})


def test_the_served_storage_queues_a_tuner_study_s_point_once(any_storage_url, study_name):
    storage = cached_storage(open_storage(any_storage_url))
    served = ServedStorage(storage, any_storage_url)
    study = optuna.create_study(study_name=study_name, storage=storage)
    sid = storage.get_study_id_from_name(study_name)
    first = served.create_new_trial(sid, queued({"lr": 1.0}))
    assert served.create_new_trial(sid, queued({"lr": 1.0})) != first  # not a tuner study
    study.set_user_attr(records.SETUP, {})
    tuner_study = optuna.create_study(study_name=f"{study_name}-t", storage=storage)
    tuner_study.set_user_attr(records.SETUP, {})
    tid = storage.get_study_id_from_name(f"{study_name}-t")
    held = served.create_new_trial(tid, queued({"lr": 1.0}))
    assert served.create_new_trial(tid, queued({"lr": 1.0})) == held
    assert served.create_new_trial(tid, queued({"lr": 1.0}, unit=1)) != held
    direct = storage.create_new_trial(tid, queued({"lr": 2.0}))  # a run on the database
    assert served.create_new_trial(tid, queued({"lr": 2.0})) == direct
    storage.set_trial_state_values(held, TrialState.RUNNING)
    assert served.create_new_trial(tid, queued({"lr": 1.0})) == held  # running: held
    storage.set_trial_state_values(held, TrialState.FAIL)
    again = served.create_new_trial(tid, queued({"lr": 1.0}))  # failed: queued again
    assert again not in (held, direct)
    assert len(tuner_study.get_trials()) == 4
