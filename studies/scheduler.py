"""Which learning-rate schedule, for each optimizer at its own learning rate?

The question: does a schedule (step decay, plateau, cosine, one-cycle, cyclic) beat a
constant learning rate, and is the best schedule the same for Adam, AdaGrad, AdaMax,
RMSprop and SGD? Each optimizer trains at its own good learning rate (``LR`` below, from
a short sweep on the built-in synthetic set); a shared rate would favour whichever
optimizer it suits. For your data, replace ``LR`` with the best learning rate per
optimizer of your own ``studies/lr_by_optimizer.py`` run (``tuner best lr_by_optimizer``
lists them; onecycle and cyclic use ``lr`` as their peak).

What to look at: the pivot of best validation Dice by optimizer (rows) x scheduler
(columns). Read along a row for the best schedule of one optimizer, and compare each
row's ``none`` column with its best: a gain smaller than the repeat noise is no gain.
The curves (``tuner report``) show how each schedule gets there.
"""

from tuner import StudySpec

# optimizer -> its learning rate: the best of 3-4 rates per optimizer (best validation
# Dice in brackets), 12 epochs at a constant rate on the default synthetic set, one seed;
# a tie within 0.005 went to the lower rate (onecycle and cyclic use it as their peak)
LR = {
    "adam": 3e-3,  # 1e-3 (0.882), 3e-3 (0.906), 1e-2 (0.903)
    "adagrad": 1e-2,  # 3e-3 (0.861), 1e-2 (0.896), 3e-2 (0.896)
    "adamax": 2e-2,  # 2e-3 (0.881), 6e-3 (0.901), 2e-2 (0.911), 6e-2 (0.890)
    "rmsprop": 3e-4,  # 1e-4 (0.896), 3e-4 (0.909), 1e-3 (0.906)
    "sgd": 1e-1,  # momentum 0.9: 1e-2 (0.749), 3e-2 (0.852), 1e-1 (0.890), 3e-1 (0.893)
}
SCHEDULERS = ["none", "step", "plateau", "cosine", "onecycle", "cyclic"]


def space(trial):
    optimizer = trial.suggest_categorical("optimizer", list(LR))
    return dict(optimizer=optimizer, lr=LR[optimizer],
                scheduler=trial.suggest_categorical("scheduler", SCHEDULERS))


study = StudySpec(
    name="scheduler",
    question="Which scheduler gives the best validation Dice for each optimizer, "
             "each at its own learning rate?",
    base=dict(loss="bce_dice", momentum=0.9, epochs=15, step_size=5, gamma=0.5),
    space=space,  # a grid over both choices: 5 optimizers x 6 schedulers, each once
    sampler="grid",
    pruner="hopeless",
)
