"""`TrainConfig`: the one vocabulary of every knob a trial can change.

A study's search space, a study file's ``base`` dict and ``--set key=value`` on the command
line all produce fields of this object. Every field is validated on construction: an
unknown name or a value outside what is allowed raises a one-line
:class:`~tuner.errors.TunerError` that names the field and the allowed values, before any
training starts. Layering is defaults -> study file -> command line (nanoGPT/timm habit).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from tuner.errors import TunerError

#: smp architectures accepted by ``arch`` besides the classic ``unet``
#: (names as in ``segmentation_models_pytorch``; checked without importing smp).
SMP_ARCHS = (
    "Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet",
    "DeepLabV3", "DeepLabV3Plus", "PAN", "UPerNet", "Segformer", "DPT",
)  # fmt: skip
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax", "adadelta")
SCHEDULERS = ("none", "step", "plateau", "cosine", "onecycle", "cyclic")
LOSSES = (
    "bce", "dice", "bce_dice", "inv_dice_bce", "switching",
    "iou", "focal", "tversky", "ce2",
)  # fmt: skip
AUGMENTS = ("none", "flip", "vflip", "flips", "rotate", "combine", "strong")
#: dataset kinds that take a path, ``KIND:PATH`` (``tuner.data.datasets`` loads them)
DATASET_KINDS = ("folder", "oxford-pet", "isic", "csv")
NORMALIZE = ("auto", "zscore", "imagenet", "none")


def knob(default: Any, help: str, *, choices: tuple | None = None,
         low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> Any:
    """A config field with its default, a one-line help and what values are allowed."""
    meta = dict(help=help, choices=choices, low=low, high=high,
                low_open=low_open, high_open=high_open)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Every trainable knob, validated; defaults are the built-in default run."""

    # -- data ---------------------------------------------------------------------------
    dataset: str = knob("synthetic", "'synthetic' (built in), or data on disk: "
                        "'folder:PATH' (PATH/images/* and PATH/masks/* paired by file stem), "
                        "'oxford-pet:PATH', 'isic:PATH' or 'csv:FILE' (docs/datasets.md)")
    synthetic_images: int = knob(256, "images in the synthetic pool (256: 10 optimizer "
                                 "steps per epoch at the default split and batch size)",
                                 low=12, high=100_000)
    image_size: int = knob(64, "images are resized to image_size x image_size pixels; "
                           "a multiple of 32 keeps every architecture happy", low=16, high=4096)
    val_fraction: float = knob(0.2, "share of the pool held out for validation "
                               "(the same images in every trial)", low=0, high=1,
                               low_open=True, high_open=True)
    test_fraction: float = knob(0.2, "share of the pool held out for the final test",
                                low=0, high=1, high_open=True)
    train_fraction: float = knob(1.0, "share of the train part actually trained on "
                                 "(1.0: all of it; the split studies vary it)", low=0, high=1,
                                 low_open=True)
    split_seed: int = knob(0, "seed of the train/validation/test split; keep it fixed "
                           "within a study so that scores are comparable", low=0)
    foreground_values: str = knob("", "mask values that count as foreground when masks "
                                  "have more than two values: '255', '1,2', or '>127'")
    images_dir: str = knob("images", "folder datasets: the subfolder of PATH with the images")
    masks_dir: str = knob("masks", "folder datasets: the subfolder of PATH with the masks; "
                          "several separated by commas are merged (left,right lung masks)")
    mask_pattern: str = knob("{stem}|{stem}_mask", "folder datasets: a mask's file name "
                             "for an image's {stem}, any image extension; alternatives "
                             "separated by '|', the first found wins")
    trimap_border: str = knob("foreground", "oxford-pet: the trimaps' border (value 3) "
                              "counts as the pet or as background",
                              choices=("foreground", "background"))
    resize: str = knob("squash", "to image_size x image_size: 'squash' (aspect not kept) "
                       "or 'pad' (aspect kept, black borders, background in masks)",
                       choices=("squash", "pad"))
    max_image_pixels: int = knob(100_000_000, "larger images are refused (PIL's "
                                 "decompression-bomb guard); raise it for trusted files",
                                 low=1)
    normalize: str = knob("auto", "input normalisation: 'zscore' with the training images' "
                          "own channel statistics, 'imagenet' statistics (what pretrained "
                          "encoders saw), 'none'; 'auto': imagenet with pretrained encoder "
                          "weights, else zscore", choices=NORMALIZE)
    augment: str = knob("flip", "augmentation of the train images each epoch "
                        "(albumentations): 'flip' horizontal flips (safe for X-rays, pets, "
                        "street scenes), 'vflip' vertical, 'flips' both (top-down images: "
                        "microscopy, dermoscopy, aerial)", choices=AUGMENTS)
    n_aug: int = knob(0, "augmented copies of the train set added once per trial",
                      low=0, high=100)
    seed: int = knob(0, "seed of weights, shuffling and augmentation (repeats change it)",
                     low=0)
    # -- model --------------------------------------------------------------------------
    arch: str = knob("unet", "'unet' (the classic paper UNet) or an smp architecture",
                     choices=("unet", *SMP_ARCHS))
    encoder: str = knob("resnet34", "smp encoder of smp architectures (ignored by 'unet')")
    encoder_weights: str = knob("none", "'none', 'imagenet' (the local cache that 'tuner "
                                "weights fetch ENCODER' fills), a weights file, or a folder "
                                "of <encoder>.safetensors files")
    freeze_encoder: bool = knob(False, "train only the decoder and head")
    base_channels: int = knob(16, "width of the first classic-UNet level (paper: 64)",
                              low=1, high=512)
    batchnorm: bool = knob(True, "batch normalisation in the classic UNet")
    dropout: float = knob(0.0, "dropout probability in the classic UNet / smp head",
                          low=0, high=1, high_open=True)
    head: str = knob("sigmoid1", "'sigmoid1': one logit; 'softmax2': two softmax channels",
                     choices=("sigmoid1", "softmax2"))
    # -- optimisation -------------------------------------------------------------------
    optimizer: str = knob("adam", "optimizer", choices=OPTIMIZERS)
    lr: float = knob(1e-3, "learning rate (peak rate for onecycle/cyclic)",
                     low=0, high=10, low_open=True)
    momentum: float = knob(0.9, "momentum of sgd and rmsprop", low=0, high=1, high_open=True)
    nesterov: bool = knob(False, "Nesterov momentum for sgd")
    weight_decay: float = knob(0.0, "L2 penalty (decoupled for adamw)", low=0, high=1)
    scheduler: str = knob("none", "learning-rate schedule", choices=SCHEDULERS)
    step_size: int = knob(5, "epochs per step (step) or per half cycle (cyclic)", low=1)
    gamma: float = knob(0.5, "lr factor of step and plateau", low=0, high=1,
                        low_open=True, high_open=True)
    plateau_patience: int = knob(2, "epochs without validation-loss progress before "
                                 "plateau lowers the lr", low=0)
    min_lr: float = knob(1e-6, "floor of cosine/plateau, bottom of cyclic", low=0)
    batch_size: int = knob(16, "mini-batch size", low=1, high=4096)
    epochs: int = knob(15, "training epochs", low=1, high=100_000)
    early_stop_patience: int = knob(0, "stop after this many epochs without a better "
                                    "validation Dice and restore the best weights "
                                    "(0: off)", low=0)
    # -- loss ---------------------------------------------------------------------------
    loss: str = knob("bce_dice", "loss function", choices=LOSSES)
    bce_weight: float = knob(0.5, "weight of BCE in bce_dice (Dice gets 1 - bce_weight)",
                             low=0, high=1)
    switch_threshold: float = knob(0.1, "switching loss: foreground fraction of the batch "
                                   "that separates 'sparse' from 'dense' batches",
                                   low=0, high=1, low_open=True, high_open=True)
    switch_weight_sparse: float = knob(0.9, "switching loss: weight of foreground Dice in "
                                       "sparse batches", low=0, high=1)
    switch_weight_dense: float = knob(0.5, "switching loss: weight of foreground Dice in "
                                      "dense batches", low=0, high=1)
    focal_gamma: float = knob(2.0, "focusing exponent of the focal loss", low=0, high=10)
    focal_alpha: float = knob(0.25, "foreground weight of the focal loss", low=0, high=1)
    tversky_alpha: float = knob(0.5, "Tversky weight of false positives", low=0, high=1)
    tversky_beta: float = knob(0.5, "Tversky weight of false negatives", low=0, high=1)
    threshold: float = knob(0.5, "probability above which a pixel is predicted foreground",
                            low=0, high=1, low_open=True, high_open=True)
    # -- run ----------------------------------------------------------------------------
    precision: str = knob("auto", "'auto': bf16 autocast where the CPU/GPU has it, else "
                          "fp32; or force fp32 | bf16 | fp16",
                          choices=("auto", "fp32", "bf16", "fp16"))
    device: str = knob("auto", "'auto' picks CUDA when present", choices=("auto", "cpu", "cuda"))
    threads: int = knob(0, "torch threads of this worker (0: leave torch's default)", low=0)
    channels_last: bool = knob(True, "channels_last memory format (1.15-1.2x fp32 images/s "
                               "with the classic UNet on this project's CPUs: "
                               "bench/RESULTS.md, CPU levers)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))
        if self.val_fraction + self.test_fraction >= 1:
            raise TunerError(
                f"config fields val_fraction + test_fraction: got {self.val_fraction} + "
                f"{self.test_fraction}, expected a sum below 1 so that images are left to train"
            )
        kind, colon, _ = self.dataset.partition(":")
        if self.dataset != "synthetic" and not (colon and kind in DATASET_KINDS):
            raise TunerError(
                f"config field 'dataset': got {self.dataset!r}, expected 'synthetic' or "
                + ", ".join(f"'{kind}:PATH'" for kind in DATASET_KINDS)
            )

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a dict, rejecting unknown keys (``source`` says where they came from)."""
        unknown = [k for k in values if k not in FIELDS]
        if unknown:
            raise TunerError(_unknown_message(unknown[0], source))
        return cls(**values)

    def replace(self, source: str = "config", **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and validated."""
        return TrainConfig.from_dict({**self.to_dict(), **changes}, source)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: the fields that say how a run computes, not what it trains (the "run" group above):
#: they may differ between the workers of one study and are no part of a winner
RUN_FIELDS = ("precision", "device", "threads", "channels_last")


def _unknown_message(key: str, source: str) -> str:
    close = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"{source}: unknown config field {key!r}{hint}; "
            "'tuner fields' lists the known ones")


def _checked(f: dataclasses.Field, value: Any) -> Any:
    """``value`` coerced to the field's type, or a TunerError naming field and allowed values."""
    name, kind, meta = f.name, f.type, f.metadata

    def fail(expected: str) -> TunerError:
        return TunerError(f"config field {name!r}: got {value!r}, expected {expected}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise fail("an integer")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("a number")
        value = float(value)
        if not math.isfinite(value):  # NaN passes every comparison below
            raise fail("a finite number")
    elif kind == "str" and not isinstance(value, str):
        raise fail("a string")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise fail("one of " + ", ".join(map(str, choices)))
    low, high = meta.get("low"), meta.get("high")
    too_low = low is not None and (value <= low if meta["low_open"] else value < low)
    too_high = high is not None and (value >= high if meta["high_open"] else value > high)
    if too_low or too_high:
        raise fail(_range_text(meta))
    return value


def _range_text(meta: Any) -> str:
    low, high = meta["low"], meta["high"]
    if high is None:
        return f"a value {'>' if meta['low_open'] else '>='} {low}"
    left = "(" if meta["low_open"] else "["
    right = ")" if meta["high_open"] else "]"
    return f"a value in {left}{low}, {high}{right}"


def parse_assignments(pairs: list[str], source: str = "--set") -> dict[str, Any]:
    """``["lr=3e-4", "loss=dice"]`` -> ``{"lr": 0.0003, "loss": "dice"}``, typed by field."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TunerError(f"{source}: got {pair!r}, expected key=value")
        if key not in FIELDS:
            raise TunerError(_unknown_message(key, source))
        out[key] = parse_value(key, text.strip())
    return out


def parse_value(key: str, text: str) -> Any:
    """Text from the command line typed as field ``key`` wants it."""
    kind = FIELDS[key].type
    try:
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        expected = {"bool": "true or false", "int": "an integer", "float": "a number"}[kind]
        raise TunerError(f"config field {key!r}: got {text!r}, expected {expected}") from None
    return text


def describe_fields() -> list[tuple[str, str, str, str]]:
    """(name, type, default, help + allowed values) for every field, for docs and the CLI."""
    rows = []
    for name, f in FIELDS.items():
        meta = f.metadata
        allowed = ""
        if meta.get("choices"):
            allowed = " [" + " | ".join(map(str, meta["choices"])) + "]"
        elif meta.get("low") is not None:
            allowed = " [" + _range_text(meta) + "]"
        rows.append((name, str(f.type), repr(f.default), meta["help"] + allowed))
    return rows
