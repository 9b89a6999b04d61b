"""A baseline JPEG encoded in horizontal strips, in any order and on any thread, then joined.

A JPEG with a restart marker after every MCU row can be cut between any two MCU
rows: at a restart the DC predictions start again and the entropy-coded data is
byte-aligned. So the strips of an image, each a whole number of 8 MCU rows tall
(restart markers count RST0..RST7 and round again), can be encoded apart by the
same encoder with the same settings, and their entropy-coded data joined with one
restart marker between two strips. The result is, byte for byte, the file the
whole image's encode with ``restart_marker_rows=1`` gives (`tests/test_jpeg_strips.py`),
and it decodes to the pixels the plain encode (no restart markers) decodes to; the
markers cost two bytes a row, plus the padding of each row's data to a byte.

What it buys (`facecloak.cloak.pillow_path.cloak_and_encode`): the two threads
share the encode, which is the largest step of a 12 MP cloak after face finding,
and a strip that no face touches can be encoded while the faces are pasted.

Pillow releases the GIL while it encodes only when it writes to a file
descriptor, so each strip goes to an anonymous in-memory file (`memfd_create`
where there is one, a temporary file elsewhere).

`join` checks that the strips agree (tables, restart interval, width, sampling)
and gives None when they do not (a Pillow that ignores ``restart_marker_rows``):
the caller then encodes the whole image as before.
"""

from __future__ import annotations

import os
import struct
import tempfile

from PIL import Image

#: Rows per strip: 64 MCU rows at 4:4:4 (8-row MCUs), 32 at 4:2:0. A 12 MP photo has 6-9
#: strips of ~5 ms of encoding each (q95 4:4:4, one thread).
STRIP_ROWS = 512

_SOI, _EOI, _SOS, _DRI, _RST7 = 0xD8, 0xD9, 0xDA, 0xDD, 0xD7
_BASELINE_SOF = (0xC0, 0xC1)  # sequential Huffman; a progressive file (0xC2) cannot be cut so


class JpegStrips:
    """The JPEG of an RGB Pillow image, strip by strip: `encode` each strip (any order,
    any thread, each once), then `join`. ``params`` are Pillow's JPEG save options
    (quality, subsampling, exif, icc_profile; not progressive or optimize); the first
    strip carries the metadata, the others only their pixels."""

    def __init__(self, img: Image.Image, params: dict, strip_rows: int = STRIP_ROWS) -> None:
        if strip_rows % 128:
            raise ValueError(f"strip_rows must be a multiple of 128 (8 MCU rows of 16), got {strip_rows}")
        if params.get("progressive") or params.get("optimize"):
            raise ValueError("strips share one set of Huffman tables: no progressive or optimize")
        self.img = img
        self.params = dict(params, restart_marker_rows=1)
        self.pixel_params = {k: v for k, v in self.params.items() if k not in ("exif", "icc_profile")}
        self.bounds = [(y, min(y + strip_rows, img.height)) for y in range(0, img.height, strip_rows)]
        self._parts: list[bytes | None] = [None] * len(self.bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def touching(self, y0: int, y1: int) -> range:
        """The strips that rows y0..y1 (end-exclusive) fall in."""
        rows = self.bounds[0][1] - self.bounds[0][0]
        return range(max(0, y0 // rows), min(len(self), -(-y1 // rows)))

    def encode(self, i: int) -> None:
        """Encode strip i from the image as it is now."""
        y0, y1 = self.bounds[i]
        strip = self.img.crop((0, y0, self.img.width, y1))
        self._parts[i] = save_unlocked(strip, "JPEG", **(self.params if i == 0 else self.pixel_params))

    def join(self) -> bytes | None:
        """The whole file from the encoded strips; None when they cannot be joined."""
        if any(p is None for p in self._parts):
            raise RuntimeError("join before every strip is encoded")
        parts = [_split(p) for p in self._parts]  # type: ignore[arg-type]
        if any(p is None for p in parts):
            return None
        (head, sof_at, tables, interval, (mcu_rows, mcus_per_row), _), *rest = parts  # type: ignore[misc]
        if interval == 0 or any(r[2] != tables or r[3] != interval for r in rest):
            return None
        for y0, y1 in self.bounds[:-1]:  # each strip a whole number of 8 restart intervals
            if (y1 - y0) % mcu_rows or ((y1 - y0) // mcu_rows * mcus_per_row) % (8 * interval):
                return None
        out = bytearray(head)
        out[sof_at + 5:sof_at + 7] = struct.pack(">H", self.img.height)
        chunks = [bytes(out), parts[0][5]]  # type: ignore[index]
        for part in parts[1:]:
            chunks += [bytes((0xFF, _RST7)), part[5]]  # type: ignore[index]
        chunks.append(bytes((0xFF, _EOI)))
        return b"".join(chunks)


def _split(data: bytes) -> tuple[bytes, int, bytes, int, tuple[int, int], memoryview] | None:
    """A baseline JPEG as (everything up to its scan's data, where its SOF segment starts,
    the segments every strip must share (SOF but its height, DQT, DHT, DRI, SOS), the
    restart interval in MCUs, (the MCU height in rows, MCUs per row), the scan's
    entropy-coded data); None for anything else (progressive, a scan per component, no
    EOI at the end)."""
    if data[:2] != bytes((0xFF, _SOI)) or data[-2:] != bytes((0xFF, _EOI)):
        return None
    i, shared, sof_at, interval, mcu, components = 2, [], -1, 0, (8, 1), 0
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        segment = data[i:i + 2 + length]
        if marker in _BASELINE_SOF:
            sof_at = i
            shared.append(segment[:5] + segment[7:])  # all but the height
            components = segment[9]
            sampling = [segment[11 + 3 * c] for c in range(components)]
            mcu_width = 8 * max(hv >> 4 for hv in sampling)
            width = struct.unpack(">H", segment[7:9])[0]
            mcu = (8 * max(hv & 0x0F for hv in sampling), -(-width // mcu_width))
        elif 0xC2 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # progressive, lossless or arithmetic-coded
        elif marker == _DRI:
            interval = struct.unpack(">H", segment[4:6])[0]
            shared.append(segment)
        elif marker in (0xDB, 0xC4):
            shared.append(segment)
        elif marker == _SOS:
            if sof_at < 0:
                return None
            if segment[4] != components:  # one scan of every component, not one scan each
                return None
            shared.append(segment)
            end = i + 2 + length
            return data[:end], sof_at, b"".join(shared), interval, mcu, memoryview(data)[end:-2]
        i += 2 + length
    return None


def save_unlocked(img: Image.Image, fmt: str, **params) -> bytes:
    """``img.save`` into bytes through a file descriptor: Pillow's encoder then runs
    without the GIL, so other threads go on meanwhile."""
    with _memory_file() as f:
        img.save(f, fmt, **params)
        f.seek(0)
        return f.read()


_HAS_MEMFD = hasattr(os, "memfd_create")


def _memory_file():
    if _HAS_MEMFD:
        try:
            return os.fdopen(os.memfd_create("facecloak-jpeg", os.MFD_CLOEXEC), "w+b")
        except OSError:  # a kernel or sandbox without it
            pass
    return tempfile.TemporaryFile()
