"""Numbers as a reader wants them: learning rates as 2.0e-04, Dice to 3 decimals, seconds
whole, ``mean ± sd (n)`` cells, paired differences and p-values, configuration labels and
short column names; paths as they may be shared.

Pure functions of values (no pandas, no Optuna): the tables, the terminal, the plots and
the dashboard notes all format through here, so a number reads the same everywhere.

What is written for sharing (tables, reports, notes) names a dataset by its spec with its
path relative to the working folder, or by the folder's name alone when it lies elsewhere
(:func:`shared_path`): ``folder:data/cells``, never ``folder:/home/me/data/cells``. Stored
trial configs keep the path; only the text made from them is shortened.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PM = " ± "  # between mean and standard deviation; LaTeX output turns it into $\pm$
#: how each kind of number is written; see :func:`number`
KINDS = ("score", "loss", "seconds", "epoch", "count")
#: preferred short names of config fields in narrow tables (terminal); others: :func:`short`
SHORT = {
    "weight_decay": "wd", "train_fraction": "tf", "optimizer": "opt", "scheduler": "sched",
    "base_channels": "ch", "freeze_encoder": "frz", "encoder": "enc", "augment": "aug",
    "dropout": "drop", "momentum": "mom", "batch_size": "bs", "image_size": "px",
    "encoder_weights": "ew", "normalize": "norm", "precision": "prec",
}  # fmt: skip


def missing(value: Any) -> bool:
    """True for None and NaN (pandas' empty cells), False for anything else."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        type(value).__name__ in ("NAType", "NaTType"))


def number(value: Any, kind: str = "score") -> str:
    """One number of ``kind`` as text ('' when missing).

    ``score`` (Dice, IoU, precision...) and ``loss``: 3 decimals; ``seconds``: whole
    seconds; ``epoch``: whole, or one decimal for a mean that is not whole; ``count``: whole.
    """
    if missing(value):
        return ""
    value = float(value)
    if kind in ("score", "loss"):
        return f"{value:.3f}"
    if kind == "epoch" and not value.is_integer():
        return f"{value:.1f}"
    if kind in ("seconds", "epoch", "count"):
        return f"{value:.0f}"
    raise ValueError(f"number kind {kind!r}: expected one of {', '.join(KINDS)}")


def mean_sd(mean: Any, sd: Any = None, n: Any = None, kind: str = "score",
            pm: str = PM) -> str:
    """``0.821 ± 0.012 (3)``: the mean, its sample sd over repeats where there are 2 or
    more, and the count ``n`` when given; ``0.815 (1)`` for one run; '' without a mean."""
    if missing(mean):
        return ""
    text = number(mean, kind)
    if not missing(sd):
        text += pm + number(sd, kind)
    return text if missing(n) else f"{text} ({int(n)})"


def winner_score(winner: dict[str, Any]) -> str:
    """A frozen winner's ``mean ± sd`` (the mean alone for one run; records made before
    n=1 stored no sd kept 0.0 there)."""
    return mean_sd(winner["mean"], winner.get("sd") if winner.get("n", 0) > 1 else None)


def difference(value: Any, low: Any = None, high: Any = None, kind: str = "score") -> str:
    """A signed difference and its interval: ``-0.012 [-0.020, -0.004]``; ``-0.012``
    without one; '' without a value. ASCII signs, so every format (LaTeX too) takes it."""
    if missing(value):
        return ""
    digits = 0 if kind in ("seconds", "count") else 1 if kind == "epoch" else 3
    text = f"{float(value):+.{digits}f}"
    if missing(low) or missing(high):
        return text
    return f"{text} [{float(low):+.{digits}f}, {float(high):+.{digits}f}]"


def p_value(p: Any) -> str:
    """``0.031``; ``<0.001`` below that; '' without one."""
    if missing(p):
        return ""
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"


#: an absolute path inside free text: ``/x/y`` or ``~/x`` not glued to a word before it
_ABSOLUTE = re.compile(r"(?<![\w.~/-])~?/[^\s,;'\"`()\[\]{}<>|]+")


def shared_path(path: str, cwd: str | Path | None = None) -> str:
    """``path`` as it may be shared: relative to ``cwd`` (default: the working folder)
    when it lies inside it, else the folder's (or file's) own name; a relative path as it
    is. Never absolute, never a home folder."""
    text = os.path.expanduser(str(path))
    if not os.path.isabs(text):
        return str(path)
    full = Path(os.path.normpath(text))
    here = Path(os.path.normpath(os.path.abspath(cwd if cwd is not None else os.getcwd())))
    if full != here and full.is_relative_to(here):
        return full.relative_to(here).as_posix()
    return full.name or "."


def shared_text(text: str, cwd: str | Path | None = None) -> str:
    """``text`` with every absolute path in it (``folder:/home/me/data``, ``~/data``) as
    :func:`shared_path` writes it; trailing punctuation stays outside the path."""
    def one(match: re.Match) -> str:
        found = match.group(0)
        tail = len(found) - len(found.rstrip(".:"))
        body, rest = (found[:-tail], found[-tail:]) if tail else (found, "")
        return (shared_path(body, cwd) if body not in ("/", "~", "~/") else body) + rest

    return _ABSOLUTE.sub(one, text)


def is_rate(name: str) -> bool:
    """Whether a parameter is a learning rate (``lr``, ``lr_adam``, ``min_lr``...)."""
    return name == "lr" or name.startswith("lr_") or name.endswith("_lr")


def param(value: Any, name: str = "") -> str:
    """A parameter value as written in a table: learning rates ``2.0e-04``; other floats
    as written in a study file when that is short (``0.01``, ``0.8``), else 3 significant
    digits (``0.00473``) or scientific for very small or large ones; text with its paths
    as :func:`shared_text` writes them; others as ``str``."""
    if missing(value):
        return ""
    if isinstance(value, str):
        return shared_text(value)  # a dataset's or a weights file's path: as shared
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) and not is_rate(name):
        return str(value)
    value = float(value)
    if is_rate(name):
        return f"{value:.1e}"
    if len(repr(value)) <= 6:
        return repr(value)
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.1e}"


def label(values: dict[str, Any]) -> str:
    """``"weight_decay=0.01, train_fraction=0.8"``; ``"all trials"`` for no parameters.
    A parameter without a value (not searched in this branch of a conditional space) is
    left out."""
    return ", ".join(f"{k}={param(v, k)}" for k, v in values.items()
                     if not missing(v)) or "all trials"


def short(names: Iterable[str], width: int = 5) -> dict[str, str]:
    """Each name -> a unique short header for narrow tables (``weight_decay`` -> ``wd``).

    Names up to ``width`` characters stay; known config fields take :data:`SHORT`; other
    names with underscores take their initials, the rest their first 3 letters; a clash
    adds letters until the short names differ.
    """
    out: dict[str, str] = {}
    for name in names:
        if len(name) <= width:
            candidate = name
        elif name in SHORT:
            candidate = SHORT[name]
        elif "_" in name:
            candidate = "".join(part[:1] for part in name.split("_") if part)
        else:
            candidate = name[:3]
        extra = len(candidate)
        while candidate in out.values() and extra < len(name):
            extra += 1
            candidate = name[:extra]
        out[name] = candidate
    return out


def legend(abbreviations: dict[str, str]) -> str:
    """``"wd: weight_decay, tf: train_fraction"`` for the names that were shortened."""
    return ", ".join(f"{s}: {n}" for n, s in abbreviations.items() if s != n)
