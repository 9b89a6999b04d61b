"""The exported apply graph and FR ONNX files agree with the project's own paths.

The apply graph (`facecloak_exporter.apply_graph`, run by onnxruntime) against
`cloak_array` (numpy, `facecloak.faces.paste`) on real photos and their
detected faces: at most one grey level apart, pixels outside the faces'
footprints unchanged bit for bit; faces over 112 px, under 112 px (bilinear)
and under 56 px (area-averaged first), several at once, and overlapping. An
exported FR file against the torch interpreter (`TorchEmbedder`) on real
aligned faces.
"""

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from facecloak import exports
from facecloak.cli import main
from facecloak.cloak.apply import aligned_from_landmarks, cloak_array
from facecloak.cloak.mask import CloakMask
from facecloak.errors import FaceCloakError
from facecloak.faces import crop_footprint, invert_affine, warp_antialiased
from facecloak.faces.align import affine_scale
from facecloak_exporter.apply_graph import INPUT_NAMES, OUTPUT_NAME, export_apply

# (photo under shared/data/photos, factor it is shrunk by, at least this many faces)
PHOTOS = {
    "portrait": ("portrait/person-lauren.jpg", 1.0, 1),  # one face, ~140 px
    "group": ("group/group-5.jpg", 1.0, 7),  # seven faces, ~135-150 px
    "small": ("group/solvay1927.jpg", 1.0, 25),  # 29 faces, ~65-100 px: under 112
    "tiny": ("group/solvay1927.jpg", 0.45, 25),  # the same, ~30-45 px: area-averaged first
}


def random_mask(amplitude: float, seed: int = 0) -> np.ndarray:
    """(112, 112, 3) float32 uniform in +-amplitude pixel units (sharp: the hardest to resample)."""
    return np.random.default_rng(seed).uniform(-amplitude, amplitude, (112, 112, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def session():
    model = export_apply()
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_graph(session, rgb, mask, faces):
    mats = np.array([aligned_from_landmarks(f.landmarks) for f in faces], np.float64).reshape(-1, 2, 3)
    return session.run(None, {"photo": rgb, "mask": mask, "aligned_from_image": mats})[0]


@pytest.fixture(scope="module")
def scenes(photos_dir):
    """name -> (photo, faces found by the project's detector, in that photo's pixels)."""
    from facecloak.faces import get_detector, load_image

    out, found = {}, {}
    for name, (path, factor, _) in PHOTOS.items():
        if path not in found:
            rgb = load_image(photos_dir / path)
            found[path] = (rgb, get_detector().detect(rgb))
        rgb, faces = found[path]
        if factor != 1.0:
            size = (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            fx, fy = size[0] / rgb.shape[1], size[1] / rgb.shape[0]
            rgb, faces = small, [f.scaled(fx, fy) for f in faces]
        out[name] = (rgb, faces)
    return out


def outside_footprints(shape, faces) -> np.ndarray:
    outside = np.ones(shape[:2], bool)
    for face in faces:
        box = crop_footprint(shape, aligned_from_landmarks(face.landmarks), 112)
        if box is not None:
            outside[box[1]:box[3], box[0]:box[2]] = False
    return outside


@pytest.mark.models
@pytest.mark.shared
@pytest.mark.parametrize("amplitude", [8.0, 24.0])
@pytest.mark.parametrize("scene", list(PHOTOS))
def test_graph_matches_cloak_array_on_real_photos(session, scenes, scene, amplitude):
    rgb, faces = scenes[scene]
    assert len(faces) >= PHOTOS[scene][2]
    sides = np.array([112 / affine_scale(aligned_from_landmarks(f.landmarks)) for f in faces])
    if scene == "small":
        assert np.median(sides) < 112
    if scene == "tiny":
        assert sides.max() < 56  # every face takes the area-averaging path
    mask = random_mask(amplitude)
    want, n = cloak_array(rgb, CloakMask(mask), faces)
    got = run_graph(session, rgb, mask, faces)
    assert got.shape == rgb.shape and got.dtype == np.uint8 and n == len(faces)
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 1, f"{int((diff > 1).sum())} values differ by more than one grey level"
    assert (diff > 0).mean() < 1e-3  # a rounding tie now and then, not a systematic shift
    outside = outside_footprints(rgb.shape, faces)
    np.testing.assert_array_equal(got[outside], rgb[outside])
    changed = np.any(want != rgb, axis=2)
    assert changed[~outside].mean() > 0.3  # the faces really were cloaked (their footprints are boxes)


@pytest.mark.models
@pytest.mark.shared
def test_overlapping_faces_are_added_one_after_another(session, scenes):
    """A face overlapping another gets its mask on the other's rounded, clipped result, in list order."""
    from facecloak.faces import Face

    rgb, faces = scenes["group"]
    lms = faces[0].landmarks.astype(np.float64)
    moved = (lms - lms.mean(axis=0)) * 1.1 + lms.mean(axis=0) + [0.3 * faces[0].width, 0.1 * faces[0].width]
    overlapping = [faces[0], Face(faces[0].box, moved, 1.0), faces[1]]
    mask = random_mask(24.0, seed=1)
    want, _ = cloak_array(rgb, CloakMask(mask), overlapping)
    got = run_graph(session, rgb, mask, overlapping)
    assert np.abs(got.astype(np.int16) - want.astype(np.int16)).max() <= 1
    # Rounding once after adding both warped masks is another result (rint(a) + rint(b) != rint(a + b)).
    warped = sum(warp_antialiased(mask, invert_affine(aligned_from_landmarks(f.landmarks)), rgb.shape[1::-1])
                 for f in overlapping)
    once = np.clip(np.rint(rgb + warped), 0, 255).astype(np.uint8)
    assert (got != once).sum() > 100 * max(1, (got != want).sum())


@pytest.mark.models
@pytest.mark.shared
def test_no_face_leaves_the_photo_as_it_was(session, scenes):
    rgb, _ = scenes["portrait"]
    np.testing.assert_array_equal(run_graph(session, rgb, random_mask(24.0), []), rgb)


def test_graph_interface():
    model = export_apply()
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 16
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert tuple(inputs) == INPUT_NAMES and model.graph.output[0].name == OUTPUT_NAME
    types = {name: onnx.helper.tensor_dtype_to_np_dtype(t.elem_type) for name, t in inputs.items()}
    assert types == {"photo": np.uint8, "mask": np.float32, "aligned_from_image": np.float64}
    dims = {name: [d.dim_param or d.dim_value for d in t.shape.dim] for name, t in inputs.items()}
    assert dims == {"photo": ["height", "width", 3], "mask": [112, 112, 3], "aligned_from_image": ["faces", 2, 3]}


def test_cli_writes_a_checked_apply_graph(tmp_path, capsys):
    out = tmp_path / "apply.onnx"
    assert main(["export", "apply", str(out)]) == 0
    assert "0 changed outside" in capsys.readouterr().out
    photo, mask, faces = exports.apply_scene(seed=3)  # another scene than the CLI's check
    report = exports.check_apply(out, photo, mask, faces)
    assert report["max_diff"] <= 1 and report["changed_outside"] == 0 and report["changed"] > 0


# --- FR models ------------------------------------------------------------------

@pytest.mark.models
@pytest.mark.shared
@pytest.mark.parametrize("name", ["faceplugin", "facenet-casia"])
def test_exported_fr_file_matches_the_torch_path(name, tmp_path, photos_dir):
    from facecloak.models.fr import load_embedder, normalise_np

    out = tmp_path / f"{name}.onnx"
    photos = [photos_dir / "portrait" / "person-lauren.jpg", photos_dir / "group" / "group-3.jpg"]
    report = exports.write_fr_onnx(name, out, photos)
    assert report["faces"] == 10 and report["min_cosine"] >= 0.999  # 5 faces and their mirror images

    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    fr = load_embedder(name)
    assert meta["facecloak.model"] == name and int(meta["facecloak.input_size"]) == fr.input_size
    crops = exports.aligned_faces(name, photos)
    written = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = written.run(None, {written.get_inputs()[0].name: normalise_np(crops, fr.spec.preprocess)})[0]
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    with torch.no_grad():
        want = fr.torch_module()(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255).numpy()
    assert np.all(np.sum(got * want, axis=1) >= 0.999)
    assert np.abs(got - want).max() < 1e-3
    same = got[:5] @ got[:5].T  # and they are embeddings: different people stay apart
    assert np.all(same[~np.eye(5, dtype=bool)] < 0.9)


def test_native_model_cannot_be_exported(tmp_path):
    with pytest.raises(FaceCloakError, match="no ONNX form"):
        exports.write_fr_onnx("dlib-resnet", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
