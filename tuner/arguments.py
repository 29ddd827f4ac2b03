"""The arguments of tuner's public functions (:mod:`tuner.api`), checked before any work.

Each check takes the argument's command-line name and its value, returns the value as the
function uses it, and raises :class:`~tuner.errors.TunerError` with one line in the
command's words (``--n-trials: got -1, expected a whole number >= 1``): a notebook that
passes ``n_trials=-1`` and ``tuner run --n-trials -1`` are told the same thing. Wrong types
(``None``, a string where a number goes, a number where a path goes) are refused the same
way instead of surfacing as a TypeError deep inside. Standard library only.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.errors import TunerError

SHOWN_CHARACTERS = 60  # a longer value is cut in a message


def shown(value: Any) -> str:
    """``value`` as a message shows it: its repr (a float as the command line takes it:
    ``-5``, not ``-5.0``), cut to :data:`SHOWN_CHARACTERS`."""
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 3] + "..."


def refuse(option: str, value: Any, expected: str) -> TunerError:
    """The one-line error ``OPTION: got VALUE, expected EXPECTED``."""
    return TunerError(f"{option}: got {shown(value)}, expected {expected}")


def is_number(value: Any) -> bool:
    """A real number that is not a bool (True is an int to Python, not to a user)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def whole_number(option: str, value: Any, low: int = 1, what: str = "a whole number",
                 optional: bool = True) -> int | None:
    """None (where ``optional``), or an integer >= ``low`` (``3.0`` is refused too: a count
    is no float)."""
    if value is None and optional:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise refuse(option, value, f"{what} >= {low}")
    return int(value)


def seconds(option: str, value: Any, low: float = 1) -> float | None:
    """None, or a finite number of seconds >= ``low``."""
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value) or value < low:
        raise refuse(option, value, f"a number of seconds >= {low:g}")
    return float(value)


def fraction(option: str, value: Any, low: float = 0.0, high: float = 1.0,
             what: str = "a number") -> float | None:
    """None, or a number between ``low`` and ``high`` (both included)."""
    if value is None:
        return None
    if not is_number(value) or not low <= value <= high:
        raise refuse(option, value, f"{what} between {low:g} and {high:g}")
    return float(value)


def probability(option: str, value: Any) -> float | None:
    """None, or a number strictly between 0 and 1."""
    if value is None:
        return None
    if not is_number(value) or not 0 < value < 1:
        raise refuse(option, value, "a probability between 0 and 1 (both excluded)")
    return float(value)


def flag(option: str, value: Any) -> bool:
    """True or False, nothing else (a string "false" is true to Python)."""
    if not isinstance(value, bool):
        raise refuse(option, value, "True or False")
    return value


def name(option: str, value: Any, expected: str = "a non-empty name") -> str:
    """A non-empty string (blank is empty too: it names nothing)."""
    if not isinstance(value, str) or not value.strip():
        raise refuse(option, value, expected)
    return value


def optional_name(option: str, value: Any, expected: str = "a non-empty name") -> str | None:
    """None, or :func:`name`: an empty string is refused, never read as "not given"."""
    return None if value is None else name(option, value, expected)


def names(option: str, value: Any, expected: str = "one or more study names") -> list[str]:
    """A name or a sequence of names (a single string is one name, not its letters)."""
    if isinstance(value, str):
        return [name(option, value, expected)]
    if not isinstance(value, Sequence | set | frozenset) or not value:
        raise refuse(option, value, expected)
    return [name(option, each, expected) for each in value]


def is_path(value: Any) -> bool:
    """Whether ``value`` is given as a path: a string or a ``Path``."""
    return isinstance(value, str | os.PathLike)


def path(option: str, value: Any, expected: str = "a path") -> Path:
    """A path given as a string or a ``Path``, not empty."""
    if not is_path(value) or not str(os.fspath(value)).strip():
        raise refuse(option, value, expected)
    return Path(value)


def optional_path(option: str, value: Any, expected: str = "a path") -> Path | None:
    """None, or :func:`path`."""
    return None if value is None else path(option, value, expected)


def storage(value: Any) -> str | None:
    """``--storage``: None (``$TUNER_STORAGE``, else the default) or a URL string."""
    if value is not None and not isinstance(value, str):
        raise refuse("--storage", value, "a storage URL such as sqlite:///storage/tuner.db "
                     "or postgresql://user@host/db")
    return value or None


def dataset(value: Any) -> str | None:
    """``--data``: None (the config's dataset) or a dataset spec."""
    if value is None:
        return None
    return name("--data", value, "'synthetic' or KIND:PATH, e.g. folder:PATH")


def assignments(value: Any) -> dict[str, Any] | list[str]:
    """``--set``: None, a dict of config fields, ``key=value`` strings, or one such string
    (one assignment: ``"epochs=2"``); what :func:`tuner.config.parse_assignments` or the
    config takes next."""
    expected = "a dict of config fields, or key=value strings"
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise refuse("--set", key, "config field names as keys")
        return dict(value)
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise refuse("--set", value, expected)
    for each in value:
        if not isinstance(each, str):
            raise refuse("--set", each, "key=value strings")
    return list(value)


def workers(value: Any) -> int | None:
    """``--workers``: None for auto (also ``"auto"``), else a number >= 1 (text too)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    count = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise refuse("--workers", value, "'auto' or a number >= 1")
    return count


def gpu_numbers(value: Any) -> list[int] | None:
    """``--devices``: None (every visible GPU) or GPU numbers >= 0."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise refuse("--devices", value, "GPU numbers like [0, 1]")
    return [whole_number("--devices", each, 0, "GPU numbers") for each in value]


def optional_callable(option: str, value: Any) -> Callable | None:
    """None, or something to call."""
    if value is not None and not callable(value):
        raise refuse(option, value, "a function or None")
    return value


def console(option: str, value: Any) -> Any:
    """None, or a rich ``Console`` (anything with its ``print``)."""
    if value is not None and not callable(getattr(value, "print", None)):
        raise refuse(option, value, "a rich Console or None")
    return value


def source(value: Any, kind: str, cls: str) -> Any:
    """A study or campaign file's path (:func:`is_path`), or an instance of the class
    ``cls`` (``"tuner.study.spec.StudySpec"``, known by name: checking imports nothing); as
    given."""
    module, _, class_name = cls.rpartition(".")
    expected = f"a {kind} file's path or a {class_name}"
    if is_path(value):
        path(kind, value, expected)
        return value
    if not any(c.__module__ == module and c.__name__ == class_name
               for c in type(value).__mro__):
        raise refuse(kind, value, expected)
    return value


SECONDS = "a number of seconds"
#: the check of each keyword argument of :mod:`tuner.api` by its name, in the command's words
CHECKS: dict[str, Callable[[Any], Any]] = {
    "storage": storage,
    "data": dataset,
    "sets": assignments,
    "study_name": lambda v: optional_name("--study-name", v, "a non-empty name (leave it "
                                          "out for the study file's name)"),
    "n_trials": lambda v: whole_number("--n-trials", v),
    "timeout": lambda v: seconds("--timeout", v),
    "save_weights": lambda v: flag("--save-weights", v),
    "galleries": lambda v: flag("--galleries", v),
    "devices": gpu_numbers,
    "heartbeat_interval": lambda v: whole_number("--heartbeat-interval", v, 1, SECONDS, False),
    "grace_period": lambda v: whole_number("--grace-period", v, 1, SECONDS, False),
    "console": lambda v: console("console", v),
    "results": lambda v: console("results", v),
    "study": lambda v: name("study", v, "a study's name (see tuner studies)"),
    "studies": lambda v: names("studies", v, "one or more study names (see tuner studies)"),
    "out": lambda v: optional_path("--out", v, "a folder or file to write"),
    "metric": lambda v: name("--metric", v, "a metric name such as val_dice"),
    "target": lambda v: fraction("--target-dice", v, what="a validation Dice"),
    "formats": lambda v: v if v is None or isinstance(v, str) else names(
        "--format", v, "a comma-separated subset of csv,md,tex,html,png,svg,pdf"),
    "trial": lambda v: whole_number("--trial", v, 0, "a trial number"),
    "best": lambda v: flag("--best", v),
    "split": lambda v: None if v is None else name("--split", v, "one of test, val, train, "
                                                   "all"),
    "native": lambda v: flag("native", v),
    "gallery": lambda v: optional_path("--gallery", v, "a file name such as gallery.png"),
    "images": lambda v: path("--images", v, "a folder of images"),
    "masks_out": lambda v: path("--out", v, "a folder for the masks"),
    "threshold": lambda v: probability("--threshold", v),
    "probabilities": lambda v: flag("--probabilities", v),
    "max_image_pixels": lambda v: whole_number("--max-image-pixels", v, 1,
                                               "a number of pixels"),
    "on_epoch": lambda v: optional_callable("on_epoch", v),
}


def each(**values: Any) -> tuple[Any, ...]:
    """``values`` checked by :data:`CHECKS`, in the order given."""
    return tuple(CHECKS[key](value) for key, value in values.items())
