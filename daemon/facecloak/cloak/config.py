"""CloakConfig: every knob of an enrolment, frozen, with named strength presets.

    >>> cfg = CloakConfig.for_strength("high", steps=32)
    >>> cfg.eps, cfg.sticker_eps, cfg.highpass_eps
    (12.0, 32.0, 24.0)

Convention:
    Budgets (``eps``, ``sticker_eps``, ``highpass_eps``) and ``step_size`` are
    in /255 pixel units (8.0 == 8/255 of the range), L_inf, per pixel, in the
    112x112 aligned frame. ``eps`` holds everywhere; the Region-Stickers
    (eyes, nose, mouth boxes, ~15% of the crop) may reach ``sticker_eps``;
    textured pixels may reach up to ``highpass_eps`` in proportion to the
    local high-pass energy (`facecloak.cloak.budget`).

Strength presets and what they cost (realistic scoring, black-box PSR@1 /
@5; benchmarks/ablation on 10 or 30 LFW users, or the full set where a line
says so):
    low   4 / 12 / 8:   barely visible (face SSIM 0.95, photo PSNR 40 dB) and
                        little protection: 33 / 19 on 30 LFW users where
                        `mid` gives 89 / 77 (benchmarks/ablation, `low`).
    mid   4 / 32 / 16:  the protection sits on the stickers: 4/255 elsewhere
                        with 32/255 on the eyes, nose and mouth protected as
                        well as 8/255 with 24/255 (80 / 65 vs 80 / 67) at a
                        better face SSIM (0.83 vs 0.81), a lower photo PSNR
                        (32.9 vs 33.8 dB); with the in-loop light, zoom, bend
                        and self-push it reached 90 / 82 (SSIM 0.83), and 94 /
                        81 on ten held-out users (the old mid: 77 / 66); with
                        the attention floor at 0 (default) 88 / 82 at SSIM
                        0.85, PSNR 33.2 dB, held out 90 / 81. Grain is visible
                        on the eyes, nose and mouth up close. Quality-first:
                        ``attention_quantile=0.8`` gave 86 / 76 at SSIM 0.87,
                        PSNR 34.0 dB.
    high  12 / 32 / 24: more grain everywhere; 95 / 91 at face SSIM 0.76,
                        photo PSNR 31.6 dB on all 158 LFW users
                        (benchmarks/privacy-full-high; `mid` there: 88 / 78).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..device import check_device
from ..errors import FaceCloakError
from ..models.registry import DEFAULT_SURROGATES

#: name -> (base eps, sticker eps, high-pass eps), /255 units.
STRENGTHS: dict[str, tuple[float, float, float]] = {
    "low": (4.0, 12.0, 8.0),
    "mid": (4.0, 32.0, 16.0),
    "high": (12.0, 32.0, 24.0),
}
ANCHOR_MODES = ("far", "none")
BACKENDS = ("auto", "augment", "arc2face")


@dataclass(frozen=True)
class CloakConfig:
    """How to fit a cloak. Frozen: make a changed copy with `replace`.

    strength: "low" | "mid" | "high"; fills eps / sticker_eps / highpass_eps
        when they are left as None.
    eps, sticker_eps, highpass_eps: per-pixel L_inf budgets, /255 units.
    steps: optimisation steps; step_size: sign-step on base pixels, /255 units
        (pixels with a larger budget step proportionally larger, so that every
        pixel can reach its cap in the same number of steps).
    momentum: MI-FGSM decay (1.0 = plain accumulation of L1-normalised grads).
    k: number of varied images of the person (variant 0 is the photo itself).
    batch: variants per step (a fresh random subset each step); None = all k.
    backend: "auto" (Arc2Face if usable, else "augment") | "augment" | "arc2face".
    surrogates: FR models optimised against (never the black boxes).
    stickers, highpass, attention, robustness: the focusing mechanisms and the
        in-loop robustness transforms (JPEG, resize, paste jitter); all on.
    highpass_sigma: Gaussian sigma (aligned pixels) of the high-pass filter.
    attention_floor: the least weight the learnable attention leaves a pixel
        (0: pixels where the surrogates are least sensitive give up their budget).
    attention_quantile: pixels whose attention average is at or above this
        quantile keep their whole budget (`facecloak.cloak.attention`).
    lighting: fresh light and colour (`facecloak.cloak.transforms.LightingJitter`)
        on the clean faces at every step, so that a universal mask fits more
        than the K fixed variants' lighting.
    zoom: input diversity (DI-FGSM): with probability 0.5 per step the cloaked
        faces are rescaled by 0.9-1.1 about the centre (reflect border), as a
        black box's own, looser or tighter crop sees them.
    elastic: amplitude (aligned pixels) of a smooth random bend of the clean
        faces at every step (`transforms.elastic_faces`; 0 = off): expression
        and pose changes the fixed variants lack (universal masks only).
    push_self: FaceCloak also pushes each cloaked variant away from its own
        clean embedding, as per-image PGD does.
    These four were measured together (benchmarks/ablation: 85 / 78 against
    80 / 67 black-box PSR@1 / @5 without them, same users) and are on.
    anchor: "none" = only push away from the user; "far" = also pull toward
        the least similar identity of an anchor gallery when one is given.
        Measured (benchmarks/ablation, seventh round): with a far anchor from
        200 outside identities, 85.7 / 75.3 black-box PSR@1 / @5 against
        89.3 / 77.3 without, so "none" is the default and the daemon ships
        no gallery.
    lookalikes: real photos of other people whose faces the surrogates place
        nearest the user's, from a look-alike pool (`facecloak.cloak.lookalikes`),
        in place of as many augmented variants; used only where a pool is
        installed or given (0 = never). Measured (benchmarks/ablation, ninth
        round): 3 from 800 LFW identities gave 93.7 / 83.3 black-box PSR@1 / @5
        against 89.3 / 77.3 without on 30 users, and 90.3 / 82.1 against
        88.2 / 77.9 on all 158 (benchmarks/privacy-full-lookalikes), at the
        same quality.
    seed: makes variations, batches, transforms and init reproducible.
    device: "auto" (a CUDA GPU when torch sees one) | "cpu" | "cuda": where the
        surrogates and the optimisation run (`facecloak.device`); the mask's
        metadata records the device it resolved to.
    """

    strength: str = "mid"
    eps: float | None = None
    sticker_eps: float | None = None
    highpass_eps: float | None = None
    steps: int = 24
    step_size: float = 1.0
    momentum: float = 1.0
    k: int = 8
    batch: int | None = None
    backend: str = "auto"
    surrogates: tuple[str, ...] = DEFAULT_SURROGATES
    stickers: bool = True
    highpass: bool = True
    attention: bool = True
    robustness: bool = True
    highpass_sigma: float = 1.5
    attention_floor: float = 0.0
    attention_quantile: float = 0.6
    lighting: bool = True
    push_self: bool = True
    zoom: bool = True
    elastic: float = 3.0
    anchor: str = "none"
    lookalikes: int = 3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.strength not in STRENGTHS:
            raise FaceCloakError(f"unknown cloak strength {self.strength!r}; "
                                 f"valid strengths: {', '.join(STRENGTHS)}")
        base, sticker, hp = STRENGTHS[self.strength]
        for name, default in (("eps", base), ("sticker_eps", sticker), ("highpass_eps", hp)):
            value = default if getattr(self, name) is None else float(getattr(self, name))
            if not 0.0 <= value <= 255.0:
                raise FaceCloakError(f"{name} must be in [0, 255] (/255 units), got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "surrogates", tuple(self.surrogates))
        if self.anchor is None:  # "no anchor", however it was spelt (e.g. --set anchor=none)
            object.__setattr__(self, "anchor", "none")
        if self.steps < 0 or self.k < 1 or (self.batch is not None and self.batch < 1) or self.lookalikes < 0:
            raise FaceCloakError(f"need steps >= 0, k >= 1, batch >= 1 or None, lookalikes >= 0; got "
                                 f"steps={self.steps}, k={self.k}, batch={self.batch}, lookalikes={self.lookalikes}")
        if not (0.0 <= self.attention_floor <= 1.0
                and 0.0 < self.attention_quantile <= 1.0):
            raise FaceCloakError("attention_floor must be in [0, 1], attention_quantile in (0, 1]")
        if self.step_size <= 0 or self.momentum < 0 or self.highpass_sigma <= 0 or self.elastic < 0:
            raise FaceCloakError("step_size and highpass_sigma must be > 0, momentum and elastic >= 0")
        if self.anchor not in ANCHOR_MODES:
            raise FaceCloakError(f"unknown anchor mode {self.anchor!r}; valid: {', '.join(ANCHOR_MODES)}")
        if self.backend not in BACKENDS:
            raise FaceCloakError(f"unknown variation backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        if not self.surrogates:
            raise FaceCloakError("at least one surrogate model is needed")
        check_device(self.device)

    @classmethod
    def for_strength(cls, name: str, **overrides: object) -> CloakConfig:
        """The preset ``name`` ("low" / "mid" / "high") with ``overrides`` applied."""
        return cls(strength=name, **overrides)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> CloakConfig:
        """A copy with ``changes``; changing ``strength`` re-derives unset budgets."""
        if "strength" in changes:
            for name in ("eps", "sticker_eps", "highpass_eps"):
                changes.setdefault(name, None)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def budgets(self) -> dict[str, float | None]:
        """The budgets in effect (/255), None for a switched-off mechanism (mask metadata)."""
        return {"eps": self.eps,
                "sticker_eps": self.sticker_eps if self.stickers else None,
                "highpass_eps": self.highpass_eps if self.highpass else None}
