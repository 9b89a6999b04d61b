"""Read a float TFLite flatbuffer into a `TfGraph`, so `tf_to_onnx` converts it.

TFLite ops map one-to-one onto TF ops once their layouts are undone:
conv kernels are OHWI (TF: HWIO), depthwise kernels (1, H, W, C*M) (TF: H, W,
C, M), and activations are fused into the op (we split them back out).
Tensors are named ``t<index>``; the graph input and output keep the names
stored in the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tflite

from .tfgraph import TfGraph, TfNode
from .tf_to_onnx import UnsupportedOpError

_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ACT = {0: None, 1: "Relu", 3: "Relu6"}
_PADDING = {0: "SAME", 1: "VALID"}
_DTYPES = {0: np.float32, 2: np.int32, 4: np.int64}


class _Reader:
    def __init__(self, buf: bytes):
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.g = self.model.Subgraphs(0)
        self.nodes: list[TfNode] = []
        self.consts: dict[str, np.ndarray] = {}

    def tensor_name(self, index: int) -> str:
        return f"t{index}"

    def data(self, index: int) -> np.ndarray | None:
        t = self.g.Tensors(index)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        if t.Type() not in _DTYPES:
            raise UnsupportedOpError(f"tensor {t.Name()!r} has quantized or unsupported type {t.Type()}")
        raw = buf.DataAsNumpy().tobytes()
        return np.frombuffer(raw, dtype=_DTYPES[t.Type()]).reshape(t.ShapeAsNumpy()).copy()

    def const(self, name: str, value: np.ndarray) -> str:
        self.consts[name] = value
        self.nodes.append(TfNode(name, "Const", [], {"value": value}))
        return name

    def add(self, name: str, op: str, inputs: list[str], act: int = 0, **attrs) -> None:
        """Emit ``op``; a fused activation becomes a separate node named ``name``."""
        act_op = _ACT.get(act, "unsupported")
        if act_op == "unsupported":
            raise UnsupportedOpError(f"fused activation {act} on {name!r}")
        inner = name if act_op is None else name + "/pre_act"
        self.nodes.append(TfNode(inner, op, inputs, attrs))
        if act_op:
            self.nodes.append(TfNode(name, act_op, [inner]))

    def read(self) -> tuple[TfGraph, str, str]:
        g = self.g
        for i in range(g.TensorsLength()):
            value = self.data(i)
            if value is not None:
                self.const(self.tensor_name(i), value)
        (inp,) = g.InputsAsNumpy()
        in_tensor = g.Tensors(inp)
        self.nodes.append(TfNode(self.tensor_name(inp), "Placeholder", [],
                                 {"shape": [int(d) for d in in_tensor.ShapeAsNumpy()], "dtype": 1}))
        for k in range(g.OperatorsLength()):
            self.operator(g.Operators(k))
        (out,) = g.OutputsAsNumpy()
        return TfGraph(self.nodes, self.consts), self.tensor_name(inp), self.tensor_name(out)

    def operator(self, op) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        name = _OPS.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        ins = [self.tensor_name(i) for i in op.InputsAsNumpy() if i >= 0]
        out = self.tensor_name(op.OutputsAsNumpy()[0])
        opts = op.BuiltinOptions()
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            cls = tflite.Conv2DOptions if name == "CONV_2D" else tflite.DepthwiseConv2DOptions
            o = cls()
            o.Init(opts.Bytes, opts.Pos)
            kernel = self.consts[ins[1]]
            if name == "CONV_2D":
                kernel = kernel.transpose(1, 2, 3, 0)  # OHWI -> HWIO
                tf_op = "Conv2D"
            else:
                channels = self.g.Tensors(op.InputsAsNumpy()[0]).ShapeAsNumpy()[-1]
                _, h, w, cm = kernel.shape
                kernel = kernel.reshape(h, w, channels, cm // channels)
                tf_op = "DepthwiseConv2dNative"
            kname = self.const(out + "/kernel", kernel)
            attrs = dict(strides=[1, o.StrideH(), o.StrideW(), 1], padding=_PADDING[o.Padding()],
                         dilations=[1, o.DilationHFactor(), o.DilationWFactor(), 1])
            conv = out + "/conv"
            self.nodes.append(TfNode(conv, tf_op, [ins[0], kname], attrs))
            self.add(out, "BiasAdd", [conv, ins[2]], o.FusedActivationFunction()) if len(ins) > 2 \
                else self.add(out, "Identity", [conv], o.FusedActivationFunction())
        elif name in ("ADD", "SUB", "MUL"):
            cls = {"ADD": tflite.AddOptions, "SUB": tflite.SubOptions, "MUL": tflite.MulOptions}[name]
            act = 0
            if opts is not None:
                o = cls()
                o.Init(opts.Bytes, opts.Pos)
                act = o.FusedActivationFunction()
            self.add(out, {"ADD": "Add", "SUB": "Sub", "MUL": "Mul"}[name], ins[:2], act)
        elif name in ("RELU", "RELU6", "ABS", "LOGISTIC"):
            self.add(out, {"RELU": "Relu", "RELU6": "Relu6", "ABS": "Abs", "LOGISTIC": "Sigmoid"}[name], ins[:1])
        elif name == "RESHAPE":
            shape = self.g.Tensors(op.OutputsAsNumpy()[0]).ShapeAsNumpy().astype(np.int64)
            sname = self.const(out + "/shape", shape)
            self.add(out, "Reshape", [ins[0], sname])
        else:
            raise UnsupportedOpError(f"TFLite op {name} is not supported")


def read_tflite(path: str | Path) -> tuple[TfGraph, str, str]:
    """Parse ``path``; return the graph with its input and output tensor names."""
    return _Reader(Path(path).read_bytes()).read()
