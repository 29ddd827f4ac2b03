"""Storage URLs and the places beside a database: which URL a command uses, its password
never shown in clear (:func:`redact`), whether it is an in-memory database, and the
folders that belong to it (the artifact store, the decoded-data cache)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import sqlalchemy

DEFAULT_STORAGE = "sqlite:///storage/tuner.db"
STORAGE_ENV = "TUNER_STORAGE"
ARTIFACTS_ENV = "TUNER_ARTIFACTS"
#: a password as a parameter: ``?password=...`` in a URL, libpq's ``password = '...'``
PASSWORD_PARAMETER = re.compile(
    r"((?<![A-Za-z_])password\s*=\s*)('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^&\s;]+)", re.IGNORECASE)
#: waits before each new try of a database call that failed on a dropped connection (about


def storage_url(url: str | None = None) -> str:
    """The storage URL to use: ``url``, else ``$TUNER_STORAGE``, else the SQLite default."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def userinfo(url: str) -> tuple[str, str, str] | None:
    """``(scheme, user:password, host/db...)`` of a URL with credentials, else None.

    Split by hand at the *last* ``@`` because SQLAlchemy's parser stops at the first one: a
    password with an unescaped ``@`` would be half shown, and a URL it cannot parse at all
    (a bad port) could not be rendered without its password.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    if not sep or not at or ":" not in userinfo or "/" in user:  # no password; '@' in a path
        return None
    return scheme, userinfo, hostpart


def redact(url: str) -> str:
    """``url`` (or a message holding one) with its password replaced by ``***``."""
    parts = userinfo(url)
    if parts is not None:
        scheme, credentials, hostpart = parts
        url = f"{scheme}://{credentials.partition(':')[0]}:***@{hostpart}"
    return PASSWORD_PARAMETER.sub(r"\1***", url)


def sqlite_path(url: str) -> Path | None:
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None  # in-memory databases have no file
    return Path(parsed.database)


def is_in_memory(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite database (``sqlite://``, ``sqlite:///``...)."""
    parsed = sqlalchemy.engine.make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
        or str(parsed.database).startswith("file::memory:"))


def artifact_dir(url: str | None = None) -> Path:
    """Folder of the artifact store: ``$TUNER_ARTIFACTS``, else ``artifacts/`` beside a
    SQLite file, else ``storage/artifacts`` (server databases: share it between machines)."""
    return Path(os.environ.get(ARTIFACTS_ENV) or _beside(url, "artifacts"))


def data_cache_dir(url: str | None = None) -> Path:
    """Folder of the decoded-data cache (:mod:`tuner.data.cache`): like artifacts'."""
    return _beside(url, "cache")


def _beside(url: str | None, name: str) -> Path:
    return (getattr(sqlite_path(storage_url(url)), "parent", None) or Path("storage")) / name


