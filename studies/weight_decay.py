"""Which weight decay, at which amount of training data?

The weight-decay stage of a tuning report: three decays at four train fractions, Adam with
a plateau schedule, every cell trained once on the same validation images. The pruner
stops only hopeless runs (best validation Dice still within a tenth of the way from the
all-foreground baseline, about 0.2 here, to 1 after half the epochs), so the table
compares full runs.

The UNet is the classic one at base width 8 with Adam at 2e-3, so that the whole grid
trains in under 2 minutes on a 2-core CPU without bf16 (bench/RESULTS.md): width 16 at 1e-3
reaches about the same best Dice (0.89 vs 0.87) at 2.5x the time, and tells the same story
(weight decay 0.1 on 20 % of the data far behind). For a report on your own data, raise
``base_channels`` with ``--set`` or in ``base``.
"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="weight_decay",
    question="Which weight decay gives the best validation Dice at each train fraction?",
    base=dict(base_channels=8, optimizer="adam", lr=2e-3, scheduler="plateau",
              loss="bce_dice", epochs=15),
    space=dict(
        weight_decay=categorical([0.1, 0.01, 0.001]),
        train_fraction=categorical([0.2, 0.4, 0.6, 0.8]),
    ),
    sampler="grid",
    pruner="hopeless",
)
