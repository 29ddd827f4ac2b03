"""Segmentation networks by config: the classic paper UNet, or any smp architecture.

:func:`build_model` turns a :class:`~tuner.config.TrainConfig` into a ``torch.nn.Module``
that maps images ``(N, 3, H, W)`` (float) to logits ``(N, C, H, W)``, with ``C = 1`` for
``head="sigmoid1"`` and ``C = 2`` for ``head="softmax2"``. The loss and the metrics apply
the sigmoid / softmax; the model returns raw logits.

- ``arch="unet"``: :class:`ClassicUNet`, written here because segmentation_models_pytorch
  (smp) has no classic UNet: its ``Unet`` is an encoder-decoder on a classification
  backbone (ResNet, MobileNet, ...), not the network of Ronneberger et al. 2015.
- any other ``arch`` (:data:`tuner.config.SMP_ARCHS`): ``smp.create_model`` with
  ``cfg.encoder``; encoder weights come from nowhere (``"none"``), a local file, a folder
  of files named after their encoder, or (``"imagenet"``) the local ImageNet cache that
  ``tuner weights fetch ENCODER`` fills where the network is reachable. Training never
  downloads: a study's workers all find the same weights, offline too.

``encoder``, ``encoder_weights`` and ``freeze_encoder`` concern smp architectures only.
The classic UNet has no encoder: ``encoder`` (which has a default) is ignored by it, but
``encoder_weights`` or ``freeze_encoder`` set with ``arch="unet"`` is refused in one line
(it asks for something the network cannot do, which a silent run would hide).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import torch
from torch import nn

from tuner.config import TrainConfig
from tuner.errors import TunerError

#: output channels per ``head``
HEAD_CHANNELS = {"sigmoid1": 1, "softmax2": 2}
#: the classic UNet pools four times, so its input side must be a multiple of 2**4
UNET_DIVISOR = 16
#: smp models are test-run once at image_size up to this side, to reject sizes that are
#: too small for the arch (PAN fails below 128 px) before a trial starts training
_DRY_RUN_MAX_SIZE = 256
_SIZES_THAT_RAN: set[tuple] = set()
#: where ``tuner weights fetch`` keeps ImageNet encoder weights (default: the user cache)
WEIGHTS_DIR_ENV = "TUNER_WEIGHTS_DIR"
#: weights files of a folder, tried in this order: ``<encoder><suffix>``
WEIGHTS_SUFFIXES = (".safetensors", ".pth", ".pt")
FETCH_COMMAND = "tuner weights fetch"


def model_check_key(cfg: TrainConfig) -> tuple:
    """The fields whose mistakes :func:`build_model` catches (unknown encoder, weights that
    cannot be had, a size the arch cannot take): one check per distinct key is enough."""
    return (cfg.arch, cfg.encoder, cfg.encoder_weights, cfg.freeze_encoder, cfg.head,
            cfg.image_size)


def build_model(cfg: TrainConfig) -> nn.Module:
    """The network of ``cfg``: images ``(N, 3, S, S)`` -> logits ``(N, C, S, S)``, S = image_size.

    Raises :class:`TunerError` for an unknown encoder, an arch/encoder pair smp cannot
    build, an image_size the arch cannot take, encoder weights that cannot be had, or
    encoder weights or freezing asked of the classic UNet (which has no encoder).
    """
    classes = HEAD_CHANNELS[cfg.head]
    if cfg.arch == "unet":
        _check_no_encoder_fields(cfg)
        if cfg.image_size % UNET_DIVISOR:
            raise TunerError(
                f"config field 'image_size': got {cfg.image_size}, expected a multiple of "
                f"{UNET_DIVISOR} for arch 'unet' (it halves the image four times)"
            )
        return ClassicUNet(classes=classes, base_channels=cfg.base_channels,
                           batchnorm=cfg.batchnorm, dropout=cfg.dropout)
    return _build_smp(cfg, classes)


def _check_no_encoder_fields(cfg: TrainConfig) -> None:
    """``encoder_weights`` / ``freeze_encoder`` asked of the classic UNet: one line."""
    for name, value, unset in (("encoder_weights", cfg.encoder_weights, "none"),
                               ("freeze_encoder", cfg.freeze_encoder, False)):
        if value != unset:
            raise TunerError(
                f"config field {name!r}: got {value!r}, but arch 'unet' (the classic UNet) "
                f"has no encoder; expected {name}={unset} with arch=unet, or an smp arch "
                "with an encoder (arch=Unet, FPN, ...)"
            )


# -- the classic UNet ------------------------------------------------------------------------


class DoubleConv(nn.Sequential):
    """Two 3x3 same-padding convolutions, each followed by (BatchNorm and) ReLU.

    The paper used unpadded convolutions and cropped the skip connections; same padding
    keeps the output the size of the input, which segmentation masks need here. Without
    BatchNorm the convolutions carry a bias; with it the bias would be redundant.
    """

    def __init__(self, in_channels: int, out_channels: int, batchnorm: bool) -> None:
        layers: list[nn.Module] = []
        for cin in (in_channels, out_channels):
            layers.append(nn.Conv2d(cin, out_channels, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ClassicUNet(nn.Module):
    """The UNet of Ronneberger et al. 2015 (MICCAI), with same padding and optional BatchNorm.

    Four levels down and four up with widths ``base_channels * (1, 2, 4, 8, 16)`` (paper:
    64 ... 1024): the contracting path is :class:`DoubleConv` + 2x2 max pooling per level;
    the expanding path is a 2x2 stride-2 transposed convolution that halves the channels,
    concatenation with the skip features of the same level ``[skip, up]``, and a
    :class:`DoubleConv`; a 1x1 convolution maps to ``classes`` logits.

    Dropout sits where the paper put it, "at the end of the contracting path": after the
    convolutions of the deepest contracting level (before its pooling, so its skip
    connection is dropped out too) and after the bottleneck convolutions, as in the
    authors' Caffe model. BatchNorm did not exist in 2015; it is on by default here because
    it trains much faster with Adam at the small batch sizes of a tuning run.

    Input ``(N, in_channels, H, W)`` with H and W multiples of 16; output
    ``(N, classes, H, W)`` logits. Without BatchNorm the convolutions start from He-normal
    weights and zero biases (the paper's choice: PyTorch's default init trained to 0.79-0.82
    best validation Dice there, He-normal to 0.87); with BatchNorm, which normalises the
    weights' scale away, from PyTorch's default init (0.900-0.906 over three seeds, against
    0.889-0.894 with He-normal, on the synthetic set at the default recipe).
    """

    def __init__(self, in_channels: int = 3, classes: int = 1, base_channels: int = 64,
                 batchnorm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        widths = [base_channels * m for m in (1, 2, 4, 8, 16)]
        ins = [in_channels, *widths[:-1]]
        self.down = nn.ModuleList(DoubleConv(i, o, batchnorm)
                                  for i, o in zip(ins, widths, strict=True))
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # (hi, lo) per level up: (16b, 8b), (8b, 4b), (4b, 2b), (2b, b)
        pairs = list(zip(widths[:0:-1], widths[-2::-1], strict=True))
        self.up = nn.ModuleList(nn.ConvTranspose2d(hi, lo, 2, stride=2) for hi, lo in pairs)
        self.up_conv = nn.ModuleList(DoubleConv(2 * lo, lo, batchnorm) for _, lo in pairs)
        self.head = nn.Conv2d(widths[0], classes, 1)
        for module in self.modules() if not batchnorm else ():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % UNET_DIVISOR or w % UNET_DIVISOR:
            raise ValueError(f"ClassicUNet needs H and W divisible by 16, got {h}x{w}")
        skips = []
        for level, block in enumerate(self.down[:-1]):
            x = block(x)
            if level == len(self.down) - 2:  # deepest contracting level
                x = self.dropout(x)
            skips.append(x)
            x = self.pool(x)
        x = self.dropout(self.down[-1](x))  # bottleneck
        for up, conv, skip in zip(self.up, self.up_conv, reversed(skips), strict=True):
            x = conv(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


# -- smp architectures -----------------------------------------------------------------------


def _build_smp(cfg: TrainConfig, classes: int) -> nn.Module:
    """smp model of ``cfg.arch`` / ``cfg.encoder`` with its weights, head dropout, freezing."""
    _check_encoder_name(cfg.encoder)
    model = _create_smp(cfg, classes, None)
    if cfg.encoder_weights != "none":
        file = weights_file(cfg.encoder, cfg.encoder_weights)
        load_encoder_weights(model.encoder, str(file), extra_ok=file != Path(cfg.encoder_weights))
    _check_image_size(cfg, model)
    if cfg.dropout > 0:
        # channel dropout on the decoder's output features, the input of the 1x1 head
        model.segmentation_head = nn.Sequential(nn.Dropout2d(cfg.dropout),
                                                model.segmentation_head)
    if cfg.freeze_encoder:
        _freeze_encoder(model)
    return model


def _check_encoder_name(name: str) -> None:
    import segmentation_models_pytorch as smp

    names = smp.encoders.get_encoder_names()
    if name in names:
        return
    if name.startswith("tu-"):
        import timm

        if timm.is_model(name[3:]):
            return
        raise TunerError(f"config field 'encoder': got {name!r}, but timm has no model "
                         f"{name[3:]!r} ('tu-' + a name from timm.list_models())")
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.5)
    examples = close or ["resnet18", "resnet34", "mobilenet_v2", "efficientnet-b0", "vgg16_bn"]
    raise TunerError(
        f"config field 'encoder': got {name!r}, expected an smp encoder such as "
        f"{', '.join(examples)} (all {len(names)}: smp.encoders.get_encoder_names()) "
        "or 'tu-' + a timm model name"
    )


def _create_smp(cfg: TrainConfig, classes: int, weights: str | bool | None) -> nn.Module:
    """``smp.create_model``; an arch/encoder pair smp refuses becomes a TunerError."""
    import segmentation_models_pytorch as smp

    try:
        return smp.create_model(cfg.arch, encoder_name=cfg.encoder, encoder_weights=weights,
                                in_channels=3, classes=classes)
    except (ValueError, KeyError, RuntimeError, TypeError, AttributeError) as err:
        raise TunerError(
            f"config fields arch={cfg.arch!r}, encoder={cfg.encoder!r}: smp cannot build "
            f"this pair ({_first_line(err)})"
        ) from err


# -- encoder weights: files, folders and the ImageNet cache -----------------------------------


def imagenet_dir() -> Path:
    """The ImageNet weights cache: ``$TUNER_WEIGHTS_DIR/imagenet``, by default under
    ``$XDG_CACHE_HOME`` (``~/.cache``) ``/tuner/weights/imagenet``."""
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if not root:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(cache) / "tuner" / "weights"
    return Path(root).expanduser() / "imagenet"


def weights_file(encoder: str, setting: str) -> Path:
    """The file that ``encoder_weights=setting`` loads into ``encoder``: the setting itself
    (a file), ``<encoder>.safetensors|.pth|.pt`` in it (a folder), or that file in
    :func:`imagenet_dir` (``"imagenet"``); a one-line error naming the way to get it."""
    if setting == "imagenet":
        found = _in_folder(imagenet_dir(), encoder)
        if found is None:
            raise TunerError(
                f"encoder_weights='imagenet': no cached ImageNet weights for {encoder} in "
                f"{imagenet_dir()}; run '{FETCH_COMMAND} {encoder}' where the network is "
                f"reachable (and copy that folder here, or point {WEIGHTS_DIR_ENV} at it)"
            )
        return found
    path = Path(setting).expanduser()
    if path.is_dir():
        found = _in_folder(path, encoder)
        if found is None:
            raise TunerError(f"config field 'encoder_weights': folder {path} has no "
                             f"{encoder}.safetensors (or .pth, .pt); expected one file per "
                             "encoder, named after it")
        return found
    if not path.is_file():
        raise TunerError(
            f"config field 'encoder_weights': got {setting!r}, expected 'none', 'imagenet', "
            "the path of an existing weights file, or a folder of <encoder>.safetensors files"
        )
    return path


def has_encoder_weights(encoder: str, setting: str) -> bool:
    """Whether ``encoder_weights=setting`` gives ``encoder`` pretrained weights (a file is
    taken on trust here; whether it fits is checked when the model is built)."""
    try:
        return setting != "none" and weights_file(encoder, setting).is_file()
    except TunerError:
        return False


def _in_folder(folder: Path, encoder: str) -> Path | None:
    files = (folder / f"{encoder}{suffix}" for suffix in WEIGHTS_SUFFIXES)
    return next((file for file in files if file.is_file()), None)


def fetch_imagenet(encoder: str) -> Path:
    """Download ``encoder``'s ImageNet weights (smp's hub copy, or timm's for ``tu-``
    encoders) and store its state dict in :func:`imagenet_dir`; returns the file."""
    import segmentation_models_pytorch as smp
    from safetensors.torch import save_file

    _check_encoder_name(encoder)
    if not encoder.startswith("tu-"):
        available = list(smp.encoders.encoders[encoder]["pretrained_settings"])
        if "imagenet" not in available:
            raise TunerError(f"encoder {encoder!r} has no ImageNet weights in smp (only "
                             f"{', '.join(available) or 'none'}); use a local weights file")
    try:
        module = smp.encoders.get_encoder(
            encoder, weights=True if encoder.startswith("tu-") else "imagenet")
    except Exception as err:
        raise TunerError(f"could not download the ImageNet weights of {encoder} "
                         f"({_first_line(err)}); is the network reachable?") from err
    folder = imagenet_dir()
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{encoder}.safetensors"
    state = {k: v.contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(file.with_suffix(".part")))
    file.with_suffix(".part").replace(file)  # whole or not at all
    return file


def load_encoder_weights(encoder: nn.Module, path: str, extra_ok: bool = False) -> None:
    """Load the weights file ``path`` into ``encoder`` (strictly: every key must match;
    ``extra_ok`` allows keys the encoder lacks, as a cache made at another depth has).

    Accepted: a plain state dict, a checkpoint dict holding one under ``"state_dict"``,
    as ``torch.save`` (``.pth``/``.pt``) or ``.safetensors``. Keys may carry a leading
    ``"encoder."`` (a whole smp model's state dict): then only those keys are used.
    Such a file comes from ``torch.save(model.encoder.state_dict(), path)`` on a machine
    that could download the weights, or is smp's own hub file (``model.safetensors``).
    """
    file = Path(path).expanduser()
    state = _read_state_dict(file)
    if any(key.startswith("encoder.") for key in state):
        state = {k.removeprefix("encoder."): v for k, v in state.items()
                 if k.startswith("encoder.")}
    expected = encoder.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [] if extra_ok else [k for k in state if k not in expected]
    state = {k: v for k, v in state.items() if k in expected}
    wrong_shape = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        example = (missing or unexpected or wrong_shape)[0]
        raise TunerError(
            f"encoder_weights file {file}: does not fit this encoder: {len(missing)} missing, "
            f"{len(unexpected)} unexpected and {len(wrong_shape)} wrongly shaped keys "
            f"(e.g. {example!r})"
        )
    encoder.load_state_dict(state)


def _read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file), device="cpu")
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TunerError(f"encoder_weights file {file}: cannot be read as a torch state dict "
                         f"({_first_line(err)})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not (isinstance(state, dict)
            and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise TunerError(f"encoder_weights file {file}: expected a state dict (name -> tensor) "
                         "or a checkpoint dict with one under 'state_dict'")
    return state


def _check_image_size(cfg: TrainConfig, model: nn.Module) -> None:
    """Reject an image_size the smp model cannot take: by smp's own rule, then by a test run."""
    stride = model.encoder.output_stride if model.requires_divisible_input_shape else 1
    where = f"arch {cfg.arch!r} with encoder {cfg.encoder!r}"
    if cfg.image_size % stride:
        raise TunerError(f"config field 'image_size': got {cfg.image_size}, expected a "
                         f"multiple of {stride} for {where}")
    key = model_check_key(cfg)
    if cfg.image_size > _DRY_RUN_MAX_SIZE or key in _SIZES_THAT_RAN:
        return  # a test run per process and size is enough: trials rebuild the same model
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, cfg.image_size, cfg.image_size))
    except RuntimeError as err:
        raise TunerError(f"config field 'image_size': got {cfg.image_size}, too small for "
                         f"{where} ({_first_line(err)})") from err
    finally:
        model.train()
    _SIZES_THAT_RAN.add(key)


def _freeze_encoder(model: nn.Module) -> None:
    """No gradients for the encoder and the encoder kept in eval mode for good.

    smp's ``freeze_encoder`` (smp >= 0.6) sets ``requires_grad=False``, puts the encoder's
    norm layers in eval mode and makes the model's ``train()`` skip the encoder from then
    on; putting the whole encoder in eval mode here also turns off its dropout and drop
    path, so a frozen encoder is a fixed function in training and evaluation alike.
    """
    if not hasattr(model, "freeze_encoder"):
        raise TunerError("config field 'freeze_encoder': needs segmentation-models-pytorch "
                         ">= 0.6 (pip install -U segmentation-models-pytorch)")
    model.freeze_encoder()
    model.encoder.eval()


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
