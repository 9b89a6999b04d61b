"""Faces: decode a photo, find its faces, align them, paste results back.

    rgb = load_image(photo_bytes)                   # (H, W, 3) uint8 RGB
    for face in get_detector().detect(rgb):         # largest first
        crop, aligned_from_image = align_face(rgb, face.landmarks, size=112)
        delta = ...                                 # (112, 112, 3), pixel units
        rgb = paste_aligned(rgb, delta, aligned_from_image)

Conventions shared by every module here: points are (x, y) = (column, row)
in pixels, pixel centres at integer coordinates; a matrix named
``b_from_a`` maps frame a to frame b. `warp_affine_torch` (the differentiable
warp) is imported lazily, so that using this package does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .align import (
    ARCFACE_TEMPLATE_112,
    align_face,
    compose_affine,
    estimate_similarity,
    invert_affine,
    shrink_area,
    template,
    warp_antialiased,
)
from .detect import DEFAULT_DETECTOR, DETECTORS, Face, FaceDetector, get_detector
from .image_io import ACCEPTED_FORMATS, ImageInfo, load_image, load_image_with_info
from .paste import crop_footprint, paste_aligned, paste_face_crop

if TYPE_CHECKING:
    from .warp_torch import warp_affine_torch

__all__ = [
    "ACCEPTED_FORMATS",
    "ARCFACE_TEMPLATE_112",
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Face",
    "FaceDetector",
    "ImageInfo",
    "align_face",
    "compose_affine",
    "crop_footprint",
    "estimate_similarity",
    "get_detector",
    "invert_affine",
    "load_image",
    "load_image_with_info",
    "paste_aligned",
    "paste_face_crop",
    "shrink_area",
    "template",
    "warp_affine_torch",
    "warp_antialiased",
]


def __getattr__(name: str) -> Any:
    if name == "warp_affine_torch":
        from .warp_torch import warp_affine_torch

        return warp_affine_torch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
