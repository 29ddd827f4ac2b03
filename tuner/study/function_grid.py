"""The grid points of a space function whose choices are all categorical.

A conditional grid (a learning rate that follows the optimizer, a scheduler per optimizer)
cannot be a dict of independent choices. With ``sampler="grid"`` a space function may
call only ``trial.suggest_categorical``; every path through its choices is a grid point,
enumerated here by calling the function with a stand-in trial, so that the points can be
enqueued like a dict grid's (the real trial then answers with the enqueued values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tuner.errors import TunerError

MAX_GRID_POINTS = 10_000


class _GridProbe:
    """A stand-in trial: answers ``suggest_categorical`` by a path of choice indices
    (0 past its end) and records how many choices each call offered."""

    def __init__(self, path: list[int]) -> None:
        self.path, self.sizes, self.params = list(path), [], {}

    def suggest_categorical(self, name: str, choices) -> Any:
        choices = list(choices)
        level = len(self.sizes)
        if level == len(self.path):
            self.path.append(0)
        self.sizes.append(len(choices))
        self.params[name] = choices[self.path[level]]
        return self.params[name]

    def __getattr__(self, name: str):
        raise TunerError(f"sampler 'grid' with a space function: the function may call "
                         f"only trial.suggest_categorical (it called trial.{name})")


def function_grid(space: Callable) -> list[dict[str, Any]]:
    """Every path through ``space``'s categorical choices, in order (an odometer over a
    tree: a later choice may depend on an earlier one); the trial parameters of each."""
    points, path = [], []
    while len(points) < MAX_GRID_POINTS:
        probe = _GridProbe(path)
        space(probe)
        points.append(probe.params)
        for level in reversed(range(len(probe.sizes))):
            if probe.path[level] + 1 < probe.sizes[level]:
                path = probe.path[:level] + [probe.path[level] + 1]
                break
        else:
            return points
    raise TunerError(f"sampler 'grid': the space function has more than {MAX_GRID_POINTS} "
                     "points; expected a smaller grid, or a sampled study (tpe, random)")
