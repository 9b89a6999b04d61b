"""The cloak that keeps an RGB photo a Pillow image (`facecloak.cloak.pillow_path`).

It must paste what `cloak_array` pastes, find the faces `FaceDetector.detect`
finds (from a reduced decode of a JPEG, in a second thread), read regions
exactly as an array would give them, and report a broken file as one.
"""

import io

import numpy as np
import pytest
from PIL import Image

from facecloak.cloak import pillow_path
from facecloak.cloak.apply import aligned_from_landmarks, cloak_array, cloak_bytes
from facecloak.cloak.encode import encode_image_like
from facecloak.cloak.jpeg_strips import STRIP_ROWS
from facecloak.cloak.mask import CloakMask
from facecloak.errors import ImageDecodeError
from facecloak.faces import get_detector, load_image, warp_antialiased
from facecloak.faces.align import PixelSource
from facecloak.faces.image_io import open_image
from facecloak.faces.paste import crop_footprint


def jpeg(rgb, exif=None, quality=95):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=2, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def enlarged(rgb, long_side):
    img = Image.fromarray(rgb)
    f = long_side / max(img.size)
    return np.asarray(img.resize((round(img.width * f), round(img.height * f)), Image.BICUBIC))


@pytest.fixture(scope="module")
def group(photos_dir):
    """A group photo enlarged to ~12 megapixels, where the reduced decode is used."""
    return enlarged(load_image(photos_dir / "group" / "stock-group-1.jpg"), 4200)


@pytest.fixture(scope="module")
def group_faces(group):
    """The faces `FaceDetector.detect` finds in it: 14 of its 15 people (see below)."""
    faces = get_detector().detect(group)
    assert len(faces) >= 14
    return faces


def mask(seed=0):
    return CloakMask(np.random.default_rng(seed).uniform(-8, 8, (112, 112, 3)), {"method": "test"})


def test_pixel_source_reads_what_the_array_holds(group):
    src = PixelSource(Image.fromarray(group))
    assert src.shape == group.shape
    np.testing.assert_array_equal(src[10:50, 3000:3100], group[10:50, 3000:3100])
    np.testing.assert_array_equal(src[-5:, :7], group[-5:, :7])
    rng = np.random.default_rng(1)
    for scale in (0.2, 0.7, 1.5):  # the shrinking branch and the plain bilinear one
        angle = rng.uniform(-0.5, 0.5)
        lin = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        m = np.hstack([lin, -lin @ np.array([[2000.0], [1500.0]]) + 80])
        a, b = warp_antialiased(group, m, (160, 160)), warp_antialiased(src, m, (160, 160))
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1 and np.mean(a != b) < 1e-3
    off = np.array([[1.0, 0, 50000], [0, 1.0, 0]])  # lands outside the photo
    assert not warp_antialiased(src, off, (20, 10)).any()


def test_faces_from_the_reduced_decode_are_detect_s_faces(group):
    data = jpeg(group)
    detector = get_detector()
    want = detector.detect(load_image(data))
    img, what = open_image(data)
    assert pillow_path.takes(img)
    img, info, got, _ = pillow_path.decode_and_find(img, what, data, detector, 10**9)
    assert info.size == img.size == (group.shape[1], group.shape[0])
    # 15 people; at this size both find faces on a 1050 px copy (`copy_factor`), where the
    # profile at the back (35 px wide at 1280) is too small to be found
    assert len(got) == len(want) >= 14
    centres = np.array([f.landmarks.mean(axis=0) for f in got])
    moved = []
    for face in want:
        near = got[int(np.argmin(np.linalg.norm(centres - face.landmarks.mean(axis=0), axis=1)))]
        moved.append(np.linalg.norm(near.landmarks - face.landmarks, axis=1).max() / face.eye_distance)
    # dlib's fit follows the box by a pixel on a laughing face turned away (yaw ~0.27): its
    # nose and mouth differ by ~0.27 eye distances between the two copies; the rest agree
    assert np.median(moved) < 0.05 and sorted(moved)[-2] < 0.2 and max(moved) < 0.35, moved


def test_upright_faces_from_a_turned_jpeg(photos_dir):
    upright = enlarged(load_image(photos_dir / "portrait" / "person-lexi.jpg"), 3000)
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # EXIF 6: turn clockwise to show
    exif = Image.Exif()
    exif[0x0112] = 6
    data = jpeg(stored, exif)
    img, what = open_image(data)
    img, info, faces, _ = pillow_path.decode_and_find(img, what, data, get_detector(), 10**9)
    assert info.orientation == 6 and img.size == (upright.shape[1], upright.shape[0])
    (want,) = get_detector().detect(load_image(data))
    (face,) = faces
    assert np.linalg.norm(face.landmarks - want.landmarks, axis=1).max() < 0.05 * want.eye_distance


def test_paste_is_cloak_array_s(group):
    faces = get_detector().detect(group)
    select = [i % 2 == 0 for i in range(len(faces))]
    want, n_want = cloak_array(group, mask(), faces, select)
    img = Image.fromarray(group)
    n = pillow_path.cloak_image(img, mask(), faces, select)
    got = np.asarray(img)
    assert n == n_want == (len(faces) + 1) // 2
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-5
    assert np.mean(got != group) > 0.01  # the faces did change
    with pytest.raises(ValueError, match="select"):
        pillow_path.cloak_image(img, mask(), faces, select + [True])


def test_a_close_up_is_pasted_in_two_bands_as_in_one(photos_dir, monkeypatch):
    rgb = enlarged(load_image(photos_dir / "portrait" / "person-lexi.jpg"), 4000)
    faces = get_detector().detect(rgb)
    (aligned_from_image,) = [aligned_from_landmarks(f.landmarks) for f in faces]
    x0, y0, x1, y1 = crop_footprint(rgb.shape, aligned_from_image, 112)
    assert (x1 - x0) * (y1 - y0) > pillow_path.SPLIT_PIXELS  # so it is split
    want, _ = cloak_array(rgb, mask(), faces)
    cut = Image.fromarray(rgb)
    assert pillow_path.cloak_image(cut, mask(), faces, None) == 1
    monkeypatch.setattr(pillow_path, "SPLIT_PIXELS", 10**12)
    whole = Image.fromarray(rgb)
    pillow_path.cloak_image(whole, mask(), faces, None)
    for got in (np.asarray(cut), np.asarray(whole)):
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 1 and np.mean(diff > 0) < 1e-5
    mid = (y0 + y1) // 2  # the rows either side of the cut changed as the rest did
    assert np.mean(np.asarray(cut)[mid - 1:mid + 1, x0:x1] != rgb[mid - 1:mid + 1, x0:x1]) > 0.5


def test_cloak_bytes_lands_the_mask_on_the_faces(group, group_faces):
    data = jpeg(group)
    result = cloak_bytes(data, mask())
    n = len(group_faces)
    assert (result.faces_found, result.faces_cloaked, result.format) == (n, n, "JPEG")
    out = load_image(result.data).astype(int)
    clean = load_image(data).astype(int)  # the same decode the output went through, but no mask
    changed = np.abs(out - clean).max(axis=2) > 3
    for face in group_faces:
        x, y = face.landmarks[2].astype(int)  # around the nose
        r = max(int(face.eye_distance / 3), 2)
        assert changed[y - r:y + r, x - r:x + r].mean() > 0.2


def test_a_truncated_jpeg_is_a_decode_error_and_the_next_photo_works(group, group_faces):
    data = jpeg(group)
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        cloak_bytes(data[: len(data) // 2], mask())
    assert cloak_bytes(data, mask()).faces_cloaked == len(group_faces)


@pytest.mark.parametrize("which", ["close-up", "group"])
def test_cloak_and_encode_is_cloak_image_then_encode(photos_dir, group, which):
    rgb = group if which == "group" else enlarged(load_image(photos_dir / "portrait" / "person-lexi.jpg"), 4000)
    data = jpeg(rgb)
    img, what = open_image(data, 10**9)
    detector = get_detector()
    img, info, faces, _ = pillow_path.decode_and_find(img, what, data, detector, 10**9)
    select = [i % 3 != 1 for i in range(len(faces))]
    before = img.copy()
    out, fmt, n = pillow_path.cloak_and_encode(img, mask(), faces, select, data, info)
    assert fmt == "JPEG" and img.height > 4 * STRIP_ROWS  # so it went strip by strip
    want = before.copy()
    assert n == pillow_path.cloak_image(want, mask(), faces, select) == sum(select)
    diff = np.abs(np.asarray(img).astype(int) - np.asarray(want).astype(int))
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-5  # strip edges cut as bands do
    assert np.mean(np.asarray(img) != np.asarray(before)) > 0.001
    # the strips joined decode to what the whole cloaked photo's encode decodes to
    whole, _ = encode_image_like(img, data, info)
    np.testing.assert_array_equal(load_image(out), load_image(whole))


@pytest.mark.parametrize("which", ["close-up", "group"])
@pytest.mark.parametrize("far", ["far", "all"])
def test_strips_started_before_the_landmarks_give_the_same_file(photos_dir, group, which, far):
    """`FarStrips` encodes strips far from the faces' boxes while the landmarks are placed;
    the file must be the one encoded after the paste, byte for byte. Started on every strip
    ("all"), it has encoded strips the masks then reach, which must be encoded again."""
    rgb = group if which == "group" else enlarged(load_image(photos_dir / "portrait" / "person-lexi.jpg"), 4000)
    data = jpeg(rgb)

    def start(img, info, faces):
        early = pillow_path.FarStrips.start(img, info, faces, data)
        if far == "all":
            early = pillow_path.FarStrips(early.strips, early.fmt, early.params, list(range(len(early.strips))))
        started.append(early)

    def cloak(found):
        img, what = open_image(data, 10**9)
        img, info, faces, _ = pillow_path.decode_and_find(img, what, data, get_detector(), 10**9, found)
        early = started[0] if found else None
        if early:
            early.future.result()  # every strip it took encoded from the photo as decoded
        out, _, n = pillow_path.cloak_and_encode(img, mask(), faces, None, data, info, early=early)
        assert n == len(faces) > 0
        return out, faces, img.height

    started = []
    want, faces, height = cloak(None)
    got, _, _ = cloak(start)
    assert got == want
    touched = set()
    for face in faces:
        _, y0, _, y1 = crop_footprint((height, 10**6), aligned_from_landmarks(face.landmarks), 112)
        touched.update(range(y0 // STRIP_ROWS, (y1 - 1) // STRIP_ROWS + 1))
    early = set(started[0].far)
    assert (touched & early) if far == "all" else (early and not touched & early)


def test_far_strips_are_dropped_when_no_face_is_the_user_s(photos_dir, monkeypatch):
    """Only the user's faces, and none is: the input comes back, though far strips started."""
    started = []
    start = pillow_path.FarStrips.start
    monkeypatch.setattr(pillow_path.FarStrips, "start", lambda *a, **k: started.append(start(*a, **k)) or started[-1])
    from facecloak.cloak.apply import DEFAULT_MATCH_MODEL
    from facecloak.models.fr import load_embedder

    rgb = enlarged(load_image(photos_dir / "portrait" / "person-lexi.jpg"), 4000)
    data = jpeg(rgb)
    vlado = load_image(photos_dir / "portrait" / "person-vlado.jpg")
    (face,) = get_detector().detect(vlado)
    (stranger,) = load_embedder(DEFAULT_MATCH_MODEL).embed_faces(vlado, [face.landmarks])
    result = cloak_bytes(data, mask(), only_user=stranger)
    assert (result.faces_found, result.faces_cloaked, result.data) == (1, 0, data)
    assert started[0] is not None and started[0].far
    assert cloak_bytes(data, mask()).faces_cloaked == 1  # and the next photo is cloaked
