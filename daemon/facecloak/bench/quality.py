"""Image quality of a cloaked photo against the clean one: SSIM and PSNR.

Both take two images of the same shape, (H, W) or (H, W, C), in 0..255
pixel units (uint8 or float). SSIM follows Wang, Bovik, Sheikh and
Simoncelli (IEEE TIP 2004): an 11-tap Gaussian window with sigma 1.5
(truncated at 3.5 sigma, as scikit-image's ``gaussian_weights=True``),
K1 = 0.01, K2 = 0.03, L = 255, population (not sample) covariances, the
SSIM map averaged over the pixels whose window lies fully inside the image
(a border of 5 pixels is dropped), and colour images scored per channel and
averaged over the channels.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMA = 1.5
TRUNCATE = 3.5  # radius = int(3.5 * 1.5 + 0.5) = 5: an 11 x 11 window
K1, K2, DATA_RANGE = 0.01, 0.03, 255.0


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ValueError(f"expected two (H, W) or (H, W, C) images of one shape, got {a.shape} and {b.shape}")
    return a, b


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity, 1.0 for identical images (see the module docstring)."""
    a, b = _pair(a, b)
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c]) for c in range(a.shape[2])]))
    radius = int(TRUNCATE * SIGMA + 0.5)
    if min(a.shape) <= 2 * radius:
        raise ValueError(f"SSIM needs images larger than {2 * radius + 1} px on each side, got {a.shape}")

    def blur(x: np.ndarray) -> np.ndarray:
        # The normalised 11-tap Gaussian, edges mirrored (d c b a | a b c d).
        return cv2.GaussianBlur(x, (2 * radius + 1, 2 * radius + 1), SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(smap[radius:-radius, radius:-radius].mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; inf when identical."""
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(DATA_RANGE**2 / mse))


def summarise(values: list[float]) -> dict:
    """{"mean", "median", "min", "n", "n_identical"} of per-image scores; inf (identical) values are
    counted apart and left out of the statistics (None when every image is identical)."""
    finite = [v for v in values if np.isfinite(v)]
    out = {"n": len(values), "n_identical": len(values) - len(finite)}
    if finite:
        out.update(mean=float(np.mean(finite)), median=float(np.median(finite)), min=float(np.min(finite)))
    else:
        out.update(mean=None, median=None, min=None)
    return out
