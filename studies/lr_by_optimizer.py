"""A good learning rate for each optimizer, with BCE and with the switching loss.

Each optimizer gets the learning-rate range where it usually works (a conditional space),
TPE searches it, and Hyperband stops runs that are clearly behind early. Measured with
bench/pruning.py at equal epochs, 3 seeds (bench/RESULTS.md, "Budget: time to quality"):
at this file's setting it came within 0.005 of the unpruned 40-trial run's best with 0.23
of its epochs on two seeds (the unpruned run itself needed a median of 0.30), 0.11 at
32 px; none of the eight other settings tried (successive halving from epoch 1, the
catch_up learning-curve rule, the median pruner, other TPE settings) beat it on both.
"""

from tuner import StudySpec

LR_RANGES = {  # (low, high): where each optimizer usually trains a UNet
    "adam": (1e-5, 1e-2),
    "adamw": (1e-5, 1e-2),
    "rmsprop": (1e-5, 1e-2),
    "adamax": (1e-4, 3e-2),
    "sgd": (1e-4, 3e-1),
    "adagrad": (1e-3, 3e-1),
    "adadelta": (1e-2, 3.0),
}


def space(trial):
    optimizer = trial.suggest_categorical("optimizer", list(LR_RANGES))
    low, high = LR_RANGES[optimizer]
    return dict(
        optimizer=optimizer,
        lr=trial.suggest_float(f"lr_{optimizer}", low, high, log=True),
        loss=trial.suggest_categorical("loss", ["bce", "switching"]),
    )


study = StudySpec(
    name="lr_by_optimizer",
    question="Which learning rate suits each optimizer (BCE vs switching loss)?",
    base=dict(scheduler="none", epochs=15),
    space=space,
    sampler="tpe",
    sampler_options=dict(n_startup_trials=10, seed=0),
    pruner="hyperband",
    pruner_options=dict(min_resource=2, reduction_factor=3),
    n_trials=40,
)
