"""onnxruntime's layout pass, off where the registry says so (`ModelSpec.layout_pass`).

faceplugin runs ~2.8 times slower with it on x86 (benchmarks/ort-levels), so its
sessions skip it (`facecloak.models.fr.optimization_level`). Skipping it must not
change what a model computes: every available ONNX face-recognition model of the
registry gives the same embeddings at the level the product picks as at the full
level, and the embedder the product loads runs at the level the registry says.
"""

import numpy as np
import onnxruntime as ort
import pytest

from facecloak.errors import FaceCloakError
from facecloak.models.fr import load_embedder, normalise_np, optimization_level
from facecloak.models.registry import REGISTRY, Format

pytestmark = pytest.mark.models
ONNX_FR = sorted(name for name, spec in REGISTRY.items() if spec.is_fr and spec.format != Format.DLIB)


@pytest.mark.parametrize("name", ONNX_FR)
def test_the_level_the_product_picks_computes_what_the_full_level_does(name):
    try:
        embedder = load_embedder(name)
    except FaceCloakError:
        pytest.skip(f"{name}: weights fetched by hand, not here")
    spec = embedder.spec
    level = optimization_level(spec)
    assert (level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL) == spec.layout_pass
    assert embedder.session.get_session_options().graph_optimization_level == level
    full_opts = ort.SessionOptions()
    full_opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    full = ort.InferenceSession(str(embedder.onnx_path), full_opts, providers=["CPUExecutionProvider"])
    size = spec.preprocess.size
    batch = spec.fixed_batch or 3
    crops = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    x = normalise_np(crops, spec.preprocess)
    ours = embedder.session.run(None, {embedder.input_name: x})[0].reshape(batch, -1)
    theirs = full.run(None, {embedder.input_name: x})[0].reshape(batch, -1)
    cos = np.sum(ours * theirs, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.min() > 0.99999
