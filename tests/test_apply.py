"""Applying a cloak: the mask lands on the face, nowhere else, in the input's format."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from facecloak.cloak.apply import (
    DEFAULT_MATCH_MODEL,
    DEFAULT_MATCH_THRESHOLD,
    aligned_from_landmarks,
    cloak_array,
    cloak_bytes,
    match_model_for,
    match_user,
)
from facecloak.cloak.encode import clean_exif, has_gps, strip_gps_jpeg, webp_is_lossless
from facecloak.cloak.mask import CloakMask
from facecloak.errors import FaceCloakError
from facecloak.faces import Face, crop_footprint, get_detector, invert_affine, load_image, warp_antialiased

EPS = 8.0


def smooth_mask(seed=0, eps=EPS):
    """A random in-budget mask with some spatial structure (survives resampling)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((112, 112, 3)).astype(np.float32), (0, 0), 1.5)
    return CloakMask(eps * noise / np.abs(noise).max(), {"method": "test", "eps": eps})


def encode(rgb, fmt, **params):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **params)
    return buf.getvalue()


def one_face(rgb):
    faces = get_detector().detect(rgb)
    assert len(faces) == 1, f"expected one face, found {len(faces)}"
    return faces[0]


@pytest.fixture(scope="module")
def deepface(photos_dir):
    return photos_dir / "deepface"


@pytest.fixture(scope="module")
def match_model():
    try:
        from facecloak.models.fr import load_embedder

        return load_embedder(DEFAULT_MATCH_MODEL)
    except FaceCloakError as exc:
        pytest.skip(f"{DEFAULT_MATCH_MODEL} model not available: {exc}")


# --- geometry -------------------------------------------------------------------

def test_mask_lands_on_a_rotated_scaled_face(deepface):
    src = load_image(deepface / "img20.jpg")
    face = one_face(src)
    # Turn the photo 30 degrees and enlarge it 1.4x on a bigger canvas; move
    # the landmarks the same way, so the face position is known exactly.
    h, w = src.shape[:2]
    big_from_src = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.4)
    big_from_src[:, 2] += (700 - w / 2, 650 - h / 2)
    photo = cv2.warpAffine(src, big_from_src, (1400, 1300), flags=cv2.INTER_LINEAR)
    lms = face.landmarks @ big_from_src[:, :2].T + big_from_src[:, 2]
    moved = Face((0, 0, 1, 1), lms, 1.0)

    mask = smooth_mask()
    out, n = cloak_array(photo, mask, [moved])
    assert n == 1 and out.shape == photo.shape and out.dtype == np.uint8
    change = out.astype(np.int16) - photo.astype(np.int16)
    changed = np.any(change != 0, axis=2)

    # Changed pixels lie inside the footprint of the aligned square, and
    # pixels elsewhere are identical.
    m = aligned_from_landmarks(lms)
    x0, y0, x1, y1 = crop_footprint(photo.shape, m, 112)
    outside = np.ones(changed.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not changed[outside].any()
    # Every pixel the mask's square gives any weight to (a uint8 warp would
    # round the fringe of this 5x enlarged square away).
    square = cv2.warpAffine(np.ones((112, 112), np.float32), invert_affine(m), photo.shape[1::-1],
                            flags=cv2.INTER_LINEAR) > 0
    near_square = cv2.dilate(square.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert not changed[~near_square].any()
    assert changed[square].mean() > 0.9  # and the face area really is perturbed

    # Pixel units are not rescaled: the largest change is the mask's.
    assert abs(np.abs(change).max() - mask.linf) <= 1.0

    # Warped back into aligned space, the change is the mask itself (the
    # perturbation sits on the face, not shifted or turned).
    back = warp_antialiased(change.astype(np.float32), m, (112, 112))
    inner = np.s_[6:-6, 6:-6]
    corr = np.corrcoef(back[inner].ravel(), mask.delta[inner].ravel())[0, 1]
    assert corr > 0.95, corr

    # The same through the whole path (detector's own landmarks, PNG file).
    result = cloak_bytes(encode(photo, "PNG"), mask)
    assert (result.faces_found, result.faces_cloaked) == (1, 1)
    change = load_image(result.data).astype(np.float32) - photo
    back = warp_antialiased(change, m, (112, 112))
    assert np.corrcoef(back[inner].ravel(), mask.delta[inner].ravel())[0, 1] > 0.9


def test_select_and_input_untouched(deepface):
    rgb = load_image(deepface / "img21.jpg")
    face = one_face(rgb)
    before = rgb.copy()
    out, n = cloak_array(rgb, smooth_mask(), [face, face], select=[False, False])
    assert n == 0
    np.testing.assert_array_equal(out, before)
    np.testing.assert_array_equal(rgb, before)
    with pytest.raises(ValueError, match="select"):
        cloak_array(rgb, smooth_mask(), [face], select=[True, True])
    with pytest.raises(ValueError, match="uint8"):
        cloak_array(rgb.astype(np.float32), smooth_mask(), [face])


# --- only the user ------------------------------------------------------------

def test_only_the_users_face_is_cloaked(deepface, match_model):
    # img20 and img21 are the same person; img16 is someone else.
    enrol_rgb = load_image(deepface / "img21.jpg")
    user = match_model.embed_faces(enrol_rgb, [one_face(enrol_rgb).landmarks])[0]

    def tile(name):
        rgb = load_image(deepface / name)
        scale = 500 / rgb.shape[0]
        return cv2.resize(rgb, (round(rgb.shape[1] * scale), 500), interpolation=cv2.INTER_AREA)

    left, right = tile("img20.jpg"), tile("img16.jpg")
    gap = np.full((500, 200, 3), 128, np.uint8)
    photo = np.concatenate([left, gap, right], axis=1)
    faces = get_detector().detect(photo)
    assert len(faces) == 2
    flags, sims = match_user(photo, faces, user)
    user_i = int(np.argmax(sims))
    other = faces[1 - user_i]
    assert flags[user_i] and not flags[1 - user_i], sims
    assert sims[user_i] >= DEFAULT_MATCH_THRESHOLD > sims[1 - user_i]
    assert faces[user_i].landmarks[:, 0].max() < left.shape[1]  # the user is on the left

    result = cloak_bytes(encode(photo, "PNG"), smooth_mask(), only_user=user)
    assert (result.faces_found, result.faces_cloaked, result.format) == (2, 1, "PNG")
    out = load_image(result.data)
    x0, y0, x1, y1 = crop_footprint(photo.shape, aligned_from_landmarks(other.landmarks), 112)
    np.testing.assert_array_equal(out[y0:y1, x0:x1], photo[y0:y1, x0:x1])
    np.testing.assert_array_equal(out[:, left.shape[1]:], photo[:, left.shape[1]:])
    ux0, uy0, ux1, uy1 = crop_footprint(photo.shape, aligned_from_landmarks(faces[user_i].landmarks), 112)
    assert np.any(out[uy0:uy1, ux0:ux1] != photo[uy0:uy1, ux0:ux1])

    # Without only_user, both faces are cloaked.
    both = cloak_bytes(encode(photo, "PNG"), smooth_mask())
    assert both.faces_cloaked == 2


def test_a_close_up_is_matched_from_the_reduced_copy(deepface, match_model):
    from facecloak.cloak import pillow_path
    from facecloak.faces.image_io import open_image

    enrol_rgb = load_image(deepface / "img21.jpg")
    user = match_model.embed_faces(enrol_rgb, [one_face(enrol_rgb).landmarks])[0]
    small = load_image(deepface / "img20.jpg")
    scale = 3000 / max(small.shape[:2])
    photo = cv2.resize(small, (round(small.shape[1] * scale), round(small.shape[0] * scale)),
                       interpolation=cv2.INTER_CUBIC)
    data = encode(photo, "JPEG", quality=95)
    img, what = open_image(data)
    img, _, faces, scales = pillow_path.decode_and_find(img, what, data, get_detector(), 10**9)
    assert len(faces) == 1 and scales.small.shape[0] < img.height / 2
    want_flags, want = match_user(load_image(data), faces, user)
    scales.full = None  # the face is large: its crop must come from the copy alone
    flags, sims = match_user(scales, faces, user)
    assert flags == want_flags == [True] and abs(float(sims[0] - want[0])) < 0.02, (sims, want)
    assert cloak_bytes(data, smooth_mask(), only_user=user).faces_cloaked == 1


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])  # the Pillow path, and the array path
def test_a_face_that_matches_the_user_is_still_checked_for_a_person_s(photos_dir, match_model, fmt):
    """With only_user the human check runs after the match, on the user's faces alone: a
    dog's face enrolled as the user matches itself, and is still not cloaked."""
    husky = load_image(photos_dir / "nonface" / "husky.jpg")
    detector = get_detector()
    assert detector.detect(husky) == []
    (dog,) = detector.detect(husky, human_check=False)
    (emb,) = match_model.embed_faces(husky, [dog.landmarks])
    data = encode(husky, fmt, quality=95) if fmt == "JPEG" else encode(husky, fmt)
    result = cloak_bytes(data, smooth_mask(), only_user=emb)
    assert (result.faces_found, result.faces_cloaked) == (1, 0)
    assert cloak_bytes(data, smooth_mask()).faces_found == 0  # every face: checked before


def test_a_profile_is_matched_with_the_preferred_model_it_holds():
    emb = np.ones(4, np.float32)
    assert match_model_for({"faceplugin": emb, DEFAULT_MATCH_MODEL: emb, "facenet-casia": emb}) == DEFAULT_MATCH_MODEL
    assert match_model_for({"faceplugin": emb, "facenet-casia": emb}) == "faceplugin"  # an older profile
    assert match_model_for({"facenet-casia": emb}) is None
    with pytest.raises(FaceCloakError, match="no match threshold"):
        match_user(np.zeros((8, 8, 3), np.uint8), [Face((0, 0, 4, 4), np.zeros((5, 2)), 1.0)], emb, "facenet-casia")


def test_embedding_of_another_model_is_refused(deepface, match_model):
    data = (deepface / "img21.jpg").read_bytes()
    with pytest.raises(FaceCloakError, match="another model"):
        cloak_bytes(data, smooth_mask(), only_user=np.ones(128, np.float32))


# --- formats and metadata -----------------------------------------------------

@pytest.fixture(scope="module")
def face_rgb(deepface):
    return load_image(deepface / "img21.jpg")


def test_jpeg_round_trip_full_quality(face_rgb, deepface):
    data = (deepface / "img19.jpg").read_bytes()  # has an ICC profile
    src = Image.open(io.BytesIO(data))
    result = cloak_bytes(data, smooth_mask())
    assert result.faces_cloaked >= 1 and result.format == "JPEG"
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "JPEG" and out.size == src.size == (result.width, result.height)
    assert JpegImagePlugin.get_sampling(out) == 0  # 4:4:4, no chroma subsampling
    assert out.info.get("icc_profile") == src.info["icc_profile"]


def test_png_keeps_alpha(face_rgb):
    h, w = face_rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    alpha = ((xx * 255) // w).astype(np.uint8)
    alpha[: h // 10] = 0
    data = encode(np.dstack([face_rgb, alpha]), "PNG")
    result = cloak_bytes(data, smooth_mask())
    assert result.faces_cloaked == 1 and result.format == "PNG"
    out = Image.open(io.BytesIO(result.data))
    assert out.mode == "RGBA" and out.size == (w, h)
    np.testing.assert_array_equal(np.asarray(out)[:, :, 3], alpha)
    assert np.any(np.asarray(out)[:, :, :3] != face_rgb)


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_stays_webp(face_rgb, lossless):
    data = encode(face_rgb, "WEBP", lossless=lossless, quality=90)
    assert webp_is_lossless(data) == lossless
    result = cloak_bytes(data, smooth_mask())
    assert result.faces_cloaked == 1 and result.format == "WEBP"
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "WEBP" and out.size == (face_rgb.shape[1], face_rgb.shape[0])
    assert webp_is_lossless(result.data) == lossless


def exif_with(orientation=None, gps=True):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if orientation:
        exif[0x0112] = orientation
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = "N", (52.0, 31.0, 12.0)
        ifd[3], ifd[4] = "E", (13.0, 24.0, 36.0)
    return exif.tobytes()


def test_exif_orientation_applied_and_gps_stripped(face_rgb):
    # Orientation 6: stored turned 90 degrees counter-clockwise, shown upright.
    stored = np.ascontiguousarray(np.rot90(face_rgb, 1))
    data = encode(stored, "JPEG", quality=95, exif=exif_with(orientation=6))
    assert has_gps(Image.open(io.BytesIO(data)).info["exif"])
    result = cloak_bytes(data, smooth_mask())
    assert result.faces_cloaked == 1
    out = Image.open(io.BytesIO(result.data))
    assert out.size == (face_rgb.shape[1], face_rgb.shape[0])  # upright
    exif = out.getexif()
    assert exif.get(0x0112) == 1 and exif.get(0x010F) == "TestCam"
    assert 0x8825 not in exif and not has_gps(out.info["exif"])
    # Upright pixels: close to the upright original (cloak + JPEG only).
    assert np.abs(np.asarray(out).astype(int) - face_rgb).mean() < 4

    kept = Image.open(io.BytesIO(cloak_bytes(data, smooth_mask(), strip_gps=False).data))
    assert kept.getexif().get_ifd(0x8825).get(1) == "N"


@pytest.mark.parametrize("height", [None, 1400])  # as it is, and tall enough to go by strips
def test_a_jpeg_comment_is_not_carried(face_rgb, height):
    rgb = face_rgb
    if height:
        img = Image.fromarray(face_rgb)
        rgb = np.asarray(img.resize((round(img.width * height / img.height), height), Image.BICUBIC))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, comment=b"owner: Jane Doe, 12 Main St")
    result = cloak_bytes(buf.getvalue(), smooth_mask())
    assert result.faces_cloaked == 1
    assert "comment" not in Image.open(io.BytesIO(result.data)).info and b"Jane Doe" not in result.data


def test_exif_thumbnail_is_not_carried():
    raw = exif_with(gps=False)
    assert clean_exif(raw, strip_gps=True, reset_orientation=True).startswith(b"Exif\x00\x00")
    assert clean_exif(None, strip_gps=True, reset_orientation=True) is None


# --- nothing to cloak -----------------------------------------------------------

def test_no_face_comes_back_unchanged(photos_dir):
    data = (photos_dir / "nonface" / "banana.jpg").read_bytes()
    result = cloak_bytes(data, smooth_mask())
    assert result.data == data
    assert (result.faces_found, result.faces_cloaked, result.changed) == (0, 0, False)
    assert result.format == "JPEG"


def test_no_face_with_gps_loses_only_the_gps(photos_dir):
    rgb = load_image(photos_dir / "nonface" / "banana.jpg")
    data = encode(rgb, "JPEG", quality=90, exif=exif_with(orientation=3))
    result = cloak_bytes(data, smooth_mask())
    assert result.faces_found == 0 and result.data != data
    out = Image.open(io.BytesIO(result.data))
    assert 0x8825 not in out.getexif() and out.getexif().get(0x0112) == 3  # still stored turned
    np.testing.assert_array_equal(np.asarray(out), np.asarray(Image.open(io.BytesIO(data))))
    assert strip_gps_jpeg(b"not a jpeg") is None
    assert cloak_bytes(data, smooth_mask(), strip_gps=False).data == data
