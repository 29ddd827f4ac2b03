"""The hostile-case table: user mistakes and bad inputs, one :class:`Case` a line.

Every module of this package holds a ``CASES`` list; ``tests/cli/test_hostile.py`` runs
them all through the command line against a copy of one stored study and checks the
promise of the README: the exit code, one ``tuner: error`` line naming what was wrong, no
traceback, the storage byte-identical and no file or folder left behind. Add a case as one
line in the module of its command (or a new module here).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Place:
    """Where a case runs: its own folder (the working folder) and the storage URL of a
    copy of the kept study (``KEPT``, two finished trials)."""

    folder: Path
    storage: str

    def file(self, name: str, text: str) -> str:
        """Write ``text`` to ``name`` in the case's folder; its path."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)


@dataclass(frozen=True)
class Case:
    """``tuner ARGS`` ends with ``exit_code`` and, for exit 2, one error line holding
    ``words``; the storage is byte-identical and ``leaves`` (paths relative to the case's
    folder) are the only new files or folders. ``env``: environment variables the command
    runs with (``(("BROWSER_PATH", "/nope"),)``)."""

    name: str
    args: Callable[[Place], list[str]]
    words: str
    exit_code: int = 2
    leaves: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


KEPT = "kept"


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(__path__):
        cases += importlib.import_module(f"{__name__}.{module.name}").CASES
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "two hostile cases share a name"
    return cases
