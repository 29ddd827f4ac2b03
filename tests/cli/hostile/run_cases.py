"""`tuner run`: mistakes caught before anything is stored."""

from tests.cli.hostile import Case
from tests.tiny import TINY_SETS

STUDY = """from tuner import StudySpec, categorical
study = StudySpec(name="s", sampler="grid", space=dict(lr=categorical([1e-3])))
"""


def run(study: str = STUDY, *args: str):
    return lambda p: ["run", p.file("study.py", study), *args, *TINY_SETS]


CASES = [
    Case("run an unknown field", run(STUDY, "--set", "lrr=1"), "unknown config field 'lrr'"),
    Case("run a folder that is a file", lambda p: ["run", p.file("study.py", STUDY), "--data",
                                                    f"folder:{p.file('f.txt', 'x')}",
                                                    *TINY_SETS], "not a folder"),
]
