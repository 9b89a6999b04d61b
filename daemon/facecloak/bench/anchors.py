"""An anchor gallery for FaceCloak's far-anchor pull, from LFW identities outside the protocol.

A lever to measure (issue 4): ``FACECLOAK_ANCHORS=M`` hands enrolment the
surrogates' embeddings of M LFW identities that are neither users nor
anywhere in the scoring gallery (no photo of theirs is a distractor), one
photo each, so pulling a mask toward one of them cannot move a probe toward
a gallery photo of the same person.
"""

from __future__ import annotations

import os
import random

import numpy as np

from ..faces import align_face, load_image


def anchor_count() -> int:
    return int(os.environ.get("FACECLOAK_ANCHORS", "0") or 0)


def anchor_keys(ctx, m: int, seed: int) -> list[tuple[str, int]]:
    used = {u.name for u in ctx.protocol.users} | {k[0] for k in ctx.protocol.gallery}
    names = sorted(f.name for f in (ctx.root / "images").iterdir() if f.is_dir() and f.name not in used)
    return [(n, 1) for n in sorted(random.Random(seed + 7).sample(names, min(m, len(names))))]


def anchor_gallery(ctx, surrogates, m: int, seed: int) -> dict[str, np.ndarray]:
    import torch

    from ..cloak.methods.base import faces_to_tensor
    from ..cloak.surrogates import load_surrogates
    from .lfw_data import photo_path

    crops = []
    for key in anchor_keys(ctx, m, seed):
        rgb = load_image(photo_path(ctx.root, *key))
        face = ctx.tool_face(key, rgb, tag="anchor")
        if face is not None:
            crops.append(align_face(rgb, np.asarray(face.landmarks), size=112)[0])
    nets = load_surrogates(tuple(surrogates), device="cpu")
    out: dict[str, list] = {n: [] for n in surrogates}
    with torch.no_grad():
        for i in range(0, len(crops), 8):
            x = faces_to_tensor(crops[i:i + 8])
            for n, net in zip(surrogates, nets):
                out[n].append(net(x).numpy())
    return {n: np.concatenate(v) for n, v in out.items()}
