"""onnxruntime's layout pass: off for the registry's graphs with PRelu, on for the others.

The full level's blocked layout has no PRelu, so each one costs two layout
conversions (benchmarks/ort-levels: faceplugin ~2.8 times slower at the full
level); every other graph keeps the full level. The registry says which
(`ModelSpec.layout_pass`, read by `facecloak.models.fr.optimization_level`);
these tests hold it to the graphs.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from facecloak.models.fr import has_prelu, optimization_level
from facecloak.models.registry import REGISTRY, Format


def tiny_graph(path, activation):
    """input (1, 4, 8, 8) -> 3x3 convolution -> ``activation`` -> output, saved to ``path``."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.1, (4, 4, 3, 3)).astype(np.float32), "w")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1])]
    if activation == "PRelu":
        inits.append(numpy_helper.from_array(np.full((4, 1, 1), 0.25, np.float32), "slope"))
        nodes.append(helper.make_node("PRelu", ["c", "slope"], ["output"]))
    else:
        nodes.append(helper.make_node(activation, ["c"], ["output"]))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_prelu_is_found_and_both_levels_compute_the_same(tmp_path):
    prelu = tiny_graph(tmp_path / "prelu.onnx", "PRelu")
    relu = tiny_graph(tmp_path / "relu.onnx", "Relu")
    assert has_prelu(prelu) and not has_prelu(relu)
    x = np.random.default_rng(1).normal(0, 1, (1, 4, 8, 8)).astype(np.float32)
    outs = []
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        session = ort.InferenceSession(str(prelu), opts, providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {"input": x})[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)  # the same function either way
    assert (outs[0] < 0).any()  # the slope was used


@pytest.mark.models
@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items() if s.is_fr and s.format != Format.DLIB))
def test_the_registry_turns_the_layout_pass_off_exactly_for_prelu_graphs(name):
    from facecloak.errors import FaceCloakError
    from facecloak.models.store import onnx_file

    spec = REGISTRY[name]
    try:
        path = onnx_file(name)
    except FaceCloakError:
        pytest.skip(f"{name}: weights fetched by hand, not here")
    assert spec.layout_pass == (not has_prelu(path))
    level = optimization_level(spec)
    assert (level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL) == spec.layout_pass
