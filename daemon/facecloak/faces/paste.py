"""Warp aligned-face results back into the full-resolution photo.

A cloak is computed in aligned-face space (an S x S crop). Applying it means
one inverse affine warp per face, done only on the photo region the crop
square lands on, so a 12-megapixel photo costs about what its faces cost.
Frames and matrices follow `facecloak.faces.align` (``aligned_from_image``
maps photo pixels to crop pixels; pixel centres at integer coordinates).
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import invert_affine, warp_antialiased


def crop_footprint(
    image_shape: tuple[int, ...], aligned_from_image: np.ndarray, crop_size: int, margin: int = 2
) -> tuple[int, int, int, int] | None:
    """Photo region (x0, y0, x1, y1), end-exclusive, that the S x S crop covers.

    The four corners of the crop square ([-0.5, S - 0.5]^2) are mapped into
    the photo, their bounding box is grown by `margin` pixels and clipped to
    the photo. None if the crop lies entirely outside the photo.
    """
    h, w = image_shape[:2]
    image_from_aligned = invert_affine(aligned_from_image)
    lo, hi = -0.5, crop_size - 0.5
    corners = np.array([[lo, lo], [hi, lo], [lo, hi], [hi, hi]])
    pts = corners @ image_from_aligned[:, :2].T + image_from_aligned[:, 2]
    x0 = max(int(np.floor(pts[:, 0].min() + 0.5)) - margin, 0)
    y0 = max(int(np.floor(pts[:, 1].min() + 0.5)) - margin, 0)
    x1 = min(int(np.ceil(pts[:, 0].max() + 0.5)) + margin, w)
    y1 = min(int(np.ceil(pts[:, 1].max() + 0.5)) + margin, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _warp_to_roi(
    aligned: np.ndarray, aligned_from_image: np.ndarray, roi: tuple[int, int, int, int]
) -> np.ndarray:
    """Warp an (S, S, C) aligned array into the photo ROI, (y1-y0, x1-x0, C) float32."""
    x0, y0, x1, y1 = roi
    roi_from_aligned = invert_affine(aligned_from_image)
    roi_from_aligned[:, 2] -= (x0, y0)
    src = np.ascontiguousarray(aligned, dtype=np.float32)
    out = warp_antialiased(src, roi_from_aligned, (x1 - x0, y1 - y0))
    return out.reshape(y1 - y0, x1 - x0, -1)


def _as_output(image: np.ndarray, inplace: bool) -> np.ndarray:
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {image.shape}")
    if inplace:
        if image.dtype != np.uint8:
            raise ValueError("inplace=True needs a uint8 image")
        return image
    if image.dtype == np.uint8:
        return image.copy()
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def paste_aligned(
    image: np.ndarray,
    delta_aligned: np.ndarray,
    aligned_from_image: np.ndarray,
    *,
    inplace: bool = False,
) -> np.ndarray:
    """Add an aligned-space perturbation to the photo.

    Args:
        image: (H, W, C) photo, uint8, or float in 0..255 pixel units.
        delta_aligned: (S, S, C) float, in pixel units (-255..255), the change
            to make to the aligned crop (e.g. a cloak mask times 255).
        aligned_from_image: (2, 3) matrix from `align_face` for this photo.
        inplace: write into `image` (uint8 only) instead of a copy.
    Returns:
        (H, W, C) uint8: the photo plus the warped delta, rounded, clipped to
        0..255. Pixels outside the crop's footprint are unchanged exactly.
    """
    out = _as_output(image, inplace)
    delta = np.asarray(delta_aligned)
    if delta.ndim == 2:
        delta = delta[:, :, None]
    if delta.shape[0] != delta.shape[1] or delta.shape[2] != out.shape[2]:
        raise ValueError(f"delta must be (S, S, {out.shape[2]}), got {delta.shape}")
    roi = crop_footprint(out.shape, aligned_from_image, delta.shape[0])
    if roi is None:
        return out
    x0, y0, x1, y1 = roi
    # Add, round and clip in one OpenCV pass, written straight into the output: a
    # 12-megapixel close-up's footprint is ~3 megapixels, where numpy's four passes
    # (add, rint, clip, cast) took ~10 ms and this takes ~3. OpenCV rounds the float
    # operand to the nearest whole level first when the photo is uint8, so a sum
    # that ends in exactly .5 may round either way.
    warped = _warp_to_roi(delta, aligned_from_image, roi)
    cv2.add(image[y0:y1, x0:x1], warped, dst=out[y0:y1, x0:x1], dtype=cv2.CV_8U)
    return out


def paste_face_crop(
    image: np.ndarray,
    crop: np.ndarray,
    aligned_from_image: np.ndarray,
    *,
    feather: float = 0.0,
    inplace: bool = False,
) -> np.ndarray:
    """Replace the face region of the photo with an (edited) aligned crop.

    Args:
        image: (H, W, C) photo, uint8 or float in 0..255.
        crop: (S, S, C) aligned crop, uint8 or float in 0..255.
        aligned_from_image: (2, 3) matrix from `align_face`.
        feather: width, in crop pixels, of a linear blend at the crop's edge
            (0 = hard edge, still anti-aliased over one pixel).
    Returns:
        (H, W, C) uint8; outside the crop's footprint unchanged exactly.
    """
    out = _as_output(image, inplace)
    size = crop.shape[0]
    roi = crop_footprint(out.shape, aligned_from_image, size)
    if roi is None:
        return out
    x0, y0, x1, y1 = roi
    weight = np.ones((size, size), dtype=np.float32)
    if feather > 0:
        ramp = np.minimum(np.arange(size) + 0.5, size - 0.5 - np.arange(size)) / feather
        ramp = np.clip(ramp, 0.0, 1.0).astype(np.float32)
        weight = np.minimum(ramp[:, None], ramp[None, :])
    # Warp weight and weight * crop (premultiplied): linear, so the blend is
    # right at the anti-aliased edge too.
    alpha = _warp_to_roi(weight, aligned_from_image, roi)
    premult = _warp_to_roi(crop.astype(np.float32) * weight[:, :, None], aligned_from_image, roi)
    base = image[y0:y1, x0:x1].astype(np.float32)
    blended = base * (1.0 - alpha) + premult
    out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
