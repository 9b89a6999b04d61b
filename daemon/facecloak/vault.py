"""Sealing small secrets-at-rest with AES-GCM, the key kept in the OS keyring.

A `Vault` encrypts named blobs: ``seal(key_name, data, aad)`` returns
``nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)``, with a fresh
random nonce on every call; ``open`` reverses it and fails with
`TamperedError` if a single bit of the blob or of the associated data (which
callers use to name what the blob is, and its format version) differs. The
Vault does not write files: callers store the sealed bytes (see
`cloak.secure_profiles`).

Only the 32-byte key leaves this module, as base64 text in the OS keyring via
`keyring`: service ``"facecloak"``, one entry per key name (for example
``"profile:me"``). The first `seal` under a name creates its key; later ones
reuse it; `delete` removes it, after which every blob sealed under it is
unreadable for good (crypto-shredding).

Which keyring is used: `check_keyring` / `select_backend` look at
``keyring.get_keyring()`` (inside a ``ChainerBackend``, at each backend it
chains) and refuse, with `KeyringRefusedError`:

* the fail and null backends (no OS keyring at all);
* backends known to store secrets in plaintext (`PLAINTEXT_BACKENDS`, for
  example ``keyrings.alt.file.PlaintextKeyring``, which a headless Linux box
  falls back to), unless the caller opts in with ``allow_plaintext=True``;
* any other backend whose priority is not above 0 (keyring itself calls
  those unsuitable).

Any other backend, including third-party ones, is accepted. In a chain the
first acceptable backend (highest priority) is chosen and holds new keys; a
plaintext one only when nothing better is chained and the caller opted in.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading

import keyring
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from .errors import FaceCloakError

SERVICE = "facecloak"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

#: Backends that store nothing: there is no OS keyring to use.
NO_KEYRING_BACKENDS = frozenset({
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
})

#: Backends known to write secrets to disk unencrypted (a class or any subclass).
PLAINTEXT_BACKENDS = frozenset({
    "keyrings.alt.file.PlaintextKeyring",        # an INI file, values only base64-encoded
    "keyring.backends.file.PlaintextKeyring",    # the same class, inside keyring < 12
    "keyrings.cryptfile.file.PlaintextKeyring",  # keyrings.cryptfile's unencrypted variant
})

#: Backends that ask for a password on the terminal: a background daemon would hang on them.
INTERACTIVE_BACKENDS = frozenset({"keyrings.alt.file.EncryptedKeyring"})

#: Wrappers that store through another backend (held in ``_keyring``): judged by that one.
WRAPPER_BACKENDS = frozenset({"keyrings.alt.multi.MultipartKeyringWrapper"})

NO_KEYRING_HELP = ("no OS keyring: install and unlock one, e.g. gnome-keyring / KWallet, "
                   "or opt in to a plaintext file with --allow-plaintext-keyring")

_key_lock = threading.Lock()  # one key per name, even when two threads seal at once


class VaultError(FaceCloakError):
    """The keyring or a sealed blob could not be used."""


class KeyringRefusedError(VaultError):
    """No OS keyring, or only one that stores secrets in plaintext (not opted in)."""


class KeyringUnavailableError(VaultError):
    """The keyring failed when asked to store, fetch or delete a key (locked, D-Bus down, ...)."""


class MissingKeyError(VaultError):
    """The key a sealed blob needs is not in the keyring."""


class KeyDamagedError(VaultError):
    """The keyring entry is there but is not a 32-byte key in base64."""


class TamperedError(VaultError):
    """A sealed blob failed authentication: modified, truncated, renamed or another key."""


# --- choosing a keyring ---------------------------------------------------------

def _class_names(backend: KeyringBackend) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in type(backend).__mro__}


def classify(backend: KeyringBackend) -> str:
    """``"ok"``, ``"plaintext"``, ``"none"`` (fail/null) or ``"unsuitable"`` (priority <= 0, or
    one that prompts for a password on the terminal: `INTERACTIVE_BACKENDS`)."""
    names = _class_names(backend)
    if names & WRAPPER_BACKENDS and isinstance(getattr(backend, "_keyring", None), KeyringBackend):
        return classify(backend._keyring)
    if names & NO_KEYRING_BACKENDS:
        return "none"
    if names & PLAINTEXT_BACKENDS:
        return "plaintext"
    if names & INTERACTIVE_BACKENDS:
        return "unsuitable"
    try:
        priority = float(backend.priority)
    except Exception:  # noqa: BLE001 - a backend's priority raises (anything) when it cannot work here
        return "unsuitable"
    return "ok" if priority > 0 else "unsuitable"


def describe(backend: KeyringBackend) -> str:
    """A readable name: the backend's class, and its file when it keeps one."""
    cls = type(backend)
    name = f"{cls.__module__}.{cls.__qualname__}"
    try:
        file_path = getattr(backend, "file_path", None)
    except Exception:  # noqa: BLE001 - only for display
        file_path = None
    return f"{name} ({file_path})" if isinstance(file_path, (str, os.PathLike)) else name


def _members(backend: KeyringBackend) -> list[KeyringBackend]:
    if isinstance(backend, ChainerBackend):
        return list(backend.backends)
    return [backend]


def select_backend(allow_plaintext: bool, backend: KeyringBackend | None = None) -> KeyringBackend:
    """The backend that will hold keys, or KeyringRefusedError (see the module docstring).

    backend: the one to judge (default ``keyring.get_keyring()``).
    """
    active = backend if backend is not None else keyring.get_keyring()
    members = _members(active)
    kinds = [(m, classify(m)) for m in members]
    for m, kind in kinds:
        if kind == "ok":
            return m
    plaintext = [m for m, kind in kinds if kind == "plaintext"]
    if plaintext:
        if allow_plaintext:
            return plaintext[0]
        raise KeyringRefusedError(
            f"the only keyring available is {describe(plaintext[0])}, which stores secrets "
            "unencrypted, so the key would lie on disk next to the profile it protects; "
            "install and unlock an OS keyring (e.g. gnome-keyring / KWallet), or accept the "
            "plaintext file with --allow-plaintext-keyring")
    unsuitable = [describe(m) for m, kind in kinds if kind == "unsuitable"]
    extra = f" (found only {', '.join(unsuitable)}, which keyring rates unsuitable)" if unsuitable else ""
    raise KeyringRefusedError(NO_KEYRING_HELP + extra)


def check_keyring(allow_plaintext: bool, backend: KeyringBackend | None = None) -> str:
    """The readable name of the keyring backend keys would go to; KeyringRefusedError if none fits."""
    return describe(select_backend(allow_plaintext, backend))


# --- the vault ------------------------------------------------------------------

def _keyring_call(what: str, where: str, fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        raise KeyringUnavailableError(
            f"the keyring ({where}) failed to {what}: {type(exc).__name__}: {exc}; "
            "unlock it (or start its service) and try again") from exc


class Vault:
    """AES-256-GCM sealing of blobs under named keys kept in the OS keyring.

    service: the keyring service name. allow_plaintext: accept a plaintext
    keyring backend. backend: the keyring to use (default
    ``keyring.get_keyring()``); refused ones raise KeyringRefusedError here.
    """

    def __init__(self, service: str = SERVICE, *, allow_plaintext: bool = False,
                 backend: KeyringBackend | None = None):
        active = backend if backend is not None else keyring.get_keyring()
        self.service = service
        self.backend = select_backend(allow_plaintext, active)
        self.backend_name = describe(self.backend)
        self.plaintext = classify(self.backend) == "plaintext"
        # Keys are written to self.backend only; read and deleted in every chained backend,
        # so that a key stored before a better keyring was installed is still found.
        others = [m for m in _members(active) if m is not self.backend and classify(m) in ("ok", "plaintext")]
        self._readers = [self.backend, *others]

    # keys

    def _get_text(self, key_name: str) -> tuple[KeyringBackend | None, str | None]:
        for b in self._readers:
            text = _keyring_call("read a key", describe(b), b.get_password, self.service, key_name)
            if text is not None:
                return b, text
        return None, None

    def _decode_key(self, key_name: str, text: str) -> bytes:
        try:
            key = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, AttributeError):
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyDamagedError(
                f"the keyring entry {key_name!r} (service {self.service!r}) is not a {KEY_BYTES}-byte "
                "key in base64: it was edited or belongs to another program; what it protected "
                "cannot be opened")
        return key

    def has_key(self, key_name: str) -> bool:
        """Whether the keyring holds a key under `key_name`."""
        return self._get_text(key_name)[1] is not None

    def _key(self, key_name: str, create: bool) -> bytes | None:
        if not isinstance(key_name, str) or not key_name:
            raise ValueError("a key name is a non-empty string")
        with _key_lock:
            _, text = self._get_text(key_name)
            if text is not None:
                return self._decode_key(key_name, text)
            if not create:
                return None
            key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
            text = base64.b64encode(key).decode("ascii")
            _keyring_call("store a key", self.backend_name, self.backend.set_password,
                          self.service, key_name, text)
            back = _keyring_call("read a key", self.backend_name, self.backend.get_password,
                                 self.service, key_name)
            if back != text:
                raise KeyringUnavailableError(
                    f"the keyring ({self.backend_name}) did not keep the key it was given; "
                    "check that it is unlocked and writable")
            return key

    # blobs

    def seal(self, key_name: str, data: bytes, aad: bytes) -> bytes:
        """``nonce || ciphertext || tag`` of `data`, bound to `aad`; creates the key if needed."""
        key = self._key(key_name, create=True)
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(key).encrypt(nonce, bytes(data), bytes(aad))

    def open(self, key_name: str, sealed: bytes, aad: bytes, *, what: str | None = None) -> bytes:
        """The data `seal` was given. what: names the blob in error messages.

        Raises MissingKeyError, KeyDamagedError, TamperedError, KeyringUnavailableError.
        """
        what = what or f"the data sealed under {key_name!r}"
        key = self._key(key_name, create=False)
        if key is None:
            raise MissingKeyError(
                f"the key for {what} is not in the OS keyring ({self.backend_name}; service "
                f"{self.service!r}, entry {key_name!r}): the keyring was reset, the key was deleted, "
                "or this is another user account or machine; without it the data cannot be "
                "decrypted")
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise TamperedError(f"{what} is truncated: it cannot be opened")
        nonce, body = bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:])
        try:
            return AESGCM(key).decrypt(nonce, body, bytes(aad))
        except InvalidTag:
            raise TamperedError(
                f"{what} failed its integrity check: it was modified, damaged, renamed or copied "
                "from elsewhere, or sealed with another key; it cannot be opened") from None

    def delete(self, key_name: str) -> bool:
        """Remove the key from every backend that holds it; True if there was one."""
        removed = False
        with _key_lock:
            for b in self._readers:
                where = describe(b)
                if _keyring_call("read a key", where, b.get_password, self.service, key_name) is None:
                    continue
                _keyring_call("delete a key", where, b.delete_password, self.service, key_name)
                removed = True
        return removed


__all__ = [
    "KEY_BYTES", "NONCE_BYTES", "NO_KEYRING_BACKENDS", "PLAINTEXT_BACKENDS", "SERVICE",
    "KeyDamagedError", "KeyringRefusedError", "KeyringUnavailableError", "MissingKeyError",
    "TamperedError", "Vault", "VaultError", "check_keyring", "classify", "describe", "select_backend",
]
