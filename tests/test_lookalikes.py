"""The look-alike pool: built from real photos, saved and loaded, nearest by the surrogates, used by enrol."""

import numpy as np
import pytest

from facecloak.cli import main
from facecloak.cloak.config import CloakConfig
from facecloak.cloak.enrol import enrol
from facecloak.cloak.lookalikes import build_pool, load_pool, photo_faces, pool_sources, save_pool
from facecloak.cloak.surrogates import onnx_embedder
from facecloak.errors import FaceCloakError
from facecloak.faces import get_detector, load_image

pytestmark = [pytest.mark.models, pytest.mark.shared]
PEOPLE = ("Colin_Powell", "Gerhard_Schroeder", "Hugo_Chavez", "Serena_Williams", "Ariel_Sharon",
          "Junichiro_Koizumi", "Jean_Chretien", "Laura_Bush")
SURROGATES = ("faceplugin", "mobilefacenet")


@pytest.fixture(scope="module")
def people(lfw, tmp_path_factory):
    """A folder with each of PEOPLE's first LFW photo in a subfolder, LFW's layout."""
    root = tmp_path_factory.mktemp("people")
    for name in PEOPLE:
        (root / name).mkdir()
        (root / name / f"{name}_0001.jpg").write_bytes((lfw / "images" / name / f"{name}_0001.jpg").read_bytes())
    return root


@pytest.fixture(scope="module")
def pool(people):
    return build_pool(photo_faces(pool_sources(people)), SURROGATES, device="cpu")


def embeddings_of(path):
    rgb = load_image(path)
    face = max(get_detector().detect(rgb), key=lambda f: f.eye_distance)
    return {n: onnx_embedder(n).embed_faces(rgb, [face.landmarks])[0] for n in SURROGATES}


def test_sources_take_one_photo_per_person(people, tmp_path):
    assert [n for n, _ in pool_sources(people)] == sorted(PEOPLE)
    three = pool_sources(people, limit=3, seed=1)
    assert len(three) == 3 and three == pool_sources(people, limit=3, seed=1) and set(three) < set(pool_sources(people))
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    assert [n for n, _ in pool_sources(tmp_path)] == ["a", "b"]  # a flat folder: one person per photo
    with pytest.raises(FaceCloakError, match="no folder"):
        pool_sources(tmp_path / "absent")


def test_the_nearest_face_is_the_same_person_in_another_photo(pool, lfw):
    assert len(pool) == len(PEOPLE) and set(pool.names) == set(PEOPLE)
    for name in PEOPLE:
        user = embeddings_of(lfw / "images" / name / f"{name}_0002.jpg")
        found = pool.nearest(user, 3)
        assert len(found) == 3 and all(v.source == "lookalike" for v in found)
        assert pool.names[int(np.argmax(pool.similarity(user)))] == name
        assert found[0].image.shape == (256, 256, 3) and found[0].landmarks.shape == (5, 2)
    with pytest.raises(FaceCloakError, match="no embeddings for facenet-casia"):
        pool.similarity({"facenet-casia": np.ones(128, np.float32)})


def test_a_saved_pool_loads_as_it_was(pool, tmp_path):
    back = load_pool(save_pool(pool, tmp_path / "sub" / "pool.npz"))
    assert back.names == pool.names and np.array_equal(back.landmarks, pool.landmarks)
    assert set(back.embeddings) == set(SURROGATES)
    for n in SURROGATES:
        assert np.array_equal(back.embeddings[n], pool.embeddings[n])
    assert np.array_equal(back.crop(3), pool.crop(3))
    (tmp_path / "bad.npz").write_bytes(b"not a pool")
    with pytest.raises(FaceCloakError, match="not a look-alike pool"):
        load_pool(tmp_path / "bad.npz")


def test_enrol_puts_lookalikes_in_place_of_augmented_variants(pool, photos_dir):
    portrait = photos_dir / "portrait" / "person-vlado.jpg"
    quick = CloakConfig(surrogates=SURROGATES, steps=2, k=5, backend="augment")
    meta = enrol(portrait, quick, lookalikes=pool).mask.meta
    assert meta["variant_sources"] == {"photo": 1, "lookalike": 3, "augment": 1} and meta["lookalikes"] == 3
    assert meta["backend"] == "augment"
    none = enrol(portrait, quick.replace(lookalikes=0), lookalikes=pool).mask.meta
    assert none["variant_sources"] == {"photo": 1, "augment": 4} and none["lookalikes"] == 0
    few = enrol(portrait, quick.replace(k=2), lookalikes=pool).mask.meta
    assert few["variant_sources"] == {"photo": 1, "lookalike": 1}  # the photo itself always stays
    with pytest.raises(FaceCloakError, match="lookalikes >= 0"):
        CloakConfig(lookalikes=-1)


def test_enrol_finds_the_installed_pool(pool, photos_dir, tmp_path, monkeypatch):
    from facecloak.cloak import lookalikes

    monkeypatch.setattr(lookalikes, "lookalike_pool_path", lambda: tmp_path / "lookalikes.npz")
    portrait = photos_dir / "portrait" / "person-vlado.jpg"
    quick = CloakConfig(surrogates=SURROGATES, steps=1, k=4, backend="augment")
    assert enrol(portrait, quick).mask.meta["lookalikes"] == 0  # none installed: augmentation only
    save_pool(pool, lookalikes.lookalike_pool_path())
    assert enrol(portrait, quick).mask.meta["variant_sources"] == {"photo": 1, "lookalike": 3}
    assert enrol(portrait, quick, lookalikes=None).mask.meta["lookalikes"] == 0


def test_the_command_builds_and_shows_a_pool(people, tmp_path, capsys):
    out = tmp_path / "pool.npz"
    assert main(["lookalikes", "build", str(people), "--limit", "2", "--device", "cpu", "--out", str(out)]) == 0
    assert "2 faces of 2 people" in capsys.readouterr().out
    assert len(load_pool(out)) == 2
    assert main(["lookalikes", "show", str(out)]) == 0 and "2 faces" in capsys.readouterr().out
    assert main(["lookalikes", "show", str(tmp_path / "absent.npz")]) == 1


def test_the_benchmarks_pool_holds_no_one_it_scores(lfw):
    from facecloak.bench.lookalike_pool import benchmark_pool, outside_keys
    from facecloak.bench.privacy import Context, build_protocol

    proto = build_protocol(lfw, users=["Ian_Thorpe", "Jason_Kidd"], distractors=300, seed=0)
    scored = {u.name for u in proto.users} | {k[0] for k in proto.gallery}
    ctx = Context(lfw, proto, [], {}, None, None, "dlib", ("uploaded",), False, {})  # what the pool reads
    keys = outside_keys(ctx, 40, seed=0)
    assert len(keys) == 40 and not {n for n, _ in keys} & scored and all(i == 1 for _, i in keys)
    assert keys == sorted(keys) and outside_keys(ctx, 40, seed=0) == keys  # the run's seed fixes the draw
    assert outside_keys(ctx, 40, seed=1) != keys
    pool = benchmark_pool(ctx, ("faceplugin",), 4, seed=0, device="cpu")
    assert set(pool.names) <= {n for n, _ in outside_keys(ctx, 4, seed=0)} and len(pool) >= 3
    assert set(pool.embeddings) == {"faceplugin"} and pool.embeddings["faceplugin"].shape[0] == len(pool)
