"""precision=auto: the choice from CPU capabilities, the calibration, CUDA, and the reason."""

from __future__ import annotations

import pytest
import torch

from tests.tiny import TINY
from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.training import precision
from tuner.training.device import Runtime, resolve_runtime

CPU = torch.device("cpu")
AMX = {"architecture": "x86_64", "avx512_f": True, "avx512_bf16": True, "amx_bf16": True}
AVX512_BF16 = {"architecture": "x86_64", "avx512_f": True, "avx512_bf16": True,
               "amx_bf16": False}
#: the CPU of issue 9: AVX-512 without native bf16, where oneDNN's flag still says True
EMULATED = {"architecture": "x86_64", "avx512_f": True, "avx512_bf16": False,
            "amx_bf16": False}
AVX2 = {"architecture": "x86_64", "avx2": True}
ARM_BF16 = {"architecture": "arm64", "neon": True, "bf16": True}


@pytest.fixture
def cpu(monkeypatch):
    """Set the CPU's capabilities and the calibration's figures; records calibrations."""
    calls: list[TrainConfig] = []
    timings = {"fp32": 1.0, "bf16": 0.5}

    def fake_steps(cfg, precisions, steps):
        calls.append(cfg)
        return {p: timings[p] for p in precisions}

    monkeypatch.setattr(precision, "_CALIBRATIONS", {})
    monkeypatch.setattr(precision, "time_training_steps", fake_steps)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)

    def use(caps, **times):
        monkeypatch.setattr(precision, "cpu_capabilities", lambda: caps)
        timings.update(times)
        return calls

    return use


def test_amx_picks_bf16_without_calibrating(cpu):
    calls = cpu(AMX)
    choice = precision.choose_precision(TrainConfig(), CPU)
    assert (choice.precision, choice.dtype) == ("bf16", torch.bfloat16)
    assert "AMX-BF16" in choice.reason and calls == []


@pytest.mark.parametrize("caps", [EMULATED, AVX2, {}])
def test_no_native_bf16_picks_fp32_without_calibrating(cpu, monkeypatch, caps):
    calls = cpu(caps, bf16=0.1)  # even a (wrong) fast calibration is never asked
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True,
                        raising=False)  # oneDNN's flag says yes on AVX-512: not asked either
    choice = precision.choose_precision(TrainConfig(), CPU)
    assert (choice.precision, choice.dtype) == ("fp32", None)
    assert choice.reason.startswith("auto: ") and calls == []


def test_emulated_reason_names_the_missing_instructions(cpu):
    cpu(EMULATED)
    reason = precision.choose_precision(TrainConfig(), CPU).reason
    assert "AVX-512 without AVX512-BF16 or AMX" in reason


@pytest.mark.parametrize("caps", [AVX512_BF16, ARM_BF16])
def test_vector_bf16_is_calibrated_and_faster_bf16_wins(cpu, caps):
    calls = cpu(caps, fp32=1.0, bf16=0.5)
    choice = precision.choose_precision(TrainConfig(), CPU)
    assert choice.precision == "bf16" and len(calls) == 1
    assert "500 ms per step in bf16 vs 1000 ms in fp32" in choice.reason


def test_calibrated_bf16_must_beat_fp32_by_the_margin(cpu):
    cpu(AVX512_BF16, fp32=1.0, bf16=0.95)  # 5 % faster: within noise, fp32 is exact
    assert precision.choose_precision(TrainConfig(), CPU).precision == "fp32"


def test_calibration_once_per_model_shape(cpu):
    calls = cpu(AVX512_BF16)
    for cfg in (TrainConfig(), TrainConfig(lr=0.1, seed=5), TrainConfig(image_size=32)):
        precision.choose_precision(cfg, CPU)
    assert [c.image_size for c in calls] == [64, 32]  # lr and seed change no shape


def test_onednn_isa_cap_turns_amx_into_a_calibration(cpu, monkeypatch):
    calls = cpu(AMX, fp32=1.0, bf16=2.6)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    choice = precision.choose_precision(TrainConfig(), CPU)
    assert choice.precision == "fp32" and len(calls) == 1
    assert "capped at AVX512_CORE_VNNI" in choice.reason


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_explicit_precision_wins_on_the_cpu(cpu, asked):
    calls = cpu(EMULATED)
    choice = precision.choose_precision(TrainConfig(precision=asked), CPU)
    assert choice.precision == asked and calls == []
    assert choice.reason == f"precision={asked} was asked for"


def test_fp16_on_the_cpu_is_a_user_error():
    with pytest.raises(TunerError, match="'precision': got 'fp16', which needs CUDA"):
        resolve_runtime(TrainConfig(precision="fp16", device="cpu"))


@pytest.mark.parametrize(("capability", "expected"),
                         [((9, 0), "bf16"), ((8, 0), "bf16"), ((7, 5), "fp16"),
                          ((6, 1), "fp32")])
def test_cuda_auto_by_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    choice = precision.choose_precision(TrainConfig(), torch.device("cuda"))
    assert choice.precision == expected and "Some GPU" in choice.reason
    runtime = Runtime(torch.device("cuda"), choice.dtype, True, choice.reason)
    assert runtime.needs_grad_scaler == (expected == "fp16")


def test_runtime_says_and_records_why(cpu):
    cpu(EMULATED)
    runtime = resolve_runtime(TrainConfig(device="cpu"))
    assert runtime.precision == "fp32" and runtime.autocast_dtype is None
    assert runtime.describe().startswith("cpu fp32, channels_last (auto: AVX-512 without")
    assert runtime.as_record() == {"device": "cpu", "precision": "fp32",
                                   "precision_reason": runtime.precision_reason,
                                   "channels_last": True}


def test_real_calibration_times_both_and_leaves_the_seed_alone():
    cfg = TrainConfig.from_dict({k: v for k, v in TINY.items() if k != "synthetic_images"})
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    seconds = precision.time_training_steps(cfg, ("fp32", "bf16"), steps=1)
    assert set(seconds) == {"fp32", "bf16"} and all(s > 0 for s in seconds.values())
    assert torch.equal(torch.rand(3), expected)


def test_a_calibration_is_timed_once_per_machine_and_kept(cpu, monkeypatch):
    calls = cpu(AVX512_BF16, fp32=1.0, bf16=0.5)
    first = precision.choose_precision(TrainConfig(), CPU)
    monkeypatch.setattr(precision, "_CALIBRATIONS", {})  # another process on this machine
    again = precision.choose_precision(TrainConfig(), CPU)
    assert len(calls) == 1 and first == again
    assert precision.calibration_file().is_file()


def test_a_damaged_calibration_file_is_timed_again(cpu, monkeypatch):
    calls = cpu(AVX512_BF16, fp32=1.0, bf16=0.5)
    path = precision.calibration_file()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert precision.choose_precision(TrainConfig(), CPU).precision == "bf16"
    assert len(calls) == 1
