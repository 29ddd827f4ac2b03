"""How much does more training data help? Train fractions 0.2..1.0, three seeds each.

The validation and test images are the same for every fraction, so the curve shows the
effect of data alone; repeats give the spread that a difference must beat.
"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="split_fraction",
    question="How does validation Dice grow with the fraction of training data used?",
    base=dict(optimizer="adam", lr=1e-3, scheduler="plateau", epochs=15),
    space=dict(train_fraction=categorical([0.2, 0.4, 0.6, 0.8, 1.0])),
    sampler="grid",
    pruner="none",
    repeats=3,
)
