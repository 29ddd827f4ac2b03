"""Model building: shapes, parameter counts, encoder weights, freezing, config errors."""

from __future__ import annotations

import pytest
import torch

from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.training.models import ClassicUNet, build_model


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter elements of ``model``."""
    return (sum(p.numel() for p in model.parameters() if p.requires_grad),
            sum(p.numel() for p in model.parameters()))

smp = pytest.importorskip("segmentation_models_pytorch")

ENCODER = "mobilenet_v2"  # the smallest classic smp encoder (2.2 M), builds in 0.1 s


def smp_config(**fields) -> TrainConfig:
    return TrainConfig(**{"arch": "Unet", "encoder": ENCODER, "image_size": 32, **fields})


# -- classic UNet ----------------------------------------------------------------------------


@pytest.mark.parametrize("head, channels", [("sigmoid1", 1), ("softmax2", 2)])
@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize("size", [32, 48])
def test_unet_output_shape(head, channels, batchnorm, size):
    cfg = TrainConfig(head=head, batchnorm=batchnorm, base_channels=4, dropout=0.3,
                      image_size=size)
    model = build_model(cfg)
    assert isinstance(model, ClassicUNet)
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, channels, size, size)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == batchnorm


def test_unet_parameter_count_by_hand():
    # DoubleConv(i, o) without BN: 9*i*o + o + 9*o*o + o; up(h -> l): 4*h*l + l; head 1x1.
    def double(i, o):
        return 9 * i * o + 9 * o * o + 2 * o

    b = 4
    w = [b, 2 * b, 4 * b, 8 * b, 16 * b]
    down = double(3, w[0]) + sum(double(w[k], w[k + 1]) for k in range(4))
    up = sum(4 * w[k + 1] * w[k] + w[k] + double(2 * w[k], w[k]) for k in range(4))
    expected = down + up + (w[0] + 1)
    model = build_model(TrainConfig(base_channels=b, batchnorm=False))
    assert count_parameters(model) == (expected, expected)
    # the project's reference size (MEASURED.md): base 16 with BatchNorm, about 1.94 M
    trainable, total = count_parameters(build_model(TrainConfig(base_channels=16)))
    assert trainable == total == 1_942_577


def test_unet_dropout_at_the_bottom_only_in_training():
    model = ClassicUNet(base_channels=4, dropout=0.5, batchnorm=False)
    x = torch.randn(1, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x), model(x))  # no dropout at evaluation
    model.train()
    torch.manual_seed(0)
    a = model(x)
    assert not torch.equal(a, model(x))  # dropout draws differ in training
    dropouts = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == ["dropout"]
    without = ClassicUNet(base_channels=4, dropout=0.0, batchnorm=False).train()
    assert torch.equal(without(x), without(x))


def test_unet_rejects_image_size_not_divisible_by_16():
    with pytest.raises(TunerError, match="'image_size': got 40"):
        build_model(TrainConfig(image_size=40))


@pytest.mark.parametrize("fields, words", [
    (dict(encoder_weights="imagenet"), "config field 'encoder_weights': got 'imagenet', but "
                                       "arch 'unet' (the classic UNet) has no encoder; "
                                       "expected encoder_weights=none with arch=unet"),
    (dict(freeze_encoder=True), "config field 'freeze_encoder': got True, but arch 'unet'"),
])
def test_encoder_fields_asked_of_the_classic_unet_are_refused(fields, words):
    from tuner.training.models import model_check_key

    cfg = TrainConfig(image_size=32, **fields)
    with pytest.raises(TunerError) as caught:
        build_model(cfg)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert model_check_key(cfg) != model_check_key(TrainConfig(image_size=32))  # checked
    assert isinstance(build_model(cfg.replace(encoder="resnet18", **{  # encoder: ignored
        k: TrainConfig().to_dict()[k] for k in fields})), ClassicUNet)


# -- smp architectures -----------------------------------------------------------------------


@pytest.mark.parametrize("head, channels", [("sigmoid1", 1), ("softmax2", 2)])
def test_smp_unet_output_shape(head, channels):
    model = build_model(smp_config(head=head))
    assert isinstance(model, smp.Unet)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, channels, 32, 32)
    assert model.training


def test_smp_timm_universal_encoder():
    model = build_model(smp_config(arch="FPN", encoder="tu-test_efficientnet", image_size=64))
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_smp_dropout_before_the_head():
    model = build_model(smp_config(dropout=0.25))
    first = model.segmentation_head[0]
    assert isinstance(first, torch.nn.Dropout2d) and first.p == 0.25
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 1, 32, 32)


def test_freeze_encoder_trains_only_decoder_and_head():
    torch.manual_seed(0)
    model = build_model(smp_config(freeze_encoder=True))
    trainable, total = count_parameters(model)
    encoder_size = sum(p.numel() for p in model.encoder.parameters())
    assert trainable == total - encoder_size
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    decoder_before = {k: v.clone() for k, v in model.decoder.state_dict().items()}
    model.train()
    assert not model.encoder.training and model.decoder.training
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    out = model(torch.randn(2, 3, 32, 32))
    out.square().mean().backward()
    optimizer.step()
    # weights and BatchNorm running statistics of the encoder: untouched
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key
    changed = [k for k, v in model.decoder.state_dict().items()
               if not torch.equal(v, decoder_before[k])]
    assert changed
    model.eval()
    model.train()
    assert not model.encoder.training


def test_local_encoder_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    source = build_model(smp_config())
    plain, whole = tmp_path / "encoder.pth", tmp_path / "checkpoint.pth"
    torch.save(source.encoder.state_dict(), plain)
    torch.save({"epoch": 3, "state_dict": source.state_dict()}, whole)  # "encoder." keys
    for file in (plain, whole):
        torch.manual_seed(2)
        model = build_model(smp_config(encoder_weights=str(file)))
        for key, value in source.encoder.state_dict().items():
            assert torch.equal(model.encoder.state_dict()[key], value), (file.name, key)
        assert not torch.equal(model.decoder.blocks[0].conv1[0].weight,
                               source.decoder.blocks[0].conv1[0].weight)


def test_local_encoder_weights_errors(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(TunerError, match="nowhere.pth"):
        build_model(smp_config(encoder_weights=str(missing)))
    wrong = tmp_path / "wrong.pth"
    torch.save({"foo.weight": torch.zeros(2), "bar.bias": torch.zeros(2)}, wrong)
    n_keys = len(build_model(smp_config()).encoder.state_dict())
    with pytest.raises(TunerError, match=rf"wrong.pth.*{n_keys} missing, 2 unexpected"):
        build_model(smp_config(encoder_weights=str(wrong)))
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("not a checkpoint")
    with pytest.raises(TunerError, match="garbage.pth"):
        build_model(smp_config(encoder_weights=str(garbage)))


def _no_download(*args, **kwargs):
    raise AssertionError("nothing may download in tests")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty ImageNet weights cache in tmp_path; any download attempt fails the test."""
    import timm.models._builder

    monkeypatch.setenv("TUNER_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(smp.encoders, "hf_hub_download", _no_download)
    monkeypatch.setattr(timm.models._builder, "load_pretrained", _no_download)
    return tmp_path / "weights" / "imagenet"


@pytest.mark.parametrize("encoder", [ENCODER, "tu-test_efficientnet"])
def test_imagenet_without_a_cache_names_the_fetch_command(cache, encoder):
    with pytest.raises(TunerError) as caught:
        build_model(smp_config(encoder=encoder, encoder_weights="imagenet"))
    message = str(caught.value)
    assert "\n" not in message and str(cache) in message
    assert f"run 'tuner weights fetch {encoder}' where the network is reachable" in message


def test_imagenet_loads_a_fake_cache_file_offline(cache):
    from safetensors.torch import save_file

    torch.manual_seed(3)
    source = build_model(smp_config()).encoder.state_dict()
    cache.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in source.items()}, cache / f"{ENCODER}.safetensors")
    torch.manual_seed(4)
    model = build_model(smp_config(encoder_weights="imagenet", freeze_encoder=True))
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in source.items())
    # a folder of weights files works the same way, for several encoders at once
    again = build_model(smp_config(encoder_weights=str(cache)))
    assert all(torch.equal(again.encoder.state_dict()[k], v) for k, v in source.items())
    from tuner.training.models import has_encoder_weights

    assert has_encoder_weights(ENCODER, "imagenet") and has_encoder_weights(ENCODER, str(cache))
    assert not has_encoder_weights("resnet34", "imagenet")
    assert not has_encoder_weights(ENCODER, "none")
    with pytest.raises(TunerError, match=r"folder .* has no resnet34\.safetensors"):
        build_model(smp_config(encoder="resnet34", encoder_weights=str(cache)))


def test_fetch_command_stores_weights_in_the_cache(cache, tmp_path, monkeypatch):
    """`tuner weights fetch` through smp's own download, here served by a local file."""
    from safetensors.torch import save_file
    from typer.testing import CliRunner

    from tuner.cli.weights import app

    torch.manual_seed(5)
    hub_file = tmp_path / "model.safetensors"
    published = build_model(smp_config()).encoder.state_dict()
    save_file({k: v.contiguous() for k, v in published.items()}, hub_file)
    monkeypatch.setattr(smp.encoders, "hf_hub_download", lambda *a, **k: str(hub_file))
    runner = CliRunner()
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "0 encoder(s)" in result.output
    result = runner.invoke(app, ["fetch", ENCODER])
    assert result.exit_code == 0, result.output
    assert (cache / f"{ENCODER}.safetensors").is_file()
    result = runner.invoke(app, ["list"])
    assert "1 encoder(s)" in result.output and ENCODER in result.output
    model = build_model(smp_config(encoder_weights="imagenet"))
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in published.items())


def test_fetch_errors_are_one_line_with_exit_2(cache):
    from typer.testing import CliRunner

    from tuner.cli.weights import app

    result = CliRunner().invoke(app, ["fetch", ENCODER])  # the download fails
    assert result.exit_code == 2 and "could not download the ImageNet weights" in result.output
    result = CliRunner().invoke(app, ["fetch", "mobilenet_v9"])
    assert result.exit_code == 2 and "'encoder': got 'mobilenet_v9'" in result.output


def test_imagenet_with_an_impossible_pair_names_the_pair(cache):
    with pytest.raises(TunerError, match="arch='DPT', encoder='mobilenet_v2'"):
        build_model(smp_config(arch="DPT", encoder_weights="imagenet"))


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(TunerError, match="'encoder': got 'mobilenet_v9'.*mobilenet_v2"):
        build_model(smp_config(encoder="mobilenet_v9"))
    with pytest.raises(TunerError, match="timm has no model 'no_such_net'"):
        build_model(smp_config(encoder="tu-no_such_net"))


def test_smp_image_size_checks():
    with pytest.raises(TunerError, match="'image_size': got 48, expected a multiple of 32"):
        build_model(smp_config(arch="FPN", image_size=48))
    with pytest.raises(TunerError, match="'image_size': got 64, too small for arch 'PAN'"):
        build_model(smp_config(arch="PAN", image_size=64))


def test_encoder_study_freezes_only_pretrained_encoders(cache, monkeypatch, capsys):
    """studies/encoder.py: without weights, no frozen variant and a one-line note; with a
    cached file for each of its encoders, frozen and fine-tuned variants on ImageNet."""
    from pathlib import Path

    from tuner.study.spec import load_spec

    study_file = Path(__file__).resolve().parents[2] / "studies" / "encoder.py"
    spec = load_spec(study_file)
    note = capsys.readouterr().err.strip()
    assert "\n" not in note and "frozen variants are left out" in note
    assert "tuner weights fetch resnet34 mobilenet_v2" in note
    assert spec.base["encoder_weights"] == "none"
    assert {p["freeze_encoder"] for p in spec.grid_points()} == {False}
    cache.mkdir(parents=True)
    for encoder in ("resnet34", "mobilenet_v2"):
        (cache / f"{encoder}.safetensors").write_bytes(b"only its presence is checked here")
    spec = load_spec(study_file)
    assert capsys.readouterr().err == ""
    assert spec.base["encoder_weights"] == "imagenet"
    points = spec.grid_points()
    assert len(points) == 12 and {p["freeze_encoder"] for p in points} == {False, True}
    assert {p["encoder"] for p in points} == {"resnet34", "mobilenet_v2"}
    elsewhere = {"encoder_weights": str(cache.parent / "elsewhere")}  # the run's --set
    assert load_spec(study_file, overrides=elsewhere).base["encoder_weights"] == "none"
