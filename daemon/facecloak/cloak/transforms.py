"""Differentiable robustness transforms, drawn fresh at every optimisation step.

What happens to a cloak between the optimiser and a face-recognition model:
the mask is warped into the photo (one resampling), the photo is re-encoded
(JPEG) and often downscaled by the site, and the recogniser re-detects the
face and re-aligns it with slightly different landmarks (another resampling
at a sub-pixel offset). `RobustnessTransform` simulates each of these:

    paste jitter  the *delta* is resampled by a small random similarity
                  (sub-pixel shift, +-2 degrees, +-3% scale) before it is added,
                  which is what paste-then-realign does to it; warping only the
                  delta keeps the clean face exact and leaves no black border;
    resize        down-up resampling of the cloaked face (factor 0.5..0.9);
    JPEG          real JPEG at a random quality (forward), identity gradient
                  (backward, straight-through).

`LightingJitter` changes what the next photo of the person changes and the
K fixed variants cannot show often enough: light and colour, drawn fresh for
every face at every step and applied to the clean faces before the delta is
added (the delta is pasted as it is; the light falls on the face).

Shape: images (N, 3, H, W) float RGB in [0, 1]; deltas (1 or N, 3, H, W).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..faces.warp_torch import warp_affine_torch


def _jpeg_numpy(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Real JPEG round trip of (N, 3, H, W) [0, 1] images, no gradient."""
    out = []
    for img in (x.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy():
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("cv2 failed to encode JPEG")
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy())
    arr = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.dtype) / 255.0
    return arr.to(x.device)


def jpeg_ste(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG at ``quality``: real codec forward, straight-through (identity) backward."""
    return x + (_jpeg_numpy(x, quality) - x).detach()


def resize_down_up(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Shrink by ``factor`` (antialiased bilinear) and enlarge back; differentiable."""
    h, w = x.shape[-2:]
    small = (max(1, round(h * factor)), max(1, round(w * factor)))
    y = F.interpolate(x, size=small, mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def jitter_matrices(n: int, size: int, rng: np.random.Generator, shift: float = 0.75,
                    degrees: float = 2.0, scale: float = 0.03) -> torch.Tensor:
    """(n, 2, 3) random similarities about the crop centre, pixel units (``dst_from_src``)."""
    c = (size - 1) / 2.0
    mats = []
    for _ in range(n):
        a = math.radians(rng.uniform(-degrees, degrees))
        s = 1.0 + rng.uniform(-scale, scale)
        tx, ty = rng.uniform(-shift, shift, size=2)
        cos, sin = s * math.cos(a), s * math.sin(a)
        mats.append([[cos, -sin, c - cos * c + sin * c + tx], [sin, cos, c - sin * c - cos * c + ty]])
    return torch.tensor(mats, dtype=torch.float32)


def jitter_delta(delta: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """``delta`` (1 or n, 3, S, S) resampled by n random small similarities -> (n, 3, S, S)."""
    h, w = delta.shape[-2:]
    if h != w:
        raise ValueError(f"jitter_delta expects a square delta, got {h}x{w}")
    d = delta.expand(n, -1, -1, -1) if delta.shape[0] == 1 else delta
    return warp_affine_torch(d, jitter_matrices(n, w, rng).to(delta.device), (h, w))


class RobustnessTransform:
    """A fresh random combination of paste jitter, down-up resize and JPEG per call.

    Each op is applied with probability ``p`` (independently); ``seed`` makes the
    sequence of draws reproducible.

        >>> tf = RobustnessTransform(seed=0)
        >>> x_adv = tf(clean, delta)      # (N, 3, S, S), differentiable in delta
    """

    def __init__(self, seed: int = 0, p: float = 0.5, jpeg_quality: tuple[int, int] = (60, 95),
                 resize_factor: tuple[float, float] = (0.5, 0.9)):
        self.rng = np.random.default_rng(seed)
        self.p = p
        self.jpeg_quality = jpeg_quality
        self.resize_factor = resize_factor
        self.last: list[str] = []  # what the last call did, for logs and tests

    def __call__(self, clean: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """Clean faces (N, 3, S, S) + delta (1 or N, 3, S, S) -> transformed cloaked faces."""
        n = clean.shape[0]
        self.last = []
        if self.rng.random() < self.p:
            delta = jitter_delta(delta, n, self.rng)
            self.last.append("jitter")
        x = (clean + delta).clamp(0.0, 1.0)
        if self.rng.random() < self.p:
            factor = float(self.rng.uniform(*self.resize_factor))
            x = resize_down_up(x, factor)
            self.last.append(f"resize {factor:.2f}")
        if self.rng.random() < self.p:
            quality = int(self.rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            x = jpeg_ste(x, quality)
            self.last.append(f"jpeg {quality}")
        return x


class LightingJitter:
    """Fresh light and colour for every clean face at each call (no gradient needed).

    Per face: exposure gain (``gain``), gamma (``gamma``), white balance
    (per-channel gains, mean 1, spread ``colour``) and a linear shading ramp
    in a random direction (amplitude up to ``shade``), then clipped to [0, 1].

        >>> lj = LightingJitter(seed=0)
        >>> lit = lj(faces)            # (N, 3, S, S), same shape and device
    """

    def __init__(self, seed: int = 0, gain: tuple[float, float] = (0.75, 1.25),
                 gamma: tuple[float, float] = (0.75, 1.35), colour: float = 0.08, shade: float = 0.35):
        self.rng = np.random.default_rng([seed, 7])
        self.gain, self.gamma, self.colour, self.shade = gain, gamma, colour, shade

    @torch.no_grad()
    def __call__(self, faces: torch.Tensor) -> torch.Tensor:
        n, _, h, w = faces.shape
        r = self.rng
        balance = r.uniform(1 - self.colour, 1 + self.colour, (n, 3))
        gain = r.uniform(*self.gain, n)[:, None] * balance / balance.mean(axis=1, keepdims=True)
        gamma = r.uniform(*self.gamma, n)
        theta = r.uniform(0.0, 2 * math.pi, n)
        amp = r.uniform(0.0, self.shade, n)
        ys = torch.linspace(-1.0, 1.0, h, device=faces.device)[:, None]
        xs = torch.linspace(-1.0, 1.0, w, device=faces.device)[None, :]

        def as_t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=faces.dtype, device=faces.device)

        ramp = as_t(np.cos(theta))[:, None, None] * xs + as_t(np.sin(theta))[:, None, None] * ys
        shading = (1.0 + as_t(amp)[:, None, None] * ramp)[:, None]  # (N, 1, H, W)
        x = faces.clamp(0.0, 1.0) ** as_t(gamma)[:, None, None, None]
        return (x * as_t(gain)[:, :, None, None] * shading).clamp(0.0, 1.0)


def zoom_faces(x: torch.Tensor, rng: np.random.Generator, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Each face of (N, 3, S, S) rescaled about its centre by a random factor, reflect border; differentiable."""
    n, _, h, w = x.shape
    factors = rng.uniform(*scale, n)
    c = (w - 1) / 2.0
    mats = torch.tensor([[[f, 0.0, c - f * c], [0.0, f, c - f * c]] for f in factors], dtype=x.dtype)
    return warp_affine_torch(x, mats.to(x.device), (h, w), padding="reflection")


def elastic_faces(x: torch.Tensor, rng: np.random.Generator, amplitude: float, grid: int = 4) -> torch.Tensor:
    """Each face of (N, 3, S, S) bent by its own smooth random displacement field; no gradient needed.

    The field is a ``grid`` x ``grid`` lattice of offsets (uniform in
    +-``amplitude`` aligned pixels) upsampled bicubically to the face: a
    different smile, jaw, cheek or eyebrow shape at the same landmarks, what
    the next photo's expression and pose change and a similarity cannot.
    """
    n, _, h, w = x.shape
    offsets = torch.as_tensor(rng.uniform(-amplitude, amplitude, (n, 2, grid, grid)), dtype=x.dtype)
    flow = F.interpolate(offsets.to(x.device), size=(h, w), mode="bicubic", align_corners=True)  # (N, 2, H, W) px
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device),
                            torch.arange(w, dtype=x.dtype, device=x.device), indexing="ij")
    gx = (xs + flow[:, 0] + 0.5) / w * 2 - 1  # pixel centres -> normalised, align_corners=False
    gy = (ys + flow[:, 1] + 0.5) / h * 2 - 1
    return F.grid_sample(x, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="reflection",
                         align_corners=False)
