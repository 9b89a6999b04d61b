"""OPOM-style universal masks (Zhong and Deng, 2022) from one photo's varied images.

OPOM pushes the perturbed features away from the *feature subspace* of the
person's clean images. Here that set is the clean embeddings ``X`` (K, D) of
the K variants of the one photo, per surrogate; the loss (minimised) is
``- mean_b dist(f_b, S)^2`` with S one of:

    centre   the class centre: the mean of X;
    affine   the affine hull: mu + span(X - mu); the projection is least
             squares, precomputed as an orthonormal basis (SVD of X - mu);
    convex   the convex hull: the nearest point sum_j w_j x_j with w on the
             simplex, found by a few projected-gradient steps on w (the
             features detached); the gradient to f is then exact at the
             optimum (envelope theorem), so no solver is needed.

Shape: faces (K, 3, S, S) [0, 1]; a universal (1, 3, S, S) delta.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from ...errors import FaceCloakError
from ..config import CloakConfig
from .base import PerturbationMethod, ProgressFn, StopFn

MODES = ("centre", "affine", "convex")


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of (B, K) onto the probability simplex."""
    u, _ = torch.sort(v, dim=1, descending=True)
    css = u.cumsum(dim=1) - 1.0
    ks = torch.arange(1, v.shape[1] + 1, dtype=v.dtype, device=v.device)
    cond = u - css / ks > 0
    rho = cond.to(v.dtype).cumsum(dim=1).argmax(dim=1, keepdim=True)  # last True index
    theta = css.gather(1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0.0)


def convex_hull_point(f: torch.Tensor, x: torch.Tensor, iters: int = 50) -> torch.Tensor:
    """The nearest point of conv(rows of x (K, D)) to each row of f (B, D), no gradient."""
    with torch.no_grad():
        gram = x @ x.T
        lr = 1.0 / (2.0 * float(torch.linalg.matrix_norm(gram, ord=2)) + 1e-12)
        w = torch.full((f.shape[0], x.shape[0]), 1.0 / x.shape[0], dtype=f.dtype, device=f.device)
        target = f.detach() @ x.T  # (B, K)
        for _ in range(iters):
            w = project_simplex(w - lr * 2.0 * (w @ gram - target))
        return w @ x


class OPOM(PerturbationMethod):
    """Universal mask away from the clean variants' class centre, affine hull or convex hull."""

    name: ClassVar[str] = "opom"

    def __init__(self, config: CloakConfig | None = None, surrogates: Sequence[torch.nn.Module] | None = None,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None, mode: str = "convex"):
        if mode not in MODES:
            raise FaceCloakError(f"unknown OPOM mode {mode!r}; valid: {', '.join(MODES)}")
        super().__init__(config, surrogates, progress, should_stop)
        self.mode = mode

    def setup(self, faces: torch.Tensor) -> None:
        super().setup(faces)
        self.mu = [c.mean(dim=0) for c in self.clean]
        self.basis = []
        for c, mu in zip(self.clean, self.mu):
            _, s, vt = torch.linalg.svd(c - mu, full_matrices=False)
            self.basis.append(vt[s > 1e-6 * max(float(s.max()), 1e-12)])  # (r, D)

    def nearest(self, f: torch.Tensor, i: int) -> torch.Tensor:
        """The point of the set nearest to each row of f, for model i (constant w.r.t. f
        for centre and convex; a linear function of f for affine)."""
        if self.mode == "centre":
            return self.mu[i].expand_as(f)
        if self.mode == "affine":
            u = self.basis[i]
            return self.mu[i] + (f - self.mu[i]) @ u.T @ u
        return convex_hull_point(f, self.clean[i])

    def loss(self, embeddings: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        dists = [((f - self.nearest(f, i)) ** 2).sum(dim=1).mean() for i, f in enumerate(embeddings)]
        return -torch.stack(dists).mean()

    def metadata(self, n_faces: int, **extra: object) -> dict:
        return {**super().metadata(n_faces, **extra), "method": f"opom-{self.mode}"}
