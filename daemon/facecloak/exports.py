"""ONNX files for clients without torch, each checked against the project's own path first.

    >>> write_apply_onnx(Path("apply.onnx"))                 # the apply step, vs `cloak_array`
    {'faces': 7, 'max_diff': 1, 'changed_outside': 0, ...}
    >>> write_fr_onnx("faceplugin", Path("faceplugin.onnx"))  # an FR model, vs `TorchEmbedder`
    {'faces': 2, 'min_cosine': 0.99999..., 'max_abs': 2.1e-06, ...}

The apply graph (`facecloak_exporter.apply_graph`) is checked on a made-up
photo whose faces cover every case of `facecloak.faces.paste` (large, under
112 px, under 56 px where the mask is area-averaged first, turned, two
overlapping, one half outside the photo): at most one grey level apart, and
nothing changed outside the faces' footprints. An FR model is the converted
file from the model cache, with its preprocessing recorded in the ONNX
metadata (``facecloak.*`` keys), run by onnxruntime and compared with the
torch interpreter of the cached file on real aligned faces: cosine >= 0.999.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from .errors import FaceCloakError

#: Largest grey-level difference allowed between the apply graph and `cloak_array`.
APPLY_TOLERANCE = 1
#: Smallest cosine allowed between the written FR file and the torch path, per face.
FR_MIN_COSINE = 0.999


def _session(model: onnx.ModelProto | Path):
    import onnxruntime as ort

    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def faces_from_matrices(mats: np.ndarray):
    """`Face` records whose five landmarks give back each (2, 3) ``aligned_from_image``."""
    from .faces import Face, invert_affine, template

    out = []
    for m in mats:
        inv = invert_affine(m)
        lms = template(112) @ inv[:, :2].T + inv[:, 2]
        out.append(Face((*lms.min(axis=0), *lms.max(axis=0)), lms, 1.0))
    return out


def apply_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list]:
    """(photo (480, 640, 3) uint8, mask (112, 112, 3) float32 in +-24, faces): the check's scene."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640]
    base = np.stack([xx * 255 / 639, yy * 255 / 479, (xx + yy) % 256], axis=-1)
    photo = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    mask = rng.uniform(-24, 24, (112, 112, 3)).astype(np.float32)
    mats = []
    # (face side in px, turn in radians, centre): big, < 112, < 56, tiny, two overlapping, half outside
    for side, turn, cx, cy in ((300, 0.2, 180, 200), (90, -0.4, 470, 120), (40, 0.9, 560, 360),
                               (14, 0.0, 400, 420), (60, 0.3, 330, 330), (50, -1.2, 350, 350), (120, 0.1, 630, 20)):
        s = 112.0 / side
        lin = s * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        mats.append(np.hstack([lin, (55.5 - lin @ np.array([cx, cy]))[:, None]]))
    return photo, mask, faces_from_matrices(np.array(mats))


def check_apply(model: onnx.ModelProto | Path, photo: np.ndarray, mask: np.ndarray, faces: Sequence) -> dict:
    """Run the apply graph and `cloak_array` on one photo; their differences, in grey levels.

    Returns faces, max_diff (largest |graph - cloak_array|), pixels_diff (values
    that differ), changed_outside (values the graph changed outside every
    face's footprint; must be 0).
    """
    from .cloak.apply import aligned_from_landmarks, cloak_array
    from .cloak.mask import CloakMask
    from .faces import crop_footprint

    mats = np.array([aligned_from_landmarks(f.landmarks) for f in faces], np.float64).reshape(-1, 2, 3)
    got = _session(model).run(None, {"photo": photo, "mask": mask.astype(np.float32),
                                     "aligned_from_image": mats})[0]
    want, _ = cloak_array(photo, CloakMask(mask), faces)
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    outside = np.ones(photo.shape[:2], bool)
    for m in mats:
        box = crop_footprint(photo.shape, m, 112)
        if box is not None:
            outside[box[1]:box[3], box[0]:box[2]] = False
    return {"faces": len(faces), "max_diff": int(diff.max()), "pixels_diff": int((diff > 0).sum()),
            "changed_outside": int((got != photo)[outside].sum()),
            "changed": int((want != photo).sum())}


def write_apply_onnx(out: str | Path) -> dict:
    """Export the apply graph, check it (`apply_scene`, `check_apply`), then write it to ``out``."""
    from facecloak_exporter.apply_graph import export_apply

    model = export_apply()
    report = check_apply(model, *apply_scene())
    if report["max_diff"] > APPLY_TOLERANCE or report["changed_outside"]:
        raise FaceCloakError(f"the exported apply graph does not match cloak_array: {report}; not written")
    onnx.save(model, str(out))
    return report


def aligned_faces(name: str, photos: Sequence[str | Path] | None = None) -> np.ndarray:
    """(N, S, S, 3) uint8: every face of ``photos`` (default: the bundled portrait),
    aligned for FR model ``name``, and each one mirrored."""
    from importlib import resources

    from .faces import align_face, get_detector, load_image
    from .models.registry import get_spec

    pre = get_spec(name).preprocess
    photos = list(photos or [Path(str(resources.files("facecloak") / "data" / "astronaut.jpg"))])
    crops = []
    for photo in photos:
        rgb = load_image(photo)
        for face in get_detector().detect(rgb):
            crops.append(align_face(rgb, face.landmarks, size=pre.size, crop_scale=pre.crop_scale)[0])
    if not crops:
        raise FaceCloakError("no face found in " + ", ".join(map(str, photos)) + ": nothing to check the model on")
    crops = np.stack(crops)
    return np.concatenate([crops, crops[:, :, ::-1]])


def check_fr(name: str, model: onnx.ModelProto | Path, crops: np.ndarray) -> dict:
    """Embeddings of ``crops`` by ``model`` (onnxruntime) against `TorchEmbedder` on the cached file.

    Returns faces, min_cosine and max_abs (largest difference of the unit embeddings).
    """
    import torch

    from .models.fr import TorchEmbedder, l2_normalise, normalise_np
    from .models.registry import get_spec
    from .models.store import onnx_file

    spec = get_spec(name)
    session = _session(model)
    x = normalise_np(crops, spec.preprocess)
    got = l2_normalise(session.run(None, {session.get_inputs()[0].name: x})[0].reshape(len(crops), -1))
    with torch.no_grad():
        net = TorchEmbedder(spec, onnx_file(name)).eval()
        want = net(torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0).numpy()
    cosine = np.sum(got * want, axis=1)
    return {"faces": len(crops), "min_cosine": float(cosine.min()), "max_abs": float(np.abs(got - want).max())}


def fr_metadata(name: str) -> dict[str, str]:
    """The ``facecloak.*`` metadata an exported FR file carries: how to feed it."""
    from .models.registry import get_spec

    spec = get_spec(name)
    pre = spec.preprocess
    return {"facecloak.model": name, "facecloak.embedding_dim": str(spec.embedding_dim),
            "facecloak.input_size": str(pre.size), "facecloak.crop_scale": str(pre.crop_scale),
            "facecloak.alignment": "ArcFace five-point template, scaled to input_size",
            "facecloak.channels": pre.channels, "facecloak.layout": pre.layout,
            "facecloak.normalise": "per-image (x - mean) / std" if pre.standardize
            else f"(x - {pre.mean}) / {pre.std}, x in [0, 255]"}


def write_fr_onnx(name: str, out: str | Path, photos: Sequence[str | Path] | None = None) -> dict:
    """Write FR model ``name``'s ONNX (from the model cache, converted once) to ``out``,
    after checking it against the torch path on real aligned faces (`check_fr`)."""
    from .models.registry import Format, get_spec
    from .models.store import onnx_file

    spec = get_spec(name)
    if not spec.is_fr or spec.format == Format.DLIB:
        raise FaceCloakError(f"model {name!r} has no ONNX form to export (it is a {spec.role.value} "
                             f"model in {spec.format.value} format)")
    model = onnx.load(str(onnx_file(name)))  # fetched and converted once, with the converter's checks
    for key, value in fr_metadata(name).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    report = check_fr(name, model, aligned_faces(name, photos))
    if report["min_cosine"] < FR_MIN_COSINE:
        raise FaceCloakError(f"{name}: the ONNX file and the torch path disagree ({report}); not written")
    onnx.save(model, str(out))
    return report
