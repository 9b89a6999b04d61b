"""Alignment: the similarity fit, the crop, its matrix, and the torch warp."""

import cv2
import numpy as np
import pytest
import torch

from facecloak.faces import (
    ARCFACE_TEMPLATE_112,
    align_face,
    compose_affine,
    estimate_similarity,
    invert_affine,
    shrink_area,
    template,
    warp_affine_torch,
)


def similarity(scale, angle, tx, ty):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def apply(matrix, pts):
    return np.asarray(pts, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def smooth_image(h=240, w=320, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.random((h, w, 3)).astype(np.float32) * 255
    return cv2.GaussianBlur(img, (0, 0), 3)


def test_template_is_insightface_arcface_112():
    assert ARCFACE_TEMPLATE_112.shape == (5, 2)
    assert ARCFACE_TEMPLATE_112[0].tolist() == pytest.approx([38.2946, 51.6963])
    assert ARCFACE_TEMPLATE_112[4].tolist() == pytest.approx([70.7299, 92.2041])
    np.testing.assert_allclose(template(224), ARCFACE_TEMPLATE_112 * 2, rtol=1e-6)
    # Zooming out keeps the crop centre fixed and shrinks the face about it.
    t2 = template(112, crop_scale=2.0)
    np.testing.assert_allclose((t2 - 55.5) * 2, ARCFACE_TEMPLATE_112 - 55.5, rtol=1e-5)


def test_similarity_recovers_a_known_transform():
    truth = similarity(1.7, 0.4, 30.0, -12.0)
    src = np.random.default_rng(1).random((5, 2)) * 100
    np.testing.assert_allclose(estimate_similarity(src, apply(truth, src)), truth, atol=1e-9)


def test_similarity_never_reflects():
    src = ARCFACE_TEMPLATE_112.astype(np.float64)
    mirrored = src * [-1, 1]  # a mirror image: the best fit must still be a rotation
    m = estimate_similarity(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_similarity_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        estimate_similarity(np.zeros((5, 3)), np.zeros((5, 3)))


def test_invert_and_compose():
    m = similarity(0.6, -1.1, 5.0, 7.0)
    ident = compose_affine(invert_affine(m), m)
    np.testing.assert_allclose(ident, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(invert_affine(m), cv2.invertAffineTransform(m), atol=1e-12)


def test_align_face_maps_landmarks_onto_the_template():
    aligned_from_image = similarity(0.5, 0.3, 10.0, 4.0)
    landmarks = apply(invert_affine(aligned_from_image), template(224))  # a face in a photo
    crop, m = align_face(smooth_image(400, 500), landmarks, size=224)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.float32
    assert m.shape == (2, 3) and m.dtype == np.float64
    np.testing.assert_allclose(apply(m, landmarks), template(224), atol=1e-6)
    np.testing.assert_allclose(m, aligned_from_image, atol=1e-9)


def test_align_face_crop_equals_cv2_warp_at_moderate_scale():
    img = smooth_image()
    landmarks = ARCFACE_TEMPLATE_112 * 1.4 + [100, 50]
    crop, m = align_face(img, landmarks, size=112)
    ref = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop, ref)


def test_align_face_does_not_alias_a_big_face():
    # A face 10x larger than the crop: a fine stripe pattern must average to grey,
    # not turn into a false coarse pattern as plain bilinear sampling does.
    h, w = 1400, 1400
    stripes = ((np.arange(w) // 2) % 2 * 255).astype(np.uint8)
    img = np.repeat(np.repeat(stripes[None, :, None], h, 0), 3, 2)
    landmarks = ARCFACE_TEMPLATE_112 * 10.0 + [100, 100]
    crop, m = align_face(img, landmarks, size=112)
    plain = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR)
    assert plain.std() > 100  # what aliasing looks like: near-black and near-white
    assert crop.std() < 20
    assert abs(float(crop.mean()) - 127.5) < 4


@pytest.mark.parametrize("angle", [0.0, 0.35, -1.2])
@pytest.mark.parametrize("scale", [0.7, 1.0, 2.3])
def test_torch_warp_agrees_with_cv2(angle, scale):
    img = smooth_image()
    m = similarity(scale, angle, 40.0, -25.0)
    out_w, out_h = 200, 150
    ref = cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    tensor = torch.from_numpy(img).permute(2, 0, 1)[None]
    out = warp_affine_torch(tensor, torch.from_numpy(m), (out_h, out_w))[0].permute(1, 2, 0).numpy()
    diff = np.abs(out - ref)
    # cv2 rounds bilinear weights to 1/32: differences stay far below one grey level.
    assert diff.max() < 0.5, diff.max()
    assert diff.mean() < 0.01


def test_torch_warp_batches_and_passes_gradients():
    img = torch.from_numpy(smooth_image(64, 80)).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    img.requires_grad_(True)
    mats = torch.from_numpy(np.stack([similarity(1, 0, 0, 0), similarity(0.5, 0.2, 3, 4)]))
    out = warp_affine_torch(img, mats, (32, 40))
    assert out.shape == (2, 3, 32, 40)
    torch.testing.assert_close(out[0], img[0, :, :32, :40])  # identity copies pixels exactly
    out.sum().backward()
    assert img.grad is not None and float(img.grad.abs().sum()) > 0


def test_torch_warp_checks_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        warp_affine_torch(torch.zeros(3, 8, 8), torch.eye(2, 3), (8, 8))
    with pytest.raises(ValueError, match=r"\(N, 2, 3\)"):
        warp_affine_torch(torch.zeros(2, 3, 8, 8), torch.zeros(3, 2, 3), (8, 8))


def test_shrink_area_maps_pixels_back_with_its_factors():
    # An odd-sized photo (halvings drop a row or column) with one soft blob:
    # the blob's centre in the copy, taken back with the returned factors,
    # is where it was.
    h, w = 1001, 1601
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = 1213.3, 377.8
    img = (255 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * 25.0 ** 2))).astype(np.float32)
    small, fx, fy = shrink_area(img[..., None].repeat(3, axis=2), (160, 100))
    assert small.shape == (100, 160, 3)
    weights = small[..., 0]
    sy, sx = np.mgrid[0:100, 0:160]
    mx, my = (sx * weights).sum() / weights.sum(), (sy * weights).sum() / weights.sum()
    back = (mx + 0.5) * fx - 0.5, (my + 0.5) * fy - 0.5
    assert back == pytest.approx((cx, cy), abs=0.5)
    assert (fx, fy) != (w / 160, h / 100)  # the dropped edge pixels are accounted for


def test_shrink_area_by_powers_of_two_is_the_plain_area_mean():
    img = smooth_image(256, 384)
    small, fx, fy = shrink_area(img, (96, 64))
    assert (fx, fy) == (4.0, 4.0)
    np.testing.assert_allclose(small, cv2.resize(img, (96, 64), interpolation=cv2.INTER_AREA), atol=1e-3)
