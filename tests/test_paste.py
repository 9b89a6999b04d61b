"""Paste-back: aligned crops and deltas land on the face, nowhere else."""

import time

import cv2
import numpy as np
import pytest

from facecloak.faces import (
    ARCFACE_TEMPLATE_112,
    align_face,
    crop_footprint,
    get_detector,
    invert_affine,
    load_image,
    paste_aligned,
    paste_face_crop,
)
from facecloak.faces.paste import _warp_to_roi


def inside_mask(shape, aligned_from_image, size, inset):
    """Photo pixels whose crop position is at least `inset` crop pixels inside."""
    square = np.zeros((size, size), np.uint8)
    square[inset:size - inset, inset:size - inset] = 1
    return cv2.warpAffine(square, invert_affine(aligned_from_image), (shape[1], shape[0]),
                          flags=cv2.INTER_NEAREST) > 0


def outside_footprint(shape, roi):
    x0, y0, x1, y1 = roi
    mask = np.ones(shape[:2], bool)
    mask[y0:y1, x0:x1] = False
    return mask


def synthetic_photo(h=600, w=800):
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32) * 255, (0, 0), 4)
    return np.clip(img * 3 - 255, 0, 255).astype(np.uint8)


def face_landmarks(scale, angle, cx, cy):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    pts = ARCFACE_TEMPLATE_112 - 55.5
    return pts @ np.array([[c, s], [-s, c]]) + [cx, cy]


def test_footprint_covers_the_warped_square_and_is_clipped():
    m = np.array([[0.5, 0.0, -100.0], [0.0, 0.5, -50.0]])  # crop = photo region x 200..424
    assert crop_footprint((600, 800, 3), m, 112) == (197, 97, 426, 326)
    assert crop_footprint((300, 300, 3), m, 112) == (197, 97, 300, 300)
    assert crop_footprint((50, 50, 3), m, 112) is None


def test_delta_lands_inside_the_footprint_only():
    rgb = synthetic_photo()
    _, m = align_face(rgb, face_landmarks(1.6, 0.3, 400, 300), size=112)
    delta = np.full((112, 112, 3), 20.0, np.float32)
    out = paste_aligned(rgb, delta, m)
    roi = crop_footprint(rgb.shape, m, 112)
    outside = outside_footprint(rgb.shape, roi)
    np.testing.assert_array_equal(out[outside], rgb[outside])
    inner = inside_mask(rgb.shape, m, 112, 2)
    expected = np.clip(rgb[inner].astype(int) + 20, 0, 255)
    assert np.abs(out[inner].astype(int) - expected).max() <= 1
    assert out.dtype == np.uint8 and rgb.sum() != out.sum()


def test_paste_clips_and_rounds_and_keeps_input():
    rgb = np.full((100, 100, 3), 250, np.uint8)
    before = rgb.copy()
    m = np.array([[1.0, 0.0, -20.0], [0.0, 1.0, -20.0]])
    out = paste_aligned(rgb, np.full((50, 50, 3), 30.0), m)
    assert out[40, 40].tolist() == [255, 255, 255]
    out = paste_aligned(rgb, np.full((50, 50, 3), -300.0), m)
    assert out[40, 40].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(rgb, before)
    paste_aligned(rgb, np.full((50, 50, 3), -10.4), m, inplace=True)
    assert rgb[40, 40].tolist() == [240, 240, 240] and rgb[5, 5].tolist() == [250] * 3


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_paste_is_the_photo_plus_the_rounded_warp_clipped(dtype, channels):
    rng = np.random.default_rng(channels)
    photo = rng.integers(0, 256, (90, 120, channels)).astype(dtype)
    if dtype != np.uint8:
        photo += rng.uniform(-0.5, 0.5, photo.shape).astype(dtype)
    delta = rng.uniform(-40, 40, (50, 50, channels)).astype(np.float32)
    m = np.array([[0.8, 0.1, -20.0], [-0.1, 0.8, -10.0]])
    out = paste_aligned(photo, delta, m)
    x0, y0, x1, y1 = crop_footprint(photo.shape, m, 50)
    warped = _warp_to_roi(delta, m, (x0, y0, x1, y1)).astype(np.float64)
    expected = np.clip(np.rint(photo[y0:y1, x0:x1] + warped), 0, 255)
    got = out[y0:y1, x0:x1].astype(np.float64)
    # a sum ending in exactly .5 may round either way; nothing else may differ
    tie = np.abs(np.abs((photo[y0:y1, x0:x1] + warped) % 1) - 0.5) < 1e-4
    assert out.shape == photo.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(got[~tie], expected[~tie])
    assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3
    assert (expected == 0).any() and (expected == 255).any()  # the clip was exercised


def test_float_photo_and_shape_checks():
    rgb = np.full((60, 60, 3), 100.4, np.float32)
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = paste_aligned(rgb, np.ones((20, 20, 3)), m)
    assert out.dtype == np.uint8 and out[5, 5].tolist() == [101] * 3 and out[50, 50].tolist() == [100] * 3
    with pytest.raises(ValueError, match=r"\(S, S, 3\)"):
        paste_aligned(rgb, np.ones((20, 10, 3)), m)


@pytest.mark.parametrize("size,face_scale", [(112, 1.0), (112, 2.5), (256, 1.0), (112, 0.6)])
def test_align_then_paste_back_reproduces_the_face(size, face_scale):
    """Crop at about the face's own scale (or larger), paste back: nearly lossless."""
    rgb = synthetic_photo()
    landmarks = face_landmarks(face_scale * size / 112, 0.25, 420, 280)
    crop, m = align_face(rgb, landmarks, size=size)
    out = paste_face_crop(rgb, crop, m)
    roi = crop_footprint(rgb.shape, m, size)
    outside = outside_footprint(rgb.shape, roi)
    np.testing.assert_array_equal(out[outside], rgb[outside])
    inner = inside_mask(rgb.shape, m, size, 3)
    err = np.abs(out[inner].astype(float) - rgb[inner])
    # Two bilinear resamplings of a smooth image; a crop smaller than the face
    # loses detail, so it gets a looser bound.
    assert err.mean() < (6.0 if face_scale > 1.5 else 2.0), err.mean()


def test_feathered_paste_blends_at_the_edge():
    rgb = np.zeros((200, 200, 3), np.uint8)
    m = np.array([[1.0, 0.0, -50.0], [0.0, 1.0, -50.0]])
    out = paste_face_crop(rgb, np.full((100, 100, 3), 200, np.uint8), m, feather=10)
    assert out[100, 100, 0] == 200  # centre: the crop
    assert 0 < out[100, 52, 0] < 100  # two pixels in: mostly photo
    assert out[100, 40, 0] == 0  # outside: the photo


@pytest.mark.shared
def test_real_face_roundtrip_and_untouched_background(photos_dir):
    rgb = load_image(photos_dir / "portrait" / "person-celeste.jpg")
    face = get_detector("yunet").detect(rgb)[0]
    size = int(round(face.eye_distance * 112 / 35.2))  # crop at the face's own scale
    crop, m = align_face(rgb, face.landmarks, size=size)
    out = paste_face_crop(rgb, crop, m)
    outside = outside_footprint(rgb.shape, crop_footprint(rgb.shape, m, size))
    np.testing.assert_array_equal(out[outside], rgb[outside])
    inner = inside_mask(rgb.shape, m, size, 3)
    err = np.abs(out[inner].astype(float) - rgb[inner])
    assert err.mean() < 2.5, err.mean()


@pytest.mark.shared
def test_pasting_into_a_12_megapixel_photo_is_cheap(photos_dir):
    rgb = load_image(photos_dir / "deepface" / "img49.jpg")
    assert rgb.shape[0] * rgb.shape[1] >= 12e6
    face = get_detector("yunet").detect(rgb)[0]
    _, m = align_face(rgb, face.landmarks, size=112)
    delta = np.random.default_rng(0).uniform(-8, 8, (112, 112, 3)).astype(np.float32)
    paste_aligned(rgb, delta, m, inplace=False)  # warm-up
    start = time.perf_counter()
    out = paste_aligned(rgb, delta, m, inplace=False)
    elapsed = time.perf_counter() - start
    x0, y0, x1, y1 = crop_footprint(rgb.shape, m, 112)
    assert (x1 - x0) * (y1 - y0) < 0.25 * rgb.shape[0] * rgb.shape[1]  # a big close-up face
    changed = np.any(out != rgb, axis=2)
    ys, xs = np.nonzero(changed)
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
    print(f"paste_aligned into {rgb.shape}: {elapsed * 1000:.1f} ms")
    assert elapsed < 0.5, elapsed  # a full copy of the photo plus one face-sized warp
