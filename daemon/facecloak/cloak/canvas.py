"""The loop's canvas: the 112 px ArcFace crop in the middle of a larger square of the face's context.

    >>> side = canvas_side(1.25)                  # 140: the crop plus 14 px of context each side
    >>> crop = align_canvas(rgb, landmarks, side)  # (140, 140, 3); crop[14:126, 14:126] is the 112 px crop
    >>> view = model_view(x, crop_scale=1.15, size=160)  # what facenet-casia sees of a canvas batch

The canvas has the crop's pixel scale, so a mask fitted on it covers the
same face pixels; `model_view` cuts out, for each surrogate, the square its
registry entry aligns to (``crop_scale`` times the 112 px crop, about the
crop's centre) at that model's input size, as scoring does on a photo.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..faces.align import ARCFACE_TEMPLATE_112, align_face, estimate_similarity, warp_antialiased
from ..faces.warp_torch import warp_affine_torch

SIZE = 112


def canvas_side(scale: float) -> int:
    """Side in pixels of a canvas ``scale`` crops wide: 112 plus an even margin."""
    return SIZE + 2 * round(SIZE * (scale - 1.0) / 2)


def canvas_from_image(landmarks: np.ndarray, side: int) -> np.ndarray:
    """(2, 3) matrix: photo pixels -> canvas pixels (the 112 px template shifted to the middle)."""
    off = (side - SIZE) / 2
    return estimate_similarity(np.asarray(landmarks, np.float64).reshape(5, 2), ARCFACE_TEMPLATE_112 + off)


def align_canvas(rgb: np.ndarray, landmarks: np.ndarray, side: int) -> np.ndarray:
    """(side, side, C) aligned canvas of a photo (same dtype); outside the photo is 0."""
    return warp_antialiased(rgb, canvas_from_image(landmarks, side), (side, side))


def loop_face(rgb: np.ndarray, landmarks: np.ndarray, scale: float) -> np.ndarray:
    """What the loop fits a mask to for a face: its 112 px crop at scale 1, else its canvas."""
    side = canvas_side(scale)
    return align_face(rgb, landmarks, size=SIZE)[0] if side == SIZE else align_canvas(rgb, landmarks, side)


def centre(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """The middle ``size`` x ``size`` of (..., S, S)."""
    off = (x.shape[-1] - size) // 2
    return x[..., off:off + size, off:off + size]


def pad_to(x: torch.Tensor, side: int, value: float = 0.0) -> torch.Tensor:
    """(..., 112, 112) -> (..., side, side) with ``value`` around it."""
    m = (side - x.shape[-1]) // 2
    return F.pad(x, (m, m, m, m), value=value)


def model_view(x: torch.Tensor, crop_scale: float, size: int) -> torch.Tensor:
    """(N, 3, S, S) canvases -> (N, 3, size, size): the square ``crop_scale`` crops wide about the middle.

    At crop_scale 1 this is the middle 112 px (resized by the model, as
    before); otherwise a bilinear warp straight to ``size`` (read as zeros
    where the square leaves the canvas)."""
    side = x.shape[-1]
    if crop_scale == 1.0 or side == SIZE:
        return centre(x) if side != SIZE else x
    f = size / (SIZE * crop_scale)
    c_src, c_dst = (side - 1) / 2, (size - 1) / 2
    mat = torch.tensor([[f, 0.0, c_dst - f * c_src], [0.0, f, c_dst - f * c_src]], dtype=x.dtype)
    return warp_affine_torch(x, mat.to(x.device), (size, size))
