"""Embedding a probe the two ways the privacy benchmark scores it.

Realistic (`RealisticEmbedder`): the photo as the face-search engine gets it.
Each FR model finds the face itself: our detector runs on the (cloaked,
re-encoded) photo, the face nearest the photo centre is taken, aligned the
model's own way (dlib-resnet with its own 5-point predictor, inside
`DlibEmbedder`) and embedded. Where the detector finds no face, the median
landmarks of the clean gallery are used (scaled to the photo's size): a
search engine with a better detector would still find the face, so a miss is
not counted as protection; misses are counted and reported instead.

Idealised (`idealised_embeddings`): the papers' way. The mask is added to
the aligned crop each model sees, computed from the clean photo's landmarks:
no paste into the photo, no re-detection, no JPEG. For the ONNX models the
112 px mask is warped into the model's own crop frame (its template size and
crop scale) and added before any rounding; for dlib-resnet into dlib's 150 px
face chip (padding 0.25, as `compute_face_descriptor` makes it), then
rounded to uint8 as dlib needs.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from ..faces import align_face, estimate_similarity, get_detector, template, warp_antialiased
from ..faces.align import compose_affine, invert_affine
from ..models.fr import DlibEmbedder, OnnxEmbedder
from .gallery import central_face_landmarks


def scale_landmarks(landmarks: np.ndarray, from_shape: tuple[int, ...], to_shape: tuple[int, ...]) -> np.ndarray:
    """Landmarks of a photo of ``from_shape`` moved to a resized copy of ``to_shape`` (pixel-centre exact)."""
    f = np.array([to_shape[1] / from_shape[1], to_shape[0] / from_shape[0]])
    return ((np.asarray(landmarks, np.float64) + 0.5) * f - 0.5).astype(np.float32)


class RealisticEmbedder:
    """Re-detect, align and embed a photo with every model; memoised on the pixels.

    fallback_landmarks: (5, 2) landmarks for a photo of ``fallback_shape``
    (the clean gallery's median), used where the detector finds no face.
    """

    def __init__(self, embedders: dict, detector: str, fallback_landmarks: np.ndarray,
                 fallback_shape: tuple[int, int]):
        self.embedders = embedders
        self.detector = get_detector(detector)
        self.fallback = np.asarray(fallback_landmarks, np.float32)
        self.fallback_shape = fallback_shape
        self._memo: dict[bytes, tuple[dict[str, np.ndarray], bool]] = {}

    def __call__(self, rgb: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
        """({model: (D,) unit vector}, whether the detector found a face)."""
        digest = hashlib.sha1(rgb.tobytes()).digest() + repr(rgb.shape).encode()
        if digest in self._memo:
            return self._memo[digest]
        lm = central_face_landmarks(rgb, self.detector)
        found = lm is not None
        if not found:
            lm = scale_landmarks(self.fallback, self.fallback_shape, rgb.shape)
        out = {name: emb.embed_faces(rgb, [lm])[0] for name, emb in self.embedders.items()}
        self._memo[digest] = (out, found)
        return out, found

    def clear(self) -> None:
        self._memo.clear()


def _mask_into(delta: np.ndarray, target_from_mask: np.ndarray, size: int) -> np.ndarray:
    return warp_antialiased(np.ascontiguousarray(delta, np.float32), target_from_mask, (size, size))


def idealised_onnx(embedder: OnnxEmbedder, rgb: np.ndarray, landmarks: np.ndarray,
                   delta: np.ndarray | None) -> np.ndarray:
    """(D,) embedding of the model's aligned crop of ``rgb`` plus ``delta`` (112 px, pixel units)."""
    pre = embedder.spec.preprocess
    crop, _ = align_face(rgb.astype(np.float32), landmarks, size=pre.size, crop_scale=pre.crop_scale)
    if delta is not None:
        model_from_mask = estimate_similarity(template(112), template(pre.size, pre.crop_scale))
        crop = np.clip(crop + _mask_into(delta, model_from_mask, pre.size), 0.0, 255.0)
    return embedder.embed_aligned(crop[None])[0]


def dlib_chip_from_image(details) -> np.ndarray:
    """(2, 3) ``chip_from_image`` of a dlib ``chip_details`` (rect rotated by angle about its centre)."""
    r = details.rect
    cx, cy = (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2
    c, s = np.cos(details.angle), np.sin(details.angle)

    def rot(x: float, y: float) -> list[float]:
        return [c * (x - cx) - s * (y - cy) + cx, s * (x - cx) + c * (y - cy) + cy]

    src = np.float32([rot(r.left(), r.top()), rot(r.right(), r.top()), rot(r.right(), r.bottom())])
    dst = np.float32([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]])
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def idealised_dlib(embedder: DlibEmbedder, rgb: np.ndarray, landmarks: np.ndarray,
                   delta: np.ndarray | None, padding: float = 0.25) -> np.ndarray:
    """(128,) dlib descriptor of its 150 px face chip of ``rgb`` plus ``delta`` warped into the chip."""
    dlib = embedder._dlib
    lm = np.asarray(landmarks, np.float64)
    eye = float(np.linalg.norm(lm[1] - lm[0]))
    centre, half = lm.mean(axis=0), 1.25 * max(eye, 1.0)  # the box DlibEmbedder gives its predictor
    rect = dlib.rectangle(int(centre[0] - half), int(centre[1] - 1.1 * half),
                          int(centre[0] + half), int(centre[1] + 0.9 * half))
    shape = embedder.shape5(rgb, rect)
    size = embedder.input_size
    chip = dlib.get_face_chip(rgb, shape, size, padding).astype(np.float32)
    if delta is not None:
        details = dlib.get_face_chip_details(shape, size, padding)
        image_from_mask = invert_affine(estimate_similarity(lm, template(112)))
        chip_from_mask = compose_affine(dlib_chip_from_image(details), image_from_mask)
        chip = chip + _mask_into(delta, chip_from_mask, size)
    chip8 = np.ascontiguousarray(np.clip(np.rint(chip), 0, 255).astype(np.uint8))
    desc = np.asarray(embedder.net.compute_face_descriptor(chip8), np.float32)
    return desc / max(float(np.linalg.norm(desc)), 1e-12)


def idealised_embeddings(embedders: dict, rgb: np.ndarray, landmarks: np.ndarray,
                         delta: np.ndarray | None) -> dict[str, np.ndarray]:
    """{model: (D,) unit vector} with ``delta`` (or nothing) added in each model's aligned crop."""
    out = {}
    for name, emb in embedders.items():
        if isinstance(emb, DlibEmbedder):
            out[name] = idealised_dlib(emb, rgb, landmarks, delta)
        else:
            out[name] = idealised_onnx(emb, rgb, landmarks, delta)
    return out
