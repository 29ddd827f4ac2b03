"""`tuner campaign`: every stage checked before anything is stored."""

from tests.cli.hostile import Case
from tests.tiny import TINY_SETS

CAMPAIGN = """from tuner import Campaign, Stage, categorical
campaign = Campaign(name="c", stages=[
    Stage("lr", space=dict(lr=categorical([1e-3])), pruner="none"),
    Stage("sched", space=dict(scheduler=categorical(["none", "{scheduler}"])), pruner="none"),
])
"""


def campaign(*args: str, scheduler: str = "cosine"):
    return lambda p: ["campaign", p.file("c.py", CAMPAIGN.format(scheduler=scheduler)), *args,
                      *TINY_SETS]


CASES = [
    Case("campaign with a bad value in a later stage", campaign(scheduler="warp"),
         "stage 'sched'"),
    Case("campaign on missing data", campaign("--data", "folder:/nope"), "/nope"),
    Case("campaign with an unknown field", campaign("--set", "epoch=1"), "'epoch'"),
    Case("campaign into a study that is not its record",
         lambda p: ["campaign", p.file("c.py", CAMPAIGN.format(scheduler="cosine")
                                       .replace('name="c"', 'name="kept"')), *TINY_SETS],
         "is not a campaign's record"),
    Case("campaign status of a missing file", lambda p: ["campaign", "nope.py", "--status"],
         "not found"),
]
