"""Storages a command cannot use as given: in-memory SQLite, and read-only commands on a
database Optuna never wrote to (an empty file: "no studies", and nothing created)."""

from tests.cli.hostile import KEPT, Case
from tests.cli.hostile.run_cases import STUDY, run


def empty(p) -> str:
    """The URL of an empty (0-byte) SQLite file in the case's folder."""
    return f"sqlite:///{p.file('empty.db', '')}"


CASES = [
    Case("run on in-memory SQLite", run(STUDY, "--storage", "sqlite:///:memory:"),
         "in-memory"),
    Case("run on SQLite without a file", run(STUDY, "--storage", "sqlite:///"), "in-memory"),
    Case("studies of in-memory SQLite", lambda p: ["studies", "--storage", "sqlite://"],
         "in-memory"),
    Case("studies of an empty SQLite file", lambda p: ["studies", "--storage", empty(p)],
         "no studies", exit_code=0),
    Case("dashboard of an empty SQLite file",
         lambda p: ["dashboard", "--storage", empty(p), "--port", "0"], "no studies there yet"),
    Case("export from an empty SQLite file",
         lambda p: ["export", KEPT, "--storage", empty(p)], "studies there: none yet"),
]
