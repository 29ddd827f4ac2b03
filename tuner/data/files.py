"""What a dataset's path is, found without opening it: a regular file, a folder, or what else.

A dataset adapter (and the fingerprint of :mod:`tuner.data.fingerprint`) opens regular
files only: opening a FIFO blocks until something writes to it (``tuner run`` would hang
forever on a FIFO named ``x.png``), and a device may never end. :func:`kind_of` looks at a
path with ``stat`` alone (symlinks followed) and names it: :data:`FILE`, :data:`FOLDER`,
:data:`MISSING`, or a skip reason that the load summary counts (:data:`SPECIAL`,
:data:`BROKEN_LINK`, :data:`LINK_LOOP`, :data:`NO_ACCESS`). :func:`folder_problem` and
:func:`file_problem` turn a path that should be a folder or a file into the words of a
one-line error ("is a file, not a folder").
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

FILE = "file"
FOLDER = "folder"
MISSING = "missing"
#: skip reasons (the load summary counts them with an example name)
SPECIAL = "not a regular file"
BROKEN_LINK = "broken symlink"
LINK_LOOP = "symlink loop"
NO_ACCESS = "inaccessible"
_SPECIAL_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                  (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def kind_of(path: str | os.PathLike) -> str:
    """:data:`FILE`, :data:`FOLDER`, :data:`MISSING`, or why ``path`` is neither (a skip
    reason such as ``"FIFO, not a regular file"``); never opens ``path``."""
    try:
        info = os.stat(path)
    except OSError as error:
        return _stat_failure(path, error)
    if stat.S_ISREG(info.st_mode):
        return FILE
    if stat.S_ISDIR(info.st_mode):
        return FOLDER
    return special(info.st_mode)


def special(mode: int) -> str:
    """The skip reason of a non-regular, non-folder ``st_mode``: ``"FIFO, not a regular
    file"`` (or socket, character device, block device)."""
    name = next((name for test, name in _SPECIAL_KINDS if test(mode)), "special file")
    return f"{name}, {SPECIAL}"


def _stat_failure(path: str | os.PathLike, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return LINK_LOOP
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return BROKEN_LINK if os.path.islink(path) else MISSING
    return f"{NO_ACCESS} ({error.strerror or type(error).__name__})"


def regular_files(paths, found=None):
    """The regular files among ``paths``, in order; folders are passed over, and what is
    neither (a FIFO, a socket, a broken link or a loop) is counted in ``found.skip`` and
    never opened."""
    for path in paths:
        kind = kind_of(path)
        if kind == FILE:
            yield path
        elif is_skipped(kind) and found is not None:
            found.skip(kind, path.name)


def is_skipped(kind: str) -> bool:
    """Whether ``kind`` (from :func:`kind_of`) is a reason to skip, not a file or folder."""
    return kind not in (FILE, FOLDER, MISSING)


def _what(kind: str) -> str:
    """``kind`` after "is": "a file", "a folder", "a FIFO", "a broken symlink", ..."""
    if kind.startswith(NO_ACCESS):
        return kind
    return f"a {kind.removesuffix(', ' + SPECIAL)}"


def folder_problem(path: Path) -> str | None:
    """None when ``path`` is a folder, else what it is instead, after its name: "does not
    exist", "is a file, not a folder", "is a broken symlink, not a folder", ..."""
    kind = kind_of(path)
    if kind == FOLDER:
        return None
    if kind == MISSING:
        return "does not exist"
    return f"is {_what(kind)}, not a folder"


def file_problem(path: Path) -> str | None:
    """None when ``path`` is a regular file, else what it is instead, after its name:
    "not found", "is a folder, not a file", "is a FIFO, not a regular file", ..."""
    kind = kind_of(path)
    if kind == FILE:
        return None
    if kind == MISSING:
        return "not found"
    if kind == FOLDER:
        return "is a folder, not a file"
    return f"is {_what(kind)}, not a regular file"
