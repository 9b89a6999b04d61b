"""FaceCloak: one universal mask from the K varied images of one photo.

Loss on each surrogate (averaged over surrogates and the batch), minimised:

    own   = (cos(f, e_enrol) + cos(f, e_centroid)) / 2     push away from the user
            (+ cos(f, e_self), averaged over three, with ``config.push_self``)
    loss  = own - cos(f, e_anchor)                          pull toward a far identity

``f`` is the embedding of a cloaked varied face; ``e_enrol`` the clean
embedding of variant 0 (the photo itself); ``e_centroid`` the normalised
mean of the clean embeddings of the user's own variants (all K, but for
look-alikes: ``own``, `facecloak.cloak.lookalikes`); ``e_self`` the clean
embedding of the same variant (what per-image PGD pushes from). With an
anchor gallery and ``config.anchor == "far"``, ``e_anchor`` is the gallery
identity least similar to the user (the paper's far anchor), chosen once,
the same identity for every surrogate (the lowest mean cosine to
``e_enrol`` over surrogates). Off by default: on the realistic benchmark
the pull cost protection (`CloakConfig.anchor`).

The focusing mechanisms are config switches: Region-Stickers and High-Pass
live in the budget map (`facecloak.cloak.budget`); attention in
`facecloak.cloak.attention`; robustness transforms in the base loop.

Shape: anchor_gallery maps a surrogate name to (M, D) float embeddings of M
other identities, row j the same identity for every surrogate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import FaceCloakError
from ..attention import GradientAttention
from ..config import CloakConfig
from .base import PerturbationMethod, ProgressFn, StopFn


class FaceCloak(PerturbationMethod):
    """Universal mask: away from the user's identity (toward a distant one only with anchor="far")."""

    name: ClassVar[str] = "facecloak"
    has_attention: ClassVar[bool] = True

    def __init__(self, config: CloakConfig | None = None, surrogates: Sequence[torch.nn.Module] | None = None,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                 anchor_gallery: Mapping[str, np.ndarray] | None = None, own: Sequence[int] | None = None):
        super().__init__(config, surrogates, progress, should_stop)
        self.anchor_gallery = anchor_gallery
        self.own = None if own is None else list(own)  # the faces that are the user (None: all)
        self.anchor_index: int | None = None
        self.attention: GradientAttention | None = None
        if anchor_gallery is not None and self.config.anchor == "far":
            lacking = [n for n in self.model_names if n not in anchor_gallery]
            if lacking:
                raise FaceCloakError(f"the anchor gallery has no embeddings for {', '.join(lacking)}")

    def setup(self, faces: torch.Tensor) -> None:
        super().setup(faces)
        self.enrol = [c[0] for c in self.clean]
        own = slice(None) if self.own is None else torch.as_tensor(self.own, dtype=torch.long, device=faces.device)
        self.centroid = [F.normalize(c[own].mean(dim=0), dim=0) for c in self.clean]
        self.anchors: list[torch.Tensor] | None = None
        if self.anchor_gallery is not None and self.config.anchor == "far":
            gallery = [F.normalize(torch.as_tensor(np.asarray(self.anchor_gallery[n]), dtype=torch.float32,
                                                   device=faces.device), dim=1) for n in self.model_names]
            sims = torch.stack([g @ e for g, e in zip(gallery, self.enrol)]).mean(dim=0)  # (M,)
            self.anchor_index = int(sims.argmin())
            self.anchors = [g[self.anchor_index] for g in gallery]
        self.attention = GradientAttention(faces.shape[-1], floor=self.config.attention_floor,
                                            quantile=self.config.attention_quantile,
                                            device=faces.device) if self.config.attention else None

    def loss(self, embeddings: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        terms = []
        for i, f in enumerate(embeddings):
            if self.config.push_self:
                term = (f @ self.enrol[i] + f @ self.centroid[i] + (f * self.clean[i][index]).sum(dim=1)) / 3.0
            else:
                term = 0.5 * (f @ self.enrol[i] + f @ self.centroid[i])
            if self.anchors is not None:
                term = term - f @ self.anchors[i]
            terms.append(term)
        return torch.stack(terms).mean()  # over surrogates and faces

    def effective(self, delta: torch.Tensor) -> torch.Tensor:
        return delta if self.attention is None else delta * self.attention.weights

    def after_step(self, grad_effective: torch.Tensor, step: int) -> None:
        if self.attention is not None:
            self.attention.update(grad_effective)

    def metadata(self, n_faces: int, **extra: object) -> dict:
        meta = super().metadata(n_faces, **extra)
        meta["anchor_index"] = self.anchor_index
        meta["push_self"] = self.config.push_self
        if self.config.attention:
            meta["attention"] = {"floor": self.config.attention_floor, "quantile": self.config.attention_quantile}
        return meta
