"""Standby workers: how many a command starts before its imports, and that the ones it did
not need end with it (the multi-worker runs of test_workers.py put them to work)."""

from __future__ import annotations

import pytest

from tuner.study import standby


@pytest.fixture
def two_cores_no_gpu(monkeypatch):
    monkeypatch.setattr(standby, "physical_cores", lambda: 2)
    monkeypatch.setattr(standby, "has_nvidia_devices", lambda: False)


@pytest.mark.parametrize(("requested", "n_trials", "expected"), [
    (None, None, 1),  # auto: one per core, and this process is the first
    (2, None, 1),
    (4, None, 1),  # capped at the cores, as --workers is
    (1, None, 0),
    (None, 1, 0),  # one trial asked for: this process runs it
    (2, 5, 1),
])
def test_standbys_are_the_workers_beside_this_process(two_cores_no_gpu, requested, n_trials,
                                                      expected):
    assert standby.standby_count(requested, n_trials) == expected


def test_no_standby_where_gpus_decide_the_workers(monkeypatch):
    """With GPUs, each worker must see only its GPU before torch is imported: no standby."""
    monkeypatch.setattr(standby, "physical_cores", lambda: 8)
    monkeypatch.setattr(standby, "has_nvidia_devices", lambda: True)
    assert standby.standby_count(None, None) == 0
    assert standby.standby_count(3, None) == 0


def test_standbys_nobody_needed_end_with_the_command():
    standby.start(1)
    waiting = standby.take()
    assert waiting.process.is_alive()
    standby._waiting.append(waiting)  # not given work after all
    standby.dismiss()
    assert not waiting.process.is_alive()
    assert standby._waiting == []


def test_a_standby_that_died_is_replaced_by_a_new_process():
    dead = standby.spawn()
    dead.process.terminate()
    dead.process.join(timeout=10)
    standby._waiting.append(dead)
    fresh = standby.take()
    try:
        assert fresh is not dead and fresh.process.is_alive()
        assert standby._waiting == []
    finally:
        standby._waiting.append(fresh)
        standby.dismiss()
