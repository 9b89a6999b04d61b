"""Per-image PGD: an image-specific delta for each aligned photo (baseline).

Not a universal cloak: each probe gets its own delta, optimised with the same
loop, budget map (from that face) and transforms, to push its embedding away
from its own clean embedding on every surrogate. It is the ceiling a
universal mask is compared to (DESIGN.md section 5: 97% PSR@1 on the
surrogate, far less on black boxes).

With ``start`` it refines a given delta instead of starting from zero: a
user's universal mask, in that photo's aligned frame, for a few steps on the
photo it is about to be pasted into (`facecloak-refine` in the benchmark).

Shape: faces (N, 3, S, S) [0, 1]; delta (N, 3, S, S), one per face (`run`);
`fit` takes exactly one face and returns its `CloakMask`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from .base import PerturbationMethod


class PerImagePGD(PerturbationMethod):
    """Sign-gradient steps against each face's own clean embedding."""

    name: ClassVar[str] = "pgd"
    universal: ClassVar[bool] = False

    def __init__(self, *args: Any, start: torch.Tensor | None = None, **kwargs: Any):
        """start: the delta to start from, (1, 3, S, S) in [0, 1] units, shared by every face (clamped
        to each face's budget); None starts from zero."""
        super().__init__(*args, **kwargs)
        self.start = start

    def init_delta(self, shape: tuple[int, ...], budget: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.start is None:
            return super().init_delta(shape, budget, gen)
        if self.start.ndim != 4 or self.start.shape[0] != 1 or self.start.shape[1:] != shape[1:]:
            raise ValueError(f"start must be (1, {', '.join(map(str, shape[1:]))}), got {tuple(self.start.shape)}")
        return self.start.to(budget.device, torch.float32).expand(shape).clone()

    def loss(self, embeddings: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        sims = [(f * c[index]).sum(dim=1).mean() for f, c in zip(embeddings, self.clean)]
        return torch.stack(sims).mean()
