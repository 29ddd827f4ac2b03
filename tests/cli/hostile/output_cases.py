"""`tuner export`, `report`, `evaluate`, `predict`: mistakes end before anything is written."""

from PIL import Image

from tests.cli.hostile import KEPT, Case, Place

LONG = "s" * 600


def images(p: Place) -> str:
    """A folder holding one small PNG, so that predict gets past its images."""
    folder = p.folder / "images"
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), (40, 80, 120)).save(folder / "one.png")
    return str(folder)


def predict(p: Place, *args: str, out: str | None = None) -> list[str]:
    return ["predict", KEPT, "--images", images(p), "--out", out or str(p.folder / "out"),
            *args]


def under_a_file(p: Place, name: str) -> str:
    """A path inside a plain file: no one, not even root, can make it."""
    return f"{p.file('plain.txt', 'a file, not a folder')}/{name}"


CASES = [
    Case("export of an unknown study", lambda p: ["export", "nope"], "not found"),
    Case("export of a 600-character name", lambda p: ["export", LONG], "not found"),
    Case("export in an unknown format", lambda p: ["export", KEPT, "--format", "docx"],
         "docx"),
    Case("report of an unknown study", lambda p: ["report", "nope"], "not found"),
    Case("evaluate an unknown split", lambda p: ["evaluate", KEPT, "--split", "bogus"],
         "bogus"),
    Case("evaluate a trial that is not there", lambda p: ["evaluate", KEPT, "--trial", "99"],
         "99"),
    Case("predict a trial that is not there", lambda p: predict(p, "--trial", "99"), "99"),
    Case("predict with --trial and --best", lambda p: predict(p, "--trial", "0", "--best"),
         "--best"),
    Case("predict without saved weights", lambda p: predict(p, "--trial", "0"), "weights"),
    Case("report of a 600-character name", lambda p: ["report", LONG], "not found"),
    Case("evaluate a 600-character name", lambda p: ["evaluate", LONG], "not found"),
    Case("export --out inside a file",
         lambda p: ["export", KEPT, "--out", under_a_file(p, "x")], "is a file, not a folder"),
    Case("export --out that is a file",
         lambda p: ["export", KEPT, "--out", p.file("plain.txt", "x")],
         "exists and is not a folder"),
    Case("report --out inside a file",
         lambda p: ["report", KEPT, "--out", under_a_file(p, "report.html")],
         "is a file, not a folder"),
    Case("report --out that is a folder", lambda p: ["report", KEPT, "--out", str(p.folder)],
         "is a folder; expected a file name"),
    Case("evaluate an unknown split with --out",
         lambda p: ["evaluate", KEPT, "--split", "bogus", "--out", str(p.folder / "ev")],
         "bogus"),
    Case("evaluate on a missing database",
         lambda p: ["evaluate", KEPT, "--storage", f"sqlite:///{p.folder / 'nope.db'}"],
         "nope.db"),
    Case("evaluate a dataset of an unknown kind",
         lambda p: ["evaluate", KEPT, "--trial", "0", "--data", "bogus:x"], "bogus"),
    Case("evaluate --out inside a file",
         lambda p: ["evaluate", KEPT, "--trial", "0", "--out", under_a_file(p, "ev")],
         "is a file, not a folder"),
    Case("evaluate --gallery inside a file",
         lambda p: ["evaluate", KEPT, "--trial", "0", "--gallery", under_a_file(p, "g.png")],
         "is a file, not a folder"),
    Case("evaluate --gallery of another type",
         lambda p: ["evaluate", KEPT, "--trial", "0", "--gallery", str(p.folder / "g.gif")],
         ".png"),
    Case("predict an unknown study",
         lambda p: ["predict", "nope", "--images", images(p), "--out", str(p.folder / "o")],
         "not found"),
    Case("predict on a missing database",
         lambda p: predict(p, "--storage", f"sqlite:///{p.folder / 'nope.db'}"), "nope.db"),
    Case("predict --out inside a file", lambda p: predict(p, out=under_a_file(p, "o")),
         "is a file, not a folder"),
    Case("predict --out that is a file", lambda p: predict(p, out=p.file("plain.txt", "x")),
         "exists and is not a folder"),
    Case("predict --out that is --images", lambda p: predict(p, out=str(p.folder / "images")),
         "is the --images folder"),
    Case("predict a threshold of 1", lambda p: predict(p, "--threshold", "1"), "--threshold"),
    Case("predict --max-image-pixels 0", lambda p: predict(p, "--max-image-pixels", "0"),
         "--max-image-pixels"),
]
