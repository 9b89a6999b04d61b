"""`facecloak.models.fr.optimization_level`: a graph with PRelu skips onnxruntime's layout pass.

The full level's blocked layout has no PRelu, so each one costs two layout
conversions (benchmarks/ort-levels: faceplugin ~2.8 times slower at the full
level); every other graph keeps the full level.
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from facecloak.models.fr import optimization_level


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


def test_a_graph_with_prelu_skips_the_layout_pass(tmp_path):
    prelu = tiny_graph(tmp_path / "prelu.onnx", "PRelu")
    relu = tiny_graph(tmp_path / "relu.onnx", "Relu")
    assert optimization_level(prelu) == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert optimization_level(relu) == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    x = np.random.default_rng(1).normal(0, 1, (1, 4, 8, 8)).astype(np.float32)
    outs = []
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        session = ort.InferenceSession(str(prelu), opts, providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {"input": x})[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)  # the same function either way
    assert (outs[0] < 0).any()  # the slope was used
