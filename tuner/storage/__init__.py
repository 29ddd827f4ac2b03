"""Where studies live: the storage URL, opening it, and the artifact store beside it.

SQLite (the default, ``storage/tuner.db``) serves one machine; PostgreSQL serves many
workers on many machines (Optuna's distributed mode). Passwords never leave this package in
clear (:func:`redact`). Optuna is imported only where a storage is opened.

A server may drop a connection at any moment (a restart, an admin, a NAT): idle pooled
connections are pinged before use, and every database call of a storage opened here is
retried with backoff when it failed on a dropped connection or a restarting server
(:func:`is_transient`). Reading never creates anything: a database without Optuna's
tables holds no studies.

One module per idea: ``urls`` (which URL, redaction, the folders beside a database),
``retries`` (transient errors, backoff), ``locks`` (between processes), ``opening``
(storages, pools, the artifact store). Their public names are importable from here.
"""

from tuner.storage.locks import named_lock, sqlite_file_of, sqlite_lock, study_lock
from tuner.storage.opening import (
    artifact_store,
    engine_kwargs,
    holds_no_studies,
    load_existing_study,
    open_storage,
)
from tuner.storage.retries import is_transient, with_retries
from tuner.storage.urls import (
    ARTIFACTS_ENV,
    DEFAULT_STORAGE,
    STORAGE_ENV,
    artifact_dir,
    data_cache_dir,
    is_in_memory,
    redact,
    sqlite_path,
    storage_url,
)

__all__ = [
    "ARTIFACTS_ENV", "DEFAULT_STORAGE", "STORAGE_ENV", "artifact_dir", "artifact_store",
    "data_cache_dir", "engine_kwargs", "holds_no_studies", "is_in_memory", "is_transient",
    "load_existing_study", "named_lock", "open_storage", "redact", "sqlite_file_of",
    "sqlite_lock", "sqlite_path", "storage_url", "study_lock", "with_retries",
]
