"""Read TensorFlow graphs (frozen GraphDef .pb, TFJS graph-model .json/.bin).

Both formats describe the same thing: a list of nodes, each with an op name,
input names and attributes; weights are ``Const`` nodes. We read either into
one plain representation, `TfGraph`, that `tf_to_onnx` converts.

Attribute values become Python values: ints, floats, bools, str (for ``s``
bytes that decode as text, e.g. ``padding=b"SAME"``), lists, numpy arrays
(for tensors) and TF dtype numbers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import protobuf as pb

# TF DataType enum -> numpy dtype (the ones face models use).
TF_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 9: np.int64, 10: np.bool_, 19: np.float16}
_TF_DTYPE_NAMES = {"DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT64": 9,
                   "DT_BOOL": 10, "DT_HALF": 19}


@dataclass
class TfNode:
    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass
class TfGraph:
    nodes: list[TfNode]
    consts: dict[str, np.ndarray]

    def node(self, name: str) -> TfNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


# --- GraphDef (.pb) -----------------------------------------------------------

def _tensor(buf) -> np.ndarray:
    msg = pb.message(buf)
    dtype = TF_DTYPES[msg[1][0][1]] if 1 in msg else np.float32
    shape: list[int] = []
    if 2 in msg:
        for _, dim in pb.message(msg[2][0][1]).get(2, []):
            d = pb.message(dim)
            shape.append(pb.signed(d[1][0][1]) if 1 in d else 0)
    count = int(np.prod(shape)) if shape else 1
    if 4 in msg:  # tensor_content: raw little-endian bytes
        return np.frombuffer(bytes(msg[4][0][1]), dtype=dtype).reshape(shape).copy()
    if 5 in msg:
        values = np.array(pb.packed_floats(msg[5]), dtype=np.float32)
    elif 7 in msg:
        values = np.array(pb.packed_varints(msg[7]), dtype=np.int64)
    elif 10 in msg:
        values = np.array(pb.packed_varints(msg[10]), dtype=np.int64)
    elif 11 in msg:
        values = np.array(pb.packed_varints(msg[11]), dtype=np.bool_)
    else:
        values = np.zeros(1, dtype=dtype)
    values = values.astype(dtype)
    if values.size == count:
        return values.reshape(shape)
    return np.full(shape, values[-1] if values.size else 0, dtype=dtype)  # splat


def _shape(buf) -> list[int]:
    return [pb.signed(pb.message(d)[1][0][1]) if 1 in pb.message(d) else -1
            for _, d in pb.message(buf).get(2, [])]


def _attr_value(buf) -> object:
    msg = pb.message(buf)
    if 2 in msg:
        raw = bytes(msg[2][0][1])
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            return raw
    if 3 in msg:
        return pb.signed(msg[3][0][1])
    if 4 in msg:
        return pb.packed_floats(msg[4])[0]
    if 5 in msg:
        return bool(msg[5][0][1])
    if 6 in msg:
        return int(msg[6][0][1])
    if 7 in msg:
        return _shape(msg[7][0][1])
    if 8 in msg:
        return _tensor(msg[8][0][1])
    if 1 in msg:  # ListValue
        lst = pb.message(msg[1][0][1])
        if 3 in lst:
            return pb.packed_varints(lst[3])
        if 4 in lst:
            return pb.packed_floats(lst[4])
        if 2 in lst:
            return [bytes(v).decode("ascii", "replace") for _, v in lst[2]]
        if 6 in lst:
            return pb.packed_varints(lst[6])
        return []
    return None


def read_graphdef(path: str | Path) -> TfGraph:
    """Parse a frozen GraphDef: every weight must be a Const node."""
    data = Path(path).read_bytes()
    nodes, consts = [], {}
    for number, _, value in pb.fields(data):
        if number != 1:
            continue
        msg = pb.message(value)
        attrs = {}
        for _, entry in msg.get(5, []):
            kv = pb.message(entry)
            attrs[pb.text(kv[1])] = _attr_value(kv[2][0][1]) if 2 in kv else None
        node = TfNode(pb.text(msg[1]), pb.text(msg[2]), [pb.text([e]) for e in msg.get(3, [])], attrs)
        if node.op == "Const":
            consts[node.name] = attrs["value"]
        nodes.append(node)
    return TfGraph(nodes, consts)


# --- TFJS graph model (.json + .bin shards) -------------------------------------

def _json_attr(value: dict) -> object:
    if "s" in value:
        raw = base64.b64decode(value["s"])
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            return raw
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return _TF_DTYPE_NAMES.get(value["type"], value["type"])
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    if "list" in value:
        lst = value["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        if "s" in lst:
            return [base64.b64decode(v).decode("ascii", "replace") for v in lst["s"]]
        return []
    return None  # "tensor": filled from the weights manifest


def _dequantize(raw: bytes, spec: dict) -> tuple[np.ndarray, int]:
    """Decode one manifest weight from ``raw``; return (array, bytes used)."""
    shape = spec["shape"]
    count = int(np.prod(shape)) if shape else 1
    quant = spec.get("quantization")
    if quant is None:
        dtype = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}[spec["dtype"]]
        size = count * np.dtype(dtype).itemsize
        return np.frombuffer(raw[:size], dtype=dtype).reshape(shape).copy(), size
    qdtype = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}[quant["dtype"]]
    size = count * np.dtype(qdtype).itemsize
    q = np.frombuffer(raw[:size], dtype=qdtype).reshape(shape)
    if qdtype == np.float16:
        return q.astype(np.float32), size
    return (q.astype(np.float32) * quant["scale"] + quant["min"]).astype(np.float32), size


def read_tfjs(model_json: str | Path) -> TfGraph:
    """Parse a TFJS graph model; weight shards are read from beside the .json."""
    path = Path(model_json)
    doc = json.loads(path.read_text())
    if doc.get("format") != "graph-model":
        raise ValueError(f"{path.name}: not a TFJS graph model (format={doc.get('format')!r})")
    consts: dict[str, np.ndarray] = {}
    for group in doc["weightsManifest"]:
        raw = b"".join((path.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            arr, used = _dequantize(raw[offset:], spec)
            consts[spec["name"]] = arr
            offset += used
    nodes = []
    for n in doc["modelTopology"]["node"]:
        attrs = {k: _json_attr(v) for k, v in n.get("attr", {}).items()}
        node = TfNode(n["name"], n["op"], list(n.get("input", [])), attrs)
        if node.op == "Const":
            node.attrs["value"] = consts[node.name]
        nodes.append(node)
    return TfGraph(nodes, consts)
