"""A large JPEG encoded in horizontal strips on several threads, written as one file.

Writing a 12-megapixel photo at quality 95, 4:4:4, takes Pillow ~50 ms on one
core, and Pillow holds the GIL while it encodes into memory, so two threads
take as long as one. It releases the GIL while it writes to a file, though,
and JPEG has a place to cut a scan: restart markers. So `encode_jpeg` cuts
the photo into strips whose heights are whole restart intervals, encodes
each into an in-memory file on its own thread, every strip with the same
quality, tables and restart interval, and splices them: the first strip's
headers (EXIF, ICC, tables, DRI) with the photo's height, then each strip's
entropy-coded data, a restart marker between two strips, the markers
renumbered 0..7 in order, one EOI.

Every 8x8 block is transformed and quantised on its own, and a restart
marker resets only the DC prediction, so the file decodes to exactly the
pixels of Pillow's single-threaded `save` with the same settings
(tests/test_jpeg_strips.py, with Pillow and OpenCV); it is ~100 bytes
larger for its markers. Anything this module does not handle (4:2:x
subsampling, progressive, optimised Huffman tables, other options, a
Pillow whose strips do not share headers) is one ordinary `save`.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..device import usable_cpus

#: Photos smaller than this are encoded in one piece: the strips would save < ~5 ms.
MIN_PIXELS = 2_000_000
#: The options a strip may take; "exif" and "icc_profile" go to the first strip only.
_SCAN_OPTIONS = {"quality", "subsampling"}
_HEADER_OPTIONS = {"exif", "icc_profile"}
_MCU = 8  # pixels per MCU side at 4:4:4
_MAX_INTERVAL = 65535  # MCUs, DRI's 16 bits (libjpeg clamps a longer restart interval)
_SOF0, _DHT, _DQT, _DRI, _SOS, _EOI = 0xC0, 0xC4, 0xDB, 0xDD, 0xDA, b"\xff\xd9"
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def encode_jpeg(img: Image.Image, threads: int | None = None, **options) -> bytes:
    """`img` ("RGB") saved as JPEG with `options` (Pillow's), on up to `threads`
    threads (default: the usable CPUs); the same pixels as one `img.save`."""
    threads = usable_cpus() if threads is None else threads
    plan = _plan(img, threads, options)
    if plan is None:
        return _save(img, options)
    rows, strips = plan
    scan = {k: v for k, v in options.items() if k in _SCAN_OPTIONS}
    width = img.width
    futures = [_pool(threads).submit(_save_to_file, img.crop((0, y0, width, y1)), dict(scan, restart_marker_rows=rows))
               for y0, y1 in strips[1:]]
    first = _save_to_file(img.crop((0, 0, width, strips[0][1])), dict(options, restart_marker_rows=rows))
    parts = [first] + [f.result() for f in futures]
    spliced = _splice(parts, img.height)
    return spliced if spliced is not None else _save(img, options)


def _plan(img: Image.Image, threads: int, options: dict) -> tuple[int, list[tuple[int, int]]] | None:
    """(MCU rows per restart interval, [(first row, end row)] of each strip), or None
    when the photo is to be saved in one piece."""
    if threads < 2 or img.mode != "RGB" or img.width * img.height < MIN_PIXELS:
        return None
    if set(options) - _SCAN_OPTIONS - _HEADER_OPTIONS or options.get("subsampling") != 0:
        return None
    mcus_per_row, mcu_rows = -(-img.width // _MCU), -(-img.height // _MCU)
    share = -(-mcu_rows // threads)  # MCU rows per strip, whole restart intervals:
    longest = _MAX_INTERVAL // mcus_per_row
    if longest < 1:
        return None
    rows = -(-share // -(-share // longest))  # the fewest intervals a strip can have, evened out
    per_strip = -(-share // rows) * rows
    edges = list(range(0, img.height, per_strip * _MCU)) + [img.height]
    strips = list(zip(edges[:-1], edges[1:]))
    return (rows, strips) if len(strips) > 1 else None


def _splice(parts: list[bytes], height: int) -> bytes | None:
    """One JPEG from strips encoded alike; None if their tables or settings differ."""
    heads = [_scan_start(p) for p in parts]
    if any(h is None for h in heads):
        return None
    tables = [_tables(p[:start]) for p, (start, _) in zip(parts, heads)]
    if any(t != tables[0] for t in tables[1:]) or any(p[-2:] != _EOI for p in parts):
        return None
    start, sof = heads[0]
    out = bytearray(parts[0][:start])
    out[sof + 5:sof + 7] = struct.pack(">H", height)
    count = 0  # restart markers so far: the next one is RST(count % 8)
    for k, (part, (begin, _)) in enumerate(zip(parts, heads)):
        if k:
            out += bytes((0xFF, 0xD0 + count % 8))
            count += 1
        body = np.frombuffer(part, np.uint8, len(part) - 2 - begin, begin).copy()
        at = np.nonzero((body[:-1] == 0xFF) & (body[1:] >= 0xD0) & (body[1:] <= 0xD7))[0] + 1
        body[at] = 0xD0 + (count + np.arange(len(at))) % 8
        count += len(at)
        out += body.tobytes()
    out += _EOI
    return bytes(out)


def _scan_start(data: bytes) -> tuple[int, int] | None:
    """(offset of the first entropy-coded byte, offset of the SOF0 marker), or None
    if the headers are not a baseline JPEG's."""
    i, sof = 2, None
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker == _SOF0:
            sof = i
        elif 0xC1 <= marker <= 0xCF and marker not in (_DHT, 0xC8, 0xCC):
            return None  # progressive, extended, arithmetic, lossless
        i += 2 + length
        if marker == _SOS:
            return (i, sof) if sof is not None else None
    return None


def _tables(head: bytes) -> list[bytes]:
    """The segments that decide the scan (tables, restart interval, frame less its
    height, scan header), in order."""
    out, i = [], 2
    while i + 4 <= len(head):
        marker, length = head[i + 1], struct.unpack(">H", head[i + 2:i + 4])[0]
        segment = head[i:i + 2 + length]
        if marker == _SOF0:
            segment = segment[:5] + segment[7:]
        if marker in (_SOF0, _DHT, _DQT, _DRI, _SOS):
            out.append(segment)
        i += 2 + length
    return out


def _save(img: Image.Image, options: dict) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **options)
    return buf.getvalue()


def _save_to_file(img: Image.Image, options: dict) -> bytes:
    """`_save` through a file descriptor, where Pillow's encoder lets go of the GIL."""
    with _memory_file() as f:
        img.save(f, "JPEG", **options)
        f.seek(0)
        return f.read()


def _memory_file():
    if hasattr(os, "memfd_create"):  # Linux: never touches a disk
        return os.fdopen(os.memfd_create("facecloak-jpeg", getattr(os, "MFD_CLOEXEC", 0)), "w+b")
    return tempfile.TemporaryFile()


def _pool(threads: int) -> ThreadPoolExecutor:
    """`threads` - 1 workers per process (a forked worker gets its own pool)."""
    key = (os.getpid(), threads)
    if key not in _POOLS:
        for old in [k for k in _POOLS if k[0] != key[0]]:
            del _POOLS[old]  # inherited through fork: its threads are not in this process
        _POOLS[key] = ThreadPoolExecutor(threads - 1, thread_name_prefix="facecloak-jpeg")
    return _POOLS[key]
