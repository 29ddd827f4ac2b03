"""`tuner studies`, `tuner best`: read-only, never create anything."""

from tests.cli.hostile import KEPT, Case

CASES = [
    Case("best of an unknown study", lambda p: ["best", "nope"], "studies there: kept"),
    Case("best with a bad state", lambda p: ["best", KEPT, "--state", "sleeping"], "state"),
    Case("studies of a missing SQLite file",
         lambda p: ["studies", "--storage", f"sqlite:///{p.folder}/no/such.db"],
         "no database file"),
    Case("best in an empty SQLite file",
         lambda p: ["best", KEPT, "--storage", f"sqlite:///{p.file('empty.db', '')}"],
         "studies there: none yet"),
]
