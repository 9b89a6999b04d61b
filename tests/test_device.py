"""Device choice: "auto" | "cpu" | "cuda" resolves, picks onnxruntime providers, and is recorded.

No test needs a GPU: "cuda" is checked to fail clearly where torch sees none
(and skipped where it does).
"""

import numpy as np
import pytest
import torch
from facecloak.cli import build_parser
from facecloak.cloak.config import CloakConfig
from facecloak.cloak.mask import CloakMask
from facecloak.cloak.methods import UniformNoise, faces_to_tensor, get_method
from facecloak.device import DEVICES, ort_providers, resolve_device
from facecloak.errors import FaceCloakError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: 'cuda' resolves")


def test_cpu_resolves_to_the_cpu_provider_only():
    assert resolve_device("cpu") == "cpu"
    assert ort_providers("cpu") == ["CPUExecutionProvider"]


def test_auto_follows_torch():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert ort_providers("auto")[-1] == "CPUExecutionProvider"


@no_gpu
def test_cuda_without_a_gpu_is_a_clear_error():
    for ask in (resolve_device, ort_providers):
        with pytest.raises(FaceCloakError, match="'cuda' was asked for.*no usable CUDA GPU.*--device cpu"):
            ask("cuda")
    with pytest.raises(FaceCloakError, match="'cuda'"):
        get_method("uniform", CloakConfig(device="cuda"), surrogates=[])


def test_unknown_device_is_refused():
    with pytest.raises(FaceCloakError, match="unknown device 'tpu'; valid: auto, cpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(FaceCloakError, match="unknown device"):
        CloakConfig(device="gpu")
    assert CloakConfig().device == "auto" and CloakConfig(device="cuda").device == "cuda"


def test_device_round_trips_through_the_mask_file(tmp_path):
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    cfg = CloakConfig(device="cpu", surrogates=("faceplugin",))
    mask = UniformNoise(cfg, surrogates=[]).fit(faces_to_tensor([face]), face0=face)
    assert mask.meta["device"] == "cpu"
    mask.save(tmp_path / "m.fcmask")
    back = CloakMask.load(tmp_path / "m.fcmask")
    assert back.meta["device"] == "cpu"
    np.testing.assert_allclose(back.delta, mask.delta, atol=0.02)  # stored as float16
    auto = UniformNoise(cfg.replace(device="auto"), surrogates=[]).fit(faces_to_tensor([face]), face0=face)
    assert auto.meta["device"] == resolve_device("auto")  # the device it ran on, not "auto"


def test_cli_takes_a_device_where_it_makes_sense():
    parser = build_parser()
    assert parser.parse_args(["enrol", "me.jpg", "--profile", "me", "--device", "cpu"]).device == "cpu"
    assert parser.parse_args(["cloak", "photos", "--profile", "me"]).device == "auto"
    assert parser.parse_args(["bench", "privacy", "--device", "cuda"]).device == "cuda"
    with pytest.raises(SystemExit):
        parser.parse_args(["cloak", "photos", "--profile", "me", "--device", "tpu"])
    assert set(DEVICES) == {"auto", "cpu", "cuda"}


@pytest.mark.models
def test_sessions_run_on_the_cpu_when_asked():
    from facecloak.cloak.surrogates import onnx_embedder, torch_surrogate
    from facecloak.faces import get_detector

    fr = onnx_embedder("faceplugin", "cpu")
    assert fr.session.get_providers() == ["CPUExecutionProvider"]
    assert onnx_embedder("faceplugin", "auto") is onnx_embedder("faceplugin", resolve_device("auto"))
    detector = get_detector("rfb", "cpu")
    assert detector.providers == ("CPUExecutionProvider",)
    assert detector._session.get_providers() == ["CPUExecutionProvider"]
    assert (get_detector("rfb", "auto") is detector) == (ort_providers("auto") == ["CPUExecutionProvider"])
    net = torch_surrogate("faceplugin", "cpu")
    assert all(b.device.type == "cpu" for b in net.buffers())


@pytest.mark.models
def test_detection_alone_does_not_load_torch():
    """Without onnxruntime's CUDA provider, "auto" needs no torch: cloaking a photo stays light."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from facecloak.faces import get_detector; "
            "get_detector('rfb', 'auto').detect(np.zeros((64, 64, 3), np.uint8)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == str("CUDAExecutionProvider" in ort_providers("auto"))


def test_engine_sessions_do_not_spin():
    """onnxruntime's workers must not busy-wait after a run: the cloak's other threads need
    the cores then (benchmarks/ort-spinning)."""
    from facecloak.device import ort_session_options

    opts = ort_session_options(2)
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.intra_op_num_threads == 2 and opts.log_severity_level == 3
