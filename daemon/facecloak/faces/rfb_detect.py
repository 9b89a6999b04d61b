"""Registry face detector: faceplugin's Ultra-Light RFB-320 on an image pyramid,
with dlib's 68-point landmarks.

The model (`faceplugin-detect`, fr_detect.onnx from the npm package
faceplugin-face-recognition-js) is Ultra-Light-Fast-Generic-Face-Detector
RFB-320: RGB, (x - 127) / 128, NCHW, a fixed [1, 3, 240, 320] input, and
outputs 'scores' (softmax) and 'boxes' that are already decoded against
priors baked in for 320x240 (corner form in [0, 1]; the package's
fr_detect.js decodes them a second time, which is wrong). The network itself
is fully convolutional, so `_raw_session` cuts the graph before the baked
decoding -- keeping the class logits and the raw box offsets --, frees the
input size and takes uint8 pixels (`_fold_normalisation`); `_decode` redoes
the decoding with `_priors`, exact for sides that are multiples of 64 (what
`_run` pads to). At 320x240 this gives the model's own boxes and scores to
1e-5 (tests/test_detect.py).

On its own, at one scale, the network is weak: it also fires on eyes,
mouths, cheeks and ears of large faces, hands, bare shoulders and cats' eyes,
some at score 0.99. What separates faces is consistency across scales: a
face scores ~1 at most pyramid levels where it is 16-160 px wide, a false
hit at one or two neighbouring levels. So `_detect_small` runs a half-octave
pyramid (1, 2^-0.5, 2^-1, ... of the copy, down to a 96 px long side) and
keeps a face only when it is found again (score >= `support_threshold`) at
>= `min_support` levels of that band, then drops faces that are parts of a
larger kept face (`_part_of`). Tuned on the photos of tests/test_detect.py
and checked on 262 others (shared/data/photos/deepface and 200 LFW photos,
306 faces YuNet finds): 9 of those missed (cut by the frame or blurred in
the background; dlib HOG misses 33), 2 false faces (letters, a statue).

Landmarks: dlib's 68-point predictor on the full-resolution photo, on a
crop turned by the roll faceplugin's landmark CNN sees, from the box an
upright dlib HOG detection would have (a square 1.13 times the RFB box width
around its centre: the median over 134 faces both find) or, for a face the
CNN sees turned sideways, from the box dlib's HOG detector itself gives it
on that crop (`_landmarks_at`). From the RFB-derived box alone, the points
of three-quarter views fell on a cheek or an ear: in benchmarks/landmarks,
47 of 514 faces ended more than 0.25 eye distances from YuNet's points and
25 more than 0.5; with the HOG box for turned faces 31 and 14 (the rest
mostly faces cut by the frame or blurred in the background), 17 faces
closer by more than 0.1 and none farther.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

from ..device import ort_providers, ort_session_options, usable_cpus
from ..models.store import model_file
from ..pools import ProcessLocalPool
from .align import invert_affine, shrink_area
from .detect import Face, TwoScales
from .dlib_detect import DlibDetector, five_from_68
from .yunet_detect import nms

_MIN_SIZES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
_STEPS = (8, 16, 32, 64)
_VARIANCE = (0.1, 0.2)
_LOGITS, _OFFSETS = "461", "462"  # the concatenated heads, before softmax / decoding
_MEAN, _STD = 127.0, 128.0
_FIRST_PAD = 1  # the first convolution's zero padding, done as grey by `RfbDetector._run`
_HOG_SIDE = 1.13  # dlib HOG box side / RFB box width (median over faces both find)
_HOG_DY = 0.015  # HOG box centre below the RFB box centre, in RFB box heights
_LEFT_EYE, _RIGHT_EYE = slice(36, 42), slice(42, 48)  # iBUG 68-point numbering, 0-based
_MAX_ROLL = 10.0  # degrees between a fit's eye line and its crop's before a re-fit
_HOG_FACE_PX = 100.0  # RFB box width on the crop dlib's HOG detector sees (`_hog_box`) ...
_HOG_CROP = 1.8  # ... and that crop's side, in those widths
_NOSE_TIP, _OUTER_CORNERS = 30, (36, 45)
#: A face the landmark CNN sees turned by more than this (`_pose_guess`'s yaw) gets
#: its landmarks' box from dlib's HOG detector; the faces whose landmarks that
#: corrected in benchmarks/landmarks were all turned by 0.19 or more.
_TURNED = 0.1
_ROLL_PASSES = 2


def _raw_session(path: str, threads: int = 0,
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> ort.InferenceSession:
    """fr_detect.onnx with raw outputs (logits, offsets) that takes the canvas as it is:
    uint8 (1, height, width, 3), any size, bordered by `_FIRST_PAD` px of grey
    (`_fold_normalisation`)."""
    import onnx

    model = onnx.load(path)
    graph = model.graph
    # Keep only the nodes the two heads need; the baked decoding goes.
    needed, kept = {_LOGITS, _OFFSETS}, []
    for node in reversed(list(graph.node)):
        if needed & set(node.output):
            kept.append(node)
            needed |= set(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    _fold_normalisation(graph)
    used = {name for node in graph.node for name in node.input}
    inits = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    del graph.value_info[:]
    del graph.output[:]
    graph.output.extend([onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                         for name in (_LOGITS, _OFFSETS)])
    return ort.InferenceSession(model.SerializeToString(), ort_session_options(threads), providers=list(providers))


def _fold_normalisation(graph) -> None:
    """Let the network take uint8 RGB pixels, (1, height, width, 3), in place of
    (x - 127) / 128 in NCHW: a Transpose and a Cast go in front, and the
    normalisation goes into the first convolution's weights (w / 128) and bias
    (b - 127 / 128 * sum(w)). That convolution's zero padding would then pad
    with -127 / 128 in the old units, so it is removed and the caller borders
    the image with `_FIRST_PAD` px of grey (127, which was 0) instead. Same
    outputs to float rounding (~1e-5 on the logits); it saves numpy or OpenCV
    building a float NCHW copy of every pyramid level (~5 ms of CPU a 1280 px
    pyramid)."""
    from onnx import TensorProto, helper, numpy_helper

    source = graph.input[0]
    (conv,) = [node for node in graph.node if source.name in node.input]
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if (conv.op_type != "Conv" or conv.input[0] != source.name or len(conv.input) != 3
            or attrs.get("group", 1) != 1 or list(attrs.get("pads", [])) != [_FIRST_PAD] * 4):
        raise RuntimeError("faceplugin-detect: its first layer is not the convolution "
                           f"(group 1, pads {_FIRST_PAD}) the normalisation is folded into")
    inits = {init.name: init for init in graph.initializer}
    w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
    b = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
    folded_w, folded_b = conv.input[1] + "_uint8_input", conv.input[2] + "_uint8_input"
    graph.initializer.extend([
        numpy_helper.from_array((w / _STD).astype(np.float32), folded_w),
        numpy_helper.from_array((b - _MEAN / _STD * w.sum(axis=(1, 2, 3))).astype(np.float32), folded_b),
    ])
    for attr in conv.attribute:
        if attr.name == "pads":
            attr.ints[:] = [0, 0, 0, 0]
    conv.input[:] = ["input_float", folded_w, folded_b]
    graph.node.insert(0, helper.make_node("Cast", ["input_nchw"], ["input_float"], to=TensorProto.FLOAT))
    graph.node.insert(0, helper.make_node("Transpose", [source.name], ["input_nchw"], perm=[0, 3, 1, 2]))
    source.type.tensor_type.elem_type = TensorProto.UINT8
    dims = source.type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, "height", "width", 3), strict=True):
        dim.Clear()
        if isinstance(value, int):
            dim.dim_value = value
        else:
            dim.dim_param = value


def _priors(width: int, height: int) -> np.ndarray:
    """(N, 4) prior boxes (centre x, centre y, width, height) in pixels for a
    `width` x `height` input, in the network's order: stride by stride,
    row-major, the stride's sizes innermost. Exact for sides that are
    multiples of 64; at 320x240 the first 4200 (strides 8 and 16) are the
    model's own."""
    out = []
    for sizes, step in zip(_MIN_SIZES, _STEPS, strict=True):
        ys, xs = np.mgrid[0:-(-height // step), 0:-(-width // step)]
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 1, 2) + 0.5) * step
        centres = np.repeat(centres, len(sizes), axis=1)
        wh = np.broadcast_to(np.array(sizes, np.float64)[None, :, None], centres.shape)
        out.append(np.concatenate([centres, wh], axis=-1).reshape(-1, 4))
    return np.vstack(out)


def _decode(offsets: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Raw (N, 4) box offsets + their priors -> (N, 4) x0, y0, x1, y1 (SSD decoding)."""
    off = offsets.astype(np.float64)
    centre = priors[:, :2] + off[:, :2] * _VARIANCE[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(off[:, 2:] * _VARIANCE[1])
    return np.hstack([centre - size / 2, centre + size / 2])


class RfbDetector(DlibDetector):
    """Ultra-Light RFB-320 (faceplugin) on a half-octave pyramid + dlib 68 points.

    detect_size: long side of the copy detected on (see `FaceDetector`).
    candidate_threshold: a face must score at least this at one level where
        it is `band` px wide (any width at the coarsest level: close-ups).
    support_threshold, min_support: ... and at least `support_threshold` at
        `min_support` levels where it is `band` px wide (at all of them when
        there are fewer; a face outside the band everywhere -- tiny at the
        finest level or huge at the coarsest -- at that one level).
    min_face: faces narrower than this (pixels of the copy) are dropped.
    margin: grey border (pixels) around each level's image, see `_run`.
    inside_fraction: a face this much inside a larger one is a part of it.
    min_copy_fraction: a photo that halving once, twice or three times
        leaves between this fraction of `detect_size` and `detect_size` is
        detected at that size (`FaceDetector.copy_factor`): a 12 MP JPEG
        (4032 px) is decoded by libjpeg at 1/4 straight to a 1008 px copy,
        and its pyramid has 0.62 times the pixels of 1280 px; the latency
        photo's 12 MP cloak took 135 ms against 159 with an exact 1280 px
        copy (benchmarks/detect-size). What that costs
        there (81 photos of shared/data/photos detected at 1008 px against
        1280): 165 faces against 168; lost a 12 px blurred face, a half-hidden
        19 px one, a 35 px profile, and a false face on letters; one more found.
    providers: the onnxruntime providers of its two sessions (default:
        `facecloak.device.ort_providers("auto")`).
    parallel: pyramid levels run at once, on threads, each level's pass on
        one onnxruntime thread (`threads` 0 becomes 1). Default: the usable
        CPUs (1 on a GPU), even where FACECLOAK_THREADS caps torch. On the
        2-core CPU, onnxruntime's own threads barely speed this small network
        up (timed ad hoc, the levels of a 1280 px copy: 112 ms on one
        thread, 111 on two), while two levels at once take 64 ms (`facecloak
        bench latency` reports this stage as "detect"). The passes are short
        bursts, so they take both cores even in the daemon's cloak worker
        (FACECLOAK_THREADS=1 there): under `facecloak bench daemon` that
        took a 12 MP photo from 473 to 380 ms in the worker (p50), and the
        enrolments running beside it from 48-51 to 42-44 s.
    """

    def __init__(
        self,
        detect_size: int = 1280,
        candidate_threshold: float = 0.9,
        support_threshold: float = 0.8,
        min_support: int = 3,
        band: tuple[float, float] = (16.0, 160.0),
        min_face: float = 12.0,
        min_pass_side: int = 96,
        margin: int = 32,
        nms_threshold: float = 0.3,
        inside_fraction: float = 0.5,
        landmark_size: int = 200,
        min_copy_fraction: float = 0.75,
        threads: int = 0,
        providers: Sequence[str] | None = None,
        parallel: int | None = None,
    ) -> None:
        super().__init__(detect_size=detect_size, landmark_size=landmark_size)
        self.name = "rfb"
        self.providers = tuple(providers or ort_providers("auto"))
        # detection is RFB's; the HOG detector DlibDetector made (`_hog`) only places the landmarks' box (`_hog_box`)
        self.min_copy_fraction = min_copy_fraction
        self.candidate_threshold = candidate_threshold
        self.support_threshold = support_threshold
        self.min_support = min_support
        self.band = band
        self.min_face = min_face
        self.min_pass_side = min_pass_side
        self.margin = margin
        self.nms_threshold = nms_threshold
        self.inside_fraction = inside_fraction
        on_cpu = list(self.providers) == ["CPUExecutionProvider"]
        self.parallel = max(1, parallel if parallel is not None else usable_cpus() if on_cpu else 1)
        self._pool = ProcessLocalPool(self.parallel, "rfb-pyramid")
        if self.parallel > 1 and threads == 0:
            threads = 1  # the levels are the parallelism; more would oversubscribe the cores
        self._session = _raw_session(str(model_file("faceplugin-detect")), threads, list(self.providers))
        self._landmark_net = ort.InferenceSession(str(model_file("faceplugin-landmarks")), ort_session_options(threads),
                                                  providers=list(self.providers))
        self._prior_cache: dict[tuple[int, int], np.ndarray] = {}

    # ---- the pyramid ----------------------------------------------------------------------

    def _run(self, rgb: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """One pass: boxes (N, 4) in `rgb` pixels and scores (N,), score >= min_score.

        The image sits `margin` px inside a grey canvas (grey = 0 after
        normalisation, what the convolutions pad with), whose sides are
        multiples of 64, so faces cut by the frame and close-ups that fill
        it look as they did in training; `_FIRST_PAD` px more of grey stand
        for the first convolution's own padding."""
        h, w = rgb.shape[:2]
        m, p = self.margin, _FIRST_PAD
        height, width = -(-(h + 2 * m) // 64) * 64, -(-(w + 2 * m) // 64) * 64
        canvas = cv2.copyMakeBorder(np.ascontiguousarray(rgb), m + p, height - h - m + p, m + p, width - w - m + p,
                                    cv2.BORDER_CONSTANT, value=(_MEAN,) * 3)
        logits, offsets = self._session.run(None, {"input": canvas[None]})
        logits, offsets = logits[0], offsets[0]
        scores = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))  # softmax of two
        keep = np.nonzero(scores >= min_score)[0]
        priors = self._prior_cache.get((width, height))
        if priors is None:
            priors = self._prior_cache.setdefault((width, height), _priors(width, height))
        if len(priors) != len(scores):
            raise RuntimeError(f"faceplugin-detect: {len(scores)} anchors for {width}x{height}, "
                               f"expected {len(priors)}")
        return _decode(offsets[keep], priors[keep]) - m, scores[keep].astype(np.float64)

    def _pyramid(self, rgb: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """[(scale, boxes in `rgb` pixels, scores)] for levels 1, 2^-0.5, 2^-1, ...
        down to a long side of `min_pass_side`; raw detections scoring >= 0.5."""
        h, w = rgb.shape[:2]
        images = [(rgb, 1.0, 1.0)]  # level k's image and its factors back to `rgb`
        while True:
            k = len(images)
            size = (max(1, round(w * 2.0 ** (-k / 2))), max(1, round(h * 2.0 ** (-k / 2))))
            if max(size) < self.min_pass_side:
                break
            if k == 1:
                images.append((cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), w / size[0], h / size[1]))
            else:  # half of level k - 2: a fast 2x2 mean (`shrink_area`)
                above, fx, fy = images[k - 2]
                img, hx, hy = shrink_area(above, (above.shape[1] // 2, above.shape[0] // 2))
                images.append((img, fx * hx, fy * hy))
        found = self._map(lambda img: self._run(img, 0.5), [img for img, _, _ in images])
        levels = []
        for k, ((_, fx, fy), (boxes, scores)) in enumerate(zip(images, found, strict=True)):
            f = np.array([fx, fy] * 2)
            levels.append((2.0 ** (-k / 2), (boxes + 0.5) * f - 0.5, scores))
        return levels

    def _map(self, fn, items: list) -> list:
        """[fn(item)...], on `parallel` threads when there are more than one."""
        if self.parallel < 2 or len(items) < 2:
            return [fn(item) for item in items]
        return list(self._pool.get().map(fn, items))

    # ---- selection ------------------------------------------------------------------------

    def _select(self, levels: list[tuple[float, np.ndarray, np.ndarray]]) -> list[Face]:
        lo, hi = self.band
        last = len(levels) - 1
        cand_boxes, cand_scores = [], []
        for k, (scale, boxes, scores) in enumerate(levels):
            width = (boxes[:, 2] - boxes[:, 0]) * scale
            keep = (scores >= self.candidate_threshold) & (width >= (self.min_face if k == 0 else lo))
            if k < last:
                keep &= width <= hi
            cand_boxes.append(boxes[keep])
            cand_scores.append(scores[keep])
        boxes, scores = np.vstack(cand_boxes), np.concatenate(cand_scores)
        accepted = []
        for i in nms(boxes, scores, self.nms_threshold):
            found = self._support(boxes[i], levels)
            if found is not None:
                accepted.append(found)
        accepted.sort(key=lambda bs: -(bs[0][2] - bs[0][0]) * (bs[0][3] - bs[0][1]))
        out = []
        kept: list[np.ndarray] = []
        for box, score in accepted:
            if kept and _part_of(box, np.array(kept), self.inside_fraction):
                continue
            kept.append(box)
            out.append(Face(tuple(box), np.full((5, 2), np.nan), score))
        return out

    def _support(self, box: np.ndarray, levels) -> tuple[np.ndarray, float] | None:
        """(averaged box, mean score) if the levels agree that `box` is a face."""
        lo, hi = self.band
        width = box[2] - box[0]
        widths = np.array([width * scale for scale, _, _ in levels])
        band = np.nonzero((widths >= lo) & (widths <= hi))[0]
        if len(band) == 0:  # tiny at the finest level or huge at the coarsest
            band = np.array([0 if widths[0] < lo else len(levels) - 1])
        hits, scores = [], []
        for k in band:
            _, boxes, sc = levels[k]
            if len(sc) == 0:
                scores.append(0.0)
                continue
            bw = boxes[:, 2] - boxes[:, 0]
            dx = np.abs((boxes[:, 0] + boxes[:, 2]) - (box[0] + box[2])) / 2
            dy = np.abs((boxes[:, 1] + boxes[:, 3]) - (box[1] + box[3])) / 2
            match = (dx < 0.35 * width) & (dy < 0.35 * width) & (bw > width / 1.5) & (bw < width * 1.5)
            if not match.any():
                scores.append(0.0)
                continue
            j = np.nonzero(match)[0][np.argmax(sc[match])]
            scores.append(float(sc[j]))
            if sc[j] >= self.support_threshold:
                hits.append(boxes[j])
        if len(hits) < min(self.min_support, len(band)):
            return None
        return np.mean(hits, axis=0), float(np.mean(scores))

    def _detect_small(self, rgb: np.ndarray) -> list[Face]:
        return self._select(self._pyramid(rgb))

    def _refine(self, photo: TwoScales, faces: list[Face]) -> list[Face]:
        """dlib's 68 landmarks on the photo (see `_landmarks_at`)."""
        return [Face(face.box, self._landmarks_at(photo, face.box), face.score) for face in faces]

    def _landmarks_at(self, photo: TwoScales, box: tuple[float, float, float, float]) -> np.ndarray:
        """(5, 2) landmarks for an RFB box.

        dlib's predictor starts from an upright mean face and cannot turn far
        from it: started upright on a face tilted 40 degrees it returns an
        upright face (person-lauren.jpg). So the first fit runs on a crop
        already turned by the roll that faceplugin's landmark CNN sees
        (`_pose_guess`); for a face the CNN sees turned sideways (yaw over
        `_TURNED`), in the box dlib's HOG detector gives it on that crop
        (`_hog_box`; the box the predictor was trained from), and otherwise,
        or where HOG does not find it (a profile), in the box an upright HOG
        detection would have around the RFB box. Then, as in `DlibDetector._landmarks`,
        the fit is repeated on a crop turned by its own roll, in the box a HOG
        detection would have around its points, while that roll differs from
        the crop's by more than `_MAX_ROLL` degrees.
        """
        x0, y0, x1, y1 = box
        used, yaw = self._pose_guess(photo, box)
        found = self._hog_box(photo, box, used) if abs(yaw) > _TURNED else None
        if found is None:
            side = _HOG_SIDE * (x1 - x0)
            centre = ((x0 + x1) / 2, (y0 + y1) / 2 + _HOG_DY * (y1 - y0))
        else:
            centre, side = found
        pts = self._predict(photo, centre, (side, side), min(1.0, self.landmark_size / side), used)
        for _ in range(_ROLL_PASSES):
            eyes = pts[_RIGHT_EYE].mean(axis=0) - pts[_LEFT_EYE].mean(axis=0)
            roll = float(np.arctan2(eyes[1], eyes[0]))
            if abs(np.degrees(roll) - used) <= _MAX_ROLL:
                break
            rot = np.array([[np.cos(roll), np.sin(roll)], [-np.sin(roll), np.cos(roll)]])
            upright = (pts - pts.mean(axis=0)) @ rot.T
            side = 1.06 * float(np.ptp(upright[:, 0]))
            mid = pts.mean(axis=0) + rot.T @ np.array([0.01, 0.06]) * side
            used = float(np.degrees(roll))
            pts = self._predict(photo, (float(mid[0]), float(mid[1])), (side, side),
                                min(1.0, self.landmark_size / side), used)
        return five_from_68(pts)

    def _hog_box(self, photo: TwoScales, box: tuple[float, float, float, float],
                 roll: float) -> tuple[tuple[float, float], float] | None:
        """(centre, side) in photo pixels of dlib's HOG detection of the face in `box`, on a
        crop turned by `roll` degrees where the box is `_HOG_FACE_PX` wide; None when HOG
        finds no face whose centre is within 0.3 box widths of the box's.

        The RFB box of a turned face reaches further over the far side of the
        head than a HOG box, and the predictor, started from it, put the points
        on a cheek or an ear (benchmarks/landmarks)."""
        x0, y0, x1, y1 = box
        scale = _HOG_FACE_PX / max(x1 - x0, 1.0)
        side = int(np.ceil(_HOG_CROP * _HOG_FACE_PX))
        mid = (side - 1) / 2
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        crop_from_image = cv2.getRotationMatrix2D(centre, roll, scale)
        crop_from_image[:, 2] += np.array([mid - centre[0], mid - centre[1]])
        crop = np.ascontiguousarray(photo.warp(crop_from_image, (side, side)))
        rects, scores, _ = self._hog.run(crop, 0, 0.0)
        best = None
        for rect, score in zip(rects, scores, strict=True):
            at = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
            if np.linalg.norm(at - mid) < 0.3 * _HOG_FACE_PX and (best is None or score > best[2]):
                best = (at, rect.right() - rect.left(), score)
        if best is None:
            return None
        image_from_crop = invert_affine(crop_from_image)
        at = image_from_crop[:, :2] @ best[0] + image_from_crop[:, 2]
        return (float(at[0]), float(at[1])), best[1] / scale

    def _pose_guess(self, photo: TwoScales, box: tuple[float, float, float, float]) -> tuple[float, float]:
        """(roll, yaw) from faceplugin's 68-point CNN: the eye line's angle (degrees,
        image y down) and how far the face is turned, the nose tip's offset from the
        middle of the outer eye corners in their distances (0 frontal, ~0.2-0.5 at
        three-quarter views).

        Its input (fr_landmark.js): the square of side = box height around
        the box centre, 64x64 grey, / 256; output: 68 (x, y) in [0, 1] of that
        square. Only these two numbers are used: the points themselves are coarse."""
        x0, y0, x1, y1 = box
        side = max(y1 - y0, 1.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        crop_from_image = np.array([[64 / side, 0, 0], [0, 64 / side, 0]])
        crop_from_image[:, 2] = 32 - 0.5 - np.array([cx, cy]) * 64 / side  # pixel-centre exact
        crop = photo.warp(crop_from_image, (64, 64))
        grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32) / 256.0
        pts = self._landmark_net.run(None, {"input": grey[None, None]})[0].reshape(68, 2)
        eyes = pts[_RIGHT_EYE].mean(axis=0) - pts[_LEFT_EYE].mean(axis=0)
        corners = pts[_OUTER_CORNERS[1]] - pts[_OUTER_CORNERS[0]]
        along = corners / max(float(np.linalg.norm(corners)), 1e-6)
        yaw = float((pts[_NOSE_TIP] - pts[list(_OUTER_CORNERS)].mean(axis=0)) @ along) / max(
            float(np.linalg.norm(corners)), 1e-6)
        return float(np.degrees(np.arctan2(eyes[1], eyes[0]))), yaw


def _part_of(box: np.ndarray, faces: np.ndarray, inside_fraction: float) -> bool:
    """Whether `box` is an eye, mouth or cheek of one of the larger `faces`
    (`inside_fraction` of it inside one), or an ear: at most half as wide as
    a face, and 85% inside that face's box widened by a quarter of its width
    each side (and a tenth of its height up and down)."""
    if (_inside(box, faces) >= inside_fraction).any():
        return True
    width, height = faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]
    big = width >= 2 * (box[2] - box[0])
    widened = faces + np.stack([-0.25 * width, -0.1 * height, 0.25 * width, 0.1 * height], axis=1)
    return bool((big & (_inside(box, widened) >= 0.85)).any())


def _inside(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Fraction of `box`'s area inside each of `others` (M, 4)."""
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    return ix * iy / area
