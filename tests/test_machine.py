"""tuner.machine: the cores shared among the tuner processes training on one machine."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest

from tuner import machine


@pytest.fixture(autouse=True)
def _markers_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "_markers", lambda: tmp_path / "training")
    monkeypatch.setattr(machine, "physical_cores", lambda: 8)


def test_alone_a_process_takes_every_core_and_its_marker_goes_with_it(tmp_path):
    assert machine.trainers_now() == 1 and machine.fair_threads() == 8
    with machine.training_here():
        assert machine.trainers_now() == 1 and machine.fair_threads() == 8
        assert len(list((tmp_path / "training").iterdir())) == 1
    assert list((tmp_path / "training").iterdir()) == []


@contextlib.contextmanager
def other_trainers(folder, count: int):
    """``count`` live processes whose markers say they train on this machine."""
    others = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
              for _ in range(count)]
    try:
        folder.mkdir()
        for other in others:
            (folder / str(other.pid)).touch()
        yield others
    finally:
        for other in others:
            other.kill()
            other.wait()


def test_processes_training_at_once_share_the_cores(tmp_path):
    with other_trainers(tmp_path / "training", 3) as others, machine.training_here():
        assert machine.trainers_now() == 4 and machine.fair_threads() == 2
        others[0].kill()
        others[0].wait()  # a process that died: its marker no longer counts
        assert machine.trainers_now() == 3 and machine.fair_threads() == 2
        assert not (tmp_path / "training" / str(others[0].pid)).exists()


def test_more_processes_than_cores_get_one_thread_each(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "physical_cores", lambda: 2)
    with other_trainers(tmp_path / "training", 4), machine.training_here():
        assert machine.trainers_now() == 5 and machine.fair_threads() == 1


def test_an_unwritable_folder_marks_nothing_and_training_goes_on(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(machine, "_markers", lambda: blocked / "training")
    with machine.training_here():
        assert machine.trainers_now() == 1
