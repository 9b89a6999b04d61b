"""Look-alikes: real photos of the LFW identities nearest the user, as extra training faces.

A lever to measure (issue 4): the sixth round showed real views of the
user move the black boxes where augmentations do not, but one photo gives
none. ``FACECLOAK_LOOKALIKES=N`` hands enrolment one real photo each of the
N identities whose faces the surrogates (never the black boxes) place
nearest the user's, drawn from ``FACECLOAK_LOOKALIKE_POOL`` (default 800)
LFW identities that are neither users nor anywhere in the scoring gallery.
``FACECLOAK_LOOKALIKE_MODE`` "replace" (default) puts them in place of N
augmented variants; "add" adds them to the K variants. The user's centroid
is taken over the user's own variants only (`FaceCloak.own_index`).
"""

from __future__ import annotations

import os
import random

import numpy as np

from ..faces import align_face, load_image


def outside_keys(ctx, m: int, seed: int) -> list[tuple[str, int]]:
    """(name, 1) of m LFW identities that are neither users nor in the scoring gallery."""
    used = {u.name for u in ctx.protocol.users} | {k[0] for k in ctx.protocol.gallery}
    names = sorted(f.name for f in (ctx.root / "images").iterdir() if f.is_dir() and f.name not in used)
    return [(n, 1) for n in sorted(random.Random(seed).sample(names, min(m, len(names))))]


def lookalike_count() -> int:
    return int(os.environ.get("FACECLOAK_LOOKALIKES", "0") or 0)


def lookalike_mode() -> str:
    return os.environ.get("FACECLOAK_LOOKALIKE_MODE", "replace") or "replace"


class LookalikePool:
    def __init__(self, ctx, surrogates, seed: int) -> None:
        import torch

        from ..cloak.methods.base import faces_to_tensor
        from ..cloak.surrogates import load_surrogates
        from .lfw_data import photo_path

        m = int(os.environ.get("FACECLOAK_LOOKALIKE_POOL", "800") or 800)
        self.nets = load_surrogates(tuple(surrogates), device="cpu")
        self.photos, crops = [], []
        for key in outside_keys(ctx, m, seed + 101):
            rgb = load_image(photo_path(ctx.root, *key))
            face = ctx.tool_face(key, rgb, tag="lookalike")
            if face is not None:
                self.photos.append((rgb, np.asarray(face.landmarks, np.float32)))
                crops.append(align_face(rgb, np.asarray(face.landmarks), size=112)[0])
        self._to_tensor = faces_to_tensor
        with torch.no_grad():
            self.emb = [self._embed(crops, net) for net in self.nets]  # per surrogate (M, D)

    def _embed(self, crops, net) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(crops), 16):
                out.append(net(self._to_tensor(crops[i:i + 16])).numpy())
        e = np.concatenate(out)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def nearest(self, rgb: np.ndarray, landmarks: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        crop = align_face(rgb, np.asarray(landmarks), size=112)[0]
        sims = np.mean([g @ self._embed([crop], net)[0] for g, net in zip(self.emb, self.nets)], axis=0)
        return [self.photos[i] for i in np.argsort(-sims)[:n]]
