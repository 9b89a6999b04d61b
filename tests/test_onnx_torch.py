"""OnnxModule against onnxruntime: tiny in-memory graphs per op family, then real models.

Every op case builds a graph with ``onnx.helper``, runs it in onnxruntime and
in `OnnxModule`, and compares all outputs (max abs diff <= 1e-5, relative to
the output's scale). The real-model tests need the faceplugin recogniser
(through the model store; ``FACECLOAK_MODEL_DIR`` may point at a folder that
holds ``fr_feature.onnx`` and its sibling models) and YuNet from ``shared``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from facecloak import paths
from facecloak.models.onnx_torch import OnnxModule, UnsupportedOnnxError

RNG = np.random.default_rng(0)
I64 = TensorProto.INT64


def r(*shape, low=None):
    """Random float32 data; ``low`` makes it uniform in [low, low + 2) (for Sqrt, Log, Pow)."""
    if low is not None:
        return (RNG.random(shape) * 2 + low).astype(np.float32)
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


def model(nodes, feeds, inits=None, opset=13, outputs=("y",), out_types=None, dims=None):
    """A one-graph model: ``feeds`` are the graph inputs, ``inits`` its initializers."""
    out_types = out_types or {}
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                            (dims or {}).get(n, v.shape)) for n, v in feeds.items()]
    outs = [helper.make_tensor_value_info(n, out_types.get(n, TensorProto.FLOAT), None) for n in outputs]
    inits = [numpy_helper.from_array(v, n) for n, v in (inits or {}).items()]
    m = helper.make_model(helper.make_graph(nodes, "case", inputs, outs, inits),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = min(m.ir_version, 10)
    return m


def ort_run(m: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_matches(m, feeds, atol=1e-5):
    expected = ort_run(m, feeds)
    with torch.no_grad():
        got = OnnxModule(m)(*[torch.from_numpy(v) for v in feeds.values()])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert tuple(g.shape) == e.shape
        if e.dtype.kind in "biu":
            np.testing.assert_array_equal(g.numpy(), e)
        else:
            np.testing.assert_allclose(g.numpy(), e, rtol=0, atol=atol * max(1.0, float(np.abs(e).max())))


N = helper.make_node
X4 = r(2, 3, 6, 7)
CASES = {}  # id -> (nodes, feeds, inits, opset, extra model kwargs)


def case(name, nodes, feeds, inits=None, opset=13, **kw):
    CASES[name] = (nodes if isinstance(nodes, list) else [nodes], feeds, inits, opset, kw)


# --- convolutions
case("conv_group_pads_strides_dilations", N("Conv", ["x", "w", "b"], ["y"], group=2, pads=[1, 0, 2, 1],
     strides=[2, 1], dilations=[1, 2]), {"x": r(2, 4, 9, 11)}, {"w": r(6, 2, 3, 3), "b": r(6)})
case("conv_depthwise", N("Conv", ["x", "w"], ["y"], group=4, pads=[1, 1, 1, 1]), {"x": r(1, 4, 8, 8)},
     {"w": r(4, 1, 3, 3)})
case("conv_same_upper", N("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2]),
     {"x": r(1, 3, 10, 9)}, {"w": r(4, 3, 4, 3)})
case("conv_same_lower", N("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER", strides=[2, 1]),
     {"x": r(1, 3, 10, 9)}, {"w": r(4, 3, 4, 2)})
case("conv1d_valid", N("Conv", ["x", "w"], ["y"], auto_pad="VALID", strides=[3]), {"x": r(2, 3, 17)},
     {"w": r(5, 3, 4)})
case("conv_transpose", N("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[1, 0, 1, 1],
     output_padding=[1, 1]), {"x": r(1, 4, 5, 6)}, {"w": r(4, 3, 3, 3), "b": r(3)})
case("conv_transpose_group", N("ConvTranspose", ["x", "w"], ["y"], group=2, strides=[2, 2]),
     {"x": r(1, 4, 5, 6)}, {"w": r(4, 2, 3, 3)})

# --- normalisation
case("batchnorm", N("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3), {"x": X4},
     {"s": r(3), "b": r(3), "m": r(3), "v": r(3, low=0.5)})
case("lpnorm_p2", N("LpNormalization", ["x"], ["y"], axis=1, p=2), {"x": X4})
case("lpnorm_p1", N("LpNormalization", ["x"], ["y"], axis=-1, p=1), {"x": X4})

# --- activations
for op, attrs, low, opset in [("Relu", {}, None, 13), ("Sigmoid", {}, None, 13), ("Tanh", {}, None, 13),
                              ("Exp", {}, None, 13), ("Neg", {}, None, 13), ("Abs", {}, None, 13),
                              ("Erf", {}, None, 13), ("Softplus", {}, None, 13), ("Floor", {}, None, 13),
                              ("Ceil", {}, None, 13), ("Identity", {}, None, 13),
                              ("Sqrt", {}, 0.1, 13), ("Log", {}, 0.1, 13), ("Reciprocal", {}, 0.5, 13),
                              ("LeakyRelu", {"alpha": 0.2}, None, 13), ("Elu", {"alpha": 0.7}, None, 13),
                              ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, None, 13),
                              ("HardSwish", {}, None, 14), ("Mish", {}, None, 18), ("Gelu", {}, None, 20),
                              ("Dropout", {}, None, 13)]:
    case(op.lower(), N(op, ["x"], ["y"], **attrs), {"x": r(2, 3, 4, 5, low=low)}, opset=opset)
for shape in [(3, 1, 1), (7,), (1,)]:
    case(f"prelu_slope{shape}", N("PRelu", ["x", "s"], ["y"]), {"x": X4}, {"s": r(*shape)}, opset=9)
case("softmax_v11_coerced", N("Softmax", ["x"], ["y"], axis=1), {"x": X4}, opset=11)
case("softmax_v13_axis1", N("Softmax", ["x"], ["y"], axis=1), {"x": X4})
case("logsoftmax_v11", N("LogSoftmax", ["x"], ["y"], axis=2), {"x": X4}, opset=11)
case("clip_inputs", N("Clip", ["x", "lo", "hi"], ["y"]), {"x": X4},
     {"lo": np.float32(-0.5), "hi": np.float32(0.7)})
case("clip_only_max", N("Clip", ["x", "", "hi"], ["y"]), {"x": X4}, {"hi": np.float32(0.2)}, opset=11)
case("clip_v6_attrs", N("Clip", ["x"], ["y"], min=-0.3, max=0.4), {"x": X4}, opset=6)

# --- elementwise, numpy broadcasting
for op in ["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"]:
    case(f"{op.lower()}_broadcast", N(op, ["a", "b"], ["y"]), {"a": X4}, {"b": r(3, 1, 1, low=0.5)})
    case(f"{op.lower()}_lastdim", N(op, ["a", "b"], ["y"]), {"a": X4, "b": r(7, low=0.5)})
case("pow", N("Pow", ["a", "b"], ["y"]), {"a": r(2, 3, 4, low=0.1)}, {"b": r(4)})
case("max_variadic", N("Max", ["a", "b", "c"], ["y"]), {"a": X4, "b": r(7), "c": r(3, 6, 1)})
case("where_greater", [N("Greater", ["a", "b"], ["g"]), N("Less", ["a", "b"], ["l"]),
                       N("Where", ["g", "a", "b"], ["y"]), N("Equal", ["g", "l"], ["e"]), N("Not", ["e"], ["y2"])],
     {"a": X4, "b": r(7)}, outputs=("y", "y2"), out_types={"y2": TensorProto.BOOL})

# --- matrix products
case("matmul_3d_2d", N("MatMul", ["a", "b"], ["y"]), {"a": r(2, 3, 4)}, {"b": r(4, 5)})
case("matmul_batched", N("MatMul", ["a", "b"], ["y"]), {"a": r(2, 3, 4), "b": r(2, 4, 6)})
case("gemm_trans_alpha_beta", N("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=2.0),
     {"a": r(4, 3)}, {"b": r(5, 4), "c": r(5)})
case("gemm_plain", N("Gemm", ["a", "b"], ["y"]), {"a": r(3, 4)}, {"b": r(4, 5)})

# --- shapes and indexing
case("reshape_zero_minus_one", N("Reshape", ["x", "s"], ["y"]), {"x": X4}, {"s": i64(0, -1, 7)})
case("flatten_axis2", N("Flatten", ["x"], ["y"], axis=2), {"x": X4})
case("flatten_axis0", N("Flatten", ["x"], ["y"], axis=0), {"x": X4})
case("transpose_perm", N("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1]), {"x": X4})
case("transpose_default", N("Transpose", ["x"], ["y"]), {"x": X4})
case("concat", N("Concat", ["a", "b", "c"], ["y"], axis=1), {"a": X4, "b": r(2, 1, 6, 7)}, {"c": r(2, 2, 6, 7)})
case("split_input", N("Split", ["x", "s"], ["y", "z"], axis=1), {"x": X4}, {"s": i64(1, 2)}, outputs=("y", "z"))
case("split_v11_attr", N("Split", ["x"], ["y", "z"], axis=-1, split=[3, 4]), {"x": X4}, opset=11,
     outputs=("y", "z"))
case("split_equal", N("Split", ["x"], ["y", "z", "w"], axis=1), {"x": X4}, outputs=("y", "z", "w"))
case("split_v18_num_outputs", N("Split", ["x"], ["y", "z"], axis=3, num_outputs=2), {"x": X4}, opset=18,
     outputs=("y", "z"))
case("slice_negative_steps", N("Slice", ["x", "st", "en", "ax", "sp"], ["y"]), {"x": X4},
     {"st": i64(1, -1, 0), "en": i64(3, -1000, 2**63 - 1), "ax": i64(1, 3, -2), "sp": i64(1, -2, 2)})
case("slice_v9_attrs", N("Slice", ["x"], ["y"], starts=[1, 2], ends=[100, -1], axes=[2, 3]), {"x": X4}, opset=9)
case("squeeze_v11", N("Squeeze", ["x"], ["y"], axes=[1, -1]), {"x": r(2, 1, 3, 1)}, opset=11)
case("squeeze_input", N("Squeeze", ["x", "ax"], ["y"]), {"x": r(2, 1, 3, 1)}, {"ax": i64(3)})
case("squeeze_all", N("Squeeze", ["x"], ["y"]), {"x": r(2, 1, 3, 1)})
case("unsqueeze_v11", N("Unsqueeze", ["x"], ["y"], axes=[0, -1]), {"x": r(2, 3)}, opset=11)
case("unsqueeze_input", N("Unsqueeze", ["x", "ax"], ["y"]), {"x": r(2, 3)}, {"ax": i64(3, 1)})
case("gather_negative", N("Gather", ["x", "i"], ["y"], axis=1), {"x": X4}, {"i": i64(0, 2, -1, 1).reshape(2, 2)})
case("gather_scalar", N("Gather", ["x", "i"], ["y"], axis=3), {"x": X4}, {"i": np.array(-2, np.int64)})
case("shape", N("Shape", ["x"], ["y"]), {"x": X4}, out_types={"y": I64})
case("shape_v15_start_end", N("Shape", ["x"], ["y"], start=1, end=-1), {"x": X4}, opset=15, out_types={"y": I64})
case("int_div_cast", [N("Shape", ["x"], ["s"]), N("Div", ["s", "two"], ["d"]),
                      N("Cast", ["d"], ["y"], to=TensorProto.FLOAT)],
     {"x": X4}, {"two": i64(2)})
case("constant_nodes", [N("Constant", [], ["c"], value=numpy_helper.from_array(r(7))),
                        N("Constant", [], ["f"], value_floats=[1.0, 2.0, 3.0]),
                        N("Constant", [], ["s"], value_ints=[2, 3, -1]), N("Add", ["x", "c"], ["a"]),
                        N("Reshape", ["a", "s"], ["y"]), N("Mul", ["f", "f"], ["y2"])],
     {"x": X4}, outputs=("y", "y2"))
case("expand", N("Expand", ["x", "s"], ["y"]), {"x": r(3, 1)}, {"s": i64(2, 3, 4)})
case("tile", N("Tile", ["x", "t"], ["y"]), {"x": r(2, 3)}, {"t": i64(2, 3)})
case("cast_roundtrip", [N("Cast", ["x"], ["i"], to=TensorProto.INT32),
                        N("Cast", ["i"], ["y"], to=TensorProto.FLOAT)],
     {"x": X4 * 5})
case("constant_of_shape", [N("Shape", ["x"], ["s"]),
                           N("ConstantOfShape", ["s"], ["c"], value=numpy_helper.from_array(np.float32([2.5]))),
                           N("Mul", ["x", "c"], ["y"])],
     {"x": X4})
case("depth_to_space_dcr", N("DepthToSpace", ["x"], ["y"], blocksize=2), {"x": r(1, 8, 3, 4)})
case("depth_to_space_crd", N("DepthToSpace", ["x"], ["y"], blocksize=2, mode="CRD"), {"x": r(1, 8, 3, 4)})

# --- padding
for mode in ["constant", "reflect", "edge"]:
    case(f"pad_{mode}", N("Pad", ["x", "p", "v"], ["y"], mode=mode), {"x": X4},
         {"p": i64(0, 0, 1, 2, 0, 0, 2, 1), "v": np.float32(1.5)}, opset=11)
case("pad_v2_attrs", N("Pad", ["x"], ["y"], pads=[0, 1, 1, 0, 0, 0, 2, 1], value=-1.0), {"x": X4}, opset=2)
case("pad_negative_crops", N("Pad", ["x", "p"], ["y"]), {"x": X4}, {"p": i64(0, 0, -1, 2, 0, 0, 1, -2)})
case("pad_v18_axes", N("Pad", ["x", "p", "", "ax"], ["y"], mode="reflect"), {"x": X4},
     {"p": i64(1, 2, 2, 1), "ax": i64(-1, 2)}, opset=18)

# --- pooling
case("maxpool_pads_ceil", N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
     ceil_mode=1), {"x": r(1, 2, 8, 9)})
case("maxpool_asym_pads", N("MaxPool", ["x"], ["y"], kernel_shape=[2, 3], pads=[0, 1, 1, 0]), {"x": X4})
case("maxpool_dilations", N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2]), {"x": X4})
case("maxpool_same_upper", N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
     {"x": X4})
case("maxpool1d", N("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2]), {"x": r(2, 3, 11)})
for include in (0, 1):
    case(f"avgpool_pads_include{include}", N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
         count_include_pad=include), {"x": X4})
    case(f"avgpool_asym_include{include}", N("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 2],
         pads=[0, 1, 2, 1], count_include_pad=include), {"x": X4})
for op in ["MaxPool", "AveragePool"]:  # ceil_mode drops a last window that would start in the padding
    case(f"{op.lower()}_ceil_window_in_padding", N(op, ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2],
         pads=[1, 1, 1, 1], ceil_mode=1), {"x": r(1, 2, 5, 5)})
case("avgpool_ceil", N("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), {"x": X4})
case("global_avgpool", N("GlobalAveragePool", ["x"], ["y"]), {"x": X4})
case("global_maxpool", N("GlobalMaxPool", ["x"], ["y"]), {"x": X4})

# --- reductions
case("reducemean_attr", N("ReduceMean", ["x"], ["y"], axes=[1, -1]), {"x": X4})
case("reducemean_v18_input", N("ReduceMean", ["x", "ax"], ["y"], keepdims=0), {"x": X4}, {"ax": i64(2)}, opset=18)
case("reducesum_input_nokeep", N("ReduceSum", ["x", "ax"], ["y"], keepdims=0), {"x": X4}, {"ax": i64(0, 3)})
case("reducesum_all", N("ReduceSum", ["x"], ["y"]), {"x": X4})
case("reducemax_nokeep", N("ReduceMax", ["x"], ["y"], axes=[2], keepdims=0), {"x": X4})
case("reducemin", N("ReduceMin", ["x"], ["y"], axes=[0, 2]), {"x": X4})
case("reducel2", N("ReduceL2", ["x"], ["y"], axes=[1]), {"x": X4})
case("reducel1", N("ReduceL1", ["x"], ["y"], axes=[3]), {"x": X4})
case("reducesumsquare", N("ReduceSumSquare", ["x"], ["y"], axes=[1]), {"x": X4})
case("reducelogsumexp", N("ReduceLogSumExp", ["x"], ["y"], axes=[2, 3]), {"x": X4})

# --- resizing
IMG = r(1, 2, 8, 9)


def resize(mode, ctm, scales=None, sizes=None, **attrs):
    """A Resize-13 case taking either ``scales`` or ``sizes``."""
    if scales:
        inputs, inits = ["x", "", "sc"], {"sc": np.float32(scales)}
    else:
        inputs, inits = ["x", "", "", "sz"], {"sz": i64(*sizes)}
    node = N("Resize", inputs, ["y"], mode=mode, coordinate_transformation_mode=ctm, **attrs)
    name = "_".join(["resize", mode, ctm, *attrs.values(), "scales" if scales else "sizes"])
    case(name, node, {"x": IMG}, inits)


resize("nearest", "asymmetric", [1, 1, 2, 2], nearest_mode="floor")  # YuNet's upsampling
resize("nearest", "half_pixel", sizes=[1, 2, 5, 7], nearest_mode="round_prefer_floor")
resize("nearest", "half_pixel", [1, 1, 3, 0.5], nearest_mode="round_prefer_ceil")
resize("nearest", "align_corners", sizes=[1, 2, 13, 4], nearest_mode="round_prefer_floor")
resize("nearest", "tf_half_pixel_for_nn", [1, 1, 0.5, 2], nearest_mode="ceil")
resize("linear", "half_pixel", [1, 1, 2, 1.5])
resize("linear", "pytorch_half_pixel", sizes=[1, 2, 1, 5])
resize("linear", "align_corners", sizes=[1, 2, 13, 4])
resize("linear", "asymmetric", [1, 1, 0.5, 0.75])
case("resize_v10", N("Resize", ["x", "sc"], ["y"]), {"x": IMG}, {"sc": np.float32([1, 1, 2, 3])}, opset=10)
case("upsample_v9", N("Upsample", ["x", "sc"], ["y"]), {"x": IMG}, {"sc": np.float32([1, 1, 2, 3])}, opset=9)
case("upsample_v9_linear", N("Upsample", ["x", "sc"], ["y"], mode="linear"), {"x": IMG},
     {"sc": np.float32([1, 1, 2, 2])}, opset=9)
case("upsample_v7_attr", N("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 2.0]), {"x": IMG}, opset=7)

# --- a dynamic-batch shape subgraph, as PyTorch exports ``x.view(x.size(0), -1)``
DYNAMIC_FLATTEN = [N("Shape", ["x"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0),
                   N("Unsqueeze", ["n", "ax"], ["n1"]), N("Concat", ["n1", "minus1"], ["shape"], axis=0),
                   N("Relu", ["x"], ["rx"]), N("Reshape", ["rx", "shape"], ["y"])]
DYNAMIC_INITS = {"zero": np.array(0, np.int64), "ax": i64(0), "minus1": i64(-1)}


@pytest.mark.parametrize("name", list(CASES))
def test_op_matches_onnxruntime(name):
    nodes, feeds, inits, opset, kw = CASES[name]
    assert_matches(model(nodes, feeds, inits, opset, **kw), feeds)


@pytest.mark.parametrize("batch", [1, 4])
def test_shape_subgraph_with_dynamic_batch(batch):
    feeds = {"x": r(batch, 3, 4, 5)}
    m = model(DYNAMIC_FLATTEN, feeds, DYNAMIC_INITS, dims={"x": ["N", 3, 4, 5]})
    assert_matches(m, feeds)


def test_fixed_batch_reshape_runs_any_batch():
    x = r(3, 2, 4, 4)
    m = model([N("Relu", ["x"], ["r"]), N("Reshape", ["r", "s"], ["y"])], {"x": x[:1]}, {"s": i64(1, -1)})
    expected = np.concatenate([ort_run(m, {"x": x[i:i + 1]})[0] for i in range(3)])
    with torch.no_grad():
        np.testing.assert_allclose(OnnxModule(m)(torch.from_numpy(x)).numpy(), expected)
        assert OnnxModule(m, dynamic_batch=False)(torch.from_numpy(x)).shape == (1, 96)


def test_unknown_op_is_refused_at_construction():
    m = model([N("Relu", ["x"], ["a"]), N("FancyOp", ["a"], ["b"], name="fancy_1"),
               N("Gelu", ["b"], ["y"], domain="com.microsoft", name="ms_gelu")], {"x": X4})
    expected = r"'FancyOp' \(node 'fancy_1'\).*'Gelu' \(node 'ms_gelu', domain 'com.microsoft'\)"
    with pytest.raises(UnsupportedOnnxError, match=expected):
        OnnxModule(m)
    assert issubclass(UnsupportedOnnxError, NotImplementedError)


def test_failing_node_is_named():
    m = model([N("Reshape", ["x", "s"], ["y"], name="bad_reshape")], {"x": X4}, {"s": i64(5, -1)})
    with pytest.raises(RuntimeError) as info:
        OnnxModule(m)(torch.from_numpy(X4))
    assert "bad_reshape" in "".join(getattr(info.value, "__notes__", []))


def test_buffers_inputs_and_outputs():
    w64 = r(4, 3, 3, 3).astype(np.float64)
    m = model([N("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), N("Split", ["c"], ["y", "z"], axis=1)],
              {"x": r(1, 3, 5, 5)}, {"w": w64}, outputs=("y", "z"))
    m.graph.input.append(helper.make_tensor_value_info("w", TensorProto.DOUBLE, w64.shape))  # IR<4 style
    net = OnnxModule(m)
    assert net.input_names == ["x"] and net.output_names == ["y", "z"]
    assert list(net.parameters()) == []
    assert all(b.dtype == torch.float32 and not b.requires_grad for b in net.buffers())
    y, z = net(torch.zeros(2, 3, 5, 5))
    assert y.shape == z.shape == (2, 2, 5, 5)
    with pytest.raises(TypeError, match="1 input"):
        net(torch.zeros(1, 3, 5, 5), torch.zeros(1))


def test_gradients_match_finite_differences():
    feeds = {"x": r(2, 3, 6, 6)}
    nodes = [N("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]), N("PRelu", ["c", "s"], ["p"]),
             N("Resize", ["p", "", "sc"], ["u"], mode="linear"), N("Sigmoid", ["u"], ["g"]),
             N("ReduceMean", ["g"], ["m"], axes=[2, 3], keepdims=0), N("LpNormalization", ["m"], ["y"], axis=1)]
    inits = {"w": r(4, 3, 3, 3), "b": r(4), "s": r(4, 1, 1), "sc": np.array([1, 1, 2, 2], np.float32)}
    net = OnnxModule(model(nodes, feeds, inits)).double()
    x = torch.from_numpy(feeds["x"]).double().requires_grad_(True)
    assert torch.autograd.gradcheck(net, (x,), eps=1e-6, atol=1e-5)


# ---------------------------------------------------------------- real models

def _faceplugin_onnx() -> Path:
    """The faceplugin recogniser (fr_feature.onnx), from the model store, or skip."""
    from facecloak.errors import FaceCloakError
    from facecloak.models import store

    try:
        return store.model_file("faceplugin")
    except FaceCloakError as exc:
        pytest.skip(f"faceplugin model not available: {exc}")


def _registry_model(name: str) -> Path:
    """A registered ONNX model file, fetched through the store, or skip."""
    from facecloak.errors import FaceCloakError
    from facecloak.models import store

    try:
        return store.model_file(name)
    except FaceCloakError as exc:
        pytest.skip(f"{name} not available: {exc}")


def _yunet() -> Path:
    shared = paths.shared_dir()
    path = shared / "models" / "yunet" / "yunet_s_dynamic.onnx" if shared else None
    if path is None or not path.is_file():
        pytest.skip("YuNet needs the shared folder (shared/models/yunet)")
    return path


def _per_sample_ort(path: Path, x: np.ndarray) -> list[np.ndarray]:
    """onnxruntime outputs for a batch, run one sample at a time (fixed-batch graphs)."""
    m = onnx.load(str(path))
    runs = [ort_run(m, {m.graph.input[0].name: x[i:i + 1]}) for i in range(len(x))]
    return [np.concatenate(outs) for outs in zip(*runs)]


@pytest.fixture(scope="module")
def faceplugin():
    path = _faceplugin_onnx()
    return path, OnnxModule(path)


@pytest.mark.models
@pytest.mark.parametrize("batch", [1, 3])
def test_faceplugin_matches_onnxruntime(faceplugin, batch):
    path, net = faceplugin
    rng = np.random.default_rng(batch)
    for _ in range(3):  # inputs as preprocessed faces: (pixel - 127) / 128, in [-1, 1]
        x = ((rng.random((batch, 3, 112, 112)) * 255 - 127) / 128).astype(np.float32)
        expected = _per_sample_ort(path, x)[0]
        with torch.no_grad():
            got = net(torch.from_numpy(x)).numpy()
        assert got.shape == expected.shape == (batch, 512)
        cos = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
        assert cos.min() >= 0.999, cos


@pytest.mark.models
def test_faceplugin_gradients_flow(faceplugin):
    _, net = faceplugin
    x = (torch.rand(2, 3, 112, 112) * 2 - 1).requires_grad_(True)
    emb = net(x)
    torch.nn.functional.normalize(emb, dim=1)[:, :10].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.models
@pytest.mark.parametrize("name", ["faceplugin-detect", "faceplugin-landmarks"])
def test_faceplugin_other_models(name):
    _check_real_model(_registry_model(name), batch=2)


@pytest.mark.shared
def test_yunet():
    _check_real_model(_yunet(), batch=2, size=(160, 192))


def _check_real_model(path: Path, batch: int, size: tuple[int, int] | None = None):
    m = onnx.load(str(path))
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    shape[0] = batch
    if size:
        shape[2:] = size
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = _per_sample_ort(path, x)
    with torch.no_grad():
        got = OnnxModule(m)(torch.from_numpy(x))
    got = got if isinstance(got, tuple) else (got,)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g.numpy(), e, rtol=0, atol=1e-4 * max(1.0, float(np.abs(e).max())))
