"""Which process holds a database connection: PostgreSQL's ``application_name``.

Every connection tuner opens to a server is named ``tuner <role> pid <pid>`` (``tuner run
pid 4711``, ``tuner worker 2 pid 4720``, ``tuner proxy pid 99``), so that
``pg_stat_activity`` tells an operator which process, doing what, holds each connection
(and how many: see docs/scale-out.md). The role is the command by default and is set by
whoever knows better (a forked local worker, ``tuner proxy``). An operator's own
``PGAPPNAME`` (libpq's variable) names the connections instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: PostgreSQL keeps the first 63 bytes of an application_name
LIMIT = 63

_role: str | None = None


def set_role(role: str) -> None:
    """Name this process's part of the work (``"worker 2"``, ``"proxy"``)."""
    global _role
    _role = role


def role() -> str:
    """This process's role: as set, else the ``tuner`` command it runs (``"run"``), else
    the program's name."""
    if _role:
        return _role
    args = sys.argv[1:2] if Path(sys.argv[0]).name in ("tuner", "__main__.py") else []
    return args[0] if args and args[0].isidentifier() else Path(sys.argv[0] or "python").stem


def application_name() -> str:
    """``tuner <role> pid <pid>``, at most :data:`LIMIT` characters."""
    return f"tuner {role()} pid {os.getpid()}"[:LIMIT]


def connect_args(backend: str) -> dict[str, str]:
    """Connection arguments that name the connection (servers that take a name; none
    where ``PGAPPNAME`` names it already)."""
    if backend != "postgresql" or os.environ.get("PGAPPNAME"):
        return {}
    return {"application_name": application_name()}
