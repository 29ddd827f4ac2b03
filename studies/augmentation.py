"""Which augmentation, and do offline augmented copies add anything?"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="augmentation",
    question="Which augmentation (and how many augmented copies) helps most at 40% data?",
    base=dict(optimizer="adam", lr=1e-3, scheduler="plateau", epochs=15, train_fraction=0.4),
    space=dict(
        augment=categorical(["none", "flip", "combine", "strong"]),
        n_aug=categorical([0, 1]),
    ),
    sampler="grid",
    pruner="none",
)
