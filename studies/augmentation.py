"""Which augmentation helps, and do augmented copies of the train set add anything?

The question: with 40 % of the training data (where augmentation matters most), which
per-epoch augmentation gives the best validation Dice: none, flips, a rotation of up to
20 degrees, both with a small shift (``combine``), or ``strong`` (``combine`` plus
scaling, brightness/contrast, blur or noise and an elastic or grid distortion); and does
adding ``n_aug`` = 1, 2 or 3 augmented copies of the train set (drawn once per trial with
the same pipeline, or ``combine`` for ``none``) help on top of it?

What to look at: the pivot of best validation Dice by augment (rows) x n_aug (columns).
Read a row to see whether copies help one augmentation; read the n_aug = 0 column for the
augmentations alone. Copies multiply the epoch time (the load summary prints the train
count after n_aug): a column that costs 4x the time must beat n_aug = 0 by more than the
repeat noise (``studies/split_fraction.py`` shows that noise) to be worth it.
"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="augmentation",
    question="Which augmentation, with how many augmented copies of the train set, gives "
             "the best validation Dice at 40% of the data?",
    base=dict(optimizer="adam", lr=1e-3, scheduler="plateau", epochs=15, train_fraction=0.4),
    space=dict(
        augment=categorical(["none", "flip", "rotate", "combine", "strong"]),
        n_aug=categorical([0, 1, 2, 3]),
    ),
    sampler="grid",
    pruner="none",
)
