"""`tuner run`: a space whose draws the model cannot take, refused by the pre-run checks."""

from tests.cli.hostile import Case
from tests.tiny import TINY

SIZES = """from tuner import StudySpec, int_range
study = StudySpec(name="s", base=dict(arch={arch!r}), n_trials=2,
                  space=dict(image_size=int_range(32, {high})))
"""
# TINY_SETS without image_size: the space searches it (--set may not fix a searched field)
SETS = [arg for key, value in TINY.items() if key != "image_size"
        for arg in ("--set", f"{key}={value}")]


def sizes(arch: str, high: int):
    return lambda p: ["run", p.file("study.py", SIZES.format(arch=arch, high=high)), *SETS]


CASES = [
    # both ends are multiples of 32, most draws between them are not
    Case("run an FPN space of sizes it cannot take", sizes("FPN", 96),
         "expected a multiple of 32 for arch 'FPN'"),
    Case("run a unet space of sizes it cannot take", sizes("unet", 64),
         "expected a multiple of 16 for arch 'unet'"),
]
