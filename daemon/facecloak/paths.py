"""Where FaceCloak keeps per-user files.

Two roots. `home` holds what can be fetched or rebuilt (models, benchmark
caches): `FACECLOAK_HOME`, else the XDG cache directory (``~/.cache/facecloak``).
`data_home` holds what cannot (profiles, the daemon's tokens and settings):
`FACECLOAK_DATA`, else `FACECLOAK_HOME` when that is set, else the XDG data
directory (``~/.local/share/facecloak``), created owner-only. The shared data folder (``../shared`` beside a
source checkout) is found through `shared_dir`, for benchmarks and tests only.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root of FaceCloak's per-user files (created on demand)."""
    env = os.environ.get("FACECLOAK_HOME")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(xdg) / "facecloak"
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_home() -> Path:
    """Root of the user's own FaceCloak files (profiles, daemon state); owner-only."""
    env = os.environ.get("FACECLOAK_DATA") or os.environ.get("FACECLOAK_HOME")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        root = Path(xdg) / "facecloak"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    return root


def model_cache() -> Path:
    """Directory holding downloaded sources and converted models."""
    path = home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lookalike_pool_path() -> Path:
    """The look-alike pool enrolment uses (`facecloak.cloak.lookalikes`): ``<model cache>/lookalikes.npz``."""
    return model_cache() / "lookalikes.npz"


def shared_dir() -> Path | None:
    """The read-only ``shared`` folder (photos, LFW, YuNet), or None if absent.

    `FACECLOAK_SHARED` names it explicitly; otherwise ``../shared`` beside the
    source checkout that holds this package.
    """
    env = os.environ.get("FACECLOAK_SHARED")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[2]
    candidates.append(repo.parent / "shared")
    for cand in candidates:
        if (cand / "data").is_dir():
            return cand
    return None
