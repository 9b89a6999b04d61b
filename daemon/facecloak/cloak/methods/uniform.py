"""Uniform random noise within the budget map: the baseline every cloak must beat.

``delta = U(-1, 1) * budget`` per pixel and channel, drawn once from
``config.seed``; no optimisation (``config.steps`` is ignored). Its loss is
the FaceCloak push-away term, so it can be compared on the same scale.

Shape: a universal (1, 3, S, S) delta, [0, 1] units inside, pixel units in the mask.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .base import PerturbationMethod, check_faces


class UniformNoise(PerturbationMethod):
    """Random noise with the same per-pixel budget as the cloak."""

    name: ClassVar[str] = "uniform"

    def setup(self, faces: torch.Tensor) -> None:
        super().setup(faces)
        self.centroid = [F.normalize(c.mean(dim=0), dim=0) for c in self.clean]

    def loss(self, embeddings: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        return torch.stack([(f @ c).mean() for f, c in zip(embeddings, self.centroid)]).mean()

    def run(self, faces: torch.Tensor, budget: torch.Tensor | None = None,
            face0: np.ndarray | None = None) -> torch.Tensor:
        check_faces(faces)
        budget = self.budget_for(faces, face0) if budget is None else budget.float()
        self.setup(faces.to(self.device))
        self.check_stop()
        gen = torch.Generator().manual_seed(self.config.seed)
        delta = (torch.rand((1, *faces.shape[1:]), generator=gen) * 2.0 - 1.0) * budget
        self.history = []
        self.progress(1.0, "uniform noise drawn")
        return delta

    def metadata(self, n_faces: int, **extra: object) -> dict:
        return {**super().metadata(n_faces, **extra), "steps": 0}
