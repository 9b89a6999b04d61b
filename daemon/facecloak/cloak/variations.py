"""Varied images of the person from one photo: the K faces a universal cloak is fitted to.

    >>> backend = get_backend("auto")             # Arc2Face if usable, else "augment"
    >>> variants = backend.generate(rgb, landmarks, k=8, seed=0)
    >>> variants[0].image.shape, variants[0].landmarks.shape, made_by(variants)
    ((256, 256, 3), (5, 2), 'augment')

Variant 0 is the photo's own context crop, untouched; the others keep the
identity and change what a photo of the same person changes: pose (rotation,
scale, slight perspective, mirror), light and colour (directional shading,
gamma, white balance) and capture (blur, noise, JPEG). "arc2face" generates
them instead with Arc2Face (`facecloak.cloak.arc2face`, a CUDA GPU and local
weights); generated images without exactly one face are replaced by
augmentation variants, so k always come back, and each variant says what
made it (``source``).

Convention:
    A `Variant` is a square context crop, axis-aligned with the photo (the
    head's own roll is kept), twice as wide as the 112 px ArcFace crop and
    centred on it, resized to ``CONTEXT`` pixels; ``landmarks`` are (x, y)
    pixels in that crop, in `facecloak.faces.Face` order. Align a variant
    with ``align_face(v.image, v.landmarks)``.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceCloakError
from ..faces.align import (
    affine_scale,
    estimate_similarity,
    invert_affine,
    template,
    warp_antialiased,
)
from ..faces.detect import FaceDetector, get_detector
from .arc2face_weights import Arc2FaceWeights, find_weights

CONTEXT = 256  # side of a variant, pixels
_CONTEXT_ZOOM = 2.0  # the context crop is this many aligned crops wide
_MIRROR = [1, 0, 2, 4, 3]  # landmark order after a horizontal flip


@dataclass(frozen=True, eq=False)
class Variant:
    """image: (S, S, 3) uint8 RGB context crop; landmarks: (5, 2) float32 (x, y) in it.

    source: what made it: "photo" (the photo itself), "augment" or "arc2face".
    """

    image: np.ndarray
    landmarks: np.ndarray
    source: str = "photo"


def made_by(variants: list[Variant]) -> str:
    """The backend to record for ``variants``: "arc2face" if any is generated, else "augment"."""
    return "arc2face" if any(v.source == "arc2face" for v in variants) else "augment"


def context_crop(rgb: np.ndarray, landmarks: np.ndarray, size: int = CONTEXT) -> Variant:
    """The axis-aligned square around the face, ``_CONTEXT_ZOOM`` aligned crops wide."""
    lms = np.asarray(landmarks, np.float64).reshape(5, 2)
    aligned_from_image = estimate_similarity(lms, template(112))
    image_from_aligned = invert_affine(aligned_from_image)
    centre = image_from_aligned[:, :2] @ np.array([55.5, 55.5]) + image_from_aligned[:, 2]
    side = _CONTEXT_ZOOM * 112.0 / affine_scale(aligned_from_image)  # photo pixels
    f = size / side
    ctx_from_image = np.array([[f, 0.0, (size - 1) / 2.0 - f * centre[0]],
                               [0.0, f, (size - 1) / 2.0 - f * centre[1]]])
    image = warp_antialiased(rgb, ctx_from_image, (size, size))
    pts = lms @ ctx_from_image[:, :2].T + ctx_from_image[:, 2]
    return Variant(image, pts.astype(np.float32))


class VariationBackend(ABC):
    """Makes k identity-keeping images of one person from one photo."""

    name: str = ""

    @abstractmethod
    def generate(self, rgb: np.ndarray, landmarks: np.ndarray, k: int, seed: int = 0) -> list[Variant]:
        """k variants of the face at ``landmarks`` in ``rgb``; variant 0 is the untouched context crop.

        Shape: rgb (H, W, 3) uint8 RGB photo; landmarks (5, 2) (x, y) photo pixels.
        """


def _geometry(rng: np.random.Generator, size: int, centre: np.ndarray) -> np.ndarray:
    """(3, 3) homography: optional mirror, rotation/scale/shift about ``centre``, slight perspective."""
    h = np.eye(3)
    if rng.random() < 0.5:
        h = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        centre = np.array([size - 1.0 - centre[0], centre[1]])
    a = np.radians(rng.uniform(-12.0, 12.0))
    s = rng.uniform(0.92, 1.08)
    rot = np.array([[s * np.cos(a), -s * np.sin(a)], [s * np.sin(a), s * np.cos(a)]])
    sim = np.eye(3)
    sim[:2, :2] = rot
    sim[:2, 2] = centre - rot @ centre + rng.uniform(-0.04, 0.04, 2) * size
    corners = np.float32([[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]])
    moved = corners + rng.uniform(-0.04, 0.04, (4, 2)).astype(np.float32) * size
    persp = cv2.getPerspectiveTransform(corners, moved)
    return persp @ sim @ h


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Directional shading, gamma, white balance, then maybe blur, noise and JPEG; uint8 out."""
    size = img.shape[0]
    x = img.astype(np.float32) / 255.0
    theta = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) * 2 - 1
    shade = 1.0 + rng.uniform(0.0, 0.35) * (xs * np.cos(theta) + ys * np.sin(theta))
    x = x * shade[..., None]
    x = np.clip(x, 0, 1) ** rng.uniform(0.75, 1.35)
    gains = rng.uniform(0.9, 1.1, 3)
    x = x * (gains / gains.mean())
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.3))
    if rng.random() < 0.3:
        x = x + rng.normal(0.0, rng.uniform(1.0, 4.0) / 255.0, x.shape)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        _, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return out


class AugmentBackend(VariationBackend):
    """Identity-keeping classical augmentation; runs anywhere, in milliseconds."""

    name = "augment"

    def __init__(self, note: str = ""):
        self.note = note  # why "auto" chose it (what Arc2Face lacks), if it did

    def generate(self, rgb: np.ndarray, landmarks: np.ndarray, k: int, seed: int = 0) -> list[Variant]:
        if k < 1:
            raise FaceCloakError(f"need at least one variant, got k={k}")
        base = context_crop(rgb, landmarks)
        out = [base]
        for i in range(1, k):
            rng = np.random.default_rng([seed, i])
            size = base.image.shape[0]
            hom = _geometry(rng, size, base.landmarks.mean(axis=0))
            img = cv2.warpPerspective(base.image, hom, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT_101)
            lms = cv2.perspectiveTransform(base.landmarks.reshape(1, 5, 2).astype(np.float64), hom)[0]
            if hom[0, 0] * hom[1, 1] - hom[0, 1] * hom[1, 0] < 0:  # mirrored: swap left and right
                lms = lms[_MIRROR]
            out.append(Variant(_photometric(img, rng), lms.astype(np.float32), "augment"))
        return out


def generated_variants(images: np.ndarray, detector: FaceDetector | None = None) -> list[Variant]:
    """Context crops of the generated ``images`` (N, H, W, 3) that show exactly one face; others dropped."""
    detector = detector or get_detector()
    out = []
    for img in images:
        faces = detector.detect(np.ascontiguousarray(img))
        if len(faces) == 1:
            crop = context_crop(img, faces[0].landmarks)
            out.append(Variant(crop.image, crop.landmarks, "arc2face"))
    return out


class Arc2FaceBackend(VariationBackend):
    """Arc2Face (Stable Diffusion 1.5 conditioned on an ArcFace embedding), on a CUDA GPU.

    weights_dir: the local weights folder (default ``<model cache>/arc2face``,
        layout in `facecloak.cloak.arc2face_weights`); with ``caches`` the
        Hugging Face and insightface caches are searched too (offline).
    device: "cuda" (the default; fp16) or "cpu" (fp32, slow: tests only).
    steps, guidance, size, batch: sampling settings (the published 25, 3.0, 512 px).
    """

    name = "arc2face"

    def __init__(self, weights_dir: str | Path | None = None, device: str | None = None, *,
                 steps: int = 25, guidance: float = 3.0, size: int = 512, batch: int = 4,
                 caches: bool = True, hub_cache: Path | None = None, insightface_root: Path | None = None):
        if weights_dir is None:
            from ..paths import model_cache

            weights_dir = model_cache() / "arc2face"
        self.weights_dir = Path(weights_dir)
        self.device = device
        self.sampling = {"steps": steps, "guidance": guidance, "size": size, "batch": batch}
        self._find = {"caches": caches, "hub_cache": hub_cache, "insightface_root": insightface_root}

    def weights(self) -> Arc2FaceWeights:
        return find_weights(self.weights_dir, **self._find)

    def missing(self) -> list[str]:
        """What this machine lacks to run Arc2Face, one line each (empty when usable)."""
        out = []
        if any(importlib.util.find_spec(m) is None for m in ("diffusers", "transformers", "huggingface_hub")):
            out.append("the Python packages diffusers and transformers (pip install -e '.[arc2face]')")
        out += self.weights().missing(self.weights_dir)
        if self.device is None or str(self.device).startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                out.append("a CUDA GPU (none is visible to torch)")
        return out

    def available(self) -> bool:
        return not self.missing()

    def generate(self, rgb: np.ndarray, landmarks: np.ndarray, k: int, seed: int = 0) -> list[Variant]:
        if k < 1:
            raise FaceCloakError(f"need at least one variant, got k={k}")
        missing = self.missing()
        if missing:
            raise FaceCloakError("Arc2Face variations need " + "; ".join(missing))
        from .arc2face import ArcFaceIdentity, load_pipeline

        base = context_crop(rgb, landmarks)
        if k == 1:
            return [base]
        w = self.weights()
        pipe = load_pipeline(w.unet, w.encoder, w.base, self.device or "cuda")
        identity = ArcFaceIdentity(w.glintr100).embed(rgb, landmarks)
        out = [base, *generated_variants(pipe.generate(identity, k - 1, seed=seed, **self.sampling))]
        if len(out) < k:  # generated images without exactly one face: fill in with augmentation
            out += AugmentBackend().generate(rgb, landmarks, k, seed)[len(out):]
        return out


def get_backend(name: str = "auto", **arc2face_options: object) -> VariationBackend:
    """"auto" (Arc2Face when `available`, else augment), "augment" or "arc2face".

    ``arc2face_options`` go to `Arc2FaceBackend` (weights_dir, device, steps, ...).
    When "auto" falls back, the augment backend's ``note`` says what Arc2Face lacks.
    """
    if name == "auto":
        arc = Arc2FaceBackend(**arc2face_options)  # type: ignore[arg-type]
        missing = arc.missing()
        return AugmentBackend(note="Arc2Face not used; it needs " + "; ".join(missing)) if missing else arc
    if name == "augment":
        return AugmentBackend()
    if name == "arc2face":
        return Arc2FaceBackend(**arc2face_options)  # type: ignore[arg-type]
    raise FaceCloakError(f"unknown variation backend {name!r}; valid: auto, augment, arc2face")


def backend_for(name: str, device: str) -> VariationBackend:
    """The backend an enrolment whose optimisation runs on ``device`` (resolved: "cpu" | "cuda") uses.

    "auto" considers Arc2Face only on a CUDA device (25 diffusion steps at
    512 px take minutes on a CPU); an explicit "arc2face" runs where it is told.
    """
    if name == "auto" and device != "cuda":
        return AugmentBackend(note=f"Arc2Face not used; it needs a CUDA GPU (this enrolment runs on {device})")
    return get_backend(name, device=device)
