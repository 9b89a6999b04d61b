"""One entry point per source format: ``export_onnx(format, files, ...)``.

Every converted model gets the same interface: one float input named
``input`` (layout as in the source: NHWC for TensorFlow formats) and one
output named ``embedding``. ONNX sources pass through unchanged after checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from .tf_to_onnx import tf_to_onnx
from .tfgraph import read_graphdef, read_tfjs
from .tflite_graph import read_tflite

SUPPORTED_FORMATS = ("onnx", "tf-frozen-graph", "tflite", "tfjs-graph")


def _rename_input(model: onnx.ModelProto, old: str, new: str) -> None:
    if old == new:
        return
    for value in model.graph.input:
        if value.name == old:
            value.name = new
    for node in model.graph.node:
        node.input[:] = [new if name == old else name for name in node.input]


def _make_batch_dynamic(model: onnx.ModelProto) -> None:
    """Let a graph traced at batch 1 take any batch.

    Marks the first axis of inputs and outputs symbolic and rewrites constant
    Reshape targets [1, ...] to [-1, ...], or to [0, ...] (copy the batch) when
    they already hold a -1. `check_onnx`
    then confirms that a batch gives the same rows as single runs.
    """
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].dim_param = "batch"
    consts = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:  # Constant nodes hold tensors too
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = node.attribute[0].t
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in consts:
            tensor = consts[node.input[1]]
            shape = numpy_helper.to_array(tensor)
            if shape.ndim == 1 and len(shape) > 1 and shape[0] == 1:
                fixed = shape.copy()
                fixed[0] = 0 if -1 in shape else -1  # 0: copy the batch axis
                tensor.CopyFrom(numpy_helper.from_array(fixed, tensor.name))


def export_onnx(fmt: str, files: list[Path], input_name: str | None = None,
                output_name: str | None = None) -> onnx.ModelProto:
    """Convert the model in ``files`` (first file is the graph) to ONNX.

    input_name / output_name name the graph tensors to use where the source
    has several (TF graphs); they default to the graph's own.
    """
    main = Path(files[0])
    if fmt == "onnx":
        model = onnx.load(str(main))
        onnx.checker.check_model(model)
        _make_batch_dynamic(model)
        return model
    if fmt == "tf-frozen-graph":
        graph = read_graphdef(main)
    elif fmt == "tfjs-graph":
        graph = read_tfjs(main)
    elif fmt == "tflite":
        graph, input_name, output_name = read_tflite(main)
    else:
        raise ValueError(f"cannot convert format {fmt!r}; supported: {', '.join(SUPPORTED_FORMATS)}")
    if output_name is None:
        output_name = graph.nodes[-1].name
    if input_name is None:
        input_name = next(n.name for n in graph.nodes if n.op == "Placeholder")
    model = tf_to_onnx(graph, [output_name], ["embedding"])
    _rename_input(model, input_name, "input")
    onnx.checker.check_model(model)
    return model


def check_onnx(model: onnx.ModelProto, input_shape: tuple[int, ...], embedding_dim: int,
               batch: int = 2) -> None:
    """Run the model once on noise at ``batch`` and check the embedding shape.

    ``input_shape`` excludes the batch axis. Raises ValueError on mismatch or
    non-finite output.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, (batch, *input_shape)).astype(np.float32)
    out = session.run(None, {name: x})[0]
    if out.shape != (batch, embedding_dim):
        raise ValueError(f"converted model outputs {out.shape}, expected {(batch, embedding_dim)}")
    if not np.isfinite(out).all():
        raise ValueError("converted model outputs non-finite values")
    for row in range(batch):  # a batch must not mix its rows
        single = session.run(None, {name: x[row:row + 1]})[0][0]
        if not np.allclose(single, out[row], rtol=1e-3, atol=1e-4 * (np.abs(single).max() + 1)):
            raise ValueError(f"row {row} of a batch differs from the same input run alone")
