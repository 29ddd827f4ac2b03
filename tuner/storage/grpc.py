"""``grpc://HOST:PORT`` storage URLs: a study storage reached through ``tuner proxy``.

``tuner proxy`` serves one database with Optuna's gRPC storage proxy (one process, one
bounded pool of connections), so that hundreds of workers share a database whose
connection limit would not hold them all. A worker, or any reading command, then names
the proxy instead of the database: ``--storage grpc://HOST:PORT``. What this module owns:
which URLs are the proxy's (:func:`is_grpc`), their host and port, and opening the client
(:func:`open_grpc_storage`), with one-line errors for a URL that is not ``HOST:PORT`` and
for a proxy that does not answer, or whose database does not.

The client holds no database connection and no password: the proxy has both. It has no
native heartbeat either; a proxied worker keeps :data:`tuner.records.PROXY_HEARTBEAT`
instead, which the proxy watches (:mod:`tuner.workers.proxy_watch`).
"""

from __future__ import annotations

import urllib.parse
import warnings
from typing import TYPE_CHECKING

from tuner.errors import TunerError

if TYPE_CHECKING:  # pragma: no cover - types only; Optuna is imported where it is used
    from optuna.storages import GrpcStorageProxy

SCHEME = "grpc"
#: how long a command waits for the proxy to answer before it says none is there
READY_TIMEOUT_S = 5.0
#: a study name no study has: asking for it checks that the proxy's database answers
_PROBE_STUDY = "tuner: is the database there?"
EXPECTED = "expected grpc://HOST:PORT, the address a running 'tuner proxy' listens on"


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
        from optuna.exceptions import ExperimentalWarning
        from optuna.storages import GrpcStorageProxy
    except ImportError as exc:  # pragma: no cover - both are dependencies of tuner
        raise TunerError(f"storage {url}: the gRPC proxy client needs grpcio and protobuf "
                         f"({exc}); pip install grpcio protobuf") from None
    with warnings.catch_warnings():  # "GrpcStorageProxy is experimental"
        warnings.simplefilter("ignore", ExperimentalWarning)
        proxy = GrpcStorageProxy(host=host, port=port)
    try:
        proxy.wait_server_ready(timeout=timeout)
    except ConnectionError:
        proxy.close()
        raise TunerError(f"storage {url}: no proxy answers at {host}:{port} within "
                         f"{timeout:g} s; {EXPECTED} (start one: tuner proxy --storage "
                         f"DATABASE_URL --port {port})") from None
    try:
        proxy.get_study_id_from_name(_PROBE_STUDY)
    except KeyError:
        pass  # the database answered: no such study
    except grpc.RpcError as exc:
        proxy.close()
        raise TunerError(f"storage {url}: the proxy answers but its database does not "
                         f"({_first_line(exc)}); check the proxy's output") from None
    return proxy


def _first_line(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = (details() if callable(details) else None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
