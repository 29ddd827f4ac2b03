"""A checkpoint is never half-written, never used when it cannot be loaded, and never fails
its trial: a write cut short leaves the last one, one that cannot be read says so and
the trial starts again at epoch 1, a write that fails is one warning; a resumed trial
reports no epoch twice (no Optuna "already reported" warning)."""

from __future__ import annotations

import errno
import io
import logging

import optuna
import pytest
import torch
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState

from tests.tiny import TINY
from tests.workers.test_resume import run as run_resume
from tuner import StudySpec, categorical, records
from tuner.optuna_internals import PARTIAL
from tuner.study.checkpoints import TrialCheckpoints
from tuner.training import checkpoint

EPOCHS = 6
SPEC = StudySpec(name="checkpoints", sampler="grid", pruner="none",
                 space=dict(lr=categorical([2e-3])))
OVERRIDES = {**TINY, "epochs": EPOCHS}


def run(url: str, stop_after: int | None = None) -> None:
    """One worker of this module's study in this process (tests/workers/test_resume.py)."""
    run_resume(url, stop_after, SPEC, OVERRIDES)


def only_trial(url: str) -> optuna.trial.FrozenTrial:
    [trial] = optuna.load_study(study_name=SPEC.name, storage=url).trials
    return trial


def checkpoint_files(tmp_path) -> list:
    return sorted((tmp_path / "artifacts").glob(f"{records.CHECKPOINT_PREFIX}*"))


def already_reported(recwarn) -> list[str]:
    return [str(w.message) for w in recwarn if "already reported" in str(w.message)]


def tuner_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tuner"]


def fail_checkpoint_writes(monkeypatch, after: int = 0, partly: bool = False) -> list[str]:
    """Checkpoint writes after the first ``after`` raise ENOSPC (``partly``: after writing
    half the bytes, as a full disk or a kill mid-write would); the ids written, returned."""
    written: list[str] = []
    original = FileSystemArtifactStore.write

    def write(self, artifact_id, content_body):
        if not artifact_id.startswith(records.CHECKPOINT_PREFIX):
            return original(self, artifact_id, content_body)
        written.append(artifact_id)
        if len(written) <= after:
            return original(self, artifact_id, content_body)
        if partly:
            body = content_body.read()
            original(self, artifact_id, io.BytesIO(body[:len(body) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemArtifactStore, "write", write)
    return written


def test_a_write_cut_short_leaves_the_last_checkpoint_and_the_resume_reports_no_epoch_twice(
        tmp_path, monkeypatch, caplog, recwarn):
    whole, stopped = (f"sqlite:///{tmp_path / name}.db" for name in ("whole", "stopped"))
    run(whole)
    written = fail_checkpoint_writes(monkeypatch, after=1, partly=True)
    with caplog.at_level(logging.WARNING, logger="tuner"), pytest.raises(KeyboardInterrupt):
        run(stopped, stop_after=3)  # epochs 1-3 reported; the writes of 2 and 3 cut short
    assert all(i.endswith(PARTIAL) for i in written)  # never the checkpoint itself
    trial = only_trial(stopped)
    assert trial.state == TrialState.WAITING and sorted(trial.intermediate_values) == [1, 2, 3]
    [kept] = checkpoint_files(tmp_path)  # the partial files are gone
    assert checkpoint.progress(kept.read_bytes())[0] == 1
    failed = [m for m in tuner_lines(caplog) if "not written" in m]
    assert failed == ["trial 0: checkpoint of epoch 2 not written (OSError: [Errno 28] No "
                      "space left on device); training goes on without it"]

    monkeypatch.undo()
    caplog.clear()
    recwarn.clear()
    with caplog.at_level(logging.WARNING, logger="tuner"):
        run(stopped)
    done, reference = only_trial(stopped), only_trial(whole)
    assert done.state == TrialState.COMPLETE and done.number == 0
    assert "trial 0 resumed at epoch 2 of 6 (epochs 1-1 from its checkpoint)" \
        in tuner_lines(caplog)
    assert done.user_attrs[records.RESUMED] == {"epoch": 1, "of": EPOCHS, "retry_of": None}
    assert already_reported(recwarn) == []  # epochs 2 and 3 trained again, not reported again
    assert done.intermediate_values == reference.intermediate_values
    assert done.value == reference.value
    assert checkpoint_files(tmp_path) == []


def test_a_truncated_checkpoint_is_not_used_and_the_message_names_it(
        tmp_path, caplog, recwarn):
    url = f"sqlite:///{tmp_path / 'truncated'}.db"
    with pytest.raises(KeyboardInterrupt):
        run(url, stop_after=2)
    [kept] = checkpoint_files(tmp_path)
    data = kept.read_bytes()
    kept.write_bytes(data[:len(data) // 3])  # what the old, non-atomic write left

    recwarn.clear()
    with caplog.at_level(logging.WARNING, logger="tuner"):
        run(url)
    done = only_trial(url)
    assert done.state == TrialState.COMPLETE
    [line] = [m for m in tuner_lines(caplog) if "checkpoint" in m]
    assert line.startswith("trial 0: checkpoint unreadable (truncated or damaged, ")
    assert line.endswith("), starting again at epoch 1 of 6")
    assert not any("resumed at" in m for m in tuner_lines(caplog))
    note = done.user_attrs[records.RESUMED]
    assert note["epoch"] == 0 and note["unusable"].startswith("unreadable (truncated")
    assert already_reported(recwarn) == []
    assert sorted(done.intermediate_values) == list(range(1, EPOCHS + 1))
    assert len(done.user_attrs[records.CURVES]["val_dice"]) == EPOCHS
    assert checkpoint_files(tmp_path) == []


def test_a_checkpoint_that_cannot_be_written_is_one_warning_and_the_trial_completes(
        tmp_path, monkeypatch, caplog):
    url = f"sqlite:///{tmp_path / 'full'}.db"
    written = fail_checkpoint_writes(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="tuner"):
        run(url)
    assert len(written) == EPOCHS - 1  # tried after every epoch but the last
    trial = only_trial(url)
    assert trial.state == TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == list(range(1, EPOCHS + 1))
    assert [m for m in tuner_lines(caplog) if "checkpoint" in m] == [
        "trial 0: checkpoint of epoch 1 not written (OSError: [Errno 28] No space left on "
        "device); training goes on without it"]
    assert checkpoint_files(tmp_path) == []


CONFIG = {"epochs": 4, "lr": 1e-3}


def test_a_missing_checkpoint_is_silent_and_an_unusable_one_says_why(tmp_path):
    store = FileSystemArtifactStore(str(tmp_path))
    kept = TrialCheckpoints(store, records.CHECKPOINT_PREFIX + "x", CONFIG, trial_number=3)
    assert kept.load() is None and kept.unusable is None
    path = tmp_path / kept.artifact_id

    path.write_bytes(b"")  # a write killed as it opened the file
    assert kept.load() is None and kept.unusable.startswith("unreadable (truncated or damaged")

    buffer = io.BytesIO()
    torch.save({"format": checkpoint.FORMAT - 1}, buffer)
    path.write_bytes(buffer.getvalue())
    assert kept.load() is None and kept.unusable.startswith("unreadable (another format")


def test_removing_a_checkpoint_removes_a_partial_one_a_kill_left(tmp_path):
    store = FileSystemArtifactStore(str(tmp_path))
    kept = TrialCheckpoints(store, records.CHECKPOINT_PREFIX + "x", CONFIG)
    kept.keep(1, lambda: b"state")
    (tmp_path / (kept.artifact_id + PARTIAL)).write_bytes(b"sta")
    kept.remove()
    assert list(tmp_path.iterdir()) == []
