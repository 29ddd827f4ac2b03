"""A run's state after a finished epoch, as bytes: what lets a killed run go on where it
stopped instead of training its epochs again.

:func:`capture` gathers everything the next epoch depends on: the weights, the optimizer's
and the scheduler's state (and the fp16 gradient scaler's), the best weights so far and
the history, early stopping's counters (the best epoch), and every random stream (torch's
global one, which dropout draws from, and CUDA's; the batches' shuffling and augmentation
draws are functions of the seed and the epoch, so the epochs drawn say where they stand),
and the precision the run computed in (``precision=auto`` may choose by timing: the
resumed part computes as the first did). :func:`load` reads it and :func:`restore` puts
them back, so on the CPU a run resumed after epoch k ends with the same weights, curves and
best validation Dice as one that was never stopped (tested). The format is ``torch.save``
of plain tensors and numbers, loaded with ``weights_only=True``: a checkpoint read back
from a shared artifact store cannot run code.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import torch

FORMAT = 2  # bumped when the content changes: an older checkpoint is ignored, not misread


@dataclass
class Resumed:
    """What :func:`restore` hands back to the loop: the last finished epoch and the
    loop's own bookkeeping."""

    epoch: int
    best_state: dict[str, torch.Tensor] | None
    history: dict[str, list[float]]
    best_epoch: int
    best_val_dice: float
    work: float


def capture(config: dict[str, Any], epoch: int, model, optimizer, schedule, scaler,
            batches, best_state, history: dict[str, list[float]], best_epoch: int,
            best_val_dice: float, work: float, precision: str | None = None,
            threads: int | None = None) -> bytes:
    """The state after ``epoch`` of the run of ``config`` (its ``to_dict()``), computed in
    ``precision`` (``fp32``, ``bf16``, ``fp16``) with ``threads`` torch threads, as
    bytes."""
    state: dict[str, Any] = {
        "format": FORMAT, "config": json.dumps(config, sort_keys=True, default=repr),
        "precision": precision, "threads": threads,
        "epoch": epoch, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": schedule.scheduler.state_dict() if schedule.scheduler else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        # the best weights are the model's own when this epoch was the best: stored once
        "best_state": None if best_epoch == epoch else best_state,
        "history": history, "best_epoch": best_epoch,
        "best_val_dice": best_val_dice, "work": work,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "batches": batches.rng_state(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load(data: bytes) -> dict[str, Any] | None:
    """The state of a :func:`capture`, its tensors on the CPU; None when ``data`` is of
    another format (the run then starts from epoch 1)."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return None
    return state


def restore(state: dict[str, Any], model, optimizer, schedule, scaler, batches,
            device: torch.device) -> Resumed:
    """Put a :func:`load`-ed state into the run's objects (the model's and the optimizer's
    on their own device, the best weights on ``device``)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if schedule.scheduler is not None and state["scheduler"] is not None:
        schedule.scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    batches.load_rng_state(state["batches"])
    best_state = state["best_state"]
    if best_state is not None:
        best_state = {k: v.to(device) for k, v in best_state.items()}
    if best_state is None and state["best_epoch"] == state["epoch"]:
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return Resumed(state["epoch"], best_state, state["history"],
                   state["best_epoch"], state["best_val_dice"], state["work"])


def progress(data: bytes) -> tuple[int, dict[str, list[float]], dict[str, Any]] | None:
    """(last finished epoch, history so far, the run's config) of a checkpoint, or None
    for another format: what the objective checks and records before the run goes on."""
    state = load(data)
    if state is None:
        return None
    return state["epoch"], state["history"], json.loads(state["config"])
