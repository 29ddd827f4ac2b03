"""Classic UNet or a pretrained-style encoder? Architecture x encoder x frozen or not.

A conditional space: the encoder and freezing only mean something for smp architectures.
Pass encoder_weights=/path/to/weights.pth (or imagenet, online) with --set to compare
pretrained encoders; the default trains every encoder from scratch.
"""

from tuner import StudySpec


def space(trial):
    arch = trial.suggest_categorical("arch", ["unet", "Unet", "FPN", "UnetPlusPlus"])
    if arch == "unet":
        return dict(arch=arch, base_channels=trial.suggest_categorical("base_channels", [8, 16]))
    return dict(
        arch=arch,
        encoder=trial.suggest_categorical("encoder", ["resnet18", "mobilenet_v2"]),
        freeze_encoder=trial.suggest_categorical("freeze_encoder", [False, True]),
    )


study = StudySpec(
    name="encoder",
    question="Which architecture and encoder segment best, trained end to end or frozen?",
    base=dict(optimizer="adam", lr=1e-3, scheduler="plateau", epochs=15),
    space=space,
    sampler="tpe",
    sampler_options=dict(n_startup_trials=8, seed=0),
    pruner="median",
    pruner_options=dict(n_startup_trials=4, n_warmup_steps=4),
    n_trials=16,
)
