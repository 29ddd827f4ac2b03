"""Every Optuna name tuner relies on that Optuna does not promise to keep, in one place.

tuner claims waiting trials itself (a grid point must go to exactly one worker:
``tuner.workers.worker``), beats a running trial's heartbeat from its own thread, reads the
artifacts of a stored trial, and finds the SQLite file behind a storage. Optuna's public
API offers none of these, so the private names they need (``Study._storage``,
``Study._study_id``, ``FrozenTrial._trial_id``, the ``Trial`` constructor, the cached
storage's ``_backend``) are read here and nowhere else, and so are the names that differ
between the supported releases (the stale-trial retry callback is
``RetryHeartbeatStaleTrialCallback`` from Optuna 5, ``RetryFailedTrialCallback`` before, and
``RDBStorage`` takes it under another keyword). The methods of ``RDBStorage`` that reach
the database include private ones that Optuna's cache around it calls (``_get_trials``,
``_create_new_trial``...): :func:`rdb_storage_class` names them here, for the storage that
retries a dropped connection (:mod:`tuner.storage`). A file artifact store's ``write``
opens its file with ``"wb"`` and streams into it, so a reader (or a kill) meets a half-written
file: :func:`replace_artifact` writes beside it and renames, through the store's private
``_base_path``.

It also sets how loud Optuna is (:func:`quiet_optuna`), the one other thing every command
asks of Optuna before using it.

``tests/test_optuna_internals.py`` runs every function here on the installed Optuna; CI
runs it on the lowest and the newest release that ``pyproject.toml`` admits, so an upgrade
that moves one fails there, by name, instead of deep inside a run.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

#: set (``tuner --verbose``) to keep Optuna's own log at INFO on stderr
VERBOSE_ENV = "TUNER_VERBOSE"
#: the logger of Optuna's RDB storage, which warns (several lines, with the SQL) each time
#: a trial query failed and it falls back to a slower one
RDB_LOGGER = "optuna.storages._rdb.storage"


class _NoFallbackNoise(logging.Filter):
    """Drops "Caught an error from sqlalchemy ... Falling back to a slower alternative":
    the slower query or tuner's retry of a dropped connection (:mod:`tuner.storage`)
    answers, and an error that lasts is raised anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Caught an error from sqlalchemy")


def quiet_optuna() -> None:
    """Optuna's log at warnings only, without the storage's fallback notices, and no
    ExperimentalWarning (heartbeats, metric names, PatientPruner, constant_liar... are
    marked experimental; a user cannot act on that). ``$TUNER_VERBOSE`` (``tuner
    --verbose``) keeps Optuna's INFO lines ("A new study created ...", each trial)."""
    optuna.logging.set_verbosity(optuna.logging.INFO if os.environ.get(VERBOSE_ENV)
                                 else optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    rdb = logging.getLogger(RDB_LOGGER)
    if not any(isinstance(f, _NoFallbackNoise) for f in rdb.filters):
        rdb.addFilter(_NoFallbackNoise())


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage behind ``study`` (Optuna's own artifact helpers need it passed)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study`` (what the storage's trial queries take), also of a
    ``FrozenStudy`` as ``get_all_studies`` lists them."""
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of ``trial`` (a trial's number is per study; its id is global)."""
    return trial._trial_id


def live_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """An ``optuna.Trial`` for a trial this worker has set RUNNING itself: what
    ``Study.ask`` returns after popping its queue, without its own pop."""
    return optuna.Trial(study, trial_id)


def sql_engine(storage: object) -> Any | None:
    """The SQLAlchemy engine of an RDB storage (inside Optuna's cache around it), or None
    for storages of other kinds."""
    backend = getattr(storage, "_backend", storage)
    return getattr(backend, "engine", None)


def has_stale_trials(study: optuna.Study) -> bool:
    """Whether any running trial of ``study`` has a stale heartbeat (one cheap query;
    False where the storage keeps no heartbeats)."""
    storage = storage_of(study)
    stale_ids = getattr(storage, "_get_stale_trial_ids", None)  # RDBStorage, 4.5 and 5.0
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if stale_ids is None or interval is None:
        return False
    return bool(stale_ids(study._study_id))


def stale_trial_retry(max_retry: int) -> Any:
    """The callback that puts a heartbeat-stale trial back in the queue, at most
    ``max_retry`` times (named by the release), with the stale trial's reported values:
    the retry goes on from its checkpoint (:mod:`tuner.study.checkpoints`)."""
    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
        or optuna.storages.RetryFailedTrialCallback
    return callback(max_retry=max_retry, inherit_intermediate_values=True)


def heartbeat_options(interval: int | None, grace_period: int | None,
                      stale_trial_callback: Any) -> dict[str, Any]:
    """``RDBStorage`` keyword arguments for heartbeats and the stale-trial callback (the
    callback's keyword is ``heartbeat_stale_trial_callback`` from Optuna 5,
    ``failed_trial_callback`` before)."""
    parameters = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    keyword = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" \
        in parameters else "failed_trial_callback"
    return {"heartbeat_interval": interval, "grace_period": grace_period,
            keyword: stale_trial_callback}


def retry_history(trial: FrozenTrial) -> list[int]:
    """Numbers of the trials that ``trial`` retries, oldest first (empty: no retry)."""
    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
        or optuna.storages.RetryFailedTrialCallback
    return list(callback.retry_history(trial))


#: ``RDBStorage`` methods that reach the database: the public ones, and the private ones
#: Optuna's ``_CachedStorage`` and ``fail_stale_trials`` call on it (a name a release lacks,
#: such as ``_get_best_trial_id`` or ``_set_trial_param`` before Optuna 5, is left out)
DATABASE_METHODS = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_all_studies", "create_new_trial",
    "set_trial_param", "get_trial_param", "set_trial_state_values",
    "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number", "get_trial_number_from_id", "get_trial",
    "get_trial_params", "get_trial_user_attrs", "get_trial_system_attrs", "get_all_trials",
    "get_n_trials", "get_best_trial", "record_heartbeat",
    "_create_new_trial", "_set_trial_param", "_get_trials", "_get_best_trial_id",
    "_get_stale_trial_ids",
)


def rdb_storage_class(wrap: Callable[[str, Callable], Callable]) -> type:
    """A subclass of ``RDBStorage`` whose every method in :data:`DATABASE_METHODS` is
    ``wrap(name, method)``; still an ``RDBStorage``, so Optuna caches it as usual."""
    RDBStorage = optuna.storages.RDBStorage
    methods = {name: wrap(name, getattr(RDBStorage, name))
               for name in DATABASE_METHODS if hasattr(RDBStorage, name)}
    return type("RetryingRDBStorage", (RDBStorage,), {
        **methods, "__module__": __name__,
        "__doc__": "Optuna's RDBStorage whose database calls are wrapped (tuner.storage)."})


#: what :func:`replace_artifact` appends to an id for the file it writes before the rename
PARTIAL = ".partial"


def replace_artifact(store: Any, artifact_id: str, body: Any) -> None:
    """Write ``body`` (a binary file object) under ``artifact_id`` in one step: a reader
    finds the old content or the new one, never part of either. In a
    ``FileSystemArtifactStore`` (whose ``write`` truncates the file, then streams into
    it) the body goes to ``artifact_id + PARTIAL`` with the store's own ``write`` and is
    renamed over the old file (``os.replace``: atomic on one file system); other stores
    (S3, GCS: an object appears whole or not at all) write it directly. A write that
    fails raises, leaves the old content and removes its partial file."""
    base = getattr(store, "_base_path", None) \
        if isinstance(store, FileSystemArtifactStore) else None
    if base is None:
        store.write(artifact_id, body)
        return
    partial = artifact_id + PARTIAL
    try:
        store.write(partial, body)
        os.replace(os.path.join(base, partial), os.path.join(base, artifact_id))
    except BaseException:
        with contextlib.suppress(Exception):
            store.remove(partial)
        raise


def cached_storage(storage: BaseStorage) -> BaseStorage:
    """Optuna's in-process cache around an RDB storage (``optuna.storages.get_storage``,
    which Optuna calls internal and recommends for the gRPC proxy's server: without it
    every read of a trial list is a full query); other storages as they are."""
    return optuna.storages.get_storage(storage)


def drop_schema(connection: Any) -> None:
    """Drop every table of Optuna's RDB schema (its models' metadata and Alembic's version
    table) on ``connection``: what a failed first open undoes (:mod:`tuner.storage`)."""
    import sqlalchemy
    from optuna.storages._rdb import models

    models.BaseModel.metadata.drop_all(connection)
    connection.execute(sqlalchemy.text("drop table if exists alembic_version"))


def grpc_proxy_class(wrap_stub: Callable[[Any], Any]) -> type:
    """A subclass of Optuna's ``GrpcStorageProxy`` whose calls to the proxy, its own and its
    trial cache's, all go through ``wrap_stub(stub)``: the client's stub is private
    (``_stub``, made in ``_setup`` and shared with ``_cache.grpc_client``)."""
    GrpcStorageProxy = optuna.storages.GrpcStorageProxy

    def _setup(self) -> None:
        GrpcStorageProxy._setup(self)
        self._stub = wrap_stub(self._stub)
        self._cache.grpc_client = self._stub

    return type("RetryingGrpcStorageProxy", (GrpcStorageProxy,), {
        "_setup": _setup, "__module__": __name__,
        "__doc__": "Optuna's GrpcStorageProxy whose calls are wrapped (tuner.storage.grpc)."})
