"""``grpc://HOST:PORT`` storage URLs: a study storage reached through ``tuner proxy``.

``tuner proxy`` serves one database with Optuna's gRPC storage proxy (one process, one
bounded pool of connections), so that hundreds of workers share a database whose
connection limit would not hold them all. A worker, or any reading command, then names
the proxy instead of the database: ``--storage grpc://HOST:PORT``. What this module owns:
which URLs are the proxy's (:func:`is_grpc`), their host and port, and opening the client
(:func:`open_grpc_storage`), with one-line errors for a URL that is not ``HOST:PORT`` and
for a proxy that does not answer, or whose database does not.

A proxy may restart while workers train (an upgrade, a moved machine): a call that cannot
reach it is tried again with backoff for about 15 s (:data:`RETRY_DELAYS_S`), and a call
it could not serve, or could not reach in that time, is raised as Optuna's
``StorageInternalError``, which a worker reads as a lost database (one line, and its trial
is taken over once the proxy is back). The proxy retries its own dropped database
connections (:mod:`tuner.storage.retries`).

The client holds no database connection and no password: the proxy has both. It has no
native heartbeat either; a proxied worker keeps :data:`tuner.records.PROXY_HEARTBEAT`
instead, which the proxy watches (:mod:`tuner.workers.proxy_watch`).
"""

from __future__ import annotations

import contextlib
import random
import time
import urllib.parse
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuner.errors import TunerError
from tuner.storage.urls import redact

if TYPE_CHECKING:  # pragma: no cover - types only; Optuna is imported where it is used
    from optuna.storages import GrpcStorageProxy

SCHEME = "grpc"
#: how long a command waits for the proxy to answer before it says none is there
READY_TIMEOUT_S = 5.0
#: a study name no study has: asking for it checks that the proxy's database answers
_PROBE_STUDY = "tuner: is the database there?"
EXPECTED = "expected grpc://HOST:PORT, the address a running 'tuner proxy' listens on"
#: waits before each new try of a call that could not reach the proxy (about 15 s in all,
#: with jitter: a proxy's restart, Python and Optuna's imports included)
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)
_JITTER = random.SystemRandom()  # not the seeded global: workers must not agree


def is_grpc(url: str | None) -> bool:
    """Whether ``url`` names a gRPC storage proxy (``grpc://...``) rather than a database."""
    return url is not None and url.strip().lower().startswith(f"{SCHEME}://")


def proxy_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``grpc://HOST:PORT`` (an IPv6 host keeps its brackets, as the
    gRPC channel wants it); one-line error for anything else."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is no number, or out of range
        raise TunerError(f"storage {url!r}: not a valid port; {EXPECTED} "
                         "(e.g. grpc://127.0.0.1:13000)") from None
    if parts.scheme.lower() != SCHEME or not parts.hostname:
        raise TunerError(f"storage {url!r}: no host; {EXPECTED} (e.g. grpc://127.0.0.1:13000)")
    if port is None:
        raise TunerError(f"storage {url!r}: no port; {EXPECTED} (e.g. grpc://"
                         f"{parts.hostname}:13000)")
    if parts.username or parts.password or parts.path.strip("/") or parts.query:
        raise TunerError(f"storage {url!r}: a proxy URL holds only a host and a port (the "
                         f"database and its password stay with the proxy); {EXPECTED}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host, port


def open_grpc_storage(url: str, timeout: float = READY_TIMEOUT_S) -> GrpcStorageProxy:
    """The Optuna client of the proxy at ``url``, once it answers (within ``timeout``
    seconds) and its database answers through it; one-line error otherwise."""
    host, port = proxy_address(url)
    try:
        import grpc
        from optuna.exceptions import ExperimentalWarning, StorageInternalError
    except ImportError as exc:  # pragma: no cover - both are dependencies of tuner
        raise TunerError(f"storage {url}: the gRPC proxy client needs grpcio and protobuf "
                         f"({exc}); pip install grpcio protobuf") from None
    from tuner.optuna_internals import grpc_proxy_class

    with warnings.catch_warnings():  # "GrpcStorageProxy is experimental"
        warnings.simplefilter("ignore", ExperimentalWarning)
        proxy = grpc_proxy_class(lambda stub: _ProxyCalls(stub, f"{host}:{port}"))(
            host=host, port=port)
    try:
        proxy.wait_server_ready(timeout=timeout)
    except ConnectionError:
        proxy.close()
        raise TunerError(f"storage {url}: no proxy answers at {host}:{port} within "
                         f"{timeout:g} s; {EXPECTED} (start one: tuner proxy --storage "
                         f"DATABASE_URL --port {port})") from None
    try:
        with contextlib.suppress(KeyError):  # KeyError: the database answered, no such study
            proxy.get_study_id_from_name(_PROBE_STUDY)
    except (grpc.RpcError, StorageInternalError) as exc:
        proxy.close()
        raise TunerError(f"storage {url}: the proxy answers but its database does not "
                         f"({_first_line(exc)}); check the proxy's output") from None
    return proxy


class _ProxyCalls:
    """The client's stub, every call tried again while the proxy cannot be reached, and
    a call the proxy could not serve (or not be reached for) raised as Optuna's
    ``StorageInternalError``; the answers Optuna's client reads (not found, a finished
    trial, a bad value) pass as they are."""

    def __init__(self, stub: Any, address: str) -> None:
        self._stub, self._address = stub, address

    def __getattr__(self, name: str) -> Callable:
        import grpc
        from optuna.exceptions import StorageInternalError

        method = getattr(self._stub, name)
        lost = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)

        def call(request: Any, *args: Any, **kwargs: Any) -> Any:
            for delay in (*RETRY_DELAYS_S, None):
                try:
                    return method(request, *args, **kwargs)
                except grpc.RpcError as exc:
                    code = exc.code()
                    if code == grpc.StatusCode.UNAVAILABLE and delay is not None:
                        time.sleep(delay * _JITTER.uniform(0.75, 1.25))
                        continue
                    if code not in lost:
                        raise
                    what = "cannot be reached" if code == grpc.StatusCode.UNAVAILABLE \
                        else "failed to serve the call"
                    raise StorageInternalError(f"the proxy at {self._address} {what} "
                                               f"({_first_line(exc)})") from None
            raise AssertionError("unreachable")  # pragma: no cover

        return call


def _first_line(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = (details() if callable(details) else None) or str(exc) or type(exc).__name__
    return redact(text.strip().splitlines()[0])[:200] if text.strip() else type(exc).__name__
