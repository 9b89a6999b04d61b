"""Named profiles on disk: a user's cloak mask and enrolment embeddings.

One file per profile, ``<root>/<name>.fcprofile``, written atomically (temp
file + fsync + rename) with owner-only permissions (file 0600, folder 0700).
The mask and the embeddings describe a person's face: they never leave the
machine.

File format (little-endian)::

    b"FCPROF"  magic
    u16        format version (FORMAT_VERSION)
    u32        length of the JSON header
    JSON       {"name", "created" (ISO 8601, UTC), "meta", "mask_bytes",
                "embeddings": [[model name, dimension], ...]}
    bytes      the mask, in `CloakMask.to_bytes` form (mask_bytes long)
    f32[...]   each embedding in header order

(De)serialisation lives in `profile_to_bytes` / `profile_from_bytes` only, so
that encryption at rest (AES-GCM, key in the OS keyring) can wrap them
without touching the rest of this module.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import FaceCloakError
from ..fileio import write_atomic
from .mask import CloakMask, MaskFormatError

MAGIC = b"FCPROF"
FORMAT_VERSION = 1
SUFFIX = ".fcprofile"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ProfileError(FaceCloakError):
    """A profile name that is not allowed, missing, or already taken."""


class ProfileFormatError(FaceCloakError):
    """A profile file that is not ours, is damaged, or is from a newer version."""


@dataclass
class Profile:
    """A user's cloak. embeddings: model name -> (D,) float32 unit vector."""

    name: str
    mask: CloakMask
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileInfo:
    """One entry of `ProfileStore.list`.

    mask_meta: the mask's own metadata (method, strength, eps, ...).
    problem: why the file could not be read (then created is None), or None.
    """

    name: str
    path: Path
    created: datetime | None
    meta: dict = field(default_factory=dict)
    mask_meta: dict = field(default_factory=dict)
    models: tuple[str, ...] = ()
    problem: str | None = None


def check_name(name: str) -> str:
    """The name if it is a valid profile name, else ProfileError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ProfileError(
            f"invalid profile name {name!r}: use 1 to 64 letters, digits, '-' and '_', "
            "starting with a letter or digit")
    return name


def profile_to_bytes(profile: Profile) -> bytes:
    """Serialise a profile (the single place a wrapper would encrypt)."""
    mask_bytes = profile.mask.to_bytes()
    embs = [(str(k), np.asarray(v, dtype="<f4").reshape(-1)) for k, v in profile.embeddings.items()]
    header = json.dumps({
        "name": profile.name,
        "created": profile.created.astimezone(timezone.utc).isoformat(),
        "meta": profile.meta,
        "mask_bytes": len(mask_bytes),
        "embeddings": [[k, int(v.size)] for k, v in embs],
    }, sort_keys=True).encode()
    parts = [MAGIC, struct.pack("<HI", FORMAT_VERSION, len(header)), header, mask_bytes]
    parts += [v.tobytes() for _, v in embs]
    return b"".join(parts)


def _parse_header(data: bytes) -> tuple[dict, int]:
    if len(data) < 12 or data[:6] != MAGIC:
        raise ProfileFormatError("not a FaceCloak profile file")
    version, hlen = struct.unpack("<HI", data[6:12])
    if version > FORMAT_VERSION:
        raise ProfileFormatError(
            f"profile format {version} is newer than this FaceCloak ({FORMAT_VERSION}): upgrade")
    try:
        header = json.loads(data[12:12 + hlen])
        header["created"] = datetime.fromisoformat(header["created"])
        return header, 12 + hlen
    except (ValueError, KeyError, TypeError):
        raise ProfileFormatError("profile header is damaged") from None


def profile_from_bytes(data: bytes) -> Profile:
    """Inverse of `profile_to_bytes`; ProfileFormatError on damage."""
    header, pos = _parse_header(data)
    try:
        n_mask = int(header["mask_bytes"])
        mask = CloakMask.from_bytes(data[pos:pos + n_mask])
        pos += n_mask
        embeddings = {}
        for model, dim in header["embeddings"]:
            chunk = data[pos:pos + 4 * int(dim)]
            if len(chunk) != 4 * int(dim):
                raise ProfileFormatError("profile embeddings are truncated")
            embeddings[str(model)] = np.frombuffer(chunk, dtype="<f4").astype(np.float32)
            pos += len(chunk)
    except MaskFormatError as exc:
        raise ProfileFormatError(f"profile mask is damaged ({exc})") from None
    except (KeyError, TypeError, ValueError):
        raise ProfileFormatError("profile header is damaged") from None
    if pos != len(data):
        raise ProfileFormatError("profile file has trailing data: damaged")
    return Profile(header["name"], mask, embeddings, header["created"], header.get("meta") or {})


def _small_jsonable(value, limit: int = 4096):
    """value as plain JSON data if it is small (a config, a number, a name), else None.

    Arrays and images an enrolment may carry are left out of the header.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, np.ndarray):
        return None
    try:
        text = json.dumps(value, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= limit else None


class ProfileStore:
    """Profiles in a folder (default ``paths.data_home() / "profiles"``).

    Subclasses change the on-disk form through `suffix`, `_encode`, `_decode`
    and `_info` (see `secure_profiles.SecureProfileStore`).
    """

    suffix = SUFFIX

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else paths.data_home() / "profiles"

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}{self.suffix}"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def save(
        self,
        name: str,
        enrolment=None,
        *,
        mask: CloakMask | None = None,
        embeddings: dict[str, np.ndarray] | None = None,
        meta: dict | None = None,
        overwrite: bool = False,
    ) -> Profile:
        """Store a profile from an `Enrolment`, or from mask + embeddings + meta.

        From an enrolment, its other fields (seconds, backend, ...) go into
        meta, under any `meta` given. ProfileError if the name is taken and
        not `overwrite`.
        """
        path = self.path(name)
        full_meta: dict = {}
        if enrolment is not None:
            if mask is not None or embeddings is not None:
                raise ValueError("give an enrolment or mask/embeddings, not both")
            mask, embeddings = enrolment.mask, enrolment.embeddings
            if dataclasses.is_dataclass(enrolment):
                for f in dataclasses.fields(enrolment):
                    if f.name not in ("mask", "embeddings"):
                        value = _small_jsonable(getattr(enrolment, f.name))
                        if value is not None:
                            full_meta[f.name] = value
        if not isinstance(mask, CloakMask):
            raise ValueError("a profile needs a CloakMask")
        full_meta.update(meta or {})
        profile = Profile(name, mask, {k: np.asarray(v, np.float32).reshape(-1)
                                       for k, v in (embeddings or {}).items()}, meta=full_meta)
        if path.exists() and not overwrite:
            raise ProfileError(f"a profile named {name!r} already exists; choose another name "
                               "or replace it")
        self._write(path, self._encode(profile))
        return profile

    def load(self, name: str) -> Profile:
        path = self.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            known = ", ".join(sorted(p.name[:-len(self.suffix)] for p in self.root.glob(f"*{self.suffix}"))) \
                if self.root.is_dir() else ""
            known = known or "none yet"
            raise ProfileError(f"no profile named {name!r} (profiles: {known}); "
                               "create one with `facecloak enrol`") from None
        return self._decode(name, data)

    def list(self) -> list[ProfileInfo]:
        """Every profile file, sorted by name; unreadable ones say why in `problem`."""
        out = []
        if not self.root.is_dir():
            return out
        for path in sorted(self.root.glob(f"*{self.suffix}")):
            name = path.name[:-len(self.suffix)]
            if not NAME_PATTERN.fullmatch(name):
                continue
            out.append(self._info(name, path))
        return out

    def delete(self, name: str) -> None:
        path = self.path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ProfileError(f"no profile named {name!r}") from None

    def _encode(self, profile: Profile) -> bytes:
        """The file's bytes for `profile`."""
        return profile_to_bytes(profile)

    def _decode(self, name: str, data: bytes) -> Profile:
        """The profile stored as `name` from its file's bytes."""
        return profile_from_bytes(data)

    def _info(self, name: str, path: Path) -> ProfileInfo:
        """`list`'s entry for one file; an unreadable file says why in `problem`."""
        try:
            p = self._decode(name, path.read_bytes())
        except (OSError, ProfileFormatError) as exc:
            return ProfileInfo(name, path, None, problem=str(exc))
        return ProfileInfo(name, path, p.created, p.meta, dict(p.mask.meta), tuple(p.embeddings))

    def _write(self, path: Path, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        write_atomic(path, data)
