"""Face-recognition models, two ways: onnxruntime for inference, torch for gradients.

Both take aligned faces and return L2-normalised embeddings, and both apply
the preprocessing of the model's registry entry (size, colour order, value
range, layout), so callers never see a model's quirks:

    >>> fr = load_embedder("faceplugin")            # onnxruntime
    >>> emb = fr.embed_aligned(crops)                # (N, S, S, 3) uint8 RGB -> (N, D)
    >>> net = fr.torch_module()                      # differentiable
    >>> emb = net(x)                                 # (N, 3, S, S) float RGB in [0, 1] -> (N, D)

``S`` is ``fr.input_size``; `align_for` makes the crops from a photo and
five landmarks. dlib's ResNet is native (no ONNX, no gradients) and aligns
with its own 5-point predictor: it only ever serves as a black box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FaceCloakError
from .registry import Format, ModelSpec, Preprocess, get_spec
from .store import model_file, onnx_file


def normalise_np(x: np.ndarray, pre: Preprocess) -> np.ndarray:
    """(N, S, S, 3) RGB [0, 255] -> float32 model input (layout and channels per ``pre``)."""
    x = x.astype(np.float32)
    if pre.channels == "BGR":
        x = x[..., ::-1]
    if pre.standardize:
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(x[0].size))
        x = (x - mean) / std
    else:
        x = (x - pre.mean) / pre.std
    if pre.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


def normalise_torch(x: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """(N, 3, S, S) RGB [0, 1] -> model input, the torch twin of `normalise_np`."""
    x = x * 255.0
    if pre.channels == "BGR":
        x = x.flip(1)
    if pre.standardize:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        floor = 1.0 / float(np.sqrt(x[0].numel()))
        std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False).clamp_min(floor)
        x = (x - mean) / std
    else:
        x = (x - pre.mean) / pre.std
    if pre.layout == "NHWC":
        x = x.permute(0, 2, 3, 1)
    return x


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class TorchEmbedder(torch.nn.Module):
    """Differentiable embedder: (N, 3, S, S) RGB in [0, 1] -> (N, D) unit vectors.

    Inputs of another size are resized (bilinear, antialiased) to S first, so a
    112 px aligned crop can feed a 160 px model when both use the same template.
    """

    def __init__(self, spec: ModelSpec, onnx_path: Path):
        super().__init__()
        from .onnx_torch import OnnxModule

        self.spec = spec
        self.net = OnnxModule(onnx_path)
        self.net.eval()
        self.input_size = spec.preprocess.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.spec.name}: expected (N, 3, H, W) input, got {tuple(x.shape)}")
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        out = self.net(normalise_torch(x, self.spec.preprocess))
        return F.normalize(out.reshape(out.shape[0], -1), dim=1)


def optimization_level(spec: ModelSpec):
    """onnxruntime's graph optimisations for a model: all of them, but the layout pass
    (so ORT_ENABLE_EXTENDED) where the registry says ``layout_pass=False``.

    On x86 the full level runs convolutions in a blocked layout (NCHWc). For most of the
    registry's models that is faster; faceplugin takes ~2.8 times as long with it
    (`benchmarks/ort-levels`), the time in its convolutions themselves, the 1x1 ones
    above all (onnxruntime's profiler), not in the layout conversions. Both levels give
    the same embeddings (tests/test_ort_level.py)."""
    import onnxruntime as ort

    if spec.layout_pass:
        return ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED


class OnnxEmbedder:
    """Inference with onnxruntime: providers for ``device`` (`facecloak.device.ort_providers`)
    unless ``providers`` names them."""

    def __init__(self, spec: ModelSpec, model_dir: str | Path | None = None,
                 providers: list[str] | None = None, device: str = "auto"):
        import onnxruntime as ort

        from ..device import ort_providers, ort_session_options

        self.spec = spec
        self.model_dir = model_dir
        self.onnx_path = onnx_file(spec.name, model_dir)
        available = ort.get_available_providers()
        wanted = providers or ort_providers(device)
        opts = ort_session_options()
        opts.graph_optimization_level = optimization_level(spec)
        self.session = ort.InferenceSession(str(self.onnx_path), opts,
                                            providers=[p for p in wanted if p in available])
        self.input_name = self.session.get_inputs()[0].name
        self.input_size = spec.preprocess.size

    def align_for(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The (S, S, 3) uint8 crop this model wants, from a photo and 5 landmarks."""
        from ..faces.align import align_face

        crop, _ = align_face(rgb, landmarks, size=self.input_size, crop_scale=self.spec.preprocess.crop_scale)
        return crop

    def embed_aligned(self, crops: np.ndarray, batch: int = 32) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB aligned crops -> (N, D) float32 unit vectors."""
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"{self.spec.name}: expected (N, {self.input_size}, {self.input_size}, 3) "
                             f"crops, got {crops.shape}")
        outs = [self.session.run(None, {self.input_name: normalise_np(crops[i:i + batch], self.spec.preprocess)})[0]
                for i in range(0, len(crops), batch)]
        out = np.concatenate(outs) if outs else np.zeros((0, self.spec.embedding_dim), np.float32)
        return l2_normalise(out.reshape(len(crops), -1)).astype(np.float32)

    def embed_faces(self, rgb: np.ndarray, landmarks: list[np.ndarray]) -> np.ndarray:
        """Embed each face of ``rgb`` given its (5, 2) landmarks."""
        if not landmarks:
            return np.zeros((0, self.spec.embedding_dim), np.float32)
        return self.embed_aligned(np.stack([self.align_for(rgb, lm) for lm in landmarks]))

    def torch_module(self) -> TorchEmbedder:
        return TorchEmbedder(self.spec, self.onnx_path)


class DlibEmbedder:
    """dlib's ResNet descriptor (128-d), aligned by dlib's own 5-point predictor."""

    input_size = 150

    def __init__(self, spec: ModelSpec, model_dir: str | Path | None = None):
        import dlib

        self.spec = spec
        self.net = dlib.face_recognition_model_v1(str(model_file(spec.name, model_dir=model_dir)))
        self.shape5 = dlib.shape_predictor(str(model_file("dlib-5", model_dir=model_dir)))
        self._dlib = dlib

    def embed_faces(self, rgb: np.ndarray, landmarks: list[np.ndarray]) -> np.ndarray:
        """Embed each face; the box handed to dlib comes from the five landmarks."""
        out = []
        for lm in landmarks:
            eye_dist = float(np.linalg.norm(lm[1] - lm[0]))
            centre = lm.mean(axis=0)
            half = 1.25 * max(eye_dist, 1.0)  # a box like dlib's detector gives
            rect = self._dlib.rectangle(int(centre[0] - half), int(centre[1] - 1.1 * half),
                                        int(centre[0] + half), int(centre[1] + 0.9 * half))
            shape = self.shape5(rgb, rect)
            out.append(np.asarray(self.net.compute_face_descriptor(rgb, shape), np.float32))
        if not out:
            return np.zeros((0, 128), np.float32)
        return l2_normalise(np.stack(out))


def load_embedder(name: str, model_dir: str | Path | None = None, providers: list[str] | None = None,
                  device: str = "auto") -> OnnxEmbedder | DlibEmbedder:
    """The inference embedder for FR model ``name`` (fetching and converting once).

    device: "auto" | "cpu" | "cuda" for the onnxruntime session (dlib runs on the CPU).
    """
    from ..device import check_device

    check_device(device)
    spec = get_spec(name)
    if not spec.is_fr:
        raise FaceCloakError(f"model {name!r} is a {spec.role.value}, not a face-recognition model")
    if spec.format == Format.DLIB:
        return DlibEmbedder(spec, model_dir)
    return OnnxEmbedder(spec, model_dir, providers, device)
