"""The cloak mask and its file format.

A mask is one perturbation in *aligned space*: the ArcFace 112x112 five-point
template frame. Applying it to a photo means warping it into each face with
the inverse of that face's ``aligned_from_image`` matrix; values are pixel
units and are not rescaled by the warp, so the budget the optimiser saw is
the budget the photo gets.

File format (little-endian), one small file (~75 KB)::

    b"FCMASK"  magic
    u16        format version (FORMAT_VERSION)
    u32        length of the JSON header
    JSON       metadata (method, models, budgets, strength, backend, ...)
    f16[...]   delta, shape (112, 112, 3), C order, pixel units
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FaceCloakError
from ..fileio import write_atomic

MAGIC = b"FCMASK"
FORMAT_VERSION = 1
SIZE = 112


class MaskFormatError(FaceCloakError):
    """A mask file that is not ours, is damaged, or is from a newer version."""


@dataclass
class CloakMask:
    """delta: (112, 112, 3) float32, RGB, pixel units (a change of 8 = 8/255).

    meta holds at least: method, models (surrogates used), eps (base budget,
    in /255 units), strength, backend (how the varied images were made).
    """

    delta: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.delta = np.asarray(self.delta, dtype=np.float32)
        if self.delta.shape != (SIZE, SIZE, 3):
            raise ValueError(f"mask delta must be ({SIZE}, {SIZE}, 3), got {self.delta.shape}")

    @property
    def linf(self) -> float:
        """Largest absolute change, in pixel units."""
        return float(np.abs(self.delta).max())

    def to_bytes(self) -> bytes:
        header = json.dumps({"shape": list(self.delta.shape), **self.meta}, sort_keys=True).encode()
        body = self.delta.astype("<f2").tobytes()
        return MAGIC + struct.pack("<HI", FORMAT_VERSION, len(header)) + header + body

    @classmethod
    def from_bytes(cls, data: bytes) -> CloakMask:
        if len(data) < 12 or data[:6] != MAGIC:
            raise MaskFormatError("not a FaceCloak mask file")
        version, hlen = struct.unpack("<HI", data[6:12])
        if version > FORMAT_VERSION:
            raise MaskFormatError(f"mask format {version} is newer than this FaceCloak ({FORMAT_VERSION}): upgrade")
        try:
            meta = json.loads(data[12:12 + hlen])
        except ValueError:
            raise MaskFormatError("mask header is damaged") from None
        shape = tuple(meta.pop("shape", (SIZE, SIZE, 3)))
        body = data[12 + hlen:]
        if len(body) != int(np.prod(shape)) * 2:
            raise MaskFormatError("mask data is truncated or damaged")
        return cls(np.frombuffer(body, dtype="<f2").reshape(shape).astype(np.float32), meta)

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename), owner-only permissions."""
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> CloakMask:
        return cls.from_bytes(Path(path).read_bytes())
