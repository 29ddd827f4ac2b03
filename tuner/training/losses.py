"""Loss functions by name: ``build_loss(cfg)`` returns the module that ``cfg.loss`` names.

Every loss is called as ``loss(logits, target)``:

- ``logits``: (N, C, H, W), C = 1 for the ``sigmoid1`` head, C = 2 for ``softmax2``;
- ``target``: (N, 1, H, W), float (or bool/int) with values in {0, 1};
- returns a scalar float32 tensor.

All losses work with either head through :func:`foreground_logit`: for two softmax
channels, softmax(z)[1] == sigmoid(z1 - z0) exactly, so each binary loss sees one
foreground logit per pixel and gives the same value for equivalent logits of either head.
Logits are cast to float32 first, so the losses are safe under bf16/fp16 autocast.

Where segmentation_models_pytorch has the loss, it is used as is (its semantics, checked
against smp 0.6 source):

- ``bce``: ``SoftBCEWithLogitsLoss`` without ignore index or label smoothing = the mean
  over all pixels of torch's BCE-with-logits.
- ``dice``, ``iou``, ``tversky``: ``DiceLoss`` / ``JaccardLoss`` / ``TverskyLoss`` in
  binary mode. The soft score is computed ONCE over the whole mini-batch (sums over all
  pixels of all images, not a mean of per-image scores), with ``smooth=0`` and the
  denominator clamped to ``eps=1e-7``; loss = 1 - score. When the batch has no foreground
  pixel smp sets the loss to 0 (no gradient): it treats Dice of an empty class as undefined.
  Tversky: TP / (TP + alpha FP + beta FN) with its options ``alpha`` / ``beta``
  (alpha = beta = 0.5 is Dice), smp's exponent gamma left at 1.
- ``focal``: ``FocalLoss`` in binary mode = mean over pixels of
  a_t (1 - p_t)^gamma BCE, a_t = ``alpha`` on foreground, 1 - ``alpha`` on background
  (RetinaNet's form).

Combinations, weighted by their option ``bce_weight`` (Dice part gets 1 - ``bce_weight``):

- ``bce_dice``: bce_weight * BCE + (1 - bce_weight) * Dice loss;
- ``inv_dice_bce``: bce_weight * BCE + (1 - bce_weight) * Dice loss of the inverted masks
  and inverted probabilities (1 - target vs 1 - p = sigmoid(-z)): Dice of the background,
  which rewards getting the large class right; its loss is 0 on batches with no background.

Hand-written, because smp has no equivalent: ``switching`` (:class:`SwitchingLoss`) and
``ce2`` (:class:`TwoClassCrossEntropy`, torch's ``cross_entropy`` over two channels).

Each loss is one registration below with its options (``loss_options.<loss>.<option>``,
checked when it is built): adding a loss is one registration here plus its test.
"""

from __future__ import annotations

import segmentation_models_pytorch.losses as smp_losses
import torch
import torch.nn.functional as F
from torch import nn

from tuner.config import TrainConfig
from tuner.registry import Option, Registry

#: name -> factory(channels, **options) -> loss module: every loss there is, with its options
LOSSES: Registry[nn.Module] = Registry("loss")

#: smoothing constant of the switching loss's soft Dice terms (see :class:`SwitchingLoss`)
SWITCH_SMOOTH = 1e-5


def foreground_logit(logits: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) foreground logit: ``logits`` itself for C = 1, z1 - z0 for C = 2.

    For two channels softmax(z)[1] = 1 / (1 + exp(z0 - z1)) = sigmoid(z1 - z0) exactly, so
    the sigmoid of this logit is the foreground probability of either head. The dtype is
    kept; cast to float32 first where precision matters (bf16 differences are coarse).
    """
    if logits.ndim != 4 or logits.shape[1] not in (1, 2):
        raise ValueError(f"logits must be (N, 1 or 2, H, W), got shape {tuple(logits.shape)}")
    if logits.shape[1] == 1:
        return logits
    return logits[:, 1:2] - logits[:, 0:1]


def foreground_probability(logits: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) probability that each pixel is foreground, for either head."""
    return torch.sigmoid(foreground_logit(logits))


def build_loss(cfg: TrainConfig) -> nn.Module:
    """The loss module named by ``cfg.loss`` with its options from ``cfg.loss_options``.

    Raises :class:`~tuner.errors.TunerError` listing the valid names for an unknown name,
    and naming the option for an unknown option or a bad value. The module checks that its
    logits have the channel count of ``cfg.head``.
    """
    return LOSSES.build(cfg.loss, cfg.loss_options.get(cfg.loss), args=(_head_channels(cfg),))


def _head_channels(cfg: TrainConfig) -> int:
    return 1 if cfg.head == "sigmoid1" else 2


def _checked(logits: torch.Tensor, target: torch.Tensor, channels: int) -> torch.Tensor:
    """``target`` as float32 after checking both shapes (programming errors: ValueError)."""
    if logits.ndim != 4 or logits.shape[1] != channels:
        raise ValueError(
            f"loss expects logits (N, {channels}, H, W) for this head, "
            f"got shape {tuple(logits.shape)}"
        )
    expected = (logits.shape[0], 1, *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"target must have shape {expected}, got {tuple(target.shape)}")
    return target.float()


class ForegroundLoss(nn.Module):
    """Weighted sum of binary losses, each called as ``term(z, t)`` on float32 tensors.

    ``z`` is the (N, 1, H, W) :func:`foreground_logit`, ``t`` the (N, 1, H, W) target.
    Terms with weight 0 are skipped (not computed).
    """

    def __init__(self, terms: list[tuple[float, nn.Module]], channels: int) -> None:
        super().__init__()
        kept = [(w, term) for w, term in terms if w != 0]
        if not kept:
            raise ValueError("a loss needs at least one term with a non-zero weight")
        self.weights = [float(w) for w, _ in kept]
        self.terms = nn.ModuleList(term for _, term in kept)
        self.channels = channels

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = _checked(logits, target, self.channels)
        z = foreground_logit(logits.float())
        total = self.weights[0] * self.terms[0](z, t)
        for w, term in zip(self.weights[1:], self.terms[1:], strict=True):
            total = total + w * term(z, t)
        return total


class InvertedDice(nn.Module):
    """smp binary Dice loss of the inverted masks: Dice(1 - t, sigmoid(-z) = 1 - p)."""

    def __init__(self) -> None:
        super().__init__()
        self.dice = smp_losses.DiceLoss(mode="binary")

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.dice(-z, 1.0 - t)


class SwitchingLoss(nn.Module):
    """Dice-based switching loss of Anand et al., MICCAI 2020 (arXiv 2008.03750).

    Per mini-batch, with p = sigmoid(z) the foreground probabilities, t the targets and
    sums over all pixels of all images of the batch (s = ``SWITCH_SMOOTH`` = 1e-5)::

        Dice_fg = (2 sum(p t) + s) / (sum(p) + sum(t) + s)
        Dice_bg = (2 sum((1 - p)(1 - t)) + s) / (sum(1 - p) + sum(1 - t) + s)
        f = mean(t)                                   # foreground fraction of the batch
        w = weight_sparse if f < threshold else weight_dense
        L = w (1 - Dice_fg) + (1 - w) (1 - Dice_bg)

    Sparse batches (little foreground) put more weight on the foreground Dice, dense ones
    shift it towards the background. ``s`` only makes 0/0 = 1 (an empty class predicted
    empty scores Dice 1); it is negligible against pixel counts. Unlike smp's DiceLoss, the
    foreground term is not zeroed on a batch without foreground: it is then ~1 with a tiny
    gradient and the background term does the work. The switch is taken with
    ``torch.where``, so no host synchronisation per batch.
    """

    def __init__(self, threshold: float, weight_sparse: float, weight_dense: float,
                 smooth: float = SWITCH_SMOOTH) -> None:
        super().__init__()
        self.threshold = threshold
        self.weight_sparse = weight_sparse
        self.weight_dense = weight_dense
        self.smooth = smooth

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p, q = torch.sigmoid(z), torch.sigmoid(-z)  # q = 1 - p without cancellation
        s = self.smooth
        dice_fg = (2 * (p * t).sum() + s) / (p.sum() + t.sum() + s)
        dice_bg = (2 * (q * (1 - t)).sum() + s) / (q.sum() + (1 - t).sum() + s)
        w = torch.where(t.mean() < self.threshold, self.weight_sparse, self.weight_dense)
        return w * (1 - dice_fg) + (1 - w) * (1 - dice_bg)


class TwoClassCrossEntropy(nn.Module):
    """Cross-entropy over two classes with torch's ``cross_entropy`` (mean over pixels).

    Uses the two softmax logits [z0, z1] as they are; a one-logit head z is treated as
    [0, z]. Since softmax is shift-invariant this equals BCE on z1 - z0 mathematically.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = _checked(logits, target, self.channels)
        z = logits.float()
        if self.channels == 1:
            z = torch.cat([torch.zeros_like(z), z], dim=1)
        return F.cross_entropy(z, t[:, 0].round().long())


def _bce() -> nn.Module:
    return smp_losses.SoftBCEWithLogitsLoss(ignore_index=None)


def _dice() -> nn.Module:
    return smp_losses.DiceLoss(mode="binary")


WEIGHT = Option("bce_weight", "float", 0.5, "weight of BCE (the Dice part gets 1 - it)",
                low=0, high=1)


@LOSSES.register("bce")
def _make_bce(channels: int) -> nn.Module:
    """Binary cross-entropy, the mean over all pixels."""
    return ForegroundLoss([(1.0, _bce())], channels)


@LOSSES.register("dice")
def _make_dice(channels: int) -> nn.Module:
    """Soft Dice over the whole mini-batch (smp)."""
    return ForegroundLoss([(1.0, _dice())], channels)


@LOSSES.register("bce_dice", options=(WEIGHT,))
def _make_bce_dice(channels: int, bce_weight: float) -> nn.Module:
    """BCE and soft Dice, weighted by bce_weight."""
    return ForegroundLoss([(bce_weight, _bce()), (1.0 - bce_weight, _dice())], channels)


@LOSSES.register("inv_dice_bce", options=(WEIGHT,))
def _make_inv_dice_bce(channels: int, bce_weight: float) -> nn.Module:
    """BCE and the soft Dice of the background, weighted by bce_weight."""
    return ForegroundLoss([(bce_weight, _bce()), (1.0 - bce_weight, InvertedDice())],
                          channels)


@LOSSES.register("switching", options=(
    Option("threshold", "float", 0.1, "foreground fraction of the batch that separates "
           "'sparse' from 'dense' batches", low=1e-6, high=1 - 1e-6),
    Option("weight_sparse", "float", 0.9, "weight of foreground Dice in sparse batches",
           low=0, high=1),
    Option("weight_dense", "float", 0.5, "weight of foreground Dice in dense batches",
           low=0, high=1)))
def _make_switching(channels: int, threshold: float, weight_sparse: float,
                    weight_dense: float) -> nn.Module:
    """Foreground and background soft Dice, weighted by how much foreground the batch has
    (written by hand: smp has no such loss)."""
    return ForegroundLoss([(1.0, SwitchingLoss(threshold, weight_sparse, weight_dense))],
                          channels)


@LOSSES.register("iou")
def _make_iou(channels: int) -> nn.Module:
    """Soft IoU (Jaccard) over the whole mini-batch (smp)."""
    return ForegroundLoss([(1.0, smp_losses.JaccardLoss(mode="binary"))], channels)


@LOSSES.register("focal", options=(
    Option("gamma", "float", 2.0, "focusing exponent", low=0, high=10),
    Option("alpha", "float", 0.25, "foreground weight", low=0, high=1)))
def _make_focal(channels: int, gamma: float, alpha: float) -> nn.Module:
    """Focal loss, RetinaNet's form (smp)."""
    return ForegroundLoss([(1.0, smp_losses.FocalLoss(mode="binary", alpha=alpha,
                                                      gamma=gamma))], channels)


@LOSSES.register("tversky", options=(
    Option("alpha", "float", 0.5, "weight of false positives", low=0, high=1),
    Option("beta", "float", 0.5, "weight of false negatives", low=0, high=1)))
def _make_tversky(channels: int, alpha: float, beta: float) -> nn.Module:
    """Tversky loss: TP / (TP + alpha FP + beta FN) (smp); alpha = beta = 0.5 is Dice."""
    return ForegroundLoss([(1.0, smp_losses.TverskyLoss(mode="binary", alpha=alpha,
                                                        beta=beta))], channels)


@LOSSES.register("ce2")
def _make_ce2(channels: int) -> nn.Module:
    """Cross-entropy over two softmax channels (with the softmax2 head)."""
    return TwoClassCrossEntropy(channels)
