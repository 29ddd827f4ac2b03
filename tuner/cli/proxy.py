"""``tuner proxy``: one database served to many workers over gRPC (Optuna's storage proxy),
with the takeover of silent proxied trials and one queued trial per grid point
(:mod:`tuner.workers.proxy_watch`). Workers name it ``--storage grpc://HOST:PORT``."""

from __future__ import annotations

import signal
import socket
from typing import Annotated

import typer

from tuner import interrupt
from tuner.cli.common import StorageOption, errors, quiet_optuna, user_errors
from tuner.errors import TunerError
from tuner.workers.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S

DEFAULT_HOST, DEFAULT_PORT, DEFAULT_THREADS = "127.0.0.1", 13000, 8
_ALL_INTERFACES = {"0.0.0.0", "::", ""}


@user_errors
def proxy_command(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(
        help="Address to bind: 127.0.0.1 serves this machine only; 0.0.0.0 every network "
        "interface (the proxy has no authentication: only behind a firewall).",
    )] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)
                    ] = DEFAULT_PORT,
    heartbeat_interval: Annotated[int, typer.Option(
        "--heartbeat-interval", min=1,
        help="Seconds between two checks of the proxied workers' heartbeats.")
    ] = HEARTBEAT_INTERVAL_S,
    grace_period: Annotated[int, typer.Option(
        "--grace-period", min=1,
        help="Seconds a proxied trial's heartbeat may stand still before the trial is "
        "failed and retried (longer than the workers' --heartbeat-interval).")
    ] = GRACE_PERIOD_S,
    threads: Annotated[int, typer.Option(
        "--threads", min=1, help="Threads serving the workers' calls.")] = DEFAULT_THREADS,
) -> None:
    """Serve the study database to many workers over gRPC (Optuna's storage proxy).

    Workers and reading commands then use --storage grpc://HOST:PORT
    instead of the database URL: hundreds of workers share the proxy's few
    database connections. The proxy fails and retries the trial of a
    proxied worker whose heartbeat stopped, and queues each grid point
    once however many runs start at once. No authentication: bind it where
    only the workers reach it. Ctrl-C stops it with exit code 130, SIGTERM
    with 143. docs/proxy.md.
    """
    quiet_optuna()
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages import run_grpc_proxy_server

    from tuner.optuna_internals import cached_storage
    from tuner.storage import open_storage, redact, storage_url
    from tuner.storage.grpc import is_grpc
    from tuner.workers.proxy_watch import ProxyWatch, ServedStorage

    url = storage_url(storage)
    if is_grpc(url):
        raise TunerError(f"proxy --storage {url}: that is a proxy's address; tuner proxy "
                         "serves a database: expected its URL, e.g. postgresql+psycopg://"
                         "USER:PASSWORD@HOST:5432/DB or sqlite:///storage/tuner.db")
    _check_free(host, port)
    database = cached_storage(open_storage(url))
    watch = ProxyWatch(database, url, interval=heartbeat_interval, grace_period=grace_period)
    errors.print(
        f"tuner proxy: serving {redact(url)} at grpc://{_shown(host)}:{port} ({threads} "
        f"threads); workers use --storage grpc://{_shown(host)}:{port}; a proxied trial "
        f"silent for {grace_period} s is failed and retried; Ctrl-C stops it",
        markup=False, highlight=False)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    watch.start()
    try:
        run_grpc_proxy_server(ServedStorage(database, url), host=host, port=port,
                              thread_pool=ThreadPoolExecutor(max_workers=threads))
    except RuntimeError as exc:  # grpc could not bind after all (taken since the check)
        raise TunerError(f"proxy --host {host} --port {port}: cannot listen there ({exc}); "
                         "expected a free port and an address of this machine") from None
    except KeyboardInterrupt:
        errors.print(f"tuner proxy: stopped (grpc://{_shown(host)}:{port})", markup=False,
                     highlight=False)
        raise
    finally:
        watch.stop()


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a service manager, a cluster) stops the proxy like Ctrl-C, exit code 143."""
    interrupt.request(signal.SIGTERM)
    raise KeyboardInterrupt


def _check_free(host: str, port: int) -> None:
    """One-line error when ``host:port`` cannot be bound. gRPC binds with SO_REUSEPORT, so
    a second proxy on a taken port would share it silently instead of failing: a plain
    socket (without that option) finds out first."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC: not TIME_WAIT
            probe.bind(address)
    except OSError as exc:  # taken, not an address of this machine, a port < 1024
        raise TunerError(f"proxy --host {host} --port {port}: cannot listen there "
                         f"({exc.strerror or exc}); expected a free port and an address "
                         "of this machine") from None


def _shown(host: str) -> str:
    """The host workers name: this machine's name where the proxy binds every interface."""
    shown = socket.gethostname() if host in _ALL_INTERFACES else host
    return f"[{shown}]" if ":" in shown else shown
