"""Five-point face alignment with an explicit matrix, in numpy/cv2 and torch.

Convention (every function here):
    * Points are (x, y): x = column, y = row, in pixels.
    * Pixel centres sit at integer coordinates: pixel (row r, col c) covers
      [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5] (OpenCV's convention).
    * A 2x3 matrix ``b_from_a`` maps a point p in frame a to frame b:
      ``p_b = b_from_a[:, :2] @ p_a + b_from_a[:, 2]``. So
      ``aligned_from_image`` takes photo pixels to aligned-crop pixels, and
      ``cv2.warpAffine(image, aligned_from_image, (S, S))`` makes the crop.
"""

from __future__ import annotations

import cv2
import numpy as np

#: insightface's five-point template for a 112x112 ArcFace crop: left eye,
#: right eye, nose tip, left and right mouth corners ("left" = smaller x).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift).

    Umeyama (1991), with reflections excluded.

    Args:
        src: (N, 2) points in frame a, N >= 2.
        dst: (N, 2) matching points in frame b.
    Returns:
        (2, 3) float64 ``b_from_a``, e.g.
        ``aligned_from_image = estimate_similarity(landmarks, template)``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"expected two (N, 2) point sets, N >= 2; got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sing, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0  # the best orthogonal fit is a reflection: take the rotation
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    scale = (sing * d).sum() / var_src if var_src > 0 else 1.0
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def invert_affine(b_from_a: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix: ``a_from_b``, (2, 3) float64."""
    m = np.asarray(b_from_a, dtype=np.float64)
    lin_inv = np.linalg.inv(m[:, :2])
    return np.hstack([lin_inv, -lin_inv @ m[:, 2:3]])


def compose_affine(c_from_b: np.ndarray, b_from_a: np.ndarray) -> np.ndarray:
    """``c_from_a = c_from_b @ b_from_a`` for 2x3 matrices, (2, 3) float64."""
    cb = np.asarray(c_from_b, dtype=np.float64)
    ba = np.asarray(b_from_a, dtype=np.float64)
    return np.hstack([cb[:, :2] @ ba[:, :2], cb[:, :2] @ ba[:, 2:3] + cb[:, 2:3]])


def template(size: int = 112, crop_scale: float = 1.0) -> np.ndarray:
    """The ArcFace template for a size x size crop, (5, 2) float64.

    crop_scale > 1 zooms out about the crop centre (more context, smaller face).
    """
    centre = (size - 1) / 2.0  # the crop spans [-0.5, size - 0.5]
    pts = ARCFACE_TEMPLATE_112.astype(np.float64) * (size / 112.0)
    return (pts - centre) / crop_scale + centre


def align_face(
    rgb: np.ndarray | PixelSource | TwoScales, landmarks: np.ndarray, size: int = 112, crop_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the aligned face crop out of a photo.

    Args:
        rgb: (H, W, C) uint8 or float32 photo (any channel order), a
            `PixelSource`, or a `TwoScales` (the crop comes from its shrunk
            copy when that is fine enough).
        landmarks: (5, 2) float (x, y) photo pixels, order as `Face.landmarks`.
        size: output side S; the template is scaled by S / 112.
        crop_scale: > 1 zooms out about the crop centre.
    Returns:
        crop: (S, S, C), same dtype as `rgb`; outside the photo is 0.
        aligned_from_image: (2, 3) float64 (see the module's Convention).

    A face much larger than the crop is shrunk with area averaging first
    (`warp_antialiased`), so a 12-megapixel photo gives the same crop as a
    small copy of it, not an aliased one.
    """
    lms = np.asarray(landmarks, dtype=np.float64)
    if lms.shape != (5, 2):
        raise ValueError(f"landmarks must be (5, 2), got {lms.shape}")
    aligned_from_image = estimate_similarity(lms, template(size, crop_scale))
    if isinstance(rgb, TwoScales):
        return rgb.warp(aligned_from_image, (size, size)), aligned_from_image
    crop = warp_antialiased(rgb, aligned_from_image, (size, size))
    return crop, aligned_from_image


def affine_scale(b_from_a: np.ndarray) -> float:
    """Linear scale factor of a similarity/affine matrix (sqrt |det|)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(b_from_a)[:, :2]))))


class PixelSource:
    """A photo read a region at a time: ``shape`` and ``src[y0:y1, x0:x1]``.

    `warp_antialiased` takes one where it takes an array and reads only the
    region its output lands on. The cloak uses it to cut face crops from a
    decoded Pillow image without copying the whole photo into numpy (~30 ms
    at 12 megapixels).
    """

    def __init__(self, image) -> None:
        """image: a loaded Pillow image in mode "RGB"."""
        if image.mode != "RGB":
            raise ValueError(f"a PixelSource needs an RGB image, got mode {image.mode}")
        self.image = image
        self.shape = (image.height, image.width, 3)
        self.dtype = np.dtype(np.uint8)

    def __getitem__(self, index: tuple[slice, slice]) -> np.ndarray:
        rows, cols = index
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = cols.indices(self.shape[1])
        return np.asarray(self.image.crop((x0, y0, max(x1, x0), max(y1, y0))))


class TwoScales:
    """A photo and the shrunk copy detection ran on, to cut crops from.

    full: the photo, as an array or as a `PixelSource` that reads it a region
    at a time (a decoded Pillow image, never copied whole); None while only
    `FaceDetector.find` runs, which needs the copy alone.

    `warp` cuts a crop from the copy when the crop's scale is no finer than
    the copy's, so that a 12-megapixel photo is not shrunk again for every
    landmark crop (tens of ms), and from the photo otherwise. The copy is an
    area average of the photo, so the crop is the same up to resampling.
    """

    def __init__(self, full: np.ndarray | PixelSource | None, small: np.ndarray, fx: float, fy: float) -> None:
        self.full, self.small, self.fx, self.fy = full, small, fx, fy
        # copy pixel p -> photo pixel (p + 0.5) * f - 0.5, as a matrix
        self._full_from_small = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])
        self._factor = max(fx, fy)

    def warp(self, crop_from_image: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        """`warp_antialiased` of the photo by ``crop_from_image`` (photo pixels to crop pixels)."""
        if self._factor > 1 and affine_scale(crop_from_image) * self._factor <= 1:
            return warp_antialiased(self.small, compose_affine(crop_from_image, self._full_from_small), out_size)
        return warp_antialiased(self.full, crop_from_image, out_size)


def warp_antialiased(
    src: np.ndarray | PixelSource,
    dst_from_src: np.ndarray,
    out_size: tuple[int, int],
    border_value: float = 0.0,
) -> np.ndarray:
    """cv2.warpAffine (bilinear, constant border) that does not alias.

    Where the warp shrinks by more than 2x, only the source region that lands
    in the output is cut out and shrunk with INTER_AREA to about twice the
    output scale; the rest of the warp is bilinear. out_size is (width, height).
    Returns the (height, width, C) warp, same dtype as src. A `PixelSource`
    is read only where the output lands (bilinear needs one pixel around).
    """
    m = np.asarray(dst_from_src, dtype=np.float64)
    scale = affine_scale(m)
    if isinstance(src, PixelSource) and scale >= 0.5:
        x0, y0, x1, y1 = _source_box(m, out_size, src.shape, margin=2)
        if x1 <= x0 or y1 <= y0:  # the output lies outside the photo
            channels = src.shape[2:]
            return np.full((out_size[1], out_size[0], *channels), border_value, src.dtype)
        m = compose_affine(m, np.array([[1.0, 0, x0], [0, 1.0, y0]]))
        src = src[y0:y1, x0:x1]
    if scale < 0.5:
        factor = 2.0 * scale  # shrink the region to twice the output scale
        margin = int(np.ceil(2.0 / factor)) + 2  # >= 2 pixels after shrinking
        x0, y0, x1, y1 = _source_box(m, out_size, src.shape, margin)
        if x1 > x0 and y1 > y0:
            roi = src[y0:y1, x0:x1]
            rw, rh = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
            small, fx, fy = shrink_area(roi, (rw, rh))
            # small pixel (u, v) <-> src pixel ((u + 0.5) * fx - 0.5 + x0, ...)
            src_from_small = np.array([[fx, 0, 0.5 * fx - 0.5 + x0],
                                       [0, fy, 0.5 * fy - 0.5 + y0]])
            m = compose_affine(m, src_from_small)
            src = small
    return cv2.warpAffine(
        src, m, out_size, flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(border_value,) * 4,
    )


def _source_box(dst_from_src: np.ndarray, out_size: tuple[int, int], shape: tuple[int, ...],
                margin: int) -> tuple[int, int, int, int]:
    """Source region (x0, y0, x1, y1), end-exclusive, clipped to ``shape``, that the output
    (out_size = (width, height)) lands on, grown by ``margin`` pixels."""
    out_w, out_h = out_size
    corners = np.array([[-0.5, -0.5], [out_w - 0.5, -0.5], [-0.5, out_h - 0.5], [out_w - 0.5, out_h - 0.5]])
    src_from_dst = invert_affine(dst_from_src)
    pts = corners @ src_from_dst[:, :2].T + src_from_dst[:, 2]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + margin + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), shape[1]), min(int(y1), shape[0])


def shrink_area(src: np.ndarray, size: tuple[int, int],
                last: int = cv2.INTER_AREA) -> tuple[np.ndarray, float, float]:
    """Shrink `src` to `size` (width, height) by area averaging, fast.

    OpenCV's INTER_AREA is quick only for whole factors: a 12-megapixel photo
    takes ~50 ms to shrink to 1280 px at once, a few ms halved. So the image
    is halved (2x2 means; an odd last row or column is dropped) while that
    still leaves at least `size`, then shrunk by the factor left (< 2) in one
    INTER_AREA step. The result is the area average of a slightly wider
    window, and its pixels may cover up to one source pixel less per halving
    at the right and bottom edges: so the factors (fx, fy) that map it back
    are returned, ``src pixel = (small pixel + 0.5) * f - 0.5`` (`Face.scaled`).
    A `size` not smaller than `src` on both sides is an INTER_AREA resize.
    last: the interpolation of the last step; the detection copy uses
    INTER_LINEAR, 5-10 ms less at 12 megapixels (a shrink by less than 2
    after a 2x2 mean barely aliases).
    """
    w, h = size
    img, fx, fy = src, 1.0, 1.0
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h:
        hh, hw = img.shape[0] // 2, img.shape[1] // 2
        img = cv2.resize(img[:2 * hh, :2 * hw], (hw, hh), interpolation=cv2.INTER_AREA)
        fx, fy = 2 * fx, 2 * fy
    if img.shape[:2] != (h, w):
        fx, fy = fx * img.shape[1] / w, fy * img.shape[0] / h
        img = cv2.resize(img, (w, h), interpolation=last)
    return img, fx, fy
