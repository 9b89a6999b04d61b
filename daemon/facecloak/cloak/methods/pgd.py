"""Per-image PGD: an image-specific delta for each aligned photo (baseline).

Not a universal cloak: each probe gets its own delta, optimised with the same
loop, budget map (from that face) and transforms, to push its embedding away
from its own clean embedding on every surrogate. It is the ceiling a
universal mask is compared to (DESIGN.md section 5: 97% PSR@1 on the
surrogate, far less on black boxes).

Shape: faces (N, 3, S, S) [0, 1]; delta (N, 3, S, S), one per face (`run`);
`fit` takes exactly one face and returns its `CloakMask`.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import PerturbationMethod


class PerImagePGD(PerturbationMethod):
    """Sign-gradient steps against each face's own clean embedding."""

    name: ClassVar[str] = "pgd"
    universal: ClassVar[bool] = False

    def loss(self, embeddings: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        sims = [(f * c[index]).sum(dim=1).mean() for f, c in zip(embeddings, self.clean)]
        return torch.stack(sims).mean()
