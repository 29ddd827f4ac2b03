"""Mask rules: which raw mask values are foreground, for the datasets that store values.

A rule takes the raw values of every mask file of a dataset (already resized) and returns
binary masks; it sees them all at once because the default rule is about the whole set.
Folder, ISIC and list datasets use :func:`value_rule` (the ``foreground_values`` field, or
"the larger of two values"); Oxford-IIIT Pet has its own trimap rule
(:mod:`tuner.data.adapters.oxford_pet`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tuner.data.pool import allocate
from tuner.errors import TunerError
from tuner.registry import Option

#: raw ``[(file, values (S, S))]`` -> binary masks uint8 (n, S, S) in {0, 1}
MaskRule = Callable[[list[tuple[Path, np.ndarray]]], np.ndarray]
#: the option of every adapter whose masks follow :func:`value_rule`
FOREGROUND_VALUES = Option("foreground_values", "str", "", "mask values that count as "
                           "foreground when masks have more than two values: '255', '1,2', "
                           "or '>127'")


def value_rule(foreground_values: str) -> MaskRule:
    """The rule of the config field ``foreground_values`` (checked now, not at decode)."""
    foreground = parse_foreground_values(foreground_values)
    return lambda raw: binarise(raw, foreground)


def parse_foreground_values(text: str) -> tuple[str, list[int]] | None:
    """``"255"`` / ``"1,2"`` -> ("in", values); ``">127"`` -> ("gt", [127]); ``""`` -> None."""
    text = text.strip()
    if not text:
        return None
    kind, body = ("gt", text[1:]) if text.startswith(">") else ("in", text)
    try:
        values = [int(v) for v in body.split(",")]
    except ValueError:
        raise TunerError(f"config field 'foreground_values': got {text!r}, expected "
                         "comma-separated integers such as '255' or '1,2', or '>N'") from None
    if kind == "gt" and len(values) != 1:
        raise TunerError(f"config field 'foreground_values': got {text!r}, expected one "
                         "number after '>'")
    return kind, values


def binarise(raw: list[tuple[Path, np.ndarray]],
             foreground: tuple[str, list[int]] | None) -> np.ndarray:
    """Masks uint8 (N, H, W) in {0, 1} from the raw values of each file.

    With ``foreground`` given, those values (or values above the threshold) are foreground,
    and some mask must hold one of them (else a one-line error names the values they hold).
    Otherwise each mask may hold at most two values and the whole set at most two; the
    larger is foreground (a set whose masks all hold one value: 0 is background, anything
    else foreground).
    """
    if not raw:
        return np.zeros((0, 0, 0), np.uint8)
    if foreground is not None:
        kind, values = foreground
        test = (lambda m: m > values[0]) if kind == "gt" else (lambda m: np.isin(m, values))
        binary = each_mask(raw, test)
        if not any(binary[k].any() for k in range(len(raw))):  # a typo (999 on 8-bit
            raise TunerError(_no_foreground(raw, kind, values))  # masks): empty masks
        return binary
    seen: dict[int, Path] = {}  # value -> first file holding it
    for file, mask in raw:
        values = np.unique(mask)
        if len(values) > 2:
            raise TunerError(
                f"mask {file} holds {len(values)} values ({first_few(map(str, values), 8)}); "
                "expected two (background, foreground) or config field foreground_values "
                "such as '255', '1,2' or '>127'"
            )
        for v in values:
            seen.setdefault(int(v), file)
    if len(seen) > 2:
        examples = ", ".join(f"{v} in {f.name}" for v, f in sorted(seen.items())[:4])
        raise TunerError(
            f"masks under {raw[0][0].parent} hold {len(seen)} values across files "
            f"({examples}); expected the same two values in every mask, or config field "
            "foreground_values"
        )
    top = max(seen)
    if len(seen) == 1 and top == 0:
        return allocate("binary", (len(raw), *raw[0][1].shape))
    return each_mask(raw, lambda m: m == top)


def each_mask(raw: list[tuple[Path, np.ndarray]],
              test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Binary masks uint8 (N, H, W): ``test`` of each raw mask, written one by one into an
    array of :func:`~tuner.data.pool.allocate` (no stack of the whole set in memory)."""
    binary = allocate("binary", (len(raw), *raw[0][1].shape))
    for k, (_, values) in enumerate(raw):
        binary[k] = test(values)
    return binary


def _no_foreground(raw: list[tuple[Path, np.ndarray]], kind: str, values: list[int]) -> str:
    """The one line for ``foreground_values`` that no mask holds, naming what they hold."""
    held = sorted(set().union(*(np.unique(m).tolist() for _, m in raw)))
    given = f">{values[0]}" if kind == "gt" else ",".join(map(str, values))
    wanted = (f"a value above {values[0]}" if kind == "gt" else
              f"value {values[0]}" if len(values) == 1 else
              f"any of the values {', '.join(map(str, values))}")
    eight_bit = all(m.dtype == np.uint8 for _, m in raw) and max(values) > 255
    return (f"config field 'foreground_values': got {given!r}, but no mask under "
            f"{raw[0][0].parent} holds {wanted}"
            + (" (8-bit masks hold 0-255)" if eight_bit else "")
            + f"; the masks hold {first_few(map(str, held), 8)}: expected some of those "
            f"values (such as '{held[-1]}')")


def first_few(names: Iterable[str], limit: int = 5) -> str:
    """``"a, b, c, ... (4 more)"``: a list short enough for a one-line message."""
    names = list(names)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
