"""Cloak a photo: warp the user's mask into each selected face, then encode.

    >>> result = cloak_bytes(photo_bytes, profile.mask)
    >>> result.faces_found, result.faces_cloaked, result.format
    (3, 3, 'JPEG')
    >>> result = cloak_bytes(photo_bytes, profile.mask,
    ...                      only_user=profile.embeddings["faceplugin"])   # just me

The mask (a `CloakMask`, (112, 112, 3) pixel units in the ArcFace aligned
frame) is warped into each face with the inverse of that face's
``aligned_from_image`` (the 112 px template fitted to its five landmarks) and
added. Values are pixel units and are NOT rescaled: the budget the optimiser
spent in aligned space is the change a pixel of the face gets (bilinear
interpolation of the mask when the face is larger than 112 px, area
averaging when it is much smaller). Only the face's neighbourhood (the
footprint of the 112 px square) is touched; the photo is never resized.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..device import ort_providers
from ..errors import FaceCloakError
from ..faces import (
    Face,
    FaceDetector,
    estimate_similarity,
    get_detector,
    paste_aligned,
    template,
)
from ..faces.align import PixelSource, TwoScales
from ..faces.image_io import DEFAULT_MAX_PIXELS, ImageInfo, load_rgb, open_image
from . import pillow_path
from .encode import encode_image_like, encode_like, has_gps, strip_gps_jpeg
from .mask import SIZE, CloakMask

#: FR models that tell the user's faces from other people's (`only_user`), the
#: preferred first, each with the cosine at or above which a face counts as the
#: user's. The two mistakes do not cost the same: a missed face of the user
#: stays searchable, while a stranger's face cloaked by mistake only gets an
#: invisible perturbation fitted to someone else. So each threshold sits below
#: its model's FAR = 1e-3 point, where 0.27% of impostor pairs pass (a group
#: photo of 20 strangers has about a 5% chance of one false match). On the
#: photos of LFW folds 1-4 (1,200 genuine pairs, 4.7 M impostor pairs, the
#: default detector's landmarks; benchmarks/match-model):
#:     mobilefacenet, cosine >= 0.41: 98.1% of genuine pairs, 0.27% of impostor
#:         pairs (at FAR 1e-3, 0.451: 96.9%); 7 ms a face, 89 ms for 15
#:     faceplugin, >= 0.30: 97.3%, 0.27% (at FAR 1e-3, 0.336: 96.7%); 13 ms a
#:         face, 163 ms for 15
#: so mobilefacenet is the match model. Profiles enrolled before it was hold
#: faceplugin's embedding, and those enrolled with other surrogates may hold
#: only that one: `match_model_for` picks what a profile can be matched with.
MATCH_THRESHOLDS = {"mobilefacenet": 0.41, "faceplugin": 0.30}
DEFAULT_MATCH_MODEL = "mobilefacenet"
DEFAULT_MATCH_THRESHOLD = MATCH_THRESHOLDS[DEFAULT_MATCH_MODEL]


def match_model_for(embeddings: Mapping[str, np.ndarray]) -> str | None:
    """The preferred match model (`MATCH_THRESHOLDS`) that `embeddings` (a profile's,
    by model name) holds the user's embedding for; None if it holds none."""
    return next((name for name in MATCH_THRESHOLDS if name in embeddings), None)


@dataclass(frozen=True)
class CloakResult:
    """What `cloak_bytes` made.

    data: the output file. When no face was cloaked these are the input's own
        bytes (only its GPS block removed, losslessly for JPEG, when asked).
    format: the format of `data` ("JPEG", "PNG", "WEBP"; the input's format
        when `data` is the input unchanged).
    faces_found / faces_cloaked: faces detected / faces the mask went into. With
        `only_user`, only the faces that match the user are checked for being a
        person's (`facecloak.faces.human`), so an animal's face counts as found.
    width, height: pixels of the photo upright (EXIF orientation applied).
    ms: wall time of the whole call, decode to encode.
    """

    data: bytes
    format: str
    faces_found: int
    faces_cloaked: int
    width: int
    height: int
    ms: float

    @property
    def changed(self) -> bool:
        return self.faces_cloaked > 0


def aligned_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) ``aligned_from_image`` taking a face's 5 landmarks to the 112 px template."""
    lms = np.asarray(landmarks, dtype=np.float64)
    if lms.shape != (5, 2):
        raise ValueError(f"landmarks must be (5, 2), got {lms.shape}")
    return estimate_similarity(lms, template(SIZE))


def cloak_array(
    rgb: np.ndarray,
    mask: CloakMask,
    faces: Sequence[Face],
    select: Sequence[bool] | None = None,
    *,
    inplace: bool = False,
) -> tuple[np.ndarray, int]:
    """Add the mask to each selected face of a photo.

    Args:
        rgb: (H, W, 3) uint8 RGB photo (not modified).
        mask: the cloak, delta (112, 112, 3) in pixel units, aligned space.
        faces: detected faces (full-resolution landmarks).
        select: one flag per face (True = cloak it); None cloaks every face.
        inplace: write into `rgb` instead of a copy (saves a copy of the photo).
    Returns:
        (out, n_cloaked): out is (H, W, 3) uint8 (`rgb` itself if inplace);
        pixels outside the selected faces' footprints are unchanged exactly.
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected an (H, W, 3) uint8 RGB photo, got {got}")
    out = rgb if inplace else rgb.copy()
    n = 0
    for aligned_from_image in selected_alignments(faces, select):
        paste_aligned(out, mask.delta, aligned_from_image, inplace=True)
        n += 1
    return out, n


def selected_alignments(faces: Sequence[Face], select: Sequence[bool] | None) -> Iterator[np.ndarray]:
    """The mask's (2, 3) aligned-from-photo matrix of each selected face (all when
    `select` is None), in order; ValueError when `select` has another length."""
    if select is not None and len(select) != len(faces):
        raise ValueError(f"select has {len(select)} flags for {len(faces)} faces")
    for i, face in enumerate(faces):
        if select is None or select[i]:
            yield aligned_from_landmarks(face.landmarks)


def _match_embedder(name: str, device: str = "auto"):
    """The match model's embedder on ``device``, loaded once per process and set of providers."""
    return _load_match_embedder(name, tuple(ort_providers(device)))


@functools.cache
def _load_match_embedder(name: str, providers: tuple[str, ...]):
    from ..models.fr import load_embedder

    return load_embedder(name, providers=list(providers))


def match_user(
    rgb: np.ndarray | PixelSource | TwoScales,
    faces: Sequence[Face],
    user_embedding: np.ndarray,
    match_model: str = DEFAULT_MATCH_MODEL,
    threshold: float | None = None,
    device: str = "auto",
) -> tuple[list[bool], np.ndarray]:
    """Which faces are the user's: (flags, cosine similarity per face).

    rgb: the photo; a `TwoScales` lets a large face's crop come from the copy the
    faces were found on (`align_face`).
    user_embedding: (D,) embedding of the enrolment face by `match_model`.
    A face matches when its cosine to it is >= `threshold`
    (default: the model's own, `MATCH_THRESHOLDS`).
    device: where `match_model` runs ("auto" | "cpu" | "cuda").
    """
    if threshold is None and match_model not in MATCH_THRESHOLDS:
        raise FaceCloakError(f"no match threshold known for {match_model!r}: give one "
                             f"(known: {', '.join(MATCH_THRESHOLDS)})")
    thr = MATCH_THRESHOLDS[match_model] if threshold is None else float(threshold)
    ref = np.asarray(user_embedding, dtype=np.float32).reshape(-1)
    if not faces:
        return [], np.zeros(0, np.float32)
    embedder = _match_embedder(match_model, device)
    if not hasattr(embedder, "align_for"):  # dlib's embedder reads a whole array
        if isinstance(rgb, TwoScales):
            rgb = rgb.full
        if isinstance(rgb, PixelSource):
            rgb = rgb[:, :]
    embs = embedder.embed_faces(rgb, [f.landmarks for f in faces])
    if embs.shape[1] != ref.size:
        raise FaceCloakError(
            f"the enrolled embedding has {ref.size} values but {match_model!r} gives "
            f"{embs.shape[1]}: it was made by another model; enrol again")
    ref = ref / max(float(np.linalg.norm(ref)), 1e-12)
    sims = embs @ ref
    return [bool(s >= thr) for s in sims], sims


def cloak_bytes(
    data: bytes,
    mask: CloakMask,
    *,
    detector: FaceDetector | None = None,
    only_user: np.ndarray | None = None,
    match_model: str = DEFAULT_MATCH_MODEL,
    match_threshold: float | None = None,
    strip_gps: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: str = "auto",
) -> CloakResult:
    """Cloak every face (or only the user's) in an image file.

    Args:
        data: JPEG, PNG or WebP bytes (GIF, BMP, TIFF are read and written as PNG).
        mask: the user's cloak.
        detector: face detector (default: `get_detector()`).
        only_user: the user's (D,) enrolled embedding by `match_model`; when
            given, only faces matching it (`match_user`) are cloaked and
            every other face is left exactly as it was.
        strip_gps: remove the EXIF GPS block from the output.
        max_pixels: refuse larger images (ImageTooLargeError).
        device: where the default detector and the match model run
            ("auto" | "cpu" | "cuda"); the mask itself is added with numpy.
    Returns:
        CloakResult. A photo with nothing to cloak comes back as its own bytes.
    Raises:
        ImageDecodeError, ImageTooLargeError: unreadable or oversized input.
    """
    start = time.perf_counter()
    detector = detector or get_detector(device=device)
    img, what = open_image(data, max_pixels)
    early: list[pillow_path.FarStrips | None] = [None]  # strips encoded while the landmarks are placed
    # Only the user's faces: whether a face is a person's is asked of the user's faces alone,
    # after the match (a stranger's face is left alone either way; 3-4 ms a face saved).
    check_later = only_user is not None and detector.human_check
    try:
        if pillow_path.takes(img):  # RGB: only the faces' regions go through numpy
            def found(img, info, faces) -> None:
                early[0] = pillow_path.FarStrips.start(img, info, faces, data, strip_gps=strip_gps)

            img, info, faces, pixels = pillow_path.decode_and_find(img, what, data, detector, max_pixels, found,
                                                                   human_check=False if check_later else None)
        else:
            pixels, info = load_rgb(img, what, max_pixels)
            img = None
            faces = detector.detect(pixels, human_check=False if check_later else None)
        select = None
        if only_user is not None and faces:
            select, _ = match_user(pixels, faces, only_user, match_model, match_threshold, device)
            if check_later and any(select):
                select = _people_only(detector, pixels, faces, select)
        if not faces or (select is not None and not any(select)):
            (out, fmt), n = _unchanged(data, info, pixels, img, strip_gps), 0
        elif img is None:
            cloaked, n = cloak_array(pixels, mask, faces, select, inplace=True)
            out, fmt = encode_like(cloaked, data, info, strip_gps=strip_gps)
        else:
            out, fmt, n = pillow_path.cloak_and_encode(img, mask, faces, select, data, info,
                                                       strip_gps=strip_gps, early=early[0])
    finally:
        if early[0] is not None:  # no face cloaked after all, or a failure: start no more strips
            early[0].cancel()
    width, height = info.size
    return CloakResult(out, fmt, len(faces), n, width, height, 1000 * (time.perf_counter() - start))


def _people_only(detector: FaceDetector, pixels: np.ndarray | TwoScales, faces: Sequence[Face],
                 select: list[bool]) -> list[bool]:
    """`select` less the faces that are not people's (`FaceDetector.people`)."""
    photo = pixels if isinstance(pixels, TwoScales) else TwoScales(pixels, *detector.shrink(pixels))
    mine = [i for i, s in enumerate(select) if s]
    out = list(select)
    for i, ok in zip(mine, detector.people(photo, [faces[i] for i in mine]), strict=True):
        out[i] = ok
    return out


def _unchanged(data: bytes, info: ImageInfo, pixels, img, strip_gps: bool) -> tuple[bytes, str]:
    """The output of a photo with nothing to cloak: its own bytes, less its GPS block
    when asked (losslessly for JPEG; PNG and WebP have their pixels -- `pixels`, an
    array, or `img`, the Pillow image when there is one -- written again)."""
    out, fmt = bytes(data), info.format
    if strip_gps and has_gps(info.exif):
        stripped = strip_gps_jpeg(out) if fmt == "JPEG" else None
        if stripped is not None:
            out = stripped
        else:
            out, fmt = encode_like(pixels, data, info, strip_gps=True) if img is None \
                else encode_image_like(img, data, info, strip_gps=True)
    return out, fmt
