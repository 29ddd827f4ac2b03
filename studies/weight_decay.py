"""Which weight decay, at which amount of training data?

The weight-decay stage of a tuning report: three decays at four train fractions, AdamW
with a plateau schedule, every cell trained once on the same validation images. The
pruner stops only hopeless runs (best validation Dice still within a tenth of the way from
the all-foreground baseline, about 0.2 here, to 1 after half the epochs and 50 optimizer
steps), so the table compares full runs.

AdamW, because its decay is decoupled from the gradient and so means what its name says:
with Adam's L2 form, a decay of 0.1 held every run at Dice 0 on this set, and the table
only said "0.1 is too much". The UNet is the classic one at base width 8 with a learning
rate of 2e-3, so that the whole grid trains in under 2 minutes on a 2-core CPU without
bf16 (bench/RESULTS.md). Measured on the built-in set: about 0.91 at 80 % of the data and
0.69-0.72 at 20 % (2 optimizer steps per epoch there, which the run's caution line names),
with the decays within 0.03 of each other at every fraction: the amount of data matters
far more than the decay here. For a report on your own data, raise ``base_channels`` with
``--set`` or in ``base``.
"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="weight_decay",
    question="Which weight decay gives the best validation Dice at each train fraction?",
    base=dict(base_channels=8, optimizer="adamw", lr=2e-3, scheduler="plateau",
              loss="bce_dice", epochs=15),
    space=dict(
        weight_decay=categorical([0.1, 0.01, 0.001]),
        train_fraction=categorical([0.2, 0.4, 0.6, 0.8]),
    ),
    sampler="grid",
    pruner="hopeless",
)
