"""Per-pixel perturbation budgets in the 112x112 aligned frame.

Three budgets, combined per pixel (`budget_map`):
    base       ``eps`` everywhere;
    stickers   ``sticker_eps`` on boxes around the eyes, nose and mouth of the
               ArcFace template (the Region-Stickers, ~15% of the crop): the
               regions FR models lean on most, where noise buys most protection;
    high-pass  up to ``highpass_eps`` where the face has fine texture (hair,
               brows, edges) that hides noise, in proportion to the local
               high-pass energy of the enrolment face.
The optimiser projects onto this map at every step, so the larger budgets
really reach the loss (the published code computed them but clamped the
optimisation to the base budget).

Convention:
    Maps are in [0, 1] pixel units (8/255 == 0.0314), one value per pixel
    shared by the three channels, returned as a torch tensor (1, 1, S, S).
    Box coordinates are (x, y) = (column, row) in aligned pixels, pixel
    centres at integer coordinates (`facecloak.faces.align`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..faces.align import template
from .config import CloakConfig

#: Half-sizes (x, y) of the sticker boxes in 112-pixel template units, around
#: the eyes (each), the nose (from between the eyes down past the tip) and the
#: mouth (both corners plus the lips). Total ~15% of the crop.
_EYE_HALF = (13.0, 8.0)
_MOUTH_PAD = (5.0, 8.0)
_NOSE_HALF_W = 9.0


def sticker_boxes(size: int = 112) -> list[tuple[float, float, float, float]]:
    """The four sticker boxes (x0, y0, x1, y1), inclusive pixel-centre bounds, for an S crop."""
    pts = template(112)
    boxes = []
    for eye in pts[:2]:
        boxes.append((eye[0] - _EYE_HALF[0], eye[1] - _EYE_HALF[1], eye[0] + _EYE_HALF[0], eye[1] + _EYE_HALF[1]))
    eye_y, nose = pts[:2, 1].mean(), pts[2]
    boxes.append((nose[0] - _NOSE_HALF_W, eye_y + 4.0, nose[0] + _NOSE_HALF_W, nose[1] + 5.0))
    mouth = pts[3:]
    boxes.append((mouth[:, 0].min() - _MOUTH_PAD[0], mouth[:, 1].mean() - _MOUTH_PAD[1],
                  mouth[:, 0].max() + _MOUTH_PAD[0], mouth[:, 1].mean() + _MOUTH_PAD[1]))
    s = size / 112.0
    return [tuple(float(v) * s for v in box) for box in boxes]  # type: ignore[misc]


def sticker_mask(size: int = 112) -> np.ndarray:
    """(S, S) bool: True on the eye, nose and mouth boxes (about 15% of the area)."""
    ys, xs = np.mgrid[0:size, 0:size]
    mask = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in sticker_boxes(size):
        mask |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    return mask


def highpass_map(aligned_rgb: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Local high-frequency energy of a face, (S, S) float32 in [0, 1].

    The residual ``|x - Gaussian(x, sigma)|`` (largest over channels) is
    smoothed with the same Gaussian into a local energy and divided by its
    99th percentile, then clipped: 1 = strong texture, 0 = flat skin.

    Shape:
        aligned_rgb: (S, S, 3) uint8 RGB aligned face.
    """
    if aligned_rgb.ndim != 3 or aligned_rgb.shape[2] != 3 or aligned_rgb.dtype != np.uint8:
        raise ValueError(f"expected an (S, S, 3) uint8 aligned face, got {aligned_rgb.dtype} {aligned_rgb.shape}")
    img = aligned_rgb.astype(np.float32)
    residual = np.abs(img - cv2.GaussianBlur(img, (0, 0), sigma)).max(axis=2)
    energy = cv2.GaussianBlur(residual, (0, 0), sigma)
    scale = float(np.percentile(energy, 99))
    if scale <= 1e-6:
        return np.zeros(energy.shape, np.float32)
    return np.clip(energy / scale, 0.0, 1.0).astype(np.float32)


def budget_map(config: CloakConfig, aligned_face: np.ndarray | None = None, size: int = 112) -> torch.Tensor:
    """Per-pixel L_inf budget, torch (1, 1, S, S) float32 in [0, 1] units.

    ``eps`` everywhere; with ``config.highpass`` ``eps + (highpass_eps - eps) * hp``
    where ``hp`` = `highpass_map` of ``aligned_face`` (required then); with
    ``config.stickers`` at least ``sticker_eps`` on the sticker boxes.

    Shape:
        aligned_face: (S, S, 3) uint8 RGB, the face the high-pass map is taken from.
    """
    budget = np.full((size, size), config.eps, np.float32)
    if config.highpass:
        if aligned_face is None:
            raise ValueError("the high-pass budget needs the aligned face (or highpass=False)")
        if aligned_face.shape[:2] != (size, size):
            raise ValueError(f"aligned face must be {size}x{size}, got {aligned_face.shape}")
        hp = highpass_map(aligned_face, config.highpass_sigma)
        budget = np.maximum(budget, config.eps + (config.highpass_eps - config.eps) * hp)
    if config.stickers:
        budget = np.where(sticker_mask(size), np.maximum(budget, config.sticker_eps), budget)
    return torch.from_numpy(budget / 255.0).reshape(1, 1, size, size).float()
