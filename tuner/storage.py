"""Where studies live: the storage URL, opening it, and the artifact store beside it.

SQLite (the default, ``storage/tuner.db``) serves one machine; PostgreSQL serves many
workers on many machines (Optuna's own distributed mode: the database coordinates).
Passwords never leave this module in clear: every message uses :func:`redact`.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import sqlalchemy
from optuna.artifacts import FileSystemArtifactStore

from tuner.errors import TunerError

DEFAULT_STORAGE = "sqlite:///storage/tuner.db"
STORAGE_ENV = "TUNER_STORAGE"
ARTIFACTS_ENV = "TUNER_ARTIFACTS"
SQLITE_BUSY_TIMEOUT_S = 60  # workers wait for the write lock instead of "database is locked"


def storage_url(url: str | None = None) -> str:
    """The storage URL to use: ``url``, else ``$TUNER_STORAGE``, else the SQLite default."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for logs and errors."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide that we can parse
        return url.split("@")[-1] if "@" in url else url


def _sqlite_path(url: str) -> Path | None:
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def engine_kwargs(url: str) -> dict:
    """SQLAlchemy options: busy timeout for SQLite, pre-ping and recycling for servers."""
    if sqlalchemy.engine.make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    # pre-ping: a connection the server or a NAT dropped while idle is replaced silently.
    return {"pool_pre_ping": True, "pool_recycle": 300}


def open_storage(url: str | None = None, *, heartbeat_interval: int | None = None,
                 grace_period: int | None = None,
                 stale_trial_callback=None) -> optuna.storages.RDBStorage:
    """Open (creating if needed) the Optuna storage at ``url``; one-line error if it cannot."""
    url = storage_url(url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise TunerError(
            f"storage {url!r}: not a database URL; expected e.g. {DEFAULT_STORAGE} or "
            "postgresql+psycopg://user:password@host:5432/db"
        ) from None
    db_file = _sqlite_path(url)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs(url),
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=stale_trial_callback,
        )
    except Exception as exc:  # driver missing, server down, bad credentials, not a DB file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TunerError(
            f"storage {parsed.render_as_string(hide_password=True)}: cannot be opened "
            f"({redact(reason)[:300]})"
        ) from None


def artifact_dir(url: str | None = None) -> Path:
    """Folder of the artifact store: ``$TUNER_ARTIFACTS``, else ``artifacts/`` beside a
    SQLite file, else ``storage/artifacts`` (server databases: share it between machines)."""
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV])
    db_file = _sqlite_path(storage_url(url))
    if db_file is not None:
        return db_file.parent / "artifacts"
    return Path("storage") / "artifacts"


def artifact_store(url: str | None = None) -> FileSystemArtifactStore:
    """The Optuna artifact store that belongs to the storage at ``url`` (created on use)."""
    folder = artifact_dir(url)
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))
