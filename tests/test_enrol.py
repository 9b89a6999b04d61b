"""Enrolment end to end on real photos: one face in, a mask in budget out; refusals."""

import cv2
import numpy as np
import pytest

from facecloak.cloak.budget import budget_map
from facecloak.cloak.config import STRENGTHS, CloakConfig
from facecloak.cloak.enrol import Cancelled, Enrolment, enrol
from facecloak.errors import FaceTooSmallError, ManyFacesError, NoFaceError
from facecloak.faces import align_face, load_image

pytestmark = [pytest.mark.models, pytest.mark.shared]
QUICK = CloakConfig(surrogates=("faceplugin",), steps=2, k=3, batch=None)


@pytest.fixture(scope="module")
def portrait(photos_dir):
    return photos_dir / "portrait" / "person-vlado.jpg"


def test_enrol_one_portrait(portrait):
    seen = []
    result = enrol(portrait.read_bytes(), QUICK, progress=lambda f, m: seen.append((f, m)), lookalikes=None)
    assert isinstance(result, Enrolment)
    mask = result.mask
    rgb = load_image(portrait)
    budget = budget_map(QUICK, align_face(rgb, result.landmarks)[0])[0, 0].numpy() * 255
    assert 0 < mask.linf and np.all(np.abs(mask.delta) <= budget[..., None] + 1e-3)
    meta = mask.meta
    assert meta["method"] == "facecloak" and meta["backend"] == result.backend == "augment"
    assert meta["variant_sources"] == {"photo": 1, "augment": 2}  # "auto" fell back: no GPU or weights here
    assert meta["backend_note"].startswith("Arc2Face not used; it needs")
    assert meta["models"] == ["faceplugin"] and meta["k"] == 3 and meta["steps"] == 2
    assert meta["strength"] == "mid" and meta["eps"] == STRENGTHS["mid"][0] and meta["seconds"] > 0
    emb = result.embeddings["faceplugin"]
    assert emb.shape == (512,) and emb.dtype == np.float32 and abs(np.linalg.norm(emb) - 1) < 1e-4
    assert result.seconds > 0 and result.landmarks.shape == (5, 2) and len(result.box) == 4
    stages = [m.split(":")[0] for _, m in seen]
    order = ["detect", "variations", "optimise", "done"]
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == order
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert sum(s == "optimise" for s in stages) == 1 + QUICK.steps


def test_group_photo_is_refused(photos_dir):
    with pytest.raises(ManyFacesError, match=r"found \d+ faces .* only you"):
        enrol(photos_dir / "group" / "couple.jpg", QUICK)


def test_photo_without_a_face_is_refused(photos_dir):
    with pytest.raises(NoFaceError, match="no face"):
        enrol(photos_dir / "nonface" / "coffee.png", QUICK)


def test_tiny_face_is_refused(portrait):
    rgb = load_image(portrait)
    small = cv2.resize(rgb, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)  # eyes ~22 px apart
    with pytest.raises(FaceTooSmallError, match="between the eyes"):
        enrol(small, QUICK)


@pytest.mark.parametrize("polls_before_stop", [0, 4])
def test_cancellation(portrait, polls_before_stop):
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > polls_before_stop

    with pytest.raises(Cancelled, match="cancelled"):
        enrol(portrait, QUICK.replace(steps=3), should_stop=should_stop)
