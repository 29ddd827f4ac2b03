"""The whole tuning strategy of a segmentation report, as one campaign of five stages.

The question: which training setup segments best, found the way the hand-made reports
found it, one decision at a time: a learning rate per optimizer, then the scheduler, then
weight decay and dropout (at several train fractions), then the loss, then augmentation.
Each stage fixes the frozen winner of the stages before it (the best mean validation Dice
over its repeats; a runner-up within the repeat noise wins when it is cheaper).

Run it with ``tuner campaign studies/campaign.py`` (rerun the same command to resume);
``tuner campaign studies/campaign.py --status`` shows the lineage: what each stage fixed,
with its mean ± sd and trial numbers. What to look at: the lineage table, then each
stage's export (``tuner export campaign/<stage>``); the regularisation stage's pivot shows
weight decay x dropout per train fraction, although only weight decay and dropout are
carried forward (more data always helps; it is no setting to fix).
"""

from tuner import Campaign, Stage, categorical

LR_RANGES = {  # (low, high): where each optimizer usually trains a UNet
    "adam": (1e-4, 1e-2),
    "rmsprop": (1e-5, 3e-3),
    "adamax": (1e-4, 3e-2),
    "adagrad": (1e-3, 1e-1),
    "sgd": (1e-3, 3e-1),
}


def lr_space(trial):
    optimizer = trial.suggest_categorical("optimizer", list(LR_RANGES))
    low, high = LR_RANGES[optimizer]
    return dict(optimizer=optimizer,
                lr=trial.suggest_float(f"lr_{optimizer}", low, high, log=True))


campaign = Campaign(
    name="campaign",
    question="Which training setup gives the best validation Dice, decided stage by stage?",
    base=dict(epochs=15, loss="bce_dice", scheduler="none", momentum=0.9),
    stages=[
        Stage("lr", space=lr_space, sampler="tpe",
              sampler_options=dict(n_startup_trials=10, seed=0), n_trials=25,
              pruner="hyperband", pruner_options=dict(min_resource=3, reduction_factor=3),
              question="Which optimizer, at which learning rate?"),
        Stage("scheduler", repeats=2, pruner="none",
              space=dict(scheduler=categorical(["none", "step", "plateau", "cosine",
                                                "onecycle"])),
              question="Which learning-rate schedule for the winning optimizer?"),
        Stage("regularisation", pruner="none", carry=("weight_decay", "dropout"),
              space=dict(weight_decay=categorical([0.0, 1e-4, 1e-2]),
                         dropout=categorical([0.0, 0.3]),
                         train_fraction=categorical([0.4, 0.8])),
              question="Which weight decay and dropout, at two train fractions?"),
        Stage("loss", repeats=2, pruner="none",
              space=dict(loss=categorical(["bce", "dice", "bce_dice", "switching", "focal"])),
              question="Which loss?"),
        Stage("augmentation", pruner="none",
              space=dict(augment=categorical(["flip", "rotate", "combine", "strong"]),
                         n_aug=categorical([0, 1])),
              question="Which augmentation, with how many augmented copies?"),
    ],
)
