"""Learnable per-pixel attention: where the cloak's budget is worth spending.

The attention ``A`` is a (1, 1, S, S) weight in [floor, 1] that multiplies the
delta (``delta_effective = A * delta``). It is learnt from the gradient, not
by a second optimiser: each step, the magnitude of d loss / d delta_effective
(summed over channels and the batch) is blurred with a Gaussian, divided by
its mean (so every step weighs the same), and folded into an exponential
moving average; ``A`` is that average divided by its ``quantile`` and clipped
to [0, 1], then lifted to [floor, 1]. Pixels where the surrogates are
sensitive (typically eyes, brows, nose bridge) keep their full budget; flat
regions where noise buys little are damped towards ``floor``, which makes the
mask less visible at nearly the same protection. Because ``A`` only ever
scales the delta down, the per-pixel budget still holds. With the default
floor 0 the least useful pixels give up their budget entirely: on ten LFW
users that raised face SSIM from 0.83 to 0.85 with black-box PSR@1 / @5
within noise (88 / 82 against 90 / 82; benchmarks/ablation, ``af0``; the
floor was 0.5 before).

Shape: weights (1, 1, S, S) float32; gradients (B, 3, S, S).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, 1, H, W), reflect padding."""
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


class GradientAttention:
    """EMA-of-gradient attention, (1, 1, S, S) in [floor, 1]; starts at all ones.

    decay: EMA decay per step; sigma: blur in aligned pixels; floor: the least
    weight a pixel keeps; quantile: pixels at or above this quantile of the
    average get weight 1; warmup: steps before the weights move off 1;
    device: where the weights live (the gradients' device).
    """

    def __init__(self, size: int = 112, decay: float = 0.8, sigma: float = 3.0, floor: float = 0.0,
                 quantile: float = 0.6, warmup: int = 2, device: torch.device | str = "cpu"):
        self.weights = torch.ones(1, 1, size, size, device=device)
        self.decay, self.sigma, self.floor, self.quantile, self.warmup = decay, sigma, floor, quantile, warmup
        self.ema: torch.Tensor | None = None
        self.steps = 0

    def update(self, grad: torch.Tensor) -> torch.Tensor:
        """Fold one step's gradient (B, 3, S, S) into the weights; returns them."""
        m = gaussian_blur(grad.detach().abs().sum(dim=(0, 1), keepdim=True), self.sigma)
        m = m / m.mean().clamp_min(1e-12)
        self.ema = m if self.ema is None else self.decay * self.ema + (1.0 - self.decay) * m
        self.steps += 1
        if self.steps >= self.warmup:
            level = torch.quantile(self.ema.flatten(), self.quantile).clamp_min(1e-12)
            self.weights = self.floor + (1.0 - self.floor) * (self.ema / level).clamp(0.0, 1.0)
        return self.weights
