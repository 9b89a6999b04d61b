"""Every converted FR model agrees with its source runtime, and torch agrees with ONNX.

On real aligned faces from ../shared: cosine >= 0.999 per face between
 - our ONNX (onnxruntime) and the source runtime: OpenCV's TensorFlow importer
   for the FaceNet frozen graph, LiteRT for the MobileFaceNet TFLite file,
   onnxruntime on the untouched faceplugin file (TFJS: test_tfjs_parity.py);
 - the differentiable torch module and the ONNX session, with gradients
   reaching the input.
"""

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from facecloak.models.fr import load_embedder, normalise_np
from facecloak.models.registry import get_spec
from facecloak.models.store import model_file

pytestmark = [pytest.mark.models, pytest.mark.shared]
ONNX_MODELS = ["facenet-casia", "mobilefacenet", "faceplugin", "hse-faceres", "mobileface"]


def cosine(a, b):
    a, b = np.asarray(a, np.float64).reshape(len(a), -1), np.asarray(b, np.float64).reshape(len(b), -1)
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


PHOTOS = ["img20.jpg", "img21.jpg", "img16.jpg", "img3.jpg", "img22.jpg"]  # first two: one person


@pytest.fixture(scope="module")
def real_faces():
    """(photo, landmarks of its largest face) for the deepface photos above."""
    from facecloak.faces import get_detector, load_image
    from facecloak.paths import shared_dir

    shared = shared_dir()
    if shared is None:
        pytest.skip("../shared not found: real face photos are needed for parity tests")
    detector = get_detector("dlib")
    out = []
    for name in PHOTOS:
        rgb = load_image(shared / "data" / "photos" / "deepface" / name)
        out.append((rgb, detector.detect(rgb)[0].landmarks))
    return out


@pytest.fixture(scope="module")
def embedders():
    return {name: load_embedder(name) for name in ONNX_MODELS}


def crops_for(embedder, real_faces):
    return np.stack([embedder.align_for(rgb, lm) for rgb, lm in real_faces])


def raw_onnx(embedder, crops):
    """Un-normalised ONNX output, as the source runtimes give it."""
    x = normalise_np(crops, embedder.spec.preprocess)
    return embedder.session.run(None, {embedder.input_name: x})[0]


def test_facenet_matches_opencv_tensorflow_runtime(embedders, real_faces):
    fr = embedders["facenet-casia"]
    crops = crops_for(fr, real_faces)
    net = cv2.dnn.readNetFromTensorflow(str(model_file("facenet-casia")))
    ours = raw_onnx(fr, crops)
    for i, x in enumerate(normalise_np(crops, fr.spec.preprocess)):
        net.setInput(x[None].transpose(0, 3, 1, 2))  # OpenCV takes NCHW blobs
        assert cosine(ours[i:i + 1], net.forward()) >= 0.999


def test_mobilefacenet_matches_litert(embedders, real_faces):
    from ai_edge_litert.interpreter import Interpreter

    fr = embedders["mobilefacenet"]
    crops = crops_for(fr, real_faces)
    x = normalise_np(crops, fr.spec.preprocess)
    if len(x) % 2:
        x = np.concatenate([x, x[:1]])  # the TFLite graph is frozen at batch 2
    interp = Interpreter(model_path=str(model_file("mobilefacenet")))
    interp.allocate_tensors()
    src = []
    for i in range(0, len(x), get_spec("mobilefacenet").fixed_batch):
        interp.set_tensor(interp.get_input_details()[0]["index"], x[i:i + 2])
        interp.invoke()
        src.append(interp.get_tensor(interp.get_output_details()[0]["index"]).copy())
    ours = fr.session.run(None, {fr.input_name: x})[0]
    assert np.all(cosine(ours, np.concatenate(src)) >= 0.999)


def test_faceplugin_passthrough_matches_original_file(embedders, real_faces):
    fr = embedders["faceplugin"]
    crops = crops_for(fr, real_faces)
    original = ort.InferenceSession(str(model_file("faceplugin")), providers=["CPUExecutionProvider"])
    ours = raw_onnx(fr, crops)
    for i, x in enumerate(normalise_np(crops, fr.spec.preprocess)):
        assert cosine(ours[i:i + 1], original.run(None, {"input": x[None]})[0]) >= 0.999


@pytest.mark.parametrize("name", ONNX_MODELS)
def test_torch_module_matches_onnx_and_passes_gradients(name, embedders, real_faces):
    fr = embedders[name]
    crops = crops_for(fr, real_faces)
    net = fr.torch_module()
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255).requires_grad_(True)
    emb = net(x)
    assert np.all(cosine(emb.detach().numpy(), fr.embed_aligned(crops)) >= 0.999)
    emb[:, 0].sum().backward()
    grad = x.grad.abs()
    assert torch.isfinite(grad).all() and grad.sum() > 0


def test_same_person_is_closer_than_different_people(embedders, real_faces):
    """A sanity check that alignment and preprocessing are right, per model.

    real_faces holds two photos of one person first, then other people.
    """
    for name, fr in embedders.items():
        emb = fr.embed_aligned(crops_for(fr, real_faces))
        same = float(emb[0] @ emb[1])
        others = [float(emb[0] @ e) for e in emb[2:]]
        assert same > max(others), f"{name}: same-person {same:.3f} vs others {max(others):.3f}"
