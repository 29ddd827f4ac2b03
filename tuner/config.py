"""`TrainConfig`: the one vocabulary of every knob a trial can change.

A study's search space, a study file's ``base`` dict and ``--set key=value`` on the command
line all produce fields of this object. Every field is validated on construction: an
unknown name or a value outside what is allowed raises a one-line
:class:`~tuner.errors.TunerError` that names the field and the allowed values, before any
training starts. Layering is defaults -> study file -> command line (nanoGPT/timm habit).

Fields that name a component (``loss``, ``optimizer``, ``scheduler``, ``augment``, the kind
of ``dataset``) take their allowed names from the component's registry, imported when such
a field is given another value than its default (the registries own their names: adding a
loss is one registration). A component's own knobs are its options, in ``loss_options``
and ``data_options`` (``{component: {option: value}}``, declared by the component, checked
with the config, every component's whether it is the one chosen or not, and again when
it is built): ``--set loss_options.focal.gamma=3``, or in a space
``"loss_options.focal.gamma": float_range(1, 4)``. The flat names that releases before
kept for them (``focal_gamma``, ``masks_dir``, ...) are still read, from study files,
command lines and stored trials alike (:data:`LEGACY_OPTIONS`).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
from dataclasses import dataclass, field
from typing import Any

from tuner.errors import TunerError

#: smp architectures accepted by ``arch`` besides the classic ``unet`` (names as in
#: ``segmentation_models_pytorch``; checked without importing smp).
SMP_ARCHS = ("Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet", "DeepLabV3",
             "DeepLabV3Plus", "PAN", "UPerNet", "Segformer", "DPT")
NORMALIZE = ("auto", "zscore", "imagenet", "none")
#: fields whose value names an entry of a registry: field -> (module, registry)
REGISTRY_FIELDS = {
    "loss": ("tuner.training.losses", "LOSSES"),
    "optimizer": ("tuner.training.optim", "OPTIMIZERS"),
    "scheduler": ("tuner.training.optim", "SCHEDULERS"),
    "augment": ("tuner.data.augment", "AUGMENTATIONS"),
}
#: the registry of dataset adapters (the ``KIND`` of ``dataset``)
DATASETS_REGISTRY = ("tuner.data.adapters", "DATASETS")
#: fields holding components' options: field -> (module, registry) of those components
OPTION_FIELDS = {"loss_options": REGISTRY_FIELDS["loss"], "data_options": DATASETS_REGISTRY}
#: the flat names of components' options in earlier releases (read from study files,
#: command lines and stored trials): name -> (options field, components, option)
LEGACY_OPTIONS = {
    "bce_weight": ("loss_options", ("bce_dice", "inv_dice_bce"), "bce_weight"),
    "switch_threshold": ("loss_options", ("switching",), "threshold"),
    "switch_weight_sparse": ("loss_options", ("switching",), "weight_sparse"),
    "switch_weight_dense": ("loss_options", ("switching",), "weight_dense"),
    "focal_gamma": ("loss_options", ("focal",), "gamma"),
    "focal_alpha": ("loss_options", ("focal",), "alpha"),
    "tversky_alpha": ("loss_options", ("tversky",), "alpha"),
    "tversky_beta": ("loss_options", ("tversky",), "beta"),
    "synthetic_images": ("data_options", ("synthetic",), "images"),
    "images_dir": ("data_options", ("folder",), "images_dir"),
    "masks_dir": ("data_options", ("folder",), "masks_dir"),
    "mask_pattern": ("data_options", ("folder",), "mask_pattern"),
    "trimap_border": ("data_options", ("oxford-pet",), "trimap_border"),
    "foreground_values": ("data_options", ("folder", "isic", "csv"), "foreground_values"),
}  # fmt: skip


def registry(module: str, name: str):
    """The registry ``name`` of ``module`` (imported now: only when a field needs it)."""
    return getattr(importlib.import_module(module), name)


def knob(default: Any, help: str, *, choices: tuple | None = None,
         low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> Any:
    """A config field with its default, a one-line help and what values are allowed."""
    meta = dict(help=help, choices=choices, low=low, high=high,
                low_open=low_open, high_open=high_open)
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Every trainable knob, validated; defaults are the built-in default run."""

    # -- data ---------------------------------------------------------------------------
    dataset: str = knob("synthetic", "'synthetic' (built in), or data on disk as KIND:PATH "
                        "of a dataset adapter, e.g. 'folder:PATH' (PATH/images/* and "
                        "PATH/masks/* paired by file stem); docs/datasets.md")
    image_size: int = knob(64, "images are resized to image_size x image_size pixels; "
                           "a multiple of 32 keeps every architecture happy", low=16, high=4096)
    val_fraction: float = knob(0.2, "share of the pool held out for validation (the same "
                               "images in every trial; unused with folds > 1)", low=0, high=1,
                               low_open=True, high_open=True)
    test_fraction: float = knob(0.2, "share of the pool held out for the final test",
                                low=0, high=1, high_open=True)
    train_fraction: float = knob(1.0, "share of the train part actually trained on "
                                 "(1.0: all of it; the split studies vary it)", low=0, high=1,
                                 low_open=True)
    split_seed: int = knob(0, "seed of the train/validation/test split; keep it fixed "
                           "within a study so that scores are comparable", low=0)
    folds: int = knob(1, "k-fold cross-validation: each configuration trains once per fold of "
                      "the non-test images (val_fraction unused); docs/folds.md", low=1, high=100)
    fold: int = knob(0, "the fold that validates, 0 .. folds-1 (a study sets it per trial)", low=0)
    data_options: dict = knob({}, "options of dataset adapters, {adapter: {option: value}}: "
                              "images_dir, masks_dir, mask_pattern, foreground_values "
                              "(folder), trimap_border (oxford-pet), images (synthetic)... "
                              "('tuner fields' lists them all)")
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
                        "microscopy, dermoscopy, aerial)")
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
                                "of <encoder>.safetensors files; smp architectures only")
    freeze_encoder: bool = knob(False, "train only the decoder and head (smp architectures "
                                "only)")
    base_channels: int = knob(16, "width of the first classic-UNet level (paper: 64)",
                              low=1, high=512)
    batchnorm: bool = knob(True, "batch normalisation in the classic UNet")
    dropout: float = knob(0.0, "dropout probability in the classic UNet / smp head",
                          low=0, high=1, high_open=True)
    head: str = knob("sigmoid1", "'sigmoid1': one logit; 'softmax2': two softmax channels",
                     choices=("sigmoid1", "softmax2"))
    # -- optimisation -------------------------------------------------------------------
    optimizer: str = knob("adam", "optimizer")
    lr: float = knob(1e-3, "learning rate (peak rate for onecycle/cyclic)",
                     low=0, high=10, low_open=True)
    momentum: float = knob(0.9, "momentum of sgd and rmsprop", low=0, high=1, high_open=True)
    nesterov: bool = knob(False, "Nesterov momentum for sgd")
    weight_decay: float = knob(0.0, "L2 penalty (decoupled for adamw)", low=0, high=1)
    scheduler: str = knob("none", "learning-rate schedule")
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
    loss: str = knob("bce_dice", "loss function")
    loss_options: dict = knob({}, "options of losses, {loss: {option: value}}: bce_weight "
                              "(bce_dice), gamma and alpha (focal), alpha and beta (tversky)"
                              "... ('tuner fields' lists them all)")
    threshold: float = knob(0.5, "probability above which a pixel is predicted foreground",
                            low=0, high=1, low_open=True, high_open=True)
    # -- run ----------------------------------------------------------------------------
    precision: str = knob("auto", "'auto': bf16 autocast where the CPU/GPU has it, else "
                          "fp32; or force fp32 | bf16 | fp16",
                          choices=("auto", "fp32", "bf16", "fp16"))
    device: str = knob("auto", "'auto' picks CUDA when present", choices=("auto", "cpu", "cuda"))
    threads: int = knob(0, "torch threads of this worker (0: auto, the machine's physical "
                        "cores shared among the tuner processes training on it)", low=0)
    channels_last: bool = knob(True, "channels_last memory format (1.15-1.2x fp32 images/s, "
                               "classic UNet, this project's CPUs: bench/RESULTS.md)")
    checkpoints: bool = knob(True, "keep a running trial's last epoch: a resumed trial goes on")
    loader_workers: int = knob(-1, "processes augmenting train batches as the model trains "
                               "(same batches); -1: 0 on a CPU, <= 4 per GPU", low=-1, high=64)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))
        if self.fold >= self.folds:
            raise TunerError(f"config field 'fold': got {self.fold}, expected 0..{self.folds - 1}")
        if self.folds == 1 and self.val_fraction + self.test_fraction >= 1:
            raise TunerError(
                f"config fields val_fraction + test_fraction: got {self.val_fraction} + "
                f"{self.test_fraction}, expected a sum below 1 so that images are left to train"
            )
        for name, (module, held) in REGISTRY_FIELDS.items():
            value = getattr(self, name)
            if value != FIELDS[name].default and value not in registry(module, held):
                raise TunerError(f"config field {name!r}: got {value!r}, expected one of "
                                 + ", ".join(registry(module, held).names()))
        for name, (module, held) in OPTION_FIELDS.items():  # chosen components or not
            if getattr(self, name):
                registry(module, held).check_options(getattr(self, name), f"config field {name!r}")
        if self.dataset != "synthetic":
            _check_dataset(self.dataset)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a dict of fields, options (``loss_options.focal.gamma``) and their
        flat names of earlier releases, rejecting unknown keys (``source`` says where
        they came from)."""
        return cls(**nest_options(values, source))

    def replace(self, source: str = "config", **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and validated."""
        return TrainConfig.from_dict({**self.to_dict(), **changes}, source)

    def to_dict(self) -> dict[str, Any]:  # FOLD_FIELDS only with folds > 1
        out = dataclasses.asdict(self)
        return out if self.folds > 1 else {k: v for k, v in out.items() if k not in FOLD_FIELDS}


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: the fields that say how a run computes, not what it trains (the "run" group above):
#: they may differ between the workers of one study and are no part of a winner
RUN_FIELDS = ("precision", "device", "threads", "channels_last", "checkpoints", "loader_workers")
FOLD_FIELDS = ("folds", "fold")  # stored only with folds > 1: configs stored before stay alike


def nest_options(values: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """``values`` with options given by path (``loss_options.focal.gamma``) or by their
    flat names of earlier releases (``focal_gamma``) moved into their options field;
    a TunerError for a key that is none of these."""
    fields = {k: v for k, v in values.items() if k in FIELDS}
    nested = {name: {c: dict(o) for c, o in (fields.get(name) or {}).items()}
              if isinstance(fields.get(name), dict) else fields.get(name, {})
              for name in OPTION_FIELDS}
    for key, value in values.items():
        if key in FIELDS:
            continue
        if key in LEGACY_OPTIONS:
            target, components, option = LEGACY_OPTIONS[key]
        elif key.count(".") == 2 and key.split(".")[0] in OPTION_FIELDS:
            target, component, option = key.split(".")
            components = (component,)
        else:
            raise TunerError(_unknown_message(key, source))
        if not isinstance(nested[target], dict):
            continue  # the field itself is malformed: its own check names it
        for component in components:
            nested[target].setdefault(component, {})[option] = value
    return {**fields, **{k: v for k, v in nested.items() if v or k in fields}}


def option_keys() -> list[str]:
    """Every ``<options field>.<component>.<option>`` the registries declare (imports
    them: for ``tuner fields`` and the docs)."""
    return [row[0] for name, held in OPTION_FIELDS.items()
            for row in registry(*held).option_rows(name)]


def _check_dataset(dataset: str) -> None:
    """``KIND:PATH`` with a registered kind that takes a path."""
    kinds = registry(*DATASETS_REGISTRY)
    with_path = [c.name for c in kinds.components() if c.extra.get("takes_path")]
    kind, colon, _ = dataset.partition(":")
    if not (colon and kind in with_path):
        raise TunerError(f"config field 'dataset': got {dataset!r}, expected 'synthetic' or "
                         + ", ".join(f"'{kind}:PATH'" for kind in with_path))


def _unknown_message(key: str, source: str) -> str:
    close = difflib.get_close_matches(key, [*FIELDS, *LEGACY_OPTIONS], n=1)
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
    elif kind == "dict":
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, dict) for k, v in value.items()):
            raise fail("{component: {option: value}}")
        return {k: dict(v) for k, v in value.items()}
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
    """``["lr=3e-4", "loss=dice"]`` -> ``{"lr": 0.0003, "loss": "dice"}``, typed by field
    (options, whose types their components declare, as numbers, true/false, or text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TunerError(f"{source}: got {pair!r}, expected key=value")
        nest_options({key: None}, source)  # an unknown key fails here, with a hint
        out[key] = parse_value(key, text.strip())
    return out


def parse_value(key: str, text: str) -> Any:
    """Text from the command line typed as field ``key`` wants it."""
    if key not in FIELDS or key in OPTION_FIELDS:
        return _literal(text)
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


def _literal(text: str) -> Any:
    """An option's value from the command line: a number, true/false, or the text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def describe_fields() -> list[tuple[str, str, str, str]]:
    """(name, type, default, help + allowed values) for every field and, under each
    options field, every option its registry's components declare (``tuner fields`` and
    docs/fields.md; imports the registries)."""
    rows = []
    for name, f in FIELDS.items():
        meta = f.metadata
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        allowed = ""
        if name in REGISTRY_FIELDS or name == "dataset":
            kinds = registry(*(REGISTRY_FIELDS.get(name) or DATASETS_REGISTRY))
            names = kinds.names() if name != "dataset" else [
                c.name + (":PATH" if c.extra.get("takes_path") else "")
                for c in kinds.components()]
            allowed = " [" + " | ".join(names) + "]"
        elif meta.get("choices"):
            allowed = " [" + " | ".join(map(str, meta["choices"])) + "]"
        elif meta.get("low") is not None:
            allowed = " [" + _range_text(meta) + "]"
        rows.append((name, str(f.type), repr(default), meta["help"] + allowed))
        if name in OPTION_FIELDS:
            rows += registry(*OPTION_FIELDS[name]).option_rows(name)
    return rows
