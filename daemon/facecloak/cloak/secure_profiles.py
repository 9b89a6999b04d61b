"""Profiles encrypted at rest: AES-256-GCM, the key in the OS keyring.

`SecureProfileStore` has `ProfileStore`'s API (save/load/list/delete/exists/
path) and the same folder rules (one file per profile, written atomically,
file 0600, folder 0700), but each file, ``<root>/<name>.fcsealed``, holds the
`profile_to_bytes` form sealed by a `Vault` under the keyring entry
``"profile:<name>"`` (service ``"facecloak"``). Deleting a profile removes its
key first, then its file.

File format (little-endian)::

    b"FCSEAL"  magic
    u16        container version (SEALED_VERSION)
    u16        length n of the public header
    JSON       n bytes, the public header (compact, sorted keys):
               {"name", "created" (ISO 8601, UTC), "format" (profiles.FORMAT_VERSION
               of the sealed bytes), "public": {"mask": {"method", "strength",
               "backend"}, "meta": {"backend"}, "models": [model names]}}
    12 bytes   nonce, fresh from os.urandom on every write
    bytes      AES-256-GCM ciphertext of `profile_to_bytes(profile)`, 16-byte tag last

Associated data: ``b"facecloak/profile\\0" + name + b"\\0" + <every byte before the
nonce>``, where name is the one the file is opened as; so a file renamed to
another profile, any edit to the header (version, date, name), or a
ciphertext bit flip fails with `TamperedError` (a `FaceCloakError`).

The public header lets `list` show a profile without the keyring: its name,
date and the settings it was made with (method, strength, variation backend,
which models have an embedding). Those are choices the user made, not
measurements of a face: the mask, the embeddings and every other meta field
(face box, landmarks, timings, ...) are only inside the ciphertext. `list`
shows the header unverified; `load` authenticates it.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime, timezone
from pathlib import Path

from ..vault import SERVICE, TamperedError, Vault, VaultError
from .profiles import (
    FORMAT_VERSION,
    Profile,
    ProfileError,
    ProfileFormatError,
    ProfileInfo,
    ProfileStore,
    check_name,
    profile_from_bytes,
    profile_to_bytes,
)

MAGIC = b"FCSEAL"
SEALED_VERSION = 1
SEALED_SUFFIX = ".fcsealed"
KEY_PREFIX = "profile:"
_PREFIX = struct.Struct("<6sHH")
_AAD_LABEL = b"facecloak/profile\0"
_PUBLIC_MASK_META = ("method", "strength", "backend")
_MAX_PUBLIC_TEXT = 64
_MAX_HEADER = 4096


def _public_value(value):
    """value if it is a short name or a number (a setting), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and len(value) <= _MAX_PUBLIC_TEXT:
        return value
    return None


def _public(profile: Profile) -> dict:
    mask = {k: v for k in _PUBLIC_MASK_META
            if (v := _public_value(profile.mask.meta.get(k))) is not None}
    meta = {}
    if (backend := _public_value(profile.meta.get("backend"))) is not None:
        meta["backend"] = backend
    models = [m for m in profile.embeddings if _public_value(m) is not None]
    return {"mask": mask, "meta": meta, "models": models}


def _aad(name: str, head: bytes) -> bytes:
    return _AAD_LABEL + name.encode() + b"\0" + head


def _split(data: bytes) -> tuple[bytes, dict, bytes]:
    """(every byte before the nonce, parsed header, nonce + ciphertext); ProfileFormatError on damage."""
    if len(data) < _PREFIX.size or data[:6] != MAGIC:
        raise ProfileFormatError("not an encrypted FaceCloak profile file")
    _, version, hlen = _PREFIX.unpack_from(data)
    if version > SEALED_VERSION:
        raise ProfileFormatError(
            f"encrypted profile format {version} is newer than this FaceCloak ({SEALED_VERSION}): upgrade")
    end = _PREFIX.size + hlen
    if hlen > _MAX_HEADER or len(data) < end:
        raise ProfileFormatError("encrypted profile header is truncated or damaged")
    try:
        header = json.loads(data[_PREFIX.size:end])
        header["created"] = datetime.fromisoformat(header["created"])
        if not isinstance(header["name"], str) or not isinstance(header["format"], int):
            raise TypeError
        public = header.setdefault("public", {})
        if not (isinstance(public, dict) and isinstance(public.get("mask", {}), dict)
                and isinstance(public.get("meta", {}), dict)
                and isinstance(models := public.get("models", []), list)
                and all(isinstance(m, str) for m in models)):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ProfileFormatError("encrypted profile header is damaged") from None
    if header["format"] > FORMAT_VERSION:
        raise ProfileFormatError(
            f"profile format {header['format']} is newer than this FaceCloak ({FORMAT_VERSION}): upgrade")
    return data[:end], header, data[end:]


def _read_head(path: Path) -> tuple[bytes, dict]:
    """The header alone, without reading the ciphertext."""
    with open(path, "rb") as fh:
        prefix = fh.read(_PREFIX.size)
        if len(prefix) == _PREFIX.size and prefix[:6] == MAGIC:
            prefix += fh.read(min(_PREFIX.unpack(prefix)[2], _MAX_HEADER + 1))
    head, header, _ = _split(prefix)
    return head, header


class SecureProfileStore(ProfileStore):
    """`ProfileStore` whose files are sealed with a `Vault` (see the module docstring).

    root: the folder (default ``paths.data_home() / "profiles"``). vault: the Vault
    to use; by default one is made on first need with
    ``allow_plaintext=allow_plaintext_keyring``, so `list`, `exists` and
    `path` work without a keyring. key_prefix: keyring entries are
    ``key_prefix + name``; give stores in different folders different
    prefixes, or deleting a profile in one removes the key of its namesake
    in the other.
    """

    suffix = SEALED_SUFFIX

    def __init__(self, root: str | Path | None = None, *, vault: Vault | None = None,
                 allow_plaintext_keyring: bool = False, key_prefix: str = KEY_PREFIX):
        super().__init__(root)
        self._vault = vault
        self.allow_plaintext_keyring = allow_plaintext_keyring
        self.key_prefix = key_prefix

    @property
    def vault(self) -> Vault:
        """The Vault, made on first use (KeyringRefusedError if the keyring is refused)."""
        if self._vault is None:
            self._vault = Vault(SERVICE, allow_plaintext=self.allow_plaintext_keyring)
        return self._vault

    def key_name(self, name: str) -> str:
        """The keyring entry (username) holding the profile's key."""
        return self.key_prefix + check_name(name)

    # the hooks ProfileStore calls

    def _encode(self, profile: Profile) -> bytes:
        header = json.dumps({
            "name": check_name(profile.name),
            "created": profile.created.astimezone(timezone.utc).isoformat(),
            "format": FORMAT_VERSION,
            "public": _public(profile),
        }, sort_keys=True, separators=(",", ":")).encode()
        head = _PREFIX.pack(MAGIC, SEALED_VERSION, len(header)) + header
        return head + self.vault.seal(self.key_name(profile.name), profile_to_bytes(profile),
                                      _aad(profile.name, head))

    def _decode(self, name: str, data: bytes) -> Profile:
        head, header, sealed = _split(data)
        what = f"profile {name!r} ({self.path(name)})"
        if header["name"] != name:
            raise TamperedError(
                f"{what} says it is profile {header['name']!r}: the file was renamed or copied; "
                "it cannot be opened under this name")
        plain = self.vault.open(self.key_name(name), sealed, _aad(name, head), what=what)
        profile = profile_from_bytes(plain)
        if profile.name != name:  # cannot happen unless sealed by something else than _encode
            raise TamperedError(f"{what} holds profile {profile.name!r}")
        return profile

    def _info(self, name: str, path: Path) -> ProfileInfo:
        try:
            _, header = _read_head(path)
            if header["name"] != name:
                raise ProfileFormatError(f"the file says it is profile {header['name']!r}: renamed?")
        except (OSError, ProfileFormatError) as exc:
            return ProfileInfo(name, path, None, problem=str(exc))
        public = header.get("public") or {}
        return ProfileInfo(name, path, header["created"], dict(public.get("meta") or {}),
                           dict(public.get("mask") or {}), tuple(public.get("models") or ()))

    # deleting needs the keyring too

    def delete(self, name: str) -> None:
        """Remove the profile's key from the keyring, then its file.

        ProfileError if there is no such file (a stray key of that name is
        removed all the same). If the key cannot be removed (keyring refused,
        locked), the file is still removed and the VaultError is raised, saying so.
        """
        path = self.path(name)
        existed = path.is_file()
        problem: VaultError | None = None
        try:
            self.vault.delete(self.key_name(name))
        except VaultError as exc:
            problem = exc
        if existed:
            path.unlink(missing_ok=True)
        if problem is not None and existed:
            raise type(problem)(f"profile {name!r} was deleted, but its key could not be removed "
                                f"from the keyring: {problem}") from problem
        if not existed:
            raise ProfileError(f"no profile named {name!r}")

    def adopt(self, plain: ProfileStore, *, remove_plain: bool = True) -> list[str]:
        """Seal every readable profile of a plaintext `ProfileStore` not already here.

        Keeps name, date and meta. With remove_plain, each plaintext file is
        unlinked once its sealed copy is written (unlinking does not scrub the
        old bytes from the disk). Returns the names adopted.
        """
        done = []
        for info in plain.list():
            if info.problem is not None or self.exists(info.name):
                continue
            profile = plain.load(info.name)
            profile.name = info.name  # the file's name is the profile's name
            self._write(self.path(info.name), self._encode(profile))
            if remove_plain:
                plain.path(info.name).unlink(missing_ok=True)
            done.append(info.name)
        return done


__all__ = ["KEY_PREFIX", "MAGIC", "SEALED_SUFFIX", "SEALED_VERSION", "SecureProfileStore"]
