"""Where FaceCloak keeps per-user files.

`FACECLOAK_HOME` overrides everything; otherwise the XDG cache directory is
used (``~/.cache/facecloak``). The shared data folder (``../shared`` beside a
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


def model_cache() -> Path:
    """Directory holding downloaded sources and converted models."""
    path = home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
