"""Does dropout help, and does the answer change with the amount of training data?"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="dropout",
    question="Which dropout gives the best validation Dice at each train fraction?",
    base=dict(optimizer="adam", lr=1e-3, scheduler="plateau", weight_decay=1e-3, epochs=15),
    space=dict(
        dropout=categorical([0.0, 0.2, 0.5]),
        train_fraction=categorical([0.2, 0.4, 0.6, 0.8]),
    ),
    sampler="grid",
    pruner="hopeless",
)
