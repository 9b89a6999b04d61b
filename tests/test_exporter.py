"""The TF-graph -> ONNX converter, checked against TF semantics written in torch.

No downloads: a small graph with every layout-sensitive op is built in memory
(conv, depthwise conv, batch norm, pools, concat, pad, reductions, reshape,
matmul) and the ONNX result is compared with a reference implementation.
"""

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from facecloak_exporter.tf_to_onnx import UnsupportedOpError, tf_to_onnx
from facecloak_exporter.tfgraph import TfGraph, TfNode

RNG = np.random.default_rng(0)


def _same(x, k, s):
    """TF SAME padding of an NCHW tensor for kernel k and stride s."""
    pads = []
    for n in (x.shape[3], x.shape[2]):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _graph():
    c = {
        "w1": RNG.normal(size=(3, 3, 3, 4)).astype(np.float32),
        "b1": RNG.normal(size=4).astype(np.float32),
        "dw": RNG.normal(size=(3, 3, 4, 2)).astype(np.float32),
        "scale": RNG.uniform(0.5, 2, 8).astype(np.float32), "offset": RNG.normal(size=8).astype(np.float32),
        "mean": RNG.normal(size=8).astype(np.float32), "var": RNG.uniform(0.5, 2, 8).astype(np.float32),
        "two": np.float32(2.0), "axis": np.int32(3),
        "pads": np.array([[0, 0], [1, 0], [0, 2], [0, 0]], np.int32),
        "axes": np.array([1, 2], np.int32), "fc": RNG.normal(size=(16, 5)).astype(np.float32),
        "shape": np.array([-1, 5], np.int32),
    }
    n = [TfNode(k, "Const", [], {"value": v}) for k, v in c.items()]
    n += [
        TfNode("x", "Placeholder", [], {"shape": [-1, 9, 9, 3], "dtype": 1}),
        TfNode("conv", "Conv2D", ["x", "w1"], {"strides": [1, 2, 2, 1], "padding": "SAME"}),
        TfNode("bias", "BiasAdd", ["conv", "b1"]),
        TfNode("relu", "Relu", ["bias"]),
        TfNode("dwc", "DepthwiseConv2dNative", ["relu", "dw"], {"strides": [1, 1, 1, 1], "padding": "SAME"}),
        TfNode("bn", "FusedBatchNorm", ["dwc", "scale", "offset", "mean", "var"], {"epsilon": 1e-3}),
        TfNode("pool", "MaxPool", ["bn"], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME"}),
        TfNode("dbl", "Mul", ["two", "pool"]),
        TfNode("cat", "ConcatV2", ["pool", "dbl", "axis"]),
        TfNode("pad", "Pad", ["cat", "pads"]),
        TfNode("mean_hw", "Mean", ["pad", "axes"], {"keep_dims": False}),
        TfNode("fc_out", "MatMul", ["mean_hw", "fc"]),
        TfNode("out", "Reshape", ["fc_out", "shape"]),
    ]
    return TfGraph(n, c), c


def _reference(x: np.ndarray, c: dict) -> np.ndarray:
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    w = torch.from_numpy(c["w1"]).permute(3, 2, 0, 1)
    t = F.relu(F.conv2d(_same(t, 3, 2), w, stride=2) + torch.from_numpy(c["b1"])[:, None, None])
    dw = torch.from_numpy(c["dw"]).permute(2, 3, 0, 1).reshape(8, 1, 3, 3)
    t = F.conv2d(_same(t, 3, 1), dw, groups=4)
    mul = c["scale"] / np.sqrt(c["var"] + 1e-3)
    t = t * torch.from_numpy(mul)[:, None, None] + torch.from_numpy(c["offset"] - c["mean"] * mul)[:, None, None]
    t = F.max_pool2d(F.pad(t, (0, 1, 0, 1), value=-np.inf), 2, 2)  # SAME: 5 -> 3, padding ignored
    t = torch.cat([t, 2 * t], dim=1)
    t = F.pad(t, (0, 2, 1, 0))
    t = t.mean(dim=(2, 3))
    return (t @ torch.from_numpy(c["fc"])).numpy()


def test_small_graph_matches_tf_semantics():
    graph, consts = _graph()
    model = tf_to_onnx(graph, ["out"], ["embedding"])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.normal(size=(3, 9, 9, 3)).astype(np.float32)
    got = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(got, _reference(x, consts), rtol=1e-4, atol=1e-4)


def test_converter_keeps_convolutions_in_nchw_without_transpose_pairs():
    graph, _ = _graph()
    ops = [n.op_type for n in tf_to_onnx(graph, ["out"], ["embedding"]).graph.node]
    assert ops.count("Transpose") == 1  # only the input: everything after stays NCHW


def test_unknown_op_is_named():
    graph, _ = _graph()
    graph.nodes.append(TfNode("weird", "FFT2D", ["x"]))
    with pytest.raises(UnsupportedOpError, match="FFT2D.*weird"):
        tf_to_onnx(graph, ["weird"])


def _upsampling_graph(fused=("BiasAdd", "Relu6")):
    """Grappler's fused convolutions, then a Keras UpSampling2D folded to a constant size."""
    c = {
        "w": RNG.normal(size=(3, 3, 3, 4)).astype(np.float32), "b": RNG.normal(size=4).astype(np.float32),
        "dw": RNG.normal(size=(3, 3, 4, 1)).astype(np.float32), "db": RNG.normal(size=4).astype(np.float32),
        "size": np.array([8, 8], np.int32),
    }
    n = [TfNode(k, "Const", [], {"value": v}) for k, v in c.items()]
    n += [
        TfNode("x", "Placeholder", [], {"shape": [1, 8, 8, 3], "dtype": 1}),
        TfNode("conv", "_FusedConv2D", ["x", "w", "b"],
               {"strides": [1, 2, 2, 1], "padding": "SAME", "fused_ops": list(fused)}),
        TfNode("dwc", "FusedDepthwiseConv2dNative", ["conv", "dw", "db"],
               {"strides": [1, 1, 1, 1], "padding": "SAME", "fused_ops": ["BiasAdd", "Relu"]}),
        TfNode("up", "ResizeBilinear", ["dwc", "size"], {"align_corners": False, "half_pixel_centers": False}),
    ]
    return TfGraph(n, c), c


def _resize_asymmetric(t: torch.Tensor, factor: int) -> torch.Tensor:
    """TF ResizeBilinear without half-pixel centres or aligned corners: source = target / factor."""
    for axis in (2, 3):
        n = t.shape[axis]
        src = torch.arange(n * factor, dtype=torch.float64) / factor
        i0 = src.floor().long()
        i1 = (i0 + 1).clamp(max=n - 1)
        w = (src - i0).to(t.dtype)
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        t = t.index_select(axis, i0) * (1 - w.view(shape)) + t.index_select(axis, i1) * w.view(shape)
    return t


def _upsampling_reference(x: np.ndarray, c: dict) -> np.ndarray:
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    w = torch.from_numpy(c["w"]).permute(3, 2, 0, 1)
    t = (F.conv2d(_same(t, 3, 2), w, stride=2) + torch.from_numpy(c["b"])[:, None, None]).clamp(0, 6)
    dw = torch.from_numpy(c["dw"]).permute(2, 3, 0, 1)
    t = F.relu(F.conv2d(_same(t, 3, 1), dw, groups=4) + torch.from_numpy(c["db"])[:, None, None])
    return _resize_asymmetric(t, 2).permute(0, 2, 3, 1).numpy()


def test_fused_convolutions_and_upsampling_match_tf_semantics_at_any_size():
    """The constant-size resize becomes a 2x one, so the graph also takes other sizes."""
    graph, consts = _upsampling_graph()
    model = tf_to_onnx(graph, ["up"], ["out"])
    resize = next(n for n in model.graph.node if n.op_type == "Resize")
    assert len(resize.input) == 3 and not any(n.op_type == "Shape" for n in model.graph.node)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.normal(size=(1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], _upsampling_reference(x, consts), rtol=1e-4, atol=1e-4)
    for dim in model.graph.input[0].type.tensor_type.shape.dim[1:3]:
        dim.ClearField("dim_value")
        dim.dim_param = "side"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.normal(size=(2, 12, 12, 3)).astype(np.float32)
    got = session.run(None, {"x": x})[0]
    assert got.shape == (2, 12, 12, 4)
    np.testing.assert_allclose(got, _upsampling_reference(x, consts), rtol=1e-4, atol=1e-4)


def test_unsupported_fused_op_is_named():
    graph, _ = _upsampling_graph(fused=("BiasAdd", "Elu"))
    with pytest.raises(UnsupportedOpError, match=r"fused_ops=\['BiasAdd', 'Elu'\].*conv"):
        tf_to_onnx(graph, ["up"])


def test_crelu_stays_nchw_and_matches_tf_semantics():
    """concat(x, -x) then Relu (FaceBoxes' CReLU) after a convolution: Neg keeps the layout."""
    w = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    c = {"w": w, "axis": np.int32(3)}
    n = [TfNode(k, "Const", [], {"value": v}) for k, v in c.items()]
    n += [
        TfNode("x", "Placeholder", [], {"shape": [-1, 6, 6, 3], "dtype": 1}),
        TfNode("conv", "Conv2D", ["x", "w"], {"strides": [1, 1, 1, 1], "padding": "SAME"}),
        TfNode("neg", "Neg", ["conv"]),
        TfNode("cat", "ConcatV2", ["conv", "neg", "axis"]),
        TfNode("out", "Relu", ["cat"]),
    ]
    model = tf_to_onnx(TfGraph(n, c), ["out"], ["y"])
    assert [n.op_type for n in model.graph.node].count("Transpose") == 2  # in and out only
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.normal(size=(2, 6, 6, 3)).astype(np.float32)
    t = F.conv2d(_same(torch.from_numpy(x).permute(0, 3, 1, 2), 3, 1), torch.from_numpy(w).permute(3, 2, 0, 1))
    want = F.relu(torch.cat([t, -t], dim=1)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)
