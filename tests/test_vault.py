"""Encryption at rest: the Vault, the keyring check and the sealed profile store.

Keys go to real keyring backends: `MemoryKeyring` (a dict, tests/memory_keyring.py)
and keyrings.alt's PlaintextKeyring with its file in tmp_path (what a headless
Linux box gets). Nothing touches the user's keyring or FaceCloak folder.
"""

import base64
import configparser
import stat

import keyring
import numpy as np
import pytest
from keyring.backends import fail, null
from keyring.backends.chainer import ChainerBackend
from keyrings.alt.file import PlaintextKeyring
from keyrings.alt.multi import MultipartKeyringWrapper

from facecloak import fileio
from facecloak.cloak.mask import CloakMask
from facecloak.cloak.profiles import ProfileError, ProfileFormatError, ProfileStore
from facecloak.cloak.secure_profiles import KEY_PREFIX, MAGIC, SecureProfileStore
from facecloak.errors import FaceCloakError
from facecloak.vault import (
    NO_KEYRING_HELP,
    SERVICE,
    KeyDamagedError,
    KeyringRefusedError,
    KeyringUnavailableError,
    MissingKeyError,
    TamperedError,
    Vault,
    check_keyring,
)
from memory_keyring import MemoryKeyring


def random_mask(seed=0):
    rng = np.random.default_rng(seed)
    return CloakMask(rng.uniform(-8, 8, (112, 112, 3)),
                     {"method": "facecloak", "strength": "mid", "eps": 8, "backend": "augment",
                      "anchor_index": 17})


def unit(dim, seed):
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """FaceCloak's and keyring's folders in tmp_path, whatever backend a test installs."""
    monkeypatch.setenv("FACECLOAK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)


@pytest.fixture
def memory(memory_keyring):
    return memory_keyring


@pytest.fixture
def plaintext(use_keyring, tmp_path):
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "xdg-data" / "python_keyring" / "keyring_pass.cfg")
    return use_keyring(backend)


@pytest.fixture
def store(memory, tmp_path):
    return SecureProfileStore(tmp_path / "profiles")


def save_me(store, name="me", seed=0):
    embs = {"faceplugin": unit(512, seed + 1), "mobilefacenet": unit(192, seed + 2)}
    meta = {"box": [10.5, 20.25, 90.0, 120.0], "landmarks": [[31.5, 40.0]], "backend": "augment"}
    store.save(name, mask=random_mask(seed), embeddings=embs, meta=meta)
    return embs, meta


# --- the vault --------------------------------------------------------------------

def test_vault_round_trip_and_fresh_nonce(memory):
    vault = Vault()
    a = vault.seal("blob:x", b"secret data", b"aad")
    b = vault.seal("blob:x", b"secret data", b"aad")
    assert a != b and a[:12] != b[:12]  # a fresh nonce each time, same key
    assert len(a) == 12 + len(b"secret data") + 16
    assert vault.open("blob:x", a, b"aad") == vault.open("blob:x", b, b"aad") == b"secret data"
    key = base64.b64decode(keyring.get_password(SERVICE, "blob:x"), validate=True)
    assert len(key) == 32 and key not in a
    assert list(memory.secrets) == [(SERVICE, "blob:x")]  # the only thing in the keyring


def test_vault_aad_and_bits_are_bound(memory):
    vault = Vault()
    sealed = vault.seal("blob:x", b"secret data", b"profile me v1")
    with pytest.raises(TamperedError, match="integrity"):
        vault.open("blob:x", sealed, b"profile you v1")
    with pytest.raises(TamperedError):
        vault.open("blob:x", sealed, b"profile me v2")
    for i in (0, 11, 12, len(sealed) - 1):  # nonce, ciphertext and tag bytes
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(TamperedError):
            vault.open("blob:x", bytes(bad), b"profile me v1")
    with pytest.raises(TamperedError, match="truncated"):
        vault.open("blob:x", sealed[:20], b"profile me v1")
    vault.seal("blob:y", b"other", b"")
    with pytest.raises(TamperedError):  # another name's key
        vault.open("blob:y", sealed, b"profile me v1")


def test_vault_missing_and_damaged_keys(memory):
    vault = Vault()
    sealed = vault.seal("blob:x", b"data", b"")
    assert vault.delete("blob:x") is True and vault.delete("blob:x") is False
    assert keyring.get_password(SERVICE, "blob:x") is None
    with pytest.raises(MissingKeyError, match="not in the OS keyring") as err:
        vault.open("blob:x", sealed, b"", what="the thing")
    assert "the thing" in str(err.value) and "'blob:x'" in str(err.value)
    keyring.set_password(SERVICE, "blob:x", "not a key!")
    with pytest.raises(KeyDamagedError, match="32-byte"):
        vault.open("blob:x", sealed, b"")
    keyring.set_password(SERVICE, "blob:x", base64.b64encode(b"short").decode())
    with pytest.raises(KeyDamagedError):
        vault.seal("blob:x", b"data", b"")  # a damaged key is not silently replaced


def test_keyring_failures_are_clear_errors(memory, monkeypatch):
    vault = Vault()

    def locked(*args):
        raise keyring.errors.KeyringLocked("the collection is locked")

    monkeypatch.setattr(memory, "get_password", locked)
    with pytest.raises(KeyringUnavailableError, match="locked.*unlock it"):
        vault.seal("blob:x", b"data", b"")


# --- which keyring ------------------------------------------------------------------

@pytest.mark.parametrize("allow", [False, True])
@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_no_keyring_is_refused(use_keyring, backend, allow):
    use_keyring(backend())
    with pytest.raises(KeyringRefusedError) as err:
        check_keyring(allow)
    assert str(err.value).startswith(NO_KEYRING_HELP)
    assert isinstance(err.value, FaceCloakError)
    with pytest.raises(KeyringRefusedError):
        Vault(allow_plaintext=allow)


def test_plaintext_keyring_refused_unless_opted_in(plaintext, tmp_path):
    with pytest.raises(KeyringRefusedError, match="unencrypted.*--allow-plaintext-keyring") as err:
        check_keyring(False)
    assert "keyrings.alt.file.PlaintextKeyring" in str(err.value)
    name = check_keyring(True)
    assert name.startswith("keyrings.alt.file.PlaintextKeyring (") and str(tmp_path) in name
    store = SecureProfileStore(tmp_path / "profiles")
    with pytest.raises(KeyringRefusedError):
        save_me(store)
    assert not store.path("me").exists()  # nothing written when refused
    assert not (tmp_path / "xdg-data" / "python_keyring").exists()


@pytest.mark.parametrize("allow", [False, True])
def test_a_keyring_that_prompts_for_a_password_is_refused(allow):
    from keyrings.alt.file import EncryptedKeyring

    class Usable(EncryptedKeyring):  # as it is where pycryptodome is installed (not here)
        priority = 0.6

    backend = Usable.__new__(Usable)
    with pytest.raises(KeyringRefusedError, match="unsuitable"):
        check_keyring(allow, backend)


def test_memory_keyring_accepted(memory):
    assert check_keyring(False) == "memory_keyring.MemoryKeyring"


def test_choice_inside_a_chain(use_keyring):
    mem, plain = MemoryKeyring(), PlaintextKeyring()

    class Chain(ChainerBackend):
        viable = False  # never picked by keyring's own detection in later tests
        backends = (plain, mem)  # in this order on purpose: the secure one still wins

    use_keyring(Chain())
    assert check_keyring(False) == "memory_keyring.MemoryKeyring"
    Chain.backends = (plain,)
    with pytest.raises(KeyringRefusedError, match="unencrypted"):
        check_keyring(False)
    Chain.backends = ()
    with pytest.raises(KeyringRefusedError, match="no OS keyring"):
        check_keyring(True)


def test_unknown_backends_need_positive_priority():
    class Unrated(MemoryKeyring):
        priority = 0

    class Broken(MemoryKeyring):
        @property
        def priority(self):
            raise RuntimeError("needs a service that is not running")

    for backend in (Unrated(), Broken()):
        with pytest.raises(KeyringRefusedError, match="no OS keyring.*unsuitable"):
            check_keyring(True, backend)
    assert check_keyring(False, MultipartKeyringWrapper(MemoryKeyring())).endswith("MultipartKeyringWrapper")
    with pytest.raises(KeyringRefusedError, match="unencrypted"):
        check_keyring(False, MultipartKeyringWrapper(PlaintextKeyring()))

    class MyPlaintext(PlaintextKeyring):  # subclasses of a listed class are plaintext too
        viable = False

    with pytest.raises(KeyringRefusedError, match="unencrypted"):
        check_keyring(False, MyPlaintext())


# --- the sealed profile store -------------------------------------------------------

def test_round_trip(store):
    embs, meta = save_me(store)
    got = store.load("me")
    assert got.name == "me" and got.meta == meta
    assert got.mask.to_bytes() == random_mask().to_bytes() and got.mask.meta == random_mask().meta
    for k, v in embs.items():
        np.testing.assert_array_equal(got.embeddings[k], v)
    assert store.exists("me") and store.path("me").name == "me.fcsealed"
    assert keyring.get_password(SERVICE, "profile:me") is not None


def test_same_api_as_profile_store(store, tmp_path):
    save_me(store, "bob", 1)
    store.save("alice_2", mask=random_mask(2))
    infos = store.list()
    assert [i.name for i in infos] == ["alice_2", "bob"]
    bob = infos[1]
    assert bob.problem is None and bob.created == store.load("bob").created
    assert bob.models == ("faceplugin", "mobilefacenet")
    assert bob.mask_meta == {"method": "facecloak", "strength": "mid", "backend": "augment"}
    assert bob.meta == {"backend": "augment"}
    with pytest.raises(ProfileError, match="already exists"):
        store.save("bob", mask=random_mask(3))
    store.save("bob", mask=random_mask(3), overwrite=True)
    assert store.load("bob").mask.to_bytes() == random_mask(3).to_bytes()
    with pytest.raises(ProfileError, match="alice_2"):
        store.load("carol")
    with pytest.raises(ProfileError, match="invalid profile name"):
        store.save("../evil", mask=random_mask())
    # the plaintext store does not see sealed files, nor the other way round
    assert ProfileStore(store.root).list() == []


def test_list_needs_no_keyring_and_no_decryption(store, use_keyring):
    save_me(store)
    use_keyring(fail.Keyring())
    fresh = SecureProfileStore(store.root)
    assert [i.name for i in fresh.list()] == ["me"] and fresh.list()[0].problem is None
    with pytest.raises(KeyringRefusedError):
        fresh.load("me")


def test_nothing_about_the_face_in_plaintext(store):
    embs, _ = save_me(store)
    data = store.path("me").read_bytes()
    assert data.startswith(MAGIC)
    mask_bytes = random_mask().to_bytes()
    for secret in (mask_bytes[-4096:], b"FCMASK", b"FCPROF", embs["faceplugin"].tobytes()[:64],
                   b"landmarks", b"120.0", b"anchor_index"):
        assert secret not in data
    # 3-byte words only in the plaintext header: the ~78 kB of ciphertext are random bytes under a
    # fresh key and nonce, and hold a given 3-byte string by chance in about one save of 200
    header = data[:10 + int.from_bytes(data[8:10], "little")]
    assert header.endswith(b"}")
    for word in (b"box", b"eps"):
        assert word not in header
    assert len(data) < len(mask_bytes) + 512 * 4 + 192 * 4 + 1024  # small: header + overhead only


def test_fresh_nonce_per_save(store):
    save_me(store)
    first = store.path("me").read_bytes()
    profile = store.load("me")
    store._write(store.path("me"), store._encode(profile))
    second = store.path("me").read_bytes()
    end = 10 + int.from_bytes(first[8:10], "little")
    assert first[:end] == second[:end]  # same header
    assert first[end:end + 12] != second[end:end + 12] and first[end:] != second[end:]
    assert store.load("me").mask.to_bytes() == profile.mask.to_bytes()


def test_renamed_file_fails(store):
    save_me(store, "alice", 1)
    save_me(store, "bob", 2)
    store.path("bob").write_bytes(store.path("alice").read_bytes())
    with pytest.raises(TamperedError, match="says it is profile 'alice'"):
        store.load("bob")
    assert "renamed" in {i.name: i for i in store.list()}["bob"].problem


def test_renamed_file_fails_even_with_the_key_and_header_rewritten(store, memory):
    """The AAD names the profile: a key copied along and a rewritten header do not help."""
    save_me(store, "alice", 1)
    data = store.path("alice").read_bytes()
    hlen = int.from_bytes(data[8:10], "little")
    header = data[10:10 + hlen].replace(b'"name":"alice"', b'"name":"bob"')
    forged = data[:8] + len(header).to_bytes(2, "little") + header + data[10 + hlen:]
    store.path("bob").write_bytes(forged)
    memory.secrets[(SERVICE, "profile:bob")] = memory.secrets[(SERVICE, "profile:alice")]
    with pytest.raises(TamperedError, match="integrity"):
        store.load("bob")
    assert store.load("alice").name == "alice"  # the original is untouched


def test_changed_header_or_ciphertext_byte_fails(store):
    save_me(store)
    data = store.path("me").read_bytes()
    hlen = int.from_bytes(data[8:10], "little")
    created_at = data.index(b'"created":"') + len(b'"created":"')
    cases = {
        "version swap": data[:6] + (0).to_bytes(2, "little") + data[8:],
        "header date": data[:created_at] + b"1" + data[created_at + 1:],
        "nonce": data[:10 + hlen] + bytes([data[10 + hlen] ^ 1]) + data[11 + hlen:],
        "ciphertext": data[:-100] + bytes([data[-100] ^ 0x80]) + data[-99:],
        "tag": data[:-1] + bytes([data[-1] ^ 1]),
    }
    for what, bad in cases.items():
        assert len(bad) == len(data), what
        store.path("me").write_bytes(bad)
        with pytest.raises(TamperedError, match="integrity check"):
            store.load("me")
    for bad in (b"", b"not ours at all", data[:9], data[:10 + hlen - 1], data[:10 + hlen + 20]):
        store.path("me").write_bytes(bad)
        with pytest.raises((ProfileFormatError, TamperedError)):
            store.load("me")
    for public in (b'"public":{"meta":5}', b'"public":{"models":"ab"}'):
        header = data[10:10 + hlen].replace(data[data.index(b'"public"'):10 + hlen - 1], public)
        store.path("me").write_bytes(data[:8] + len(header).to_bytes(2, "little") + header + data[10 + hlen:])
        assert "damaged" in store.list()[0].problem
    store.path("me").write_bytes(data[:6] + (9).to_bytes(2, "little") + data[8:])
    with pytest.raises(ProfileFormatError, match="newer"):
        store.load("me")
    assert "newer" in store.list()[0].problem


def test_permissions_and_no_temp_files(store):
    save_me(store)
    assert mode(store.path("me")) == 0o600
    assert mode(store.root) == 0o700
    save_me(store, "you", 3)
    store.save("me", mask=random_mask(5), overwrite=True)
    assert sorted(p.name for p in store.root.iterdir()) == ["me.fcsealed", "you.fcsealed"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(store, monkeypatch):
    save_me(store)
    before = store.path("me").read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save("me", mask=random_mask(9), overwrite=True)
    monkeypatch.undo()
    assert store.path("me").read_bytes() == before
    assert [p.name for p in store.root.iterdir()] == ["me.fcsealed"]
    assert store.load("me").mask.to_bytes() == random_mask().to_bytes()


def test_delete_removes_file_and_key(store):
    save_me(store)
    save_me(store, "other", 4)
    store.delete("me")
    assert not store.path("me").exists()
    assert keyring.get_password(SERVICE, KEY_PREFIX + "me") is None
    assert keyring.get_password(SERVICE, KEY_PREFIX + "other") is not None
    with pytest.raises(ProfileError, match="no profile named 'me'"):
        store.delete("me")
    # a re-enrolment under the same name gets a new key
    save_me(store)
    assert store.load("me").name == "me"


def test_missing_key_says_what_to_do(store):
    save_me(store)
    keyring.delete_password(SERVICE, "profile:me")
    with pytest.raises(MissingKeyError) as err:
        store.load("me")
    msg = str(err.value)
    assert "profile 'me'" in msg and "'profile:me'" in msg and "'facecloak'" in msg
    assert "not in the OS keyring" in msg and "memory_keyring.MemoryKeyring" in msg
    store.delete("me")  # a profile whose key is gone can still be deleted
    assert not store.path("me").exists()


def test_delete_when_keyring_is_refused_still_removes_the_file(store, use_keyring):
    save_me(store)
    use_keyring(fail.Keyring())
    fresh = SecureProfileStore(store.root)
    with pytest.raises(KeyringRefusedError, match="was deleted, but its key could not be removed"):
        fresh.delete("me")
    assert not fresh.path("me").exists()


def test_plaintext_keyring_opt_in_holds_only_the_key(plaintext, tmp_path):
    store = SecureProfileStore(tmp_path / "profiles", allow_plaintext_keyring=True)
    embs, _ = save_me(store)
    assert store.load("me").mask.to_bytes() == random_mask().to_bytes()
    cfg_path = tmp_path / "xdg-data" / "python_keyring" / "keyring_pass.cfg"
    raw = cfg_path.read_bytes()
    assert len(raw) < 200  # a key, not a mask
    cfg = configparser.RawConfigParser()
    cfg.read(cfg_path)
    assert cfg.sections() == [SERVICE]
    (username, value), = cfg.items(SERVICE)
    assert username == "profile_3ame"  # keyrings.alt's escaping of "profile:me"
    key = base64.b64decode(base64.b64decode(value), validate=True)  # keyrings.alt base64s the text
    assert len(key) == 32
    assert b"FCMASK" not in raw and embs["faceplugin"].tobytes()[:16] not in raw
    # a fresh store on the same opt-in reads it back; without the opt-in it is refused
    assert SecureProfileStore(store.root, allow_plaintext_keyring=True).load("me").name == "me"
    with pytest.raises(KeyringRefusedError):
        SecureProfileStore(store.root).load("me")
    store.delete("me")
    assert keyring.get_password(SERVICE, "profile:me") is None
    assert not store.path("me").exists()


def test_adopt_plaintext_profiles(store, tmp_path):
    plain = ProfileStore(tmp_path / "old")
    plain.save("old", mask=random_mask(7), embeddings={"faceplugin": unit(512, 7)}, meta={"k": 1})
    created = plain.load("old").created
    assert store.adopt(plain) == ["old"]
    got = store.load("old")
    assert got.created == created and got.meta == {"k": 1}
    assert got.mask.to_bytes() == random_mask(7).to_bytes()
    assert plain.list() == [] and store.adopt(plain) == []


def test_secure_store_errors_are_facecloak_errors():
    for cls in (KeyringRefusedError, KeyringUnavailableError, MissingKeyError, KeyDamagedError, TamperedError):
        assert issubclass(cls, FaceCloakError)
