"""Which loss function, with which optimizer? Every loss x Adam / RMSprop / SGD."""

from tuner import StudySpec, categorical

study = StudySpec(
    name="loss",
    question="Which loss gives the best validation Dice with Adam, RMSprop and SGD?",
    base=dict(lr=1e-3, momentum=0.9, scheduler="plateau", epochs=15),
    space=dict(
        loss=categorical(["bce", "dice", "bce_dice", "inv_dice_bce", "switching", "iou",
                          "focal", "tversky", "ce2"]),
        optimizer=categorical(["adam", "rmsprop", "sgd"]),
    ),
    sampler="grid",
    pruner="hopeless",
)
