"""Enrolment: one photo of the user in, one universal cloak mask out.

    >>> result = enrol(Path("selfie.jpg"), CloakConfig.for_strength("mid"),
    ...                progress=lambda f, msg: print(f"{f:4.0%} {msg}"))
    >>> result.mask.meta["backend"], result.mask.meta["variant_sources"], result.seconds
    ('augment', {'photo': 1, 'augment': 7}, 41.3)

Stages, each reported as ``progress(fraction, "<stage>: <detail>")`` with the
stage first and fractions non-decreasing: ``detect`` (decode, find exactly one
face), ``variations`` (K identity-keeping images, Arc2Face or augmentation),
``optimise`` (FaceCloak, one report per step), ``done``. ``should_stop`` is
polled between stages and before every step; True raises `Cancelled`.

The mask records what made its variations: ``backend`` is "arc2face" when
any generated image was used, else "augment" (also when "auto" fell back,
with ``backend_note`` saying what Arc2Face lacked); ``variant_sources``
counts the variants by source ("photo", "augment", "arc2face", "lookalike").

Augmented variants 1..n give way to the n = ``config.lookalikes`` faces of
the look-alike pool nearest the user (`facecloak.cloak.lookalikes`), when a
pool is installed or given and Arc2Face made none of them; the mask's
``lookalikes`` says how many were used (0 without a pool).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..device import resolve_device
from ..errors import FaceTooSmallError, ManyFacesError, NoFaceError
from ..faces import align_face, get_detector, load_image
from .apply import DEFAULT_MATCH_MODEL
from .config import CloakConfig
from .lookalikes import LookalikePool, installed_pool
from .mask import CloakMask
from .methods.base import Cancelled, ProgressFn, StopFn, faces_to_tensor
from .methods.facecloak import FaceCloak
from .surrogates import onnx_embedder
from .variations import backend_for, made_by

MIN_EYE_DISTANCE = 25.0  # pixels, in the full-resolution photo
_OPTIMISE_SPAN = (0.10, 0.99)  # share of the progress bar the optimiser fills


@dataclass
class Enrolment:
    """The result of `enrol`.

    mask: the universal cloak (aligned 112x112 frame, pixel units).
    embeddings: model name -> (D,) float32 unit embedding of the clean
        enrolment face (onnxruntime), for each surrogate and the match model
        (`DEFAULT_MATCH_MODEL`), to recognise the user's face later.
    seconds: wall time of the whole enrolment; backend: what made the
        variations ("arc2face" or "augment", see `made_by`); box / landmarks:
        the face in the photo's pixels, (x0, y0, x1, y1) and (5, 2) (x, y).
    """

    mask: CloakMask
    embeddings: dict[str, np.ndarray]
    seconds: float
    backend: str
    box: tuple[float, float, float, float]
    landmarks: np.ndarray


def _decode(photo: bytes | str | Path | np.ndarray) -> np.ndarray:
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {photo.dtype} {photo.shape}")
        return photo
    return load_image(photo)


def enrolment_face(rgb: np.ndarray, device: str = "auto"):
    """The one face of an enrolment photo; NoFaceError, ManyFacesError or FaceTooSmallError otherwise."""
    faces = get_detector(device=device).detect(rgb)
    if not faces:
        raise NoFaceError("no face found in the enrolment photo; use a clear, well-lit photo of your face")
    if len(faces) > 1:
        raise ManyFacesError(f"found {len(faces)} faces in the enrolment photo; use a photo with only you in it")
    face = faces[0]
    if face.eye_distance < MIN_EYE_DISTANCE:
        raise FaceTooSmallError(f"the face is too small ({face.eye_distance:.0f} px between the eyes, "
                                f"at least {MIN_EYE_DISTANCE:.0f} needed); use a closer or larger photo")
    return face


def enrol(photo: bytes | str | Path | np.ndarray, config: CloakConfig | None = None,
          progress: ProgressFn | None = None, should_stop: StopFn | None = None,
          anchor_gallery: dict[str, np.ndarray] | None = None,
          lookalikes: LookalikePool | str | None = "auto") -> Enrolment:
    """Fit the user's universal cloak from one photo of them alone.

    Args:
        photo: encoded image bytes, a path, or an (H, W, 3) uint8 RGB array.
        config: budgets, steps, variations, surrogates (default `CloakConfig()`).
        progress: ``progress(fraction, message)``; see the module docstring.
        should_stop: polled often; True raises `Cancelled`.
        anchor_gallery: surrogate name -> (M, D) embeddings of other identities,
            for the far-anchor pull (optional).
        lookalikes: the look-alike pool; "auto" = the installed one, if any
            (`installed_pool`); None = none.
    Raises:
        NoFaceError, ManyFacesError, FaceTooSmallError, ImageDecodeError, Cancelled.
    """
    config = config or CloakConfig()
    report = progress or (lambda fraction, message: None)
    stop = should_stop or (lambda: False)
    start = time.perf_counter()

    def checkpoint() -> None:
        if stop():
            raise Cancelled("enrolment was cancelled")

    checkpoint()
    report(0.0, "detect: finding your face")
    rgb = _decode(photo)
    face = enrolment_face(rgb, config.device)
    # The match model's embedding lets `cloak_bytes(only_user=...)` recognise the user later.
    names = dict.fromkeys((*config.surrogates, DEFAULT_MATCH_MODEL))
    embeddings = {name: onnx_embedder(name, config.device).embed_faces(rgb, [face.landmarks])[0] for name in names}

    checkpoint()
    backend = backend_for(config.backend, resolve_device(config.device))
    report(0.05, f"variations: making {config.k} images ({backend.name})")
    variants = backend.generate(rgb, face.landmarks, config.k, config.seed)
    pool = installed_pool() if lookalikes == "auto" else lookalikes
    n_alike = min(config.lookalikes, len(variants) - 1) if pool is not None and made_by(variants) == "augment" else 0
    if n_alike:
        report(0.08, f"variations: {n_alike} look-alikes from {len(pool)} faces")
        alike = pool.nearest({n: embeddings[n] for n in config.surrogates}, n_alike)
        variants[1:1 + len(alike)] = alike
        n_alike = len(alike)
    own = [0, *range(1 + n_alike, len(variants))]
    made = {"backend": made_by(variants), "variant_sources": dict(Counter(v.source for v in variants)),
            "lookalikes": n_alike}
    if getattr(backend, "note", ""):
        made["backend_note"] = backend.note
    crops = np.stack([align_face(v.image, v.landmarks, size=112)[0] for v in variants])
    face0 = align_face(rgb, face.landmarks, size=112)[0]

    checkpoint()
    lo, hi = _OPTIMISE_SPAN
    report(lo, f"optimise: {config.steps} steps on {len(config.surrogates)} surrogates")

    def optimise_progress(fraction: float, message: str) -> None:
        report(lo + (hi - lo) * fraction, f"optimise: {message} ({fraction:.0%})")

    method = FaceCloak(config, progress=optimise_progress, should_stop=stop, anchor_gallery=anchor_gallery, own=own)
    mask = method.fit(faces_to_tensor(crops), face0=face0, **made)
    seconds = time.perf_counter() - start
    mask.meta["seconds"] = round(seconds, 2)
    mask.meta["thread_probes"] = [[step, round(many, 3), round(few, 3), chosen]
                                  for step, many, few, chosen in method.thread_choices]
    report(1.0, f"done: {seconds:.1f} s")
    return Enrolment(mask, embeddings, seconds, made["backend"], face.box, np.array(face.landmarks))


__all__ = ["MIN_EYE_DISTANCE", "Cancelled", "Enrolment", "enrol", "enrolment_face"]
