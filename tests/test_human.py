"""The human-face check: people's faces kept, animals' dropped, on by default.

The units run a stand-in network on synthetic photos (no model files, no
../shared); the real photos are in tests/test_detect.py (the husky, and every
count there, now with the check on) and the measurement behind the threshold
in benchmarks/human-face-check.
"""

import cv2
import numpy as np
import pytest

from facecloak.errors import ModelFetchError
from facecloak.faces import Face, FaceDetector, human
from facecloak.faces.align import template

DOG = 16  # COCO's dog, one of `human.ANIMALS`


def colour_net(crops: np.ndarray) -> np.ndarray:
    """Stand-in for the CenterNet heatmaps: red pixels are a person, blue ones a dog."""
    n = len(crops)
    heat = np.zeros((n, crops.shape[1] // 4, crops.shape[2] // 4, 80), np.float32)
    heat[:, 0, 0, human.PERSON] = crops[..., 0].reshape(n, -1).max(axis=1) / 255
    heat[:, 1, 1, DOG] = crops[..., 2].reshape(n, -1).max(axis=1) / 255
    return heat


def face_at(cx: float, cy: float, eye_distance: float = 20.0, angle: float = 0.0) -> Face:
    """A face whose five points are the ArcFace template's, turned and scaled."""
    pts = template(112) - template(112).mean(axis=0)
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    pts = pts @ np.array([[c, s], [-s, c]]) * (eye_distance / 35.24) + [cx, cy]
    half = 1.5 * eye_distance
    return Face((cx - half, cy - half, cx + half, cy + half), pts, 0.9)


def two_faces_photo():
    """A person's face painted red at the left, a dog's painted blue at the right."""
    rgb = np.full((200, 400, 3), 40, np.uint8)
    person, dog = face_at(100, 100), face_at(300, 100, angle=20)
    cv2.circle(rgb, (100, 100), 25, (255, 0, 0), -1)
    cv2.circle(rgb, (300, 100), 25, (0, 0, 255), -1)
    return rgb, person, dog


def test_crop_puts_the_face_upright_in_the_centre_with_room_around_it():
    rgb = np.zeros((300, 300, 3), np.uint8)
    face = face_at(150, 140, eye_distance=30, angle=35)
    for x, y in face.landmarks:
        cv2.circle(rgb, (round(x), round(y)), 3, (255, 255, 255), -1)
    (crop,) = human.HumanCheck.crops(rgb, [face])
    assert crop.shape == (human.SIZE, human.SIZE, 3) and crop.dtype == np.uint8
    expected = template(human.SIZE, human.CROP_SCALE)
    for x, y in expected:  # each point lands where the zoomed-out template puts it
        assert crop[round(y) - 1:round(y) + 2, round(x) - 1:round(x) + 2].max() > 100
    eyes = expected[1] - expected[0]
    assert abs(eyes[1]) < 1 and eyes[0] < human.SIZE / 10  # upright, small: head and shoulders around it


def test_animal_faces_are_dropped_and_people_kept_in_order():
    rgb, person, dog = two_faces_photo()
    check = human.HumanCheck(net=colour_net, threshold=0.25)
    scores = check.scores(rgb, [dog, person, person])
    assert scores == pytest.approx([1.0 - 40 / 255, 40 / 255 - 1.0, 40 / 255 - 1.0], abs=0.02)
    assert check.is_human(rgb, [dog, person]).tolist() == [False, True]
    assert check.keep(rgb, [person, dog, person]) == [person, person]
    assert check.keep(rgb, []) == [] and check.scores(rgb, []).shape == (0,)


def test_many_faces_run_in_batches(monkeypatch):
    rgb, person, dog = two_faces_photo()
    sizes = []

    def net(crops):
        sizes.append(len(crops))
        return colour_net(crops)

    monkeypatch.setattr(human, "BATCH", 4)
    kept = human.HumanCheck(net=net).keep(rgb, [person, dog] * 5)
    assert sizes == [4, 4, 2] and kept == [person] * 5


class TwoFaces(FaceDetector):
    """Reports the person and the dog of `two_faces_photo`, on a half-size copy."""

    detect_size = 200

    def _detect_small(self, rgb):
        _, person, dog = two_faces_photo()
        return [person.scaled(0.5), dog.scaled(0.5)]


@pytest.fixture
def stand_in_check(monkeypatch):
    seen = []

    def net(crops):
        seen.append(crops.shape)
        return colour_net(crops)

    monkeypatch.setattr(human, "get_human_check", lambda providers=None: human.HumanCheck(net=net))
    return seen


def test_detect_drops_non_human_faces_by_default(stand_in_check):
    rgb, person, _ = two_faces_photo()
    (face,) = TwoFaces().detect(rgb)
    np.testing.assert_allclose(face.landmarks, person.landmarks, atol=0.01)
    assert stand_in_check == [(2, human.SIZE, human.SIZE, 3)]  # one forward for the photo


def test_the_check_can_be_turned_off(stand_in_check):
    rgb, _, _ = two_faces_photo()
    assert len(TwoFaces().detect(rgb, human_check=False)) == 2
    det = TwoFaces()
    det.human_check = False
    assert len(det.detect(rgb)) == 2 and len(det.detect(rgb, human_check=True)) == 1
    assert len(stand_in_check) == 1


def test_no_face_no_forward(stand_in_check):
    class NoFace(TwoFaces):
        def _detect_small(self, rgb):
            return []

    assert NoFace().detect(np.zeros((50, 50, 3), np.uint8)) == [] and stand_in_check == []


@pytest.mark.models
def test_centernet_takes_any_size_and_batch():
    """The converted detector: heatmaps at a quarter of the input side, batches = single runs."""
    try:
        net = human.HumanCheck().net
    except ModelFetchError as exc:
        pytest.skip(f"mb3-centernet not available: {exc}")
    x = np.random.default_rng(0).uniform(0, 255, (3, 192, 160, 3)).astype(np.float32)
    heat = net(x)
    assert heat.shape == (3, 48, 40, 80) and heat.min() >= 0 and heat.max() <= 1
    np.testing.assert_allclose(net(x[1:2])[0], heat[1], atol=1e-5)
    assert net(x[:, :human.SIZE, :human.SIZE]).shape == (3, human.SIZE // 4, human.SIZE // 4, 80)
