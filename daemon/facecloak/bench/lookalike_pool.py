"""The benchmark's look-alike pool: LFW identities outside the protocol.

The product's pool may hold anyone (`facecloak.cloak.lookalikes`); the
benchmark's must hold no one it scores, so that a look-alike is never a
user nor a gallery identity: ``m`` LFW identities that are neither users
nor anywhere in the scoring gallery (the first photo of each, its face the
one the tool finds nearest the photo centre), drawn with the run's seed.
"""

from __future__ import annotations

import random

from ..cloak.lookalikes import LookalikePool, build_pool
from ..faces import load_image
from .lfw_data import people_with, photo_path

_SEED_OFFSET = 101  # the draw the ninth round of benchmarks/ablation measured


def outside_keys(ctx, m: int, seed: int) -> list[tuple[str, int]]:
    """(name, 1) of ``m`` LFW identities neither enrolled nor in the gallery, sorted."""
    used = {u.name for u in ctx.protocol.users} | {k[0] for k in ctx.protocol.gallery}
    names = [name for name, _ in people_with(ctx.root, 1) if name not in used]
    return [(n, 1) for n in sorted(random.Random(seed + _SEED_OFFSET).sample(names, min(m, len(names))))]


def benchmark_pool(ctx, surrogates, m: int, seed: int, device: str = "auto") -> LookalikePool:
    """The pool of `outside_keys`, embedded by ``surrogates``."""
    def faces():
        for key in outside_keys(ctx, m, seed):
            rgb = load_image(photo_path(ctx.root, *key))
            face = ctx.tool_face(key, rgb, tag="lookalike")
            if face is not None:
                yield key[0], rgb, face.landmarks

    return build_pool(faces(), surrogates, device=device)
