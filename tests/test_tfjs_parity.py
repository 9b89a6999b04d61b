"""Our ONNX conversions of the TFJS graph models agree with TensorFlow.js itself.

The same float32 NHWC batch of real aligned faces (raw 0-255 values, which is
what these models take) goes to onnxruntime on ``onnx_file(name)`` and to
``tests/tfjs/embed.mjs``, which runs the untouched model.json + weights with
``@tensorflow/tfjs-converter`` on the pure-JS CPU backend. Every face must
reach cosine >= 0.999, and the embeddings must have the same length (cosine
alone would not see a wrong overall scale).

Needs node on PATH and ``npm ci --prefix tests/tfjs`` (pinned in
tests/tfjs/package-lock.json); skipped otherwise.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from facecloak.models.registry import get_spec
from facecloak.models.store import onnx_file, source_files

pytestmark = [pytest.mark.models, pytest.mark.shared]

TFJS_DIR = Path(__file__).parent / "tfjs"
EMBED_JS = TFJS_DIR / "embed.mjs"
INSTALL = "npm ci --prefix tests/tfjs"
MIN_FACES = 5


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def node():
    """The node executable, with the pinned tfjs packages installed."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip(f"node not on PATH: TensorFlow.js parity needs Node.js >= 18 and `{INSTALL}`")
    for pkg in ("tfjs-core", "tfjs-converter", "tfjs-backend-cpu"):
        if not (TFJS_DIR / "node_modules" / "@tensorflow" / pkg / "package.json").is_file():
            pytest.skip(f"tests/tfjs/node_modules lacks @tensorflow/{pkg}: run `{INSTALL}`")
    return exe


@pytest.fixture(scope="module")
def real_faces(photos_dir):
    """(photo, five landmarks of its largest face) for each portrait in ../shared."""
    from facecloak.faces import get_detector, load_image

    photos = sorted((photos_dir / "portrait").glob("*.jpg"))
    detector = get_detector("dlib")
    out = []
    for path in photos:
        rgb = load_image(path)
        faces = detector.detect(rgb)
        if faces:
            out.append((rgb, faces[0].landmarks))
    assert len(out) >= MIN_FACES, f"only {len(out)} of {len(photos)} portraits have a detectable face"
    return out


def run_tfjs(node, model_json, batch, output_node, tmp_path):
    """Embeddings of `batch` (N, H, W, 3) float32 from TensorFlow.js, (N, D) float32."""
    n, h, w, _ = batch.shape
    inp, out = tmp_path / "input.bin", tmp_path / "output.bin"
    np.ascontiguousarray(batch, dtype="<f4").tofile(inp)
    cmd = [node, str(EMBED_JS), str(model_json), str(inp), str(n), str(h), str(w), str(out), output_node]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["backend"] == "cpu"
    assert info["shape"][0] == n
    return np.fromfile(out, dtype="<f4").reshape(info["shape"]).reshape(n, -1)


@pytest.mark.parametrize("name", ["hse-faceres", "mobileface"])
def test_onnx_matches_tensorflow_js(name, node, real_faces, tmp_path):
    from facecloak.faces.align import align_face

    spec = get_spec(name)
    pre = spec.preprocess
    assert (pre.mean, pre.std, pre.layout) == (0.0, 1.0, "NHWC"), "these models take raw 0-255 NHWC pixels"
    batch = np.stack([
        align_face(rgb, landmarks, size=pre.size, crop_scale=pre.crop_scale)[0] for rgb, landmarks in real_faces
    ]).astype(np.float32)

    session = ort.InferenceSession(str(onnx_file(name)), providers=["CPUExecutionProvider"])
    ours = session.run(["embedding"], {"input": batch})[0]
    model_json = next(p for p in source_files(name) if p.suffix == ".json")
    ref = run_tfjs(node, model_json, batch, spec.output_name, tmp_path)

    assert ours.shape == ref.shape == (len(batch), spec.embedding_dim)
    cos = cosine(ours, ref)
    max_abs = float(np.abs(ours - ref).max())
    norm_ratio = np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    summary = (f"{name}: {len(batch)} faces, cosine min {cos.min():.8f} (1 - cos {1 - cos.min():.2g}), "
               f"max abs diff {max_abs:.3g} (|ref| max {np.abs(ref).max():.3g}), "
               f"norm ratio {norm_ratio.min():.6f}..{norm_ratio.max():.6f}")
    print(summary)
    assert np.all(cos >= 0.999), f"{summary}; per face: {np.round(cos, 6).tolist()}"
    assert np.allclose(norm_ratio, 1.0, atol=1e-3), summary
