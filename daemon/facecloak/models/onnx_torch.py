"""Run an ONNX graph as a differentiable ``torch.nn.Module``.

`OnnxModule` interprets the graph node by node with torch ops, so gradients
flow from the outputs back to the inputs (what adversarial cloaking needs)
and every model we hold as ONNX can be optimised against without a separate
torch port.

    >>> net = OnnxModule("fr_feature.onnx")     # or an onnx.ModelProto
    >>> emb = net(x)                            # x: (N, 3, 112, 112) float32

Conventions:
    * Inputs are the graph inputs that are not initializers, in graph order;
      the result is the graph outputs, one tensor or a tuple when several.
    * Float initializers become float32 buffers (``.to(device)`` moves them,
      nothing is trainable). Integer constants (shapes, axes, indices) stay
      CPU int64 tensors, as do the results of ``Shape``, so shape arithmetic
      never touches the accelerator.
    * Nodes whose inputs are all constant are evaluated once, at construction.
    * Inference semantics only: BatchNormalization uses its running
      statistics and Dropout is the identity, whatever ``.train()`` says.
    * ``dynamic_batch``: graphs exported with a fixed batch size often bake
      it into a Reshape target (``[1, -1]``). Such a constant target whose
      first entry equals the fixed batch, and whose data tensor has that batch
      as first dimension (ONNX shape inference), gets ``0`` ("copy the input's
      dimension") instead, so any batch size runs. Results at the exported
      batch size are unchanged.
    * An op that is not in `_OPS` is refused when the module is built, with
      `UnsupportedOnnxError` naming the op and node; so is any op outside the
      default domain, and control flow (If, Loop, Scan). Rare variants (cubic
      Resize, MaxPool indices, ConvTranspose ``output_shape``) raise it when run.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import reduce
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from ..errors import FaceCloakError

Tensor = torch.Tensor


class UnsupportedOnnxError(FaceCloakError, NotImplementedError):
    """The graph uses an op (or an op variant) that `OnnxModule` cannot run."""


# ---------------------------------------------------------------- helpers

_DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32,
           7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16}


def _tensor(proto: onnx.TensorProto) -> Tensor:
    """A TensorProto as a torch tensor; floats of any width become float32."""
    t = torch.from_numpy(numpy_helper.to_array(proto).copy())
    return t.float() if t.is_floating_point() else t


def _values(v) -> list:
    """An attribute list or a (shape, axes, scales) tensor of any rank as a python list."""
    return v.reshape(-1).tolist() if isinstance(v, Tensor) else list(v)


def _ints(v) -> list[int]:
    return [int(i) for i in _values(v)]


def _torch_pads(pads: list[int]) -> list[int]:
    """ONNX ``[b1, .., bn, e1, .., en]`` (first axis first) to F.pad's order (last axis first)."""
    n = len(pads) // 2
    return [p for i in reversed(range(n)) for p in (pads[i], pads[i + n])]


def _window_pads(a: dict, x: Tensor, kernel, strides, dilations) -> list[int]:
    """Spatial pads of a Conv/Pool node in ONNX order, with ``auto_pad`` resolved."""
    auto, n = a.get("auto_pad", "NOTSET"), len(kernel)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        return begin + end
    return [0] * 2 * n if auto == "VALID" else list(a.get("pads", [0] * 2 * n))


def _symmetric(x: Tensor, pads: list[int], kernel=None, value: float = 0.0) -> tuple[Tensor, list[int]]:
    """Pads as torch's ``padding=`` (symmetric, at most half the ``kernel`` for pools), else ``x`` pre-padded."""
    n = len(pads) // 2
    if pads[:n] == pads[n:] and (kernel is None or all(p <= k // 2 for p, k in zip(pads, kernel))):
        return x, pads[:n]
    return F.pad(x, _torch_pads(pads), value=value), [0] * n


def _geometry(a: dict, x: Tensor, kernel) -> tuple[list, list, list]:
    n = len(kernel)
    strides, dilations = a.get("strides", [1] * n), a.get("dilations", [1] * n)
    return strides, dilations, _window_pads(a, x, kernel, strides, dilations)


# ---------------------------------------------------------------- ops
# Every op is ``fn(attrs, *inputs)``: ``attrs`` holds the node's attributes as
# python values plus "_opset" and "_n_out"; a missing optional input is None.

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _conv(a, x, w, b=None):
    kernel = w.shape[2:]
    strides, dilations, pads = _geometry(a, x, kernel)
    x, padding = _symmetric(x, pads)
    return _CONV[len(kernel)](x, w, b, strides, padding, dilations, a.get("group", 1))


def _conv_transpose(a, x, w, b=None):
    n = w.dim() - 2
    if "output_shape" in a or a.get("auto_pad", "NOTSET") != "NOTSET":
        raise UnsupportedOnnxError("ConvTranspose with output_shape/auto_pad is not supported")
    strides, dilations = a.get("strides", [1] * n), a.get("dilations", [1] * n)
    y = _CONV_T[n](x, w, b, strides, 0, a.get("output_padding", [0] * n), a.get("group", 1), dilations)
    pads = a.get("pads", [0] * 2 * n)
    return y[(..., *(slice(pads[i], y.shape[2 + i] - pads[i + n]) for i in range(n)))]


def _maxpool(a, x):
    if a["_n_out"] > 1:
        raise UnsupportedOnnxError("MaxPool's Indices output is not supported")
    kernel = a["kernel_shape"]
    strides, dilations, pads = _geometry(a, x, kernel)
    x, padding = _symmetric(x, pads, kernel, value=-math.inf)
    return _MAXPOOL[len(kernel)](x, kernel, strides, padding, dilations, bool(a.get("ceil_mode", 0)))


def _avgpool(a, x):
    kernel = a["kernel_shape"]
    strides, dilations, pads = _geometry(a, x, kernel)
    if any(d != 1 for d in dilations):
        raise UnsupportedOnnxError("AveragePool with dilations is not supported")
    pool, ceil, include = _AVGPOOL[len(kernel)], bool(a.get("ceil_mode", 0)), bool(a.get("count_include_pad", 0))
    xp, padding = _symmetric(x, pads, kernel)
    y = pool(xp, kernel, strides, padding, ceil, include)
    if xp is x or include:
        return y
    ones = F.pad(torch.ones_like(x[:1, :1]), _torch_pads(pads))  # divide by the real pixels only
    return y / pool(ones, kernel, strides, 0, ceil, True)


def _prelu(a, x, slope):
    if slope.numel() == 1 or (slope.dim() == x.dim() - 1 and all(s == 1 for s in slope.shape[1:])):
        return F.prelu(x, slope.reshape(-1))  # per-channel: one fused kernel
    return torch.where(x >= 0, x, x * slope)  # ONNX broadcasting of slope against x


def _softmax(a, x, fn=torch.softmax):
    if a["_opset"] >= 13:
        return fn(x, a.get("axis", -1))
    return fn(x.flatten(a.get("axis", 1) % x.dim()), -1).reshape(x.shape)  # old: 2-D coercion


def _clip(a, x, lo=None, hi=None):
    return torch.clamp(x, a.get("min", lo), a.get("max", hi))


def _div(x, y):
    if x.is_floating_point() or y.is_floating_point():
        return x / y
    return torch.div(x, y, rounding_mode="trunc")


def _gemm(a, x, w, c=None):
    x = x.t() if a.get("transA", 0) else x
    y = x @ (w.t() if a.get("transB", 0) else w)
    y = y * a["alpha"] if a.get("alpha", 1.0) != 1.0 else y
    beta = a.get("beta", 1.0)
    return y if c is None else y + (c if beta == 1.0 else beta * c)


def _reshape(a, x, shape=None):
    shape = _ints(a["shape"] if shape is None else shape)
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _flatten(a, x):
    axis = a.get("axis", 1) % (x.dim() + 1)
    return x.reshape(math.prod(x.shape[:axis]), -1)


def _split(a, x, split=None):
    axis = a.get("axis", 0)
    sizes = a.get("split", None if split is None else _ints(split))
    if not sizes:
        n = a.get("num_outputs", a["_n_out"])
        chunk = -(-x.shape[axis] // n)
        sizes = [chunk] * (n - 1) + [x.shape[axis] - chunk * (n - 1)]
    return tuple(torch.split(x, sizes, axis))


def _slice(a, x, starts=None, ends=None, axes=None, steps=None):
    """Python slicing clamps exactly as ONNX does, for both signs of step."""
    starts, ends = _ints(a.get("starts", starts)), _ints(a.get("ends", ends))
    axes = _ints(a.get("axes", axes)) if a.get("axes", axes) is not None else range(len(starts))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        start, end, step = slice(start, end, step).indices(x.shape[axis])
        if step > 0:
            index[axis] = slice(start, end, step)
        else:  # torch has no negative steps
            x = x.index_select(axis, torch.arange(start, end, step, device=x.device))
    return x[tuple(index)]


def _squeeze(a, x, axes=None):
    axes = a.get("axes", axes)
    return x.squeeze() if axes is None else x.squeeze(tuple(i % x.dim() for i in _ints(axes)))


def _unsqueeze(a, x, axes=None):
    axes = _ints(a.get("axes", axes))
    for axis in sorted(i % (x.dim() + len(axes)) for i in axes):
        x = x.unsqueeze(axis)
    return x


def _gather(a, x, idx):
    axis = a.get("axis", 0) % x.dim()
    idx = idx.to(x.device)
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def _constant(a):
    if "value" in a:
        return a["value"]
    for key, dtype in (("value_float", torch.float32), ("value_floats", torch.float32),
                       ("value_int", torch.int64), ("value_ints", torch.int64)):
        if key in a:
            return torch.tensor(a[key], dtype=dtype)
    raise UnsupportedOnnxError(f"Constant with attributes {sorted(a)} is not supported")


def _pad(a, x, pads=None, value=None, axes=None):
    pads, mode = _ints(a.get("pads", pads)), a.get("mode", "constant")
    if axes is not None:  # opset 18: pads only for the listed axes
        axes, full = [i % x.dim() for i in _ints(axes)], [0] * 2 * x.dim()
        for j, axis in enumerate(axes):
            full[axis], full[axis + x.dim()] = pads[j], pads[j + len(axes)]
        pads = full
    torch_pads = _torch_pads(pads)
    if mode == "constant":
        return F.pad(x, torch_pads, value=float(a.get("value", 0.0) if value is None else value))
    while torch_pads[-2:] == [0, 0]:  # reflect/replicate pad only the trailing axes
        torch_pads = torch_pads[:-2]
    return F.pad(x, torch_pads, mode={"reflect": "reflect", "edge": "replicate"}[mode])


def _reduce(fn):
    def op(a, x, axes=None):
        axes = a.get("axes", axes)
        if axes is None or not _ints(axes):
            if a.get("noop_with_empty_axes", 0):
                return x
            axes = range(x.dim())
        return fn(x, tuple(i % x.dim() for i in _ints(axes)), bool(a.get("keepdims", 1)))
    return op


_SOURCE = {  # ONNX coordinate_transformation_mode: output index -> source coordinate
    "half_pixel": lambda i, scale, n_in, n_out: (i + 0.5) / scale - 0.5,
    "pytorch_half_pixel": lambda i, scale, n_in, n_out: (i + 0.5) / scale - 0.5 if n_out > 1 else 0 * i,
    "align_corners": lambda i, scale, n_in, n_out: i * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0),
    "asymmetric": lambda i, scale, n_in, n_out: i / scale,
    "tf_half_pixel_for_nn": lambda i, scale, n_in, n_out: (i + 0.5) / scale,
}
_ROUND = {"round_prefer_floor": lambda s: torch.ceil(s - 0.5), "round_prefer_ceil": lambda s: torch.floor(s + 0.5),
          "floor": torch.floor, "ceil": torch.ceil}


def _resize(a, x, roi=None, scales=None, sizes=None):
    """Nearest or (multi)linear resize, axis by axis, with ONNX's coordinate and rounding rules."""
    if a["_opset"] < 11:  # Resize-10 and Upsample: (X, scales), asymmetric, floor
        a, roi, scales = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor", **a}, None, roi
    mode, ctm = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear", "bilinear") or ctm not in _SOURCE:
        raise UnsupportedOnnxError(f"Resize mode={mode!r}, coordinate_transformation_mode={ctm!r}")
    if sizes is not None and sizes.numel():
        sizes = _ints(sizes)
        scales = [n_out / n_in for n_out, n_in in zip(sizes, x.shape)]
    else:
        scales = [float(s) for s in _values(scales)]
        sizes = [math.floor(n_in * s) for n_in, s in zip(x.shape, scales)]
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape, sizes, scales)):
        if n_in == n_out and scale == 1:
            continue
        src = _SOURCE[ctm](torch.arange(n_out, dtype=torch.float64), scale, n_in, n_out)
        if mode == "nearest":
            idx = _ROUND[a.get("nearest_mode", "round_prefer_floor")](src).clamp(0, n_in - 1).long()
            x = x.index_select(axis, idx.to(x.device))
            continue
        src = src.clamp(0, n_in - 1)
        lo = src.floor().long()
        hi = (lo + 1).clamp(max=n_in - 1)
        w = (src - lo).to(x.device, x.dtype).reshape([-1] + [1] * (x.dim() - axis - 1))
        x = torch.lerp(x.index_select(axis, lo.to(x.device)), x.index_select(axis, hi.to(x.device)), w)
    return x


def _upsample(a, x, scales=None):
    return _resize({**a, "_opset": 10}, x, a.get("scales", scales))


def _depth_to_space(a, x):
    b, (n, c, h, w) = a["blocksize"], x.shape
    if a.get("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, b)
    return x.reshape(n, b, b, c // b**2, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c // b**2, h * b, w * b)


def _shape(a, x):
    return torch.tensor(x.shape[a.get("start", 0):a.get("end")], dtype=torch.int64)


def _dropout(a, x, *_):
    return (x, torch.ones_like(x, dtype=torch.bool)) if a["_n_out"] > 1 else x


def _unary(fn):
    return lambda a, x: fn(x)


def _variadic(fn):
    return lambda a, *xs: reduce(fn, xs)


_OPS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _maxpool, "AveragePool": _avgpool,
    "GlobalAveragePool": _unary(lambda x: x.mean(tuple(range(2, x.dim())), keepdim=True)),
    "GlobalMaxPool": _unary(lambda x: x.amax(tuple(range(2, x.dim())), keepdim=True)),
    "BatchNormalization": lambda a, x, scale, bias, mean, var, *_: F.batch_norm(
        x, mean, var, scale, bias, False, 0.0, a.get("epsilon", 1e-5)),
    "LpNormalization": lambda a, x: x / torch.linalg.vector_norm(x, a.get("p", 2), a.get("axis", -1), True),
    "Relu": _unary(F.relu), "PRelu": _prelu, "LeakyRelu": lambda a, x: F.leaky_relu(x, a.get("alpha", 0.01)),
    "Elu": lambda a, x: F.elu(x, a.get("alpha", 1.0)),
    "Sigmoid": _unary(torch.sigmoid), "Tanh": _unary(torch.tanh),
    "HardSigmoid": lambda a, x: torch.clamp(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1),
    "HardSwish": _unary(F.hardswish), "Mish": _unary(F.mish), "Softplus": _unary(F.softplus),
    "Gelu": lambda a, x: F.gelu(x, approximate=a.get("approximate", "none")),
    "Softmax": _softmax, "LogSoftmax": lambda a, x: _softmax(a, x, torch.log_softmax), "Clip": _clip,
    "Add": _variadic(torch.add), "Sub": _variadic(torch.sub), "Mul": _variadic(torch.mul), "Div": _variadic(_div),
    "Pow": _variadic(torch.pow), "Max": _variadic(torch.maximum), "Min": _variadic(torch.minimum),
    "Sum": _variadic(torch.add), "Mean": lambda a, *xs: reduce(torch.add, xs) / len(xs),
    "Equal": _variadic(torch.eq), "Greater": _variadic(torch.gt), "Less": _variadic(torch.lt),
    "Where": lambda a, c, x, y: torch.where(c, x, y), "Not": _unary(torch.logical_not),
    "Sqrt": _unary(torch.sqrt), "Neg": _unary(torch.neg), "Abs": _unary(torch.abs), "Exp": _unary(torch.exp),
    "Log": _unary(torch.log), "Erf": _unary(torch.erf), "Reciprocal": _unary(torch.reciprocal),
    "Floor": _unary(torch.floor), "Ceil": _unary(torch.ceil),
    "MatMul": lambda a, x, y: torch.matmul(x, y), "Gemm": _gemm,
    "Reshape": _reshape, "Flatten": _flatten,
    "Transpose": lambda a, x: x.permute(a.get("perm", tuple(reversed(range(x.dim()))))),
    "Concat": lambda a, *xs: torch.cat(xs, a["axis"]), "Split": _split, "Slice": _slice,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Gather": _gather, "Shape": _shape, "Constant": _constant,
    "Identity": _unary(lambda x: x), "Dropout": _dropout, "Cast": lambda a, x: x.to(_DTYPES[a["to"]]),
    "Expand": lambda a, x, s: x.expand(torch.broadcast_shapes(x.shape, tuple(_ints(s)))),
    "Tile": lambda a, x, r: x.repeat(_ints(r)), "Pad": _pad, "Resize": _resize, "Upsample": _upsample,
    "DepthToSpace": _depth_to_space,
    "ConstantOfShape": lambda a, s: a.get("value", torch.zeros(1)).expand(_ints(s)).clone(),
    "ReduceMean": _reduce(lambda x, d, k: x.mean(d, k)), "ReduceSum": _reduce(lambda x, d, k: x.sum(d, k)),
    "ReduceMax": _reduce(lambda x, d, k: x.amax(d, k)), "ReduceMin": _reduce(lambda x, d, k: x.amin(d, k)),
    "ReduceL2": _reduce(lambda x, d, k: torch.linalg.vector_norm(x, 2, d, k)),
    "ReduceL1": _reduce(lambda x, d, k: torch.linalg.vector_norm(x, 1, d, k)),
    "ReduceSumSquare": _reduce(lambda x, d, k: (x * x).sum(d, k)),
    "ReduceLogSumExp": _reduce(lambda x, d, k: torch.logsumexp(x, d, k)),
}


# ---------------------------------------------------------------- module

def _attrs(node: onnx.NodeProto, opset: int) -> dict:
    out = {"_opset": opset, "_n_out": len(node.output)}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = _tensor(value)
        out[attr.name] = value
    return out


class OnnxModule(torch.nn.Module):
    """An ONNX graph as a differentiable torch module (see the module docstring).

    Args:
        model: an ``onnx.ModelProto`` or the path of a ``.onnx`` file.
        dynamic_batch: let a graph exported with a fixed batch size run any batch size.

    Shape:
        Inputs and outputs as the graph declares them, except the batch axis
        (any size); float inputs should be float32.
    """

    def __init__(self, model: onnx.ModelProto | str | Path, dynamic_batch: bool = True):
        super().__init__()
        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(str(model))
        graph = model.graph
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        unknown = [f"{n.op_type!r} (node {n.name or n.output[0]!r}{f', domain {n.domain!r}' if n.domain else ''})"
                   for n in graph.node if n.domain not in ("", "ai.onnx") or n.op_type not in _OPS]
        if unknown:
            raise UnsupportedOnnxError(f"OnnxModule cannot run ONNX op(s) {', '.join(unknown)}; "
                                       f"add them to facecloak.models.onnx_torch._OPS")
        consts = {t.name: _tensor(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in consts]
        self.output_names = [o.name for o in graph.output]
        self._ops = Counter(n.op_type for n in graph.node)
        self._nodes: list[tuple] = []  # (fn, attrs, input names, output names, node name)
        for node in graph.node:
            fn, attrs = _OPS[node.op_type], _attrs(node, opset)
            if all(i == "" or i in consts for i in node.input):
                with torch.no_grad():  # constant subgraph: evaluate once, now
                    out = fn(attrs, *[consts[i] if i else None for i in node.input])
                consts.update(zip(node.output, out if isinstance(out, tuple) else (out,)))
            else:
                self._nodes.append((fn, attrs, tuple(node.input), tuple(node.output), node.name or node.op_type))
        if dynamic_batch:
            self._free_batch(model, consts)
        used = {i for node in self._nodes for i in node[2]} | set(self.output_names)
        self._ints: dict[str, Tensor] = {}
        self._floats: list[tuple[str, str]] = []  # (value name, buffer name)
        for name, value in consts.items():
            if name not in used:
                continue
            if value.is_floating_point():
                key = f"c{len(self._floats)}"
                self.register_buffer(key, value.float().contiguous())
                self._floats.append((name, key))
            else:
                self._ints[name] = value

    def _free_batch(self, model: onnx.ModelProto, consts: dict[str, Tensor]) -> None:
        """Make constant Reshape targets that hold the fixed batch size copy it instead."""
        def dim0(vi) -> int:
            return vi.type.tensor_type.shape.dim[0].dim_value if vi.type.tensor_type.shape.dim else 0

        batches = {dim0(i) for i in model.graph.input if i.name in self.input_names}
        if len(batches) != 1 or 0 in batches:
            return  # batch already dynamic, or inputs disagree
        batch = batches.pop()
        inferred = onnx.shape_inference.infer_shapes(model).graph
        first = {vi.name: dim0(vi) for vi in [*inferred.value_info, *inferred.input]}
        for k, (fn, attrs, ins, outs, name) in enumerate(self._nodes):
            target = consts.get(ins[1]) if fn is _reshape and len(ins) > 1 else None
            if (target is not None and target.numel() and int(target.reshape(-1)[0]) == batch
                    and first.get(ins[0]) == batch and not attrs.get("allowzero", 0)):
                free = target.clone().reshape(-1)
                free[0] = 0
                consts[f"{ins[1]}:{name}:any_batch"] = free
                self._nodes[k] = (fn, attrs, (ins[0], f"{ins[1]}:{name}:any_batch"), outs, name)

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxModule takes {len(self.input_names)} input(s) {self.input_names}, "
                            f"got {len(inputs)}")
        env = dict(self._ints)
        env.update((name, self._buffers[key]) for name, key in self._floats)
        env.update(zip(self.input_names, inputs))
        for fn, attrs, ins, outs, name in self._nodes:
            try:
                out = fn(attrs, *[env[i] if i else None for i in ins])
            except Exception as exc:
                exc.add_note(f"in ONNX node {name!r} ({', '.join(ins)} -> {', '.join(outs)})")
                raise
            if isinstance(out, tuple):
                env.update(zip(outs, out))
            else:
                env[outs[0]] = out
        result = tuple(env[o] for o in self.output_names)
        return result[0] if len(result) == 1 else result

    def extra_repr(self) -> str:
        ops = ", ".join(f"{op}: {n}" for op, n in self._ops.most_common())
        return f"inputs={self.input_names}, outputs={self.output_names}, ops={{{ops}}}"
