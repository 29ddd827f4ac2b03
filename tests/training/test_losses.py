"""Every loss against a hand computation on 2x2 images, both heads, bf16 autocast."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from tuner import config
from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.training.losses import (
    LOSSES,
    SWITCH_SMOOTH,
    build_loss,
    foreground_logit,
    foreground_probability,
)

# one 2x2 image: logits z and target t, flattened row by row
Z = [2.0, -1.0, 0.5, -3.0]
T = [1.0, 0.0, 0.0, 1.0]


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def as_image(values: list[float], n: int = 1) -> torch.Tensor:
    """(n, 1, 2, 2) tensor from n * 4 values."""
    return torch.tensor(values, dtype=torch.float32).reshape(n, 1, 2, 2)


def loss_of(name: str, z=Z, t=T, n: int = 1, **fields) -> float:
    loss = build_loss(TrainConfig.from_dict({"loss": name, **fields}))
    return loss(as_image(z, n), as_image(t, n)).item()


def hand_bce(z=Z, t=T) -> float:
    terms = [-(ti * math.log(sig(zi)) + (1 - ti) * math.log(1 - sig(zi)))
             for zi, ti in zip(z, t, strict=True)]
    return sum(terms) / len(terms)


def hand_dice(z=Z, t=T) -> float:
    p = [sig(zi) for zi in z]
    inter = sum(pi * ti for pi, ti in zip(p, t, strict=True))
    return 1 - 2 * inter / (sum(p) + sum(t))


def test_the_config_takes_its_losses_and_their_options_from_the_registry():
    assert [config.TrainConfig(loss=name).loss for name in LOSSES] == LOSSES.names()
    with pytest.raises(TunerError, match="'loss': got 'nope', expected one of bce, dice"):
        config.TrainConfig(loss="nope")
    assert "loss_options.focal.gamma" in config.option_keys()
    rows = {row[0]: row for row in config.describe_fields()}
    assert rows["loss_options.tversky.beta"][1:3] == ("float", "0.5")


def test_unknown_name_lists_valid_names():
    with pytest.raises(TunerError, match="unknown loss 'nope'.*bce, dice, bce_dice"):
        build_loss(SimpleNamespace(loss="nope", head="sigmoid1", loss_options={}))


def test_options_are_checked_by_the_loss_that_declares_them():
    focal = config.TrainConfig.from_dict({"loss": "focal", "loss_options.focal.gamma": 3})
    z, t = as_image(Z), as_image(T)
    assert build_loss(focal)(z, t) != build_loss(focal.replace(loss_options={}))(z, t)
    with pytest.raises(TunerError, match="loss 'focal' has no option 'gama'; its options: "
                                         "gamma"):
        build_loss(focal.replace(loss_options={"focal": {"gama": 3}}))
    with pytest.raises(TunerError, match=r"loss 'focal' option 'gamma': got -1.0, expected a "
                                         r"value in \[0, 10\]"):
        build_loss(focal.replace(loss_options={"focal": {"gamma": -1}}))
    other = focal.replace(loss="dice")  # the focal options wait for a focal trial
    assert build_loss(other) is not None


def test_bce_matches_hand():
    assert loss_of("bce") == pytest.approx(hand_bce(), rel=1e-6)


def test_dice_is_one_score_over_the_whole_batch():
    z2, t2 = Z + [1.0, 1.0, -2.0, 0.0], T + [0.0, 1.0, 1.0, 1.0]
    whole = hand_dice(z2, t2)
    per_image_mean = (hand_dice(Z, T) + hand_dice(z2[4:], t2[4:])) / 2
    assert loss_of("dice", z2, t2, n=2) == pytest.approx(whole, rel=1e-6)
    assert abs(whole - per_image_mean) > 1e-3  # the two reductions really differ here


def test_dice_is_zero_on_a_batch_without_foreground():
    assert loss_of("dice", t=[0.0] * 4) == 0.0


def test_bce_dice_weights_its_parts():
    expected = 0.3 * hand_bce() + 0.7 * hand_dice()
    assert loss_of("bce_dice", bce_weight=0.3) == pytest.approx(expected, rel=1e-6)


def test_inv_dice_bce_uses_the_inverted_masks():
    q = [1 - sig(zi) for zi in Z]
    u = [1 - ti for ti in T]
    inv_dice = 1 - 2 * sum(a * b for a, b in zip(q, u, strict=True)) / (sum(q) + sum(u))
    expected = 0.4 * hand_bce() + 0.6 * inv_dice
    assert loss_of("inv_dice_bce", bce_weight=0.4) == pytest.approx(expected, rel=1e-6)


def test_iou_matches_hand():
    p = [sig(zi) for zi in Z]
    inter = sum(pi * ti for pi, ti in zip(p, T, strict=True))
    expected = 1 - inter / (sum(p) + sum(T) - inter)
    assert loss_of("iou") == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (0.0, 0.7), (3.0, 0.5)])
def test_focal_matches_hand(gamma, alpha):
    terms = []
    for zi, ti in zip(Z, T, strict=True):
        p_t = sig(zi) if ti else 1 - sig(zi)
        a_t = alpha if ti else 1 - alpha
        terms.append(-a_t * (1 - p_t) ** gamma * math.log(p_t))
    got = loss_of("focal", focal_gamma=gamma, focal_alpha=alpha)
    assert got == pytest.approx(sum(terms) / 4, rel=1e-5)


def test_tversky_weighs_false_positives_and_negatives():
    p = [sig(zi) for zi in Z]
    tp = sum(pi * ti for pi, ti in zip(p, T, strict=True))
    fp = sum(pi * (1 - ti) for pi, ti in zip(p, T, strict=True))
    fn = sum((1 - pi) * ti for pi, ti in zip(p, T, strict=True))
    expected = 1 - tp / (tp + 0.3 * fp + 0.7 * fn)
    got = loss_of("tversky", tversky_alpha=0.3, tversky_beta=0.7)
    assert got == pytest.approx(expected, rel=1e-6)
    assert loss_of("tversky") == pytest.approx(hand_dice(), rel=1e-6)  # 0.5/0.5 is Dice


def hand_switching(w: float, t: list[float]) -> float:
    s = SWITCH_SMOOTH
    p = [sig(zi) for zi in Z]
    fg = (2 * sum(a * b for a, b in zip(p, t, strict=True)) + s) / (sum(p) + sum(t) + s)
    q, u = [1 - a for a in p], [1 - b for b in t]
    bg = (2 * sum(a * b for a, b in zip(q, u, strict=True)) + s) / (sum(q) + sum(u) + s)
    return w * (1 - fg) + (1 - w) * (1 - bg)


def test_switching_sparse_batch_uses_the_sparse_weight():
    t = [1.0, 0.0, 0.0, 0.0]  # foreground fraction 0.25 < 0.3
    fields = dict(switch_threshold=0.3, switch_weight_sparse=0.9, switch_weight_dense=0.2)
    assert loss_of("switching", t=t, **fields) == pytest.approx(hand_switching(0.9, t), rel=1e-6)


def test_switching_dense_batch_uses_the_dense_weight():
    t = [1.0, 0.0, 0.0, 0.0]  # foreground fraction 0.25, not below 0.25 nor 0.2
    for threshold in (0.2, 0.25):
        fields = dict(switch_threshold=threshold, switch_weight_sparse=0.9,
                      switch_weight_dense=0.2)
        got = loss_of("switching", t=t, **fields)
        assert got == pytest.approx(hand_switching(0.2, t), rel=1e-6)
    assert hand_switching(0.2, t) != pytest.approx(hand_switching(0.9, t), rel=1e-3)


def test_ce2_is_two_class_cross_entropy_and_equals_bce():
    logits2 = torch.tensor([[0.3, -0.7], [1.0, 2.0], [-2.0, 0.0], [0.0, 0.4]]).T
    logits2 = logits2.reshape(1, 2, 2, 2)
    ce = 0.0
    for (z0, z1), ti in zip(logits2.reshape(2, 4).T.tolist(), T, strict=True):
        chosen = z1 if ti else z0
        ce += -(chosen - math.log(math.exp(z0) + math.exp(z1)))
    got = build_loss(TrainConfig(loss="ce2", head="softmax2"))(logits2, as_image(T))
    assert got.item() == pytest.approx(ce / 4, rel=1e-6)
    assert loss_of("ce2") == pytest.approx(loss_of("bce"), rel=1e-6)
    bce_of_difference = build_loss(TrainConfig(loss="bce"))(foreground_logit(logits2),
                                                            as_image(T))
    assert got.item() == pytest.approx(bce_of_difference.item(), rel=1e-6)


def test_foreground_probability_of_two_channels_is_the_softmax():
    logits2 = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    expected = torch.softmax(logits2, dim=1)[:, 1:2]
    torch.testing.assert_close(foreground_probability(logits2), expected)
    assert torch.equal(foreground_logit(logits2[:, :1]), logits2[:, :1])


def batch(seed: int = 0, n: int = 2, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z = 2 * torch.randn(n, 1, size, size, generator=gen)
    t = (torch.rand(n, 1, size, size, generator=gen) < 0.3).float()
    return z, t


@pytest.mark.parametrize("name", LOSSES.names())
def test_both_heads_agree_on_equivalent_logits(name):
    z, t = batch()
    offset = torch.randn_like(z)
    logits2 = torch.cat([offset, offset + z], dim=1)  # softmax2 logits with z1 - z0 == z
    one = build_loss(TrainConfig(loss=name, head="sigmoid1"))(z, t)
    two = build_loss(TrainConfig(loss=name, head="softmax2"))(logits2, t)
    assert one.item() == pytest.approx(two.item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("head", ["sigmoid1", "softmax2"])
@pytest.mark.parametrize("name", LOSSES.names())
def test_gradients_are_finite_even_for_extreme_logits(name, head):
    z, t = batch(1)
    z = z * 20  # saturated sigmoids
    t[0] = 0.0  # one image without foreground
    logits = z if head == "sigmoid1" else torch.cat([-z / 2, z / 2], dim=1)
    logits = logits.clone().requires_grad_(True)
    value = build_loss(TrainConfig(loss=name, head=head))(logits, t)
    value.backward()
    assert value.dim() == 0 and torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSSES.names())
def test_bf16_autocast_computes_in_float32(name):
    z, t = batch(2)
    z16 = z.bfloat16().requires_grad_(True)
    loss = build_loss(TrainConfig(loss=name))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(z16, t)
    value.backward()
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(loss(z16.detach().float(), t).item(), rel=1e-6)
    assert z16.grad.dtype == torch.bfloat16 and torch.isfinite(z16.grad.float()).all()


def test_shapes_are_checked():
    loss = build_loss(TrainConfig(loss="dice"))  # sigmoid1 head: one channel
    z, t = batch()
    with pytest.raises(ValueError, match="logits"):
        loss(torch.cat([z, z], dim=1), t)
    with pytest.raises(ValueError, match="target"):
        loss(z, t[:, 0])
