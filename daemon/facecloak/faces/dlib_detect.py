"""dlib face detectors (HOG, or the CNN "MMOD") with 68-point landmarks.

Boxes come from the detector on the shrunk copy; the 68 landmarks are then
predicted on a crop of the full-resolution photo in which a face wider than
`landmark_size` pixels is area-averaged down to that width (smaller faces
are used as they are). So a 12-megapixel photo and a 1000-pixel copy of it
give the same landmarks to ~1.5% of the eye distance. The 5 points: eye
centres = mean of points 36-41 and 42-47, nose tip = 30, mouth corners =
48 and 54 (0-based iBUG numbering).
"""

from __future__ import annotations

from typing import Any

import cv2
import dlib
import numpy as np

from ..models.store import model_file
from .align import invert_affine
from .detect import Face, FaceDetector, TwoScales

_LEFT_EYE, _RIGHT_EYE = slice(36, 42), slice(42, 48)
_NOSE_TIP, _MOUTH_LEFT, _MOUTH_RIGHT = 30, 48, 54
_MAX_ROLL = 10.0  # degrees of eye-line tilt above which landmarks are re-fit upright
_ROLL_PASSES = 2


def five_from_68(points: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG landmarks -> (5, 2) in `Face.landmarks` order."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([
        pts[_LEFT_EYE].mean(axis=0), pts[_RIGHT_EYE].mean(axis=0),
        pts[_NOSE_TIP], pts[_MOUTH_LEFT], pts[_MOUTH_RIGHT],
    ])


class DlibDetector(FaceDetector):
    """dlib HOG (default) or MMOD detector plus the 68-point predictor.

    detect_size: long side of the copy detected on; with `upsample=1` the
        HOG finds faces down to about 40 pixels at that size.
    threshold: HOG score cut (dlib's `adjust_threshold`); MMOD confidence cut.
    mmod: use the CNN detector instead of HOG. On 2 CPU cores it takes 2-5 s
        a photo at upsample=0 and 10-30 s at upsample=1; at upsample=0 it
        finds turned faces HOG misses (4 of 5 in group/got.jpg, HOG 2) but no
        face under ~80 px (0 of 14 in group/group-1.jpg), so it is not the
        default.
    """

    def __init__(
        self,
        detect_size: int = 1280,
        upsample: int = 1,
        threshold: float = 0.0,
        mmod: bool = False,
        landmark_size: int = 200,
    ) -> None:
        self.name = "dlib-mmod" if mmod else "dlib"
        self.detect_size = detect_size
        self.upsample = upsample
        self.threshold = threshold
        self.landmark_size = landmark_size
        self._mmod: Any = dlib.cnn_face_detection_model_v1(str(model_file("dlib-mmod"))) if mmod else None
        self._hog: Any = None if mmod else dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(model_file("dlib-68")))

    def _detect_small(self, rgb: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(rgb)
        if self._hog is not None:
            rects, scores, _ = self._hog.run(rgb, self.upsample, self.threshold)
            found = list(zip(rects, scores, strict=True))
        else:
            found = [(d.rect, d.confidence) for d in self._mmod(rgb, self.upsample)]
        faces = []
        for rect, score in found:
            if score < self.threshold:
                continue
            box = (rect.left(), rect.top(), rect.right(), rect.bottom())
            faces.append(Face(box, np.full((5, 2), np.nan), score))  # see _refine
        return faces

    def _refine(self, photo: TwoScales, faces: list[Face]) -> list[Face]:
        """Predict the landmarks on the photo (crops at about `landmark_size` px)."""
        return [Face(f.box, self._landmarks(photo, f.box), f.score) for f in faces]

    def _landmarks(self, photo: TwoScales, box: tuple[float, float, float, float]) -> np.ndarray:
        """(5, 2) landmarks for `box`, predicted at about `landmark_size` px.

        The predictor starts from an upright mean face, so on a face whose
        eyes tilt by more than `_MAX_ROLL` degrees it is re-run (up to
        `_ROLL_PASSES` times) on a crop rotated upright. On portraits turned
        by 35 degrees this cuts the landmarks' error against the turned
        upright ones from 0.14 to 0.04 eye distances (median).
        """
        x0, y0, x1, y1 = box
        size = (max(x1 - x0, 1.0), max(y1 - y0, 1.0))
        scale = min(1.0, self.landmark_size / max(size))  # shrink big faces only
        pts = self._predict(photo, ((x0 + x1) / 2, (y0 + y1) / 2), size, scale, 0.0)
        for _ in range(_ROLL_PASSES):
            eyes = pts[_RIGHT_EYE].mean(axis=0) - pts[_LEFT_EYE].mean(axis=0)
            roll = float(np.arctan2(eyes[1], eyes[0]))
            if abs(np.degrees(roll)) <= _MAX_ROLL:
                break
            # Re-fit on an upright crop, with the box an upright HOG box would
            # have around these points (fitted on upright faces: side = 1.06 x
            # the points' width; centre 0.06 side below their centroid).
            rot = np.array([[np.cos(roll), np.sin(roll)], [-np.sin(roll), np.cos(roll)]])
            upright = (pts - pts.mean(axis=0)) @ rot.T
            side = 1.06 * float(np.ptp(upright[:, 0]))
            centre = pts.mean(axis=0) + rot.T @ np.array([0.01, 0.06]) * side
            scale = min(1.0, self.landmark_size / side)
            pts = self._predict(photo, (float(centre[0]), float(centre[1])), (side, side), scale,
                                float(np.degrees(roll)))
        return five_from_68(pts)

    def _predict(
        self, photo: TwoScales, centre: tuple[float, float], size: tuple[float, float],
        scale: float, roll: float,
    ) -> np.ndarray:
        """68 points, photo pixels, predicted on a crop around `centre` that is
        scaled by `scale` and rotated by `roll` degrees (counter-clockwise)."""
        side = int(np.ceil(2 * max(size) * scale)) + 1  # the box plus half a box each way
        mid = (side - 1) / 2
        crop_from_image = cv2.getRotationMatrix2D(centre, roll, scale)
        crop_from_image[:, 2] += np.array([mid - centre[0], mid - centre[1]])
        crop = photo.warp(crop_from_image, (side, side))
        half_w, half_h = size[0] * scale / 2, size[1] * scale / 2
        rect = dlib.rectangle(round(mid - half_w), round(mid - half_h),
                              round(mid + half_w), round(mid + half_h))
        shape = self._predictor(np.ascontiguousarray(crop), rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        image_from_crop = invert_affine(crop_from_image)
        return pts @ image_from_crop[:, :2].T + image_from_crop[:, 2]
