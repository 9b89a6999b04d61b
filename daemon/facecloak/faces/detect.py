"""Face detection: the `Face` record, the detector interface and its table.

    >>> faces = get_detector("yunet").detect(rgb)   # rgb: (H, W, 3) uint8
    >>> faces[0].box, faces[0].landmarks.shape
    ((412.0, 230.5, 618.2, 480.9), (5, 2))

Every detector finds faces on a copy of the photo shrunk to a fixed long
side (`detect_size`; a large photo's copy may be smaller, see
`FaceDetector.copy_factor`), then maps boxes and landmarks back to
full-resolution pixels, so a 12-megapixel photo costs about what a
1-megapixel one does.
"""

from __future__ import annotations

import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import UnknownModelError
from .align import TwoScales, shrink_area

#: Found on the photos in tests/test_detect.py: every face counted there, one
#: face per portrait, none in the non-face photos (the husky's face only with
#: the human check, `FaceDetector.human_check`, off). It needs only
#: models from the package registries (faceplugin's detector and landmark CNN,
#: dlib's 68-point predictor), unlike YuNet; dlib's HOG ("dlib") misses turned,
#: tilted and half-hidden faces.
DEFAULT_DETECTOR = "rfb"


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in full-resolution photo pixels.

    box: (x0, y0, x1, y1) float; x is the column, y the row.
    landmarks: (5, 2) float32 (x, y), read-only, in this order: left eye
        centre, right eye centre, nose tip, left mouth corner, right mouth
        corner, where "left" means smaller x in the image (the subject's right
        eye) -- insightface's ArcFace order, the order of `ARCFACE_TEMPLATE_112`.
    score: detector confidence, higher is surer; its scale is the detector's
        own (YuNet, RFB: 0..1; dlib HOG: an SVM margin around 0..3).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    def __post_init__(self) -> None:
        lms = np.array(self.landmarks, dtype=np.float32).reshape(5, 2)
        lms.setflags(write=False)
        object.__setattr__(self, "landmarks", lms)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        object.__setattr__(self, "score", float(self.score))

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def eye_distance(self) -> float:
        """Distance between the eye centres, in pixels."""
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def scaled(self, fx: float, fy: float | None = None) -> Face:
        """The same face in the photo resized by (fx, fy) (pixel-centre exact).

        Box corners and landmarks are points in the pixel-centre convention
        (pixel (0, 0) is centred at (0.0, 0.0)), so p -> (p + 0.5) * f - 0.5.
        """
        f = np.array([fx, fx if fy is None else fy])
        box = (np.asarray(self.box, dtype=np.float64).reshape(2, 2) + 0.5) * f - 0.5
        lms = (self.landmarks.astype(np.float64) + 0.5) * f - 0.5
        return Face(tuple(box.ravel()), lms, self.score)


class FaceDetector(ABC):
    """Finds every face in a photo, largest first.

    Subclasses implement `_detect_small` on the shrunk copy and may refine
    landmarks on the photo in `_refine` (crops cut by `TwoScales.warp`).
    """

    name: str = ""
    #: Long side (pixels) of the copy that detection runs on (at most; see `copy_factor`).
    detect_size: int = 1280
    #: A photo that halving once, twice or three times leaves between this
    #: fraction of `detect_size` and `detect_size` is detected at that size
    #: (`copy_factor`): a JPEG is then decoded straight to the copy by
    #: libjpeg (`facecloak.cloak.pillow_path`). 1: only a halving that gives
    #: `detect_size` exactly, as resizing would (the `rfb` detector sets its own).
    min_copy_fraction: float = 1.0
    #: Smaller photos are enlarged at most this much before detection.
    max_upscale: float = 2.0
    #: Drop the faces that are not people's (`faces.human`: a dog's frontal
    #: face is a face to every detector here). ``detect(rgb, human_check=False)``
    #: or this attribute turns it off.
    human_check: bool = True
    #: The onnxruntime providers of its sessions, the human check's too
    #: (`facecloak.device.ort_providers`); dlib's own detectors run on the CPU.
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    def detect(self, rgb: np.ndarray, human_check: bool | None = None,
               timings: dict[str, float] | None = None) -> list[Face]:
        """Faces in `rgb`, (H, W, 3) uint8 RGB; sorted by box area, largest first.

        human_check: drop faces that are not people's; None: `self.human_check`.
        timings: if given, gets the milliseconds of each stage: "shrink",
            "detect" (on the copy), "refine" (landmarks), "human_check".
        """
        check_rgb(rgb)
        clock = _Stages(timings)
        small, fx, fy = self.shrink(rgb)
        clock.lap("shrink")
        photo = TwoScales(rgb, small, fx, fy)
        faces = self.find(photo)
        clock.lap("detect")
        return self.finish(photo, faces, human_check, clock)

    def find(self, photo: TwoScales) -> list[Face]:
        """Faces found on ``photo.small`` (the shrunk copy), in full-resolution pixels, not
        refined nor checked: the first half of `detect`, which needs only the copy."""
        return [face.scaled(photo.fx, photo.fy) for face in self._detect_small(photo.small)]

    def finish(self, photo: TwoScales, faces: list[Face], human_check: bool | None = None,
               clock: _Stages | None = None) -> list[Face]:
        """The second half of `detect`: refine `find`'s faces on the photo, drop the ones
        that are not people's, sort them largest first."""
        clock = clock or _Stages(None)
        faces = self._refine(photo, faces)
        clock.lap("refine")
        if faces and (self.human_check if human_check is None else human_check):
            faces = [face for face, ok in zip(faces, self.people(photo, faces), strict=True) if ok]
        clock.lap("human_check")
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def people(self, photo: TwoScales, faces: list[Face]) -> list[bool]:
        """Whether each of `faces` (refined, in `photo`'s full-resolution pixels) is a
        person's (`faces.human`), whatever `human_check` says."""
        if not faces:
            return []
        from .human import get_human_check

        # On the shrunk copy: the check's crop is 160 px, and shrinking a
        # 12-megapixel photo for each face would cost more than the check.
        keep = get_human_check(self.providers).is_human(
            photo.small, [face.scaled(1 / photo.fx, 1 / photo.fy) for face in faces])
        return [bool(ok) for ok in keep]

    def copy_factor(self, long_side: int) -> int:
        """2, 4 or 8: the least of these that shrinks a photo of `long_side` pixels to
        a copy no longer than `detect_size` (long side rounded up, as libjpeg's
        reduced decode gives it), if that copy is at least `min_copy_fraction` of
        it; else 1 (the photo is resized to `detect_size`)."""
        for k in (2, 4, 8):
            side = -(-long_side // k)
            if side <= self.detect_size:
                return k if side >= self.min_copy_fraction * self.detect_size else 1
        return 1

    def shrink(self, rgb: np.ndarray, reduced: bool = False) -> tuple[np.ndarray, float, float]:
        """The copy of `rgb` that detection runs on, and the factors (fx, fy) that
        map its pixels back to `rgb`'s (`Face.scaled`): `rgb` halved `copy_factor`
        times over, or resized to `detect_size` (smaller photos enlarged up to
        `max_upscale`). reduced: `rgb` is already a photo's copy reduced by its
        `copy_factor`; no longer than `detect_size`, it is used as it is."""
        h, w = rgb.shape[:2]
        if reduced and max(h, w) <= self.detect_size:
            return rgb, 1.0, 1.0
        k = self.copy_factor(max(h, w))
        if k > 1:  # 2x2 means (`shrink_area`), no last resize
            return shrink_area(rgb, (max(1, w // k), max(1, h // k)))
        factor = min(self.detect_size / max(h, w), self.max_upscale)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        if size == (w, h):
            return rgb, 1.0, 1.0
        if factor < 1:
            return shrink_area(rgb, size, last=cv2.INTER_LINEAR)
        return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR), w / size[0], h / size[1]

    @abstractmethod
    def _detect_small(self, rgb: np.ndarray) -> list[Face]:
        """Faces in the shrunk copy, in its pixels."""

    def _refine(self, photo: TwoScales, faces: list[Face]) -> list[Face]:
        """Optionally improve faces (in full-resolution pixels) using the photo."""
        return faces


class _Stages:
    """Milliseconds per stage into a dict, when one is given."""

    def __init__(self, out: dict[str, float] | None) -> None:
        self.out = out
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.out is not None:
            now = time.perf_counter()
            self.out[name] = 1000 * (now - self.last)
            self.last = now


def check_rgb(rgb: np.ndarray) -> None:
    """Raise ValueError unless rgb is a non-empty (H, W, 3) uint8 array."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {got}")


def _dlib_hog(providers: tuple[str, ...]) -> FaceDetector:
    from .dlib_detect import DlibDetector

    return DlibDetector()


def _dlib_mmod(providers: tuple[str, ...]) -> FaceDetector:
    from .dlib_detect import DlibDetector

    return DlibDetector(mmod=True, upsample=0)  # ~2-5 s a photo on a CPU even so


def _rfb(providers: tuple[str, ...]) -> FaceDetector:
    from .rfb_detect import RfbDetector

    return RfbDetector(providers=providers)


def _yunet(providers: tuple[str, ...]) -> FaceDetector:
    from .yunet_detect import YuNetDetector

    return YuNetDetector(providers=providers)


#: Every detector, by name -> a factory that loads it with these onnxruntime providers.
DETECTORS: dict[str, Callable[[tuple[str, ...]], FaceDetector]] = {
    "dlib": _dlib_hog,
    "dlib-mmod": _dlib_mmod,
    "rfb": _rfb,
    "yunet": _yunet,
}


def get_detector(name: str = DEFAULT_DETECTOR, device: str = "auto") -> FaceDetector:
    """The detector called `name` on `device` ("auto" | "cpu" | "cuda"), loaded
    once per process and set of onnxruntime providers (`facecloak.device`).

    Raises UnknownModelError for a name not in `DETECTORS`.
    """
    from ..device import ort_providers

    if name not in DETECTORS:
        raise UnknownModelError(
            f"unknown face detector {name!r}; known: {', '.join(sorted(DETECTORS))}"
        )
    return _load_detector(name, tuple(ort_providers(device)))


@functools.cache
def _load_detector(name: str, providers: tuple[str, ...]) -> FaceDetector:
    detector = DETECTORS[name](providers)
    detector.providers = providers
    return detector
