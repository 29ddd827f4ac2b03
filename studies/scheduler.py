"""Which learning-rate schedule, at two learning rates?"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="scheduler",
    question="Which scheduler gives the best validation Dice, at lr 1e-3 and 3e-3?",
    base=dict(optimizer="adam", loss="bce_dice", epochs=15, step_size=5, gamma=0.5),
    space=dict(
        scheduler=categorical(["none", "step", "plateau", "cosine", "onecycle", "cyclic"]),
        lr=categorical([1e-3, 3e-3]),
    ),
    sampler="grid",
    pruner="threshold",
    pruner_options=dict(lower=0.25, n_warmup_steps=8),
)
