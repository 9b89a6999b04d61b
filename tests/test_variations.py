"""Varied images: K of them, variant 0 untouched, landmarks follow, identity kept, seeded."""

import numpy as np
import pytest

from facecloak.cloak.variations import (
    CONTEXT,
    Arc2FaceBackend,
    AugmentBackend,
    Variant,
    context_crop,
    get_backend,
)
from facecloak.errors import FaceCloakError
from facecloak.faces import align_face, get_detector, load_image

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def photo(photos_dir):
    """(rgb, landmarks) of a real single-person portrait."""
    rgb = load_image(photos_dir / "portrait" / "person-vlado.jpg")
    return rgb, get_detector().detect(rgb)[0].landmarks


@pytest.fixture(scope="module")
def variants(photo):
    return AugmentBackend().generate(*photo, k=8, seed=0)


def test_k_variants_and_variant0_is_the_untouched_context_crop(photo, variants):
    assert len(variants) == 8 and all(isinstance(v, Variant) for v in variants)
    for v in variants:
        assert v.image.shape == (CONTEXT, CONTEXT, 3) and v.image.dtype == np.uint8
        assert v.landmarks.shape == (5, 2)
    ctx = context_crop(*photo)
    assert np.array_equal(variants[0].image, ctx.image)
    np.testing.assert_allclose(variants[0].landmarks, ctx.landmarks)
    assert all(not np.array_equal(v.image, ctx.image) for v in variants[1:])
    assert len(AugmentBackend().generate(*photo, k=1)) == 1
    with pytest.raises(FaceCloakError):
        AugmentBackend().generate(*photo, k=0)


def test_context_crop_centres_the_aligned_face(photo):
    ctx = context_crop(*photo)
    crop_direct, _ = align_face(*photo)
    crop_ctx, _ = align_face(ctx.image, ctx.landmarks)
    diff = np.abs(crop_direct.astype(float) - crop_ctx.astype(float)).mean()
    assert diff < 6.0  # the same face, resampled once more


def test_landmarks_follow_the_geometry(variants):
    detector = get_detector()
    errors = []
    for v in variants[1:]:
        found = detector.detect(v.image)
        if found:
            eye = np.linalg.norm(v.landmarks[1] - v.landmarks[0])
            errors.append(np.linalg.norm(found[0].landmarks - v.landmarks, axis=1).max() / eye)
    assert len(errors) >= 5
    assert np.median(errors) < 0.08 and max(errors) < 0.2
    for v in variants:  # left/right order survives mirroring
        assert v.landmarks[0, 0] < v.landmarks[1, 0] and v.landmarks[3, 0] < v.landmarks[4, 0]


@pytest.mark.models
def test_identity_is_kept(variants):
    from facecloak.cloak.surrogates import onnx_embedder

    emb = onnx_embedder("faceplugin").embed_aligned(np.stack([align_face(v.image, v.landmarks)[0] for v in variants]))
    sims = emb[1:] @ emb[0]
    assert sims.min() > 0.75, sims


def test_deterministic_for_a_seed(photo, variants):
    again = AugmentBackend().generate(*photo, k=8, seed=0)
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks)
               for a, b in zip(variants, again))
    other = AugmentBackend().generate(*photo, k=8, seed=1)
    assert not np.array_equal(other[1].image, variants[1].image)


def test_backend_choice_and_arc2face_says_what_is_missing(tmp_path, photo):
    assert get_backend("augment").name == "augment"
    assert get_backend("auto").name == "augment"  # no CUDA GPU / weights here
    arc = get_backend("arc2face")
    assert isinstance(arc, Arc2FaceBackend)
    bare = Arc2FaceBackend(tmp_path, caches=False)  # not this machine's Hugging Face cache
    assert not bare.available()
    with pytest.raises(FaceCloakError) as err:
        bare.generate(*photo, k=2)
    message = str(err.value)
    assert "huggingface.co/FoivosPar/Arc2Face" in message and "Stable Diffusion 1.5" in message
    import torch

    if not torch.cuda.is_available():
        assert "CUDA GPU" in message
    with pytest.raises(FaceCloakError, match="auto, augment, arc2face"):
        get_backend("stylegan")
