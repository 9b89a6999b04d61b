"""YuNet (libfacedetection) face detector with 5 landmarks, on onnxruntime.

The model (`yunet_s_dynamic.onnx`, Apache-2.0) takes a BGR float image,
0..255, NCHW, sides padded to a multiple of 32, and outputs per-anchor
cls/obj scores, box offsets and 5 keypoints at strides 8, 16 and 32. The
decoding below follows OpenCV's `FaceDetectorYN` (modules/objdetect,
face_detect.cpp), which is the reference this was checked against.

YuNet's keypoint order is "right eye, left eye, nose tip, right mouth
corner, left mouth corner", named from the subject's side: its first eye is
the one with the smaller image x. That is our `Face.landmarks` order
already (checked on photos: tests/test_detect.py), so no reordering.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

from ..device import ort_providers, ort_session_options
from ..models.store import model_file
from .align import invert_affine
from .detect import Face, FaceDetector, TwoScales

_STRIDES = (8, 16, 32)
_MIN_PASS_SIDE = 240  # smallest long side of a pyramid pass
_MAX_FACE = 320.0  # faces wider than this (pass pixels) come from a coarser pass
_MIN_FACE_COARSE = 80.0  # coarser passes keep only faces at least this wide
_REFINE_FACE = 240.0  # face width (pixels) in the upright re-fit crop
_MAX_REFINE_ZOOM = 4.0


class YuNetDetector(FaceDetector):
    """YuNet on a copy of the photo with long side `detect_size`.

    score_threshold: minimum sqrt(cls * obj) score (0..1) to keep a face.
    nms_threshold: boxes overlapping a better one by more IoU are dropped.
    min_face: faces narrower than this (pixels of the detection copy) are
        dropped: far below the ~40 px a viewer notices, and mostly texture.
    refine: re-fit each face's landmarks on an upright crop (see `_refine`).
    providers: the onnxruntime providers of its session (default:
        `facecloak.device.ort_providers("auto")`).
    """

    name = "yunet"

    def __init__(
        self,
        detect_size: int = 1280,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        min_face: float = 12.0,
        refine: bool = True,
        threads: int = 0,
        providers: Sequence[str] | None = None,
    ) -> None:
        self.detect_size = detect_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.min_face = min_face
        self.refine = refine
        self.providers = tuple(providers or ort_providers("auto"))
        self._session = ort.InferenceSession(
            str(model_file("yunet")), ort_session_options(threads), providers=list(self.providers)
        )

    def _detect_small(self, rgb: np.ndarray) -> list[Face]:
        """Detect on a pyramid (this copy, then halved while the long side
        stays >= `_MIN_PASS_SIDE`), each pass keeping only the face sizes
        YuNet handles well, and merge with NMS. YuNet splits a face wider
        than about 350 input pixels into fragments, so one fine pass alone
        misses close-up selfies."""
        passes: list[tuple[np.ndarray, np.ndarray]] = [(rgb, np.ones(2))]
        while max(passes[-1][0].shape[:2]) // 2 >= _MIN_PASS_SIDE:
            prev = passes[-1][0]
            half = cv2.resize(prev, (max(1, prev.shape[1] // 2), max(1, prev.shape[0] // 2)),
                              interpolation=cv2.INTER_AREA)
            back = np.array([rgb.shape[1] / half.shape[1], rgb.shape[0] / half.shape[0]])
            passes.append((half, back))
        boxes, lms, scores = [], [], []
        for k, (img, back) in enumerate(passes):
            b, lm, sc = self._run(img)
            width = b[:, 2] - b[:, 0]
            keep = (width <= _MAX_FACE) | (k == len(passes) - 1)
            if k > 0:
                keep &= width >= _MIN_FACE_COARSE
            # Map this pass's pixels to the finest pass's (pixel-centre exact).
            boxes.append((b[keep] + 0.5) * np.tile(back, 2) - 0.5)
            lms.append((lm[keep] + 0.5) * back - 0.5)
            scores.append(sc[keep])
        box_arr, lm_arr, score_arr = np.vstack(boxes), np.vstack(lms), np.concatenate(scores)
        kept = nms(box_arr, score_arr, self.nms_threshold)
        return [Face(tuple(box_arr[i]), lm_arr[i], score_arr[i]) for i in kept
                if box_arr[i, 2] - box_arr[i, 0] >= self.min_face]

    def _refine(self, photo: TwoScales, faces: list[Face]) -> list[Face]:
        """Re-run YuNet on an upright, fixed-scale crop of each face.

        YuNet's landmarks lean towards an upright face and shift with the
        face's size: rotating a portrait by 10-35 degrees moves them by a
        median 0.16-0.2 eye distances against the rotated originals. After one
        re-run on a crop rotated upright with the face ~`_REFINE_FACE` px wide
        that drops to 0.06-0.1 (dlib's 68-point fit: 0.02-0.04), for ~15 ms
        a face on 2 CPU cores. Faces that would be enlarged more than
        `_MAX_REFINE_ZOOM` times are left as found.
        """
        if not self.refine:
            return faces
        out = []
        for face in faces:
            lms = face.landmarks.astype(np.float64)
            eyes = lms[1] - lms[0]
            zoom = _REFINE_FACE / (2.5 * max(face.eye_distance, 1e-6))
            if zoom <= _MAX_REFINE_ZOOM:
                lms = self._upright_landmarks(photo, lms, float(np.degrees(np.arctan2(eyes[1], eyes[0]))))
            out.append(Face(face.box, lms, face.score))
        return out

    def _upright_landmarks(self, photo: TwoScales, lms: np.ndarray, roll: float) -> np.ndarray:
        """Landmarks from a re-run on a crop rotated by `roll`; `lms` if none found."""
        centre = lms.mean(axis=0)
        eye_distance = float(np.linalg.norm(lms[1] - lms[0]))
        side = int(2.5 * _REFINE_FACE)
        scale = _REFINE_FACE / (2.5 * eye_distance)  # a face is about 2.5 eye distances wide
        crop_from_image = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), roll, scale)
        crop_from_image[:, 2] += (side - 1) / 2 - centre
        crop = photo.warp(crop_from_image, (side, side))
        boxes, found, scores = self._run(crop)
        if len(scores) == 0:
            return lms
        dist = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - (side - 1) / 2, axis=1)
        best = int(np.argmin(dist))
        if dist[best] > 0.5 * _REFINE_FACE:  # not the same face
            return lms
        image_from_crop = invert_affine(crop_from_image)
        return found[best] @ image_from_crop[:, :2].T + image_from_crop[:, 2]

    def _run(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One YuNet pass: boxes (N, 4), landmarks (N, 5, 2), scores (N,)."""
        h, w = rgb.shape[:2]
        pad_h, pad_w = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
        blob[0, :, :h, :w] = rgb[:, :, ::-1].transpose(2, 0, 1)  # RGB -> BGR planes
        names = [o.name for o in self._session.get_outputs()]
        outs = dict(zip(names, self._session.run(None, {"input": blob}), strict=True))
        boxes, lms, scores = [np.zeros((0, 4))], [np.zeros((0, 5, 2))], [np.zeros(0)]
        for stride in _STRIDES:
            cols = pad_w // stride
            cls = np.clip(outs[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(outs[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.nonzero(score >= self.score_threshold)[0]
            grid = np.stack([keep % cols, keep // cols], axis=1).astype(np.float64)
            bbox = outs[f"bbox_{stride}"][0, keep].astype(np.float64)
            centre = (grid + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:4]) * stride
            boxes.append(np.hstack([centre - size / 2, centre + size / 2]))
            kps = outs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2).astype(np.float64)
            lms.append((kps + grid[:, None, :]) * stride)
            scores.append(score[keep].astype(np.float64))
        return np.vstack(boxes), np.vstack(lms), np.concatenate(scores)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression.

    boxes: (N, 4) x0, y0, x1, y1; scores: (N,). Returns kept indices, best first.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    kept: list[int] = []
    while order.size:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return kept
