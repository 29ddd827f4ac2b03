"""Live view: optuna-dashboard on the study storage, with its artifact store.

The dashboard shows every study in the storage (trials, parameters, intermediate values,
the user attributes of :mod:`tuner.records`) and, because it gets the same artifact store
the objective uploads to, the prediction galleries of each trial. It is bound to localhost
by default: it has no login, and it can edit studies (notes, deletions).

optuna-dashboard's own ``run_server`` blocks and cannot report the port it bound, so the
WSGI app (:func:`optuna_dashboard.wsgi`) is served here with the standard library's
threaded WSGI server (the one optuna-dashboard's own command uses): tests can start it on a
free port in a thread and stop it again.
"""

from __future__ import annotations

import socket
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tuner.errors import TunerError
from tuner.storage import artifact_dir, artifact_store, holds_no_studies, open_storage, redact
from tuner.storage import storage_url as resolve_storage_url

DEFAULT_HOST = "127.0.0.1"  # localhost only: the dashboard has no login
DEFAULT_PORT = 8080  # optuna-dashboard's own default
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ALL_INTERFACES = {"0.0.0.0", "::", ""}


class _ThreadedWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request: the page fetches its script, API and images at once."""

    daemon_threads = True  # a hanging browser request must not keep the process alive


class _QuietHandler(WSGIRequestHandler):
    """No line per HTTP request on stderr (the page polls the API every few seconds)."""

    def log_message(self, format: str, *args) -> None:  # the stdlib names it `format`
        pass


def dashboard_app(url: str | None = None):
    """The optuna-dashboard WSGI app for the storage at ``url`` and its artifact store.

    ``url`` falls back to ``$TUNER_STORAGE``, then to the SQLite default (see
    :func:`tuner.storage.storage_url`). Raises :class:`TunerError` if it cannot be opened,
    or if it holds no studies: the dashboard only reads, so it creates no tables, and a
    view of nothing would never show the studies a later run stores.
    """
    import optuna_dashboard

    url = resolve_storage_url(url)
    storage = open_storage(url, create=False)
    if holds_no_studies(storage):
        raise TunerError(f"storage {redact(url)}: no studies there yet (Optuna's tables do "
                         "not exist); start a run first (tuner run STUDY.py --storage "
                         "URL), then the dashboard")
    return optuna_dashboard.wsgi(storage, artifact_store=artifact_store(url))


def make_dashboard_server(url: str | None = None, host: str = DEFAULT_HOST,
                          port: int = DEFAULT_PORT) -> WSGIServer:
    """A dashboard server bound to ``host:port`` (port 0: a free one), not yet serving.

    Call ``serve_forever()`` (in a thread for tests), then ``shutdown()`` and
    ``server_close()``; ``server.server_port`` is the port actually bound.
    """
    app = dashboard_app(url)
    try:
        return make_server(host, port, app, server_class=_ThreadedWSGIServer,
                           handler_class=_QuietHandler)
    except OSError as exc:  # port taken, no permission for ports < 1024, unknown host
        raise TunerError(
            f"dashboard --host {host} --port {port}: cannot listen there "
            f"({exc.strerror or exc}); expected a free port and an address of this machine"
        ) from None


def dashboard_address(host: str, port: int) -> str:
    """The URL a person opens for a server bound to ``host:port``."""
    shown = socket.gethostname() if host in _ALL_INTERFACES else host
    if ":" in shown:  # an IPv6 address needs brackets in a URL
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def exposure_note(host: str, port: int) -> str:
    """What binding to ``host`` means for who can see the dashboard, and how to change it."""
    if host in _LOOPBACK:
        return (
            "Bound to localhost: only this machine can open it. From another computer use an "
            f"SSH tunnel (ssh -L {port}:localhost:{port} THIS_HOST, then open "
            f"http://localhost:{port}/), or --host 0.0.0.0 behind a firewall."
        )
    return (
        f"Listening on {host or 'all interfaces'}: anyone who reaches port {port} can read "
        "and edit these studies (the dashboard has no login). Keep it behind a firewall, a "
        "VPN or an SSH tunnel."
    )


def serve_dashboard(storage_url: str | None = None, host: str = DEFAULT_HOST,
                    port: int = DEFAULT_PORT) -> None:
    """Serve optuna-dashboard on the study storage until Ctrl-C.

    Prints the URL to open, the storage (password hidden) and the artifact folder, and says
    who can reach it. Raises :class:`TunerError` when the storage cannot be opened or the
    address cannot be bound.
    """
    server = make_dashboard_server(storage_url, host, port)
    url = resolve_storage_url(storage_url)
    print(f"optuna-dashboard: {dashboard_address(host, server.server_port)}", flush=True)
    print(f"  storage:   {redact(url)}", flush=True)
    print(f"  artifacts: {artifact_dir(url)}", flush=True)
    print(f"  {exposure_note(host, server.server_port)}", flush=True)
    print("  Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
