"""Look-alikes: real photos of other people whose faces are nearest the user's.

From one photo, the augmentations vary light, scale and shape, but never
the person's real expressions, poses and cameras; real photos of the user
do that and move the black boxes (issue 4's sixth round), but enrolment has
one. Real photos of other people are the next best thing: enrolment puts
``CloakConfig.lookalikes`` of them, those the surrogates place nearest the
user, in place of as many augmented variants, each pushed away from the
user's identity and from its own, while the user's centroid stays the
user's own variants' (`FaceCloak`'s ``own``). Measured in
benchmarks/ablation ("Ninth round"): most of the gain comes from the
photos being real, any real faces; the nearest are kept as the rule, as
they cost nothing and did not do worse.

A pool is one ``.npz`` file (no pickles): each face's 256 px context crop
as JPEG bytes, its five landmarks in that crop, its identity's name, and one
normalised embedding per surrogate, taken as enrolment takes the user's
(`OnnxEmbedder.embed_faces`). Build one from any folder of face photos,
one subfolder per person (LFW's layout) or one photo per person:

    >>> pool = build_pool(photo_faces(pool_sources(Path("lfw"), limit=800)))
    >>> save_pool(pool, lookalike_pool_path())
    >>> load_pool(lookalike_pool_path()).nearest(user_embeddings, 3)

Enrolment uses the pool at `facecloak.paths.lookalike_pool_path()` when there is one and
augments only otherwise; nothing is downloaded.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceCloakError
from ..faces import get_detector, load_image
from ..paths import lookalike_pool_path
from .variations import Variant, context_crop

POOL_VERSION = 1
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_MIN_EYE_DISTANCE = 20.0  # pixels of the source photo; smaller faces make blurry crops


@dataclass(frozen=True, eq=False)
class LookalikePool:
    """M faces of other people. jpeg: M encoded (256, 256, 3) context crops; landmarks: (M, 5, 2)
    float32 in those crops; names: M identity names; embeddings: surrogate -> (M, D) unit rows."""

    jpeg: tuple[bytes, ...]
    landmarks: np.ndarray
    names: tuple[str, ...]
    embeddings: Mapping[str, np.ndarray]
    _decoded: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def crop(self, i: int) -> np.ndarray:
        """Face ``i``'s context crop, (256, 256, 3) uint8 RGB (`variations.CONTEXT`)."""
        if i not in self._decoded:
            bgr = cv2.imdecode(np.frombuffer(self.jpeg[i], np.uint8), cv2.IMREAD_COLOR)
            self._decoded[i] = np.ascontiguousarray(bgr[..., ::-1])
        return self._decoded[i]

    def similarity(self, user: Mapping[str, np.ndarray]) -> np.ndarray:
        """(M,) cosine of each face to the user, averaged over the surrogates of ``user``
        (name -> (D,) embedding); the pool must hold every one of them."""
        lacking = [n for n in user if n not in self.embeddings]
        if lacking:
            raise FaceCloakError(f"the look-alike pool has no embeddings for {', '.join(lacking)}; "
                                 f"rebuild it (`facecloak lookalikes build`)")
        sims = [self.embeddings[n] @ (np.asarray(e, np.float32) / max(float(np.linalg.norm(e)), 1e-12))
                for n, e in user.items()]
        return np.mean(sims, axis=0)

    def nearest(self, user: Mapping[str, np.ndarray], n: int) -> list[Variant]:
        """The ``n`` faces nearest the user (see `similarity`), nearest first, as variants."""
        if n <= 0 or not len(self):
            return []
        order = np.argsort(-self.similarity(user), kind="stable")[:n]
        return [Variant(self.crop(int(i)), self.landmarks[i].copy(), source="lookalike") for i in order]


def pool_sources(folder: Path, limit: int | None = None, seed: int = 0) -> list[tuple[str, Path]]:
    """(name, photo) per person in ``folder``: the first photo (by name) of each subfolder, or
    each photo of a flat folder as its own person; ``limit`` people drawn at random (``seed``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceCloakError(f"no folder {folder}")
    people = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            photos = sorted(p for p in entry.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES)
            if photos:
                people.append((entry.name, photos[0]))
        elif entry.suffix.lower() in _PHOTO_SUFFIXES:
            people.append((entry.stem, entry))
    if limit is not None and limit < len(people):
        people = sorted(random.Random(seed).sample(people, limit))
    return people


def build_pool(faces: Iterable[tuple[str, np.ndarray, np.ndarray | None]], surrogates: Sequence[str] | None = None,
               device: str = "auto", progress=None) -> LookalikePool:
    """A pool from (name, RGB photo, (5, 2) landmarks or None) triples; with None the photo's
    largest face is used (default detector), and a photo without one is left out."""
    from ..models.registry import DEFAULT_SURROGATES
    from .surrogates import onnx_embedder

    names_used = tuple(surrogates or DEFAULT_SURROGATES)
    embedders = [onnx_embedder(n, device) for n in names_used]
    jpeg, lms, names, embs = [], [], [], {n: [] for n in names_used}
    for name, rgb, landmarks in faces:
        if landmarks is None:
            found = get_detector(device=device).detect(rgb)
            if not found:
                continue
            landmarks = max(found, key=lambda f: f.eye_distance).landmarks
        landmarks = np.asarray(landmarks, np.float32)
        if float(np.linalg.norm(landmarks[1] - landmarks[0])) < _MIN_EYE_DISTANCE:
            continue
        variant = context_crop(rgb, landmarks)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(variant.image[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            continue
        for n, emb in zip(names_used, embedders, strict=True):
            e = emb.embed_faces(variant.image, [variant.landmarks])[0]
            embs[n].append(e / max(float(np.linalg.norm(e)), 1e-12))
        jpeg.append(buf.tobytes())
        lms.append(variant.landmarks)
        names.append(name)
        if progress is not None:
            progress(name)
    if not names:
        raise FaceCloakError("no usable face for the look-alike pool")
    return LookalikePool(tuple(jpeg), np.stack(lms).astype(np.float32), tuple(names),
                         {n: np.stack(v).astype(np.float32) for n, v in embs.items()})


def photo_faces(sources: Iterable[tuple[str, Path]]) -> Iterable[tuple[str, np.ndarray, None]]:
    """(name, photo, None) for `build_pool`, decoding each photo as it is needed."""
    for name, path in sources:
        yield name, load_image(path), None


def save_pool(pool: LookalikePool, path: Path) -> Path:
    """Write ``pool`` to ``path`` (an .npz file, no pickles); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(b) for b in pool.jpeg]).astype(np.int64)
    arrays = {"version": np.array(POOL_VERSION), "jpeg": np.frombuffer(b"".join(pool.jpeg), np.uint8),
              "offsets": offsets, "landmarks": pool.landmarks, "names": np.array(pool.names, dtype=str),
              "surrogates": np.array(sorted(pool.embeddings), dtype=str),
              **{f"emb/{n}": e for n, e in pool.embeddings.items()}}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)
    return path


def load_pool(path: Path) -> LookalikePool:
    """The pool saved at ``path`` (FaceCloakError if it is not one this version reads)."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            if int(z["version"]) != POOL_VERSION:
                raise FaceCloakError(f"{path}: look-alike pool version {int(z['version'])}, "
                                     f"this FaceCloak reads {POOL_VERSION}; rebuild it")
            data, off = z["jpeg"].tobytes(), z["offsets"]
            jpeg = tuple(data[off[i]:off[i + 1]] for i in range(len(off) - 1))
            emb = {str(n): z[f"emb/{n}"] for n in z["surrogates"]}
            pool = LookalikePool(jpeg, z["landmarks"], tuple(str(n) for n in z["names"]), emb)
    except (OSError, KeyError, ValueError) as exc:
        raise FaceCloakError(f"{path}: not a look-alike pool ({exc})") from exc
    if not (len(pool.jpeg) == len(pool.names) == len(pool.landmarks)) or pool.landmarks.shape[1:] != (5, 2) \
            or any(e.shape[0] != len(pool.names) for e in emb.values()):
        raise FaceCloakError(f"{path}: inconsistent look-alike pool")
    return pool


def installed_pool() -> LookalikePool | None:
    """The pool at `lookalike_pool_path()`, or None where there is none (loaded once per file version)."""
    path = lookalike_pool_path()
    if not path.is_file():
        return None
    stat = path.stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime_ns: int, size: int) -> LookalikePool:
    return load_pool(Path(path))


__all__ = ["LookalikePool", "build_pool", "installed_pool", "load_pool",
           "photo_faces", "pool_sources", "save_pool"]
