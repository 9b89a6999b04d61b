"""Just enough protobuf wire-format decoding to read a TensorFlow GraphDef.

TensorFlow's own protobuf classes would pull in the whole of TensorFlow (or a
vendored copy of its .proto files). A GraphDef only needs varints, fixed32/64
and length-delimited fields, so we decode those by hand, into plain
dictionaries keyed by field number.

Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from typing import Iterator


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, raw value) for each field in ``buf``.

    Length-delimited values come back as memoryviews (no copy); varints as
    unsigned ints; fixed32/fixed64 as raw 4/8-byte memoryviews.
    """
    view = memoryview(buf)
    pos, end = 0, len(view)
    while pos < end:
        key, pos = _varint(view, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(view, pos)
        elif wire == 2:
            length, pos = _varint(view, pos)
            value = view[pos:pos + length]
            pos += length
        elif wire == 5:
            value = view[pos:pos + 4]
            pos += 4
        elif wire == 1:
            value = view[pos:pos + 8]
            pos += 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} at byte {pos}")
        yield number, wire, value


def message(buf: bytes | memoryview) -> dict[int, list]:
    """All fields of one message, grouped by field number (in order)."""
    out: dict[int, list] = defaultdict(list)
    for number, wire, value in fields(buf):
        out[number].append((wire, value))
    return out


def signed(value: int) -> int:
    """A varint read as two's-complement int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


def packed_varints(entries: list) -> list[int]:
    """Repeated int fields: packed (one length-delimited blob) or not."""
    out: list[int] = []
    for wire, value in entries:
        if wire == 2:
            view, pos = value, 0
            while pos < len(view):
                v, pos = _varint(view, pos)
                out.append(signed(v))
        else:
            out.append(signed(value))
    return out


def packed_floats(entries: list) -> list[float]:
    """Repeated float fields: packed or one fixed32 per entry."""
    out: list[float] = []
    for wire, value in entries:
        raw = bytes(value)
        out.extend(struct.unpack(f"<{len(raw) // 4}f", raw))
    return out


def text(entries: list) -> str:
    return bytes(entries[-1][1]).decode("utf-8") if entries else ""
