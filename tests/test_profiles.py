"""Profiles on disk: round trip, listing, deletion, names, permissions, damage."""

import dataclasses
import stat

import numpy as np
import pytest

from facecloak.cloak.mask import CloakMask
from facecloak.cloak.profiles import (
    Profile,
    ProfileError,
    ProfileFormatError,
    ProfileStore,
    profile_from_bytes,
    profile_to_bytes,
)
from facecloak.errors import FaceCloakError


def random_mask(seed=0):
    rng = np.random.default_rng(seed)
    return CloakMask(rng.uniform(-8, 8, (112, 112, 3)), {"method": "test", "strength": "mid", "eps": 8})


def unit(dim, seed):
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path):
    return ProfileStore(tmp_path / "profiles")


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip(store):
    mask = random_mask()
    embs = {"faceplugin": unit(512, 1), "mobilefacenet": unit(192, 2)}
    store.save("me", mask=mask, embeddings=embs, meta={"note": "test"})
    got = store.load("me")
    assert got.name == "me" and got.meta == {"note": "test"}
    assert got.mask.to_bytes() == mask.to_bytes()
    assert got.mask.meta == mask.meta
    assert set(got.embeddings) == set(embs)
    for k, v in embs.items():
        assert got.embeddings[k].dtype == np.float32
        np.testing.assert_array_equal(got.embeddings[k], v)
    assert got.created.tzinfo is not None


def test_owner_only_permissions(store):
    store.save("me", mask=random_mask())
    assert mode(store.path("me")) == 0o600
    assert mode(store.root) == 0o700
    assert [p.name for p in store.root.iterdir()] == ["me.fcprofile"]  # no temp file left


def test_list_and_delete(store):
    assert store.list() == []
    store.save("bob", mask=random_mask(1), embeddings={"faceplugin": unit(512, 3)})
    store.save("alice_2", mask=random_mask(2))
    infos = store.list()
    assert [i.name for i in infos] == ["alice_2", "bob"]
    assert infos[1].models == ("faceplugin",) and infos[1].mask_meta["strength"] == "mid"
    assert all(i.problem is None and i.created is not None for i in infos)
    store.delete("bob")
    assert not store.path("bob").exists()
    assert [i.name for i in store.list()] == ["alice_2"]
    with pytest.raises(ProfileError, match="no profile named 'bob'"):
        store.delete("bob")
    with pytest.raises(ProfileError, match="alice_2"):  # says which profiles exist
        store.load("bob")


@pytest.mark.parametrize("name", ["", "a b", "../evil", "x/y", "-dash", "é", "a" * 65, ".hidden", None])
def test_bad_names_refused(store, name):
    with pytest.raises(ProfileError, match="invalid profile name"):
        store.save(name, mask=random_mask())
    assert isinstance(ProfileError("x"), FaceCloakError)


def test_good_names(store):
    for name in ("a", "Me-2_x", "9lives", "x" * 64):
        store.save(name, mask=random_mask())
        assert store.load(name).name == name


def test_existing_profile_not_overwritten_by_accident(store):
    store.save("me", mask=random_mask(1))
    with pytest.raises(ProfileError, match="already exists"):
        store.save("me", mask=random_mask(2))
    store.save("me", mask=random_mask(2), overwrite=True)
    assert store.load("me").mask.to_bytes() == random_mask(2).to_bytes()


def test_save_from_an_enrolment(store):
    @dataclasses.dataclass
    class Enrolment:  # the fields enrol() returns, as far as the store cares
        mask: CloakMask
        embeddings: dict
        seconds: float
        backend: str
        variants: np.ndarray  # large arrays are not put in the header

    e = Enrolment(random_mask(), {"faceplugin": unit(512, 0)}, 12.5, "augment", np.zeros((4, 112, 112, 3)))
    store.save("me", e)
    got = store.load("me")
    assert got.meta == {"seconds": 12.5, "backend": "augment"}
    np.testing.assert_array_equal(got.embeddings["faceplugin"], e.embeddings["faceplugin"])


def test_damaged_files(store):
    data = profile_to_bytes(Profile("me", random_mask(), {"faceplugin": unit(512, 0)}))
    assert profile_from_bytes(data).name == "me"
    for bad in (b"", b"hello world, not a profile", data[:-10], data + b"x", data[:200]):
        with pytest.raises(ProfileFormatError):
            profile_from_bytes(bad)
    newer = data[:6] + (99).to_bytes(2, "little") + data[8:]
    with pytest.raises(ProfileFormatError, match="newer"):
        profile_from_bytes(newer)
    store.save("ok", mask=random_mask())
    store.path("broken").write_bytes(data[:-10])
    infos = {i.name: i for i in store.list()}
    assert infos["ok"].problem is None and "truncated" in infos["broken"].problem
