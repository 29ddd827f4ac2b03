"""tuner.interrupt: stop requests by signal, their exit codes, a worker whose parent is gone,
and the training loop's answer (it stops between batches with what it finished)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.tiny import TINY
from tuner import interrupt
from tuner.config import TrainConfig
from tuner.training import Interrupted, fit


@pytest.fixture(autouse=True)
def _no_request_left_over():
    previous = {signum: signal.getsignal(signum) for signum in interrupt.EXIT_CODES}
    interrupt.clear()
    yield
    interrupt.clear()
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_first_signal_is_recorded_and_the_second_raises(signum, code):
    interrupt.install()
    os.kill(os.getpid(), signum)
    assert interrupt.requested() and interrupt.exit_code() == code
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_if_requested()
    with pytest.raises(KeyboardInterrupt):  # a user who will not wait
        os.kill(os.getpid(), signum)
        time.sleep(0.1)
    assert interrupt.exit_code() == code  # the first signal decides


def test_without_a_request_nothing_happens_and_the_code_is_ctrl_cs():
    interrupt.raise_if_requested()
    assert not interrupt.requested() and interrupt.exit_code() == 130


def test_a_worker_stops_when_its_parent_is_gone():
    read, write = os.pipe()
    interrupt.stop_with_parent(read)
    time.sleep(0.1)
    assert not interrupt.requested()
    os.close(write)  # the parent's end closes as the parent dies
    deadline = time.monotonic() + 5
    while not interrupt.requested() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.close(read)
    assert interrupt.requested() and interrupt.exit_code() == 143


def test_fit_stops_after_the_epoch_it_finished_with_its_best_weights():
    cfg = TrainConfig.from_dict({**TINY, "epochs": 5})

    def stop_during_epoch_two(report):
        if report.epoch == 2:
            interrupt.request(signal.SIGTERM)

    with pytest.raises(Interrupted) as stopped:
        fit(cfg, on_epoch=stop_during_epoch_two)
    result = stopped.value.result
    assert result.epochs_run == 2 and result.stop_reason == "interrupted"
    assert 1 <= result.best_epoch <= 2


def test_fit_stops_at_the_next_batch_not_the_end_of_the_epoch():
    interrupt.request(signal.SIGINT)
    with pytest.raises(Interrupted) as stopped:
        fit(TrainConfig.from_dict({**TINY, "epochs": 3}))
    assert stopped.value.result.epochs_run == 0
