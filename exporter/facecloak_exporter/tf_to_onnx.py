"""Convert a `TfGraph` (frozen .pb or TFJS) to ONNX.

TensorFlow graphs are NHWC; ONNX convolutions are NCHW. Instead of wrapping
every convolution in a pair of transposes, the converter tracks, per tensor,
whether it currently holds an NCHW copy of a 4-D NHWC activation. Layout-aware
ops (convolutions, pools, per-channel arithmetic, concat, pad, reductions)
work on the NCHW copy directly; any other op that receives one gets a single
transpose back to NHWC first. The graph's input and outputs keep the layout
of the source graph, so the ONNX file is a drop-in for the original.

Only the ops the models we ship use are supported; anything else raises
`UnsupportedOpError` naming the op and node. Constant-size bilinear resizes
that upsample by whole factors become resizes by those factors, so that a
fully convolutional graph (mb3-centernet) takes other input sizes too.

Conventions: TF ``padding="SAME"`` is ONNX ``auto_pad="SAME_UPPER"`` (the
extra pixel goes at the end); TF conv kernels are HWIO, ONNX OIHW; TF
depthwise kernels are (H, W, C, multiplier), ONNX (C*multiplier, 1, H, W)
with ``group=C``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .tfgraph import TF_DTYPES, TfGraph, TfNode

OPSET = 13
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class UnsupportedOpError(NotImplementedError):
    pass


def _clean(name: str) -> str:
    """Strip control-dependency (^x) and output-index (x:0) decorations."""
    name = name.lstrip("^")
    return name.split(":")[0] if ":" in name and name.rsplit(":", 1)[1].isdigit() else name


class _Converter:
    def __init__(self, graph: TfGraph, batch_dynamic: bool):
        self.g = graph
        self.by_name = {n.name: n for n in graph.nodes}
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.nchw: set[str] = set()  # tensors holding an NCHW copy of NHWC data
        self.rank: dict[str, int] = {}
        self.batch_dynamic = batch_dynamic
        self.fixed_batch: int | None = None
        self._counter = 0
        self.resizes: list[tuple[str, list[str], np.ndarray]] = []  # Resize, its helpers, (H, W)

    # --- helpers --------------------------------------------------------------
    def fresh(self, base: str) -> str:
        self._counter += 1
        return f"{base}__{self._counter}"

    def const(self, value: np.ndarray, base: str = "const") -> str:
        name = self.fresh(base)
        self.inits[name] = np.asarray(value)
        return name

    def emit(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=self.fresh(op), **attrs))
        return output

    def is_const(self, name: str) -> bool:
        node = self.by_name.get(_clean(name))
        return node is not None and node.op == "Const"

    def value(self, name: str) -> np.ndarray:
        return self.g.consts[_clean(name)]

    def as_nhwc(self, name: str) -> str:
        if name not in self.nchw:
            return name
        out = name + "__nhwc"
        if not any(out in n.output for n in self.nodes):
            self.emit("Transpose", [name], out, perm=TO_NHWC)
        return out

    def as_nchw(self, name: str) -> str:
        if name in self.nchw:
            return name
        out = name + "__nchw"
        self.emit("Transpose", [name], out, perm=TO_NCHW)
        return out

    def channel_const(self, value: np.ndarray) -> np.ndarray:
        """An NHWC-broadcastable constant rearranged to broadcast against NCHW."""
        value = np.asarray(value, np.float32)
        if value.ndim == 0:
            return value
        value = value.reshape((1,) * (4 - value.ndim) + value.shape)
        return value.transpose(TO_NCHW)

    # --- graph walk -----------------------------------------------------------
    def needed(self, outputs: list[str]) -> list[TfNode]:
        seen, order = set(), []

        def visit(name: str) -> None:
            name = _clean(name)
            if name in seen:
                return
            seen.add(name)
            node = self.by_name[name]
            for inp in node.inputs:
                if not inp.startswith("^"):
                    visit(inp)
            order.append(node)

        for out in outputs:
            visit(out)
        return order

    def run(self, outputs: list[str], output_names: list[str]) -> onnx.ModelProto:
        graph_inputs = []
        for node in self.needed(outputs):
            if node.op == "Const":
                continue
            handler = getattr(self, "op_" + node.op.lstrip("_"), None)
            if handler is None:
                raise UnsupportedOpError(f"TF op {node.op!r} (node {node.name!r}) is not supported")
            if node.op == "Placeholder":
                graph_inputs.append(handler(node))
            else:
                handler(node)
        graph_outputs = []
        for src, dst in zip(outputs, output_names):
            self.emit("Identity", [self.as_nhwc(_clean(src))], dst)
            rank = self.rank.get(_clean(src), 2)
            graph_outputs.append(helper.make_tensor_value_info(dst, TensorProto.FLOAT, [None] * rank))
        inits = [numpy_helper.from_array(v, k) for k, v in self.inits.items()]
        graph = helper.make_graph(self.nodes, "converted", graph_inputs, graph_outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="facecloak-exporter")
        model.ir_version = 8
        onnx.checker.check_model(model)
        if self.resizes:
            _resizes_as_scales(model, self.resizes)
            onnx.checker.check_model(model)
        return model

    def ins(self, node: TfNode) -> list[str]:
        return [_clean(i) for i in node.inputs if not i.startswith("^")]

    def init_or_name(self, name: str) -> str:
        """A Const input becomes an initializer; others are graph tensors."""
        if self.is_const(name):
            if name not in self.inits:
                self.inits[name] = np.asarray(self.value(name))
            return name
        return name

    # --- ops --------------------------------------------------------------------
    def op_Placeholder(self, node: TfNode):
        shape = list(node.attrs.get("shape") or [])
        if shape and shape[0] not in (-1, None):
            self.fixed_batch = shape[0]
        if shape and self.batch_dynamic:
            shape[0] = "batch"
        self.rank[node.name] = len(shape)
        return helper.make_tensor_value_info(node.name, TensorProto.FLOAT, shape or None)

    def op_Identity(self, node: TfNode):
        (x,) = self.ins(node)[:1]
        self._unary(node, "Identity", x)

    def _unary(self, node: TfNode, op: str, x: str, **attrs):
        x = self.init_or_name(x)
        self.emit(op, [x], node.name, **attrs)
        self.rank[node.name] = self.rank.get(x, 4)
        if x in self.nchw:
            self.nchw.add(node.name)

    def op_Relu(self, node):
        self._unary(node, "Relu", self.ins(node)[0])

    def op_Relu6(self, node):
        x = self.ins(node)[0]
        self._unary(node, "Clip", x)
        self.nodes[-1].input.extend([self.const(np.float32(0)), self.const(np.float32(6))])

    def op_Neg(self, node):  # FaceBoxes' CReLU: concat(x, -x), then Relu
        self._unary(node, "Neg", self.ins(node)[0])

    def op_Abs(self, node):
        self._unary(node, "Abs", self.ins(node)[0])

    def op_Sigmoid(self, node):
        self._unary(node, "Sigmoid", self.ins(node)[0])

    def op_Softmax(self, node):
        x = self.as_nhwc(self.ins(node)[0])
        self.emit("Softmax", [x], node.name, axis=-1)
        self.rank[node.name] = self.rank.get(x, 2)

    def op_Rsqrt(self, node):
        x = self.ins(node)[0]
        tmp = self.fresh(node.name + "/sqrt")
        self._unary(TfNode(tmp, "Sqrt", [x]), "Sqrt", x)
        self._unary(node, "Reciprocal", tmp)

    def op_Square(self, node):
        x = self.ins(node)[0]
        self.emit("Mul", [x, x], node.name)
        self.rank[node.name] = self.rank.get(x, 4)
        if x in self.nchw:
            self.nchw.add(node.name)

    def _binary(self, node: TfNode, op: str, a: str, b: str):
        if a in self.nchw or b in self.nchw:
            layouts_ok = True
            names = []
            for t in (a, b):
                if t in self.nchw:
                    names.append(t)
                elif self.is_const(t):
                    names.append(self.const(self.channel_const(self.value(t)), t))
                else:
                    layouts_ok = False
                    names.append(t)
            if layouts_ok:
                self.emit(op, names, node.name)
                self.nchw.add(node.name)
                self.rank[node.name] = 4
                return
            a, b = self.as_nhwc(a), self.as_nhwc(b)
        self.emit(op, [self.init_or_name(a), self.init_or_name(b)], node.name)
        self.rank[node.name] = max(self.rank.get(a, np.ndim(self.g.consts.get(a, 0))),
                                   self.rank.get(b, np.ndim(self.g.consts.get(b, 0))))

    def op_Add(self, node):
        self._binary(node, "Add", *self.ins(node)[:2])

    op_AddV2 = op_Add
    op_BiasAdd = op_Add

    def op_Sub(self, node):
        self._binary(node, "Sub", *self.ins(node)[:2])

    def op_Mul(self, node):
        self._binary(node, "Mul", *self.ins(node)[:2])

    def op_RealDiv(self, node):
        self._binary(node, "Div", *self.ins(node)[:2])

    def op_Maximum(self, node):
        self._binary(node, "Max", *self.ins(node)[:2])

    def op_Minimum(self, node):
        self._binary(node, "Min", *self.ins(node)[:2])

    def _spatial(self, attrs: dict) -> dict:
        strides = attrs.get("strides", [1, 1, 1, 1])
        out = {"strides": [int(strides[1]), int(strides[2])]}
        padding = attrs.get("padding", "VALID")
        if padding == "SAME":
            out["auto_pad"] = "SAME_UPPER"
        elif padding == "VALID":
            out["pads"] = [0, 0, 0, 0]
        else:
            raise UnsupportedOpError(f"padding {padding!r}")
        return out

    def _conv(self, node: TfNode, weight: np.ndarray, group: int):
        x = self.as_nchw(self.ins(node)[0])
        dil = node.attrs.get("dilations", [1, 1, 1, 1])
        w = self.const(weight.astype(np.float32), node.name + "/W")
        self.emit("Conv", [x, w], node.name, group=group, dilations=[int(dil[1]), int(dil[2])],
                  kernel_shape=list(weight.shape[2:]), **self._spatial(node.attrs))
        self.nchw.add(node.name)
        self.rank[node.name] = 4

    def op_Conv2D(self, node):
        kernel = self.value(self.ins(node)[1])  # H, W, I, O
        self._conv(node, kernel.transpose(3, 2, 0, 1), group=1)

    def op_DepthwiseConv2dNative(self, node):
        kernel = self.value(self.ins(node)[1])  # H, W, C, M
        h, w, c, m = kernel.shape
        self._conv(node, kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, h, w), group=c)

    def _pool(self, node: TfNode, op: str):
        x = self.as_nchw(self.ins(node)[0])
        k = node.attrs["ksize"]
        self.emit(op, [x], node.name, kernel_shape=[int(k[1]), int(k[2])], **self._spatial(node.attrs))
        self.nchw.add(node.name)
        self.rank[node.name] = 4

    def op_MaxPool(self, node):
        self._pool(node, "MaxPool")

    def op_AvgPool(self, node):
        self._pool(node, "AveragePool")

    def op_ConcatV2(self, node):
        *xs, axis_name = self.ins(node)
        axis = int(self.value(axis_name))
        if all(x in self.nchw for x in xs):
            self.emit("Concat", xs, node.name, axis=NHWC_TO_NCHW_AXIS[axis % 4])
            self.nchw.add(node.name)
        else:
            self.emit("Concat", [self.init_or_name(self.as_nhwc(x)) for x in xs], node.name, axis=axis)
        self.rank[node.name] = max(self.rank.get(x, 4) for x in xs)

    def op_Pad(self, node):
        x, pads_name = self.ins(node)[:2]
        pads = np.asarray(self.value(pads_name), np.int64)  # (rank, 2)
        if x in self.nchw:
            pads = pads[TO_NCHW]
            self.nchw.add(node.name)
        onnx_pads = self.const(np.concatenate([pads[:, 0], pads[:, 1]]).astype(np.int64), node.name + "/pads")
        self.emit("Pad", [x, onnx_pads], node.name, mode="constant")
        self.rank[node.name] = len(pads)

    def op_Reshape(self, node):
        x, shape_name = self.ins(node)[:2]
        shape = np.asarray(self.value(shape_name), np.int64).copy()
        if self.batch_dynamic and self.fixed_batch and list(shape) == [self.fixed_batch, -1]:
            self.emit("Flatten", [self.as_nhwc(x)], node.name, axis=1)  # frozen [1, -1]
            self.rank[node.name] = 2
            return
        if self.batch_dynamic and self.fixed_batch and len(shape) > 1 and shape[0] == self.fixed_batch \
                and -1 not in shape:
            shape[0] = -1  # graph was frozen at a fixed batch: let it vary
        self.emit("Reshape", [self.as_nhwc(x), self.const(shape, node.name + "/shape")], node.name)
        self.rank[node.name] = len(shape)

    def op_Squeeze(self, node):
        x = self.as_nhwc(self.ins(node)[0])
        axes = node.attrs.get("squeeze_dims") or []
        self.emit("Squeeze", [x, self.const(np.asarray(axes, np.int64))], node.name)
        self.rank[node.name] = self.rank.get(x, 4) - len(axes)

    def _reduce(self, node: TfNode, op: str):
        x, axes_name = self.ins(node)[:2]
        axes = [int(a) % self.rank.get(x, 4) for a in np.atleast_1d(self.value(axes_name))]
        keep = bool(node.attrs.get("keep_dims", False))
        if x in self.nchw:
            mapped = [NHWC_TO_NCHW_AXIS[a] for a in axes]
            kept = [NHWC_TO_NCHW_AXIS[a] for a in range(4) if a not in axes]
            if keep or kept == sorted(kept):
                self._emit_reduce(op, x, mapped, keep, node.name)
                if keep:
                    self.nchw.add(node.name)
                self.rank[node.name] = 4 if keep else 4 - len(axes)
                return
            x = self.as_nhwc(x)
        self._emit_reduce(op, x, axes, keep, node.name)
        self.rank[node.name] = self.rank.get(x, 4) if keep else self.rank.get(x, 4) - len(axes)

    def _emit_reduce(self, op: str, x: str, axes: list[int], keep: bool, out: str):
        if op == "ReduceSum":  # opset 13: axes as an input
            self.emit(op, [x, self.const(np.asarray(axes, np.int64))], out, keepdims=int(keep))
        else:
            self.emit(op, [x], out, axes=axes, keepdims=int(keep))

    def op_Mean(self, node):
        self._reduce(node, "ReduceMean")

    def op_Sum(self, node):
        self._reduce(node, "ReduceSum")

    def op_MatMul(self, node):
        a, b = self.ins(node)[:2]
        a, b = self.as_nhwc(a), self.init_or_name(b)
        if node.attrs.get("transpose_a"):
            a = self.emit("Transpose", [a], self.fresh(a + "/T"), perm=[1, 0])
        if node.attrs.get("transpose_b"):
            b = self.emit("Transpose", [b], self.fresh(b + "/T"), perm=[1, 0])
        self.emit("MatMul", [a, b], node.name)
        self.rank[node.name] = 2

    def op_FusedMatMul(self, node):
        a, b, bias = self.ins(node)[:3]
        fused = list(node.attrs.get("fused_ops", []))
        mm = self.fresh(node.name + "/matmul")
        self.op_MatMul(TfNode(mm, "MatMul", [a, b], node.attrs))
        out = node.name if fused == ["BiasAdd"] else self.fresh(node.name + "/bias")
        self.emit("Add", [mm, self.init_or_name(bias)], out)
        if fused == ["BiasAdd", "Relu"]:
            self.emit("Relu", [out], node.name)
        elif fused != ["BiasAdd"]:
            raise UnsupportedOpError(f"_FusedMatMul with fused_ops={fused} (node {node.name!r})")
        self.rank[node.name] = 2

    def op_FusedBatchNorm(self, node):
        x, scale, offset, mean, var = self.ins(node)[:5]
        eps = float(node.attrs.get("epsilon", 1e-3))
        mul = self.value(scale) / np.sqrt(self.value(var) + eps)
        add = self.value(offset) - self.value(mean) * mul
        tmp = self.fresh(node.name + "/mul")
        mul_name, add_name = node.name + "/scale", node.name + "/shift"
        for name, value in ((mul_name, mul), (add_name, add)):  # as if the graph held them
            self.g.consts[name] = value.astype(np.float32)
            self.by_name[name] = TfNode(name, "Const", [])
        self._binary(TfNode(tmp, "Mul", []), "Mul", x, mul_name)
        self._binary(node, "Add", tmp, add_name)

    op_FusedBatchNormV3 = op_FusedBatchNorm

    def _fused_conv(self, node: TfNode, base: str):
        """Grappler's fused convolutions: ``base`` + BiasAdd (+ Relu / Relu6)."""
        x, w, bias = self.ins(node)[:3]
        fused = list(node.attrs.get("fused_ops", []))
        if fused not in (["BiasAdd"], ["BiasAdd", "Relu"], ["BiasAdd", "Relu6"]):
            raise UnsupportedOpError(f"{node.op} with fused_ops={fused} (node {node.name!r})")
        conv = self.fresh(node.name + "/conv")
        getattr(self, "op_" + base)(TfNode(conv, base, [x, w], node.attrs))
        out = node.name if len(fused) == 1 else self.fresh(node.name + "/bias")
        self._binary(TfNode(out, "BiasAdd", []), "Add", conv, bias)
        if len(fused) == 2:
            getattr(self, "op_" + fused[1])(TfNode(node.name, fused[1], [out]))

    def op_FusedConv2D(self, node):
        self._fused_conv(node, "Conv2D")

    def op_FusedDepthwiseConv2dNative(self, node):
        self._fused_conv(node, "DepthwiseConv2dNative")

    def op_ResizeBilinear(self, node):
        """Resize to the constant (H, W) of the graph; see `_resizes_as_scales`."""
        x, size = self.ins(node)[:2]
        x = self.as_nchw(x)
        if node.attrs.get("align_corners"):
            mode = "align_corners"
        elif node.attrs.get("half_pixel_centers"):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        shape = self.emit("Shape", [x], self.fresh(node.name + "/shape"))
        batch_channels = self.emit("Slice", [shape, self.const(np.array([0], np.int64)),
                                             self.const(np.array([2], np.int64))], self.fresh(node.name + "/nc"))
        hw = np.asarray(self.value(size), np.int64).reshape(2)
        sizes = self.emit("Concat", [batch_channels, self.const(hw)], self.fresh(node.name + "/sizes"), axis=0)
        helpers = [n.name for n in self.nodes[-3:]]
        self.emit("Resize", [x, "", "", sizes], node.name, mode="linear", coordinate_transformation_mode=mode)
        self.resizes.append((self.nodes[-1].name, helpers, hw))
        self.nchw.add(node.name)
        self.rank[node.name] = 4


def _resizes_as_scales(model: onnx.ModelProto, resizes) -> None:
    """Turn each constant-size Resize that is an exact integer upsampling of its
    input (the shapes the graph's own input gives) into a Resize by that factor.

    TF graphs hold their resize targets as constants (Keras' UpSampling2D is
    folded to one), which pins the whole graph to the input size it was
    exported at; as scales, a fully convolutional graph takes any input size
    whose upsampled maps still line up -- the same numbers at the original size.
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    dims = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input):
        dims[value.name] = [d.dim_value if d.HasField("dim_value") else None
                            for d in value.type.tensor_type.shape.dim]
    by_name = {n.name: n for n in model.graph.node}
    drop = []
    for resize_name, helpers, hw in resizes:
        resize = by_name[resize_name]
        shape = dims.get(resize.input[0])
        if not shape or len(shape) != 4 or not shape[2] or not shape[3]:
            continue
        factors = hw / np.array(shape[2:], np.float64)
        if not np.all(factors == np.round(factors)) or np.any(factors < 1):
            continue
        name = resize.output[0] + "/scales"
        model.graph.initializer.append(numpy_helper.from_array(
            np.array([1.0, 1.0, *factors], np.float32), name))
        resize.input[:] = [resize.input[0], "", name]
        drop.extend(helpers)
    for name in drop:
        model.graph.node.remove(by_name[name])
    used = {i for n in model.graph.node for i in n.input}
    unused = [t for t in model.graph.initializer if t.name not in used]
    for t in unused:
        model.graph.initializer.remove(t)


def tf_to_onnx(graph: TfGraph, outputs: list[str], output_names: list[str] | None = None,
               batch_dynamic: bool = True) -> onnx.ModelProto:
    """Convert the part of ``graph`` that computes ``outputs`` to an ONNX model.

    The ONNX inputs are the graph's Placeholders (same names, NHWC, batch made
    dynamic when ``batch_dynamic``); outputs are renamed to ``output_names``.
    """
    for n in graph.nodes:
        if n.op == "Placeholder" and TF_DTYPES.get(n.attrs.get("dtype", 1)) is not np.float32:
            raise UnsupportedOpError(f"placeholder {n.name!r} is not float32")
    return _Converter(graph, batch_dynamic).run(outputs, output_names or outputs)
