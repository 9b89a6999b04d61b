"""The LFW data set as found in ``shared/data/lfw`` (deep-funneled, 250x250).

`read_pairs` parses the official ``pairs.txt`` (10 folds of 300 matched and
300 mismatched pairs); `photo_path` names a photo; `people_with` lists the
identities with at least N photos (the cloak protocol's users).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import FaceCloakError
from ..paths import shared_dir


@dataclass(frozen=True)
class Pair:
    fold: int
    a: tuple[str, int]
    b: tuple[str, int]
    same: bool


def lfw_root(root: str | Path | None = None) -> Path:
    """The LFW folder: ``root`` if given, else ``shared/data/lfw``."""
    if root is None:
        shared = shared_dir()
        if shared is None:
            raise FaceCloakError("LFW not found: place the shared folder beside the checkout or pass --lfw")
        root = shared / "data" / "lfw"
    root = Path(root)
    if not (root / "pairs.txt").is_file():
        raise FaceCloakError(f"{root} has no pairs.txt: is it the LFW folder?")
    return root


def photo_path(root: Path, name: str, number: int) -> Path:
    return root / "images" / name / f"{name}_{number:04d}.jpg"


def read_pairs(root: Path) -> list[Pair]:
    lines = (root / "pairs.txt").read_text().split("\n")
    folds, per_fold = (int(v) for v in lines[0].split())
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * 2 * per_fold:
        raise FaceCloakError(f"pairs.txt: expected {folds * 2 * per_fold} pairs, found {len(rows)}")
    pairs = []
    for i, row in enumerate(rows):
        fold = i // (2 * per_fold)
        if len(row) == 3:
            pairs.append(Pair(fold, (row[0], int(row[1])), (row[0], int(row[2])), True))
        else:
            pairs.append(Pair(fold, (row[0], int(row[1])), (row[2], int(row[3])), False))
    return pairs


def people_with(root: Path, min_photos: int) -> list[tuple[str, int]]:
    """(name, photo count) for identities with at least ``min_photos``, by name."""
    out = []
    for folder in sorted((root / "images").iterdir()):
        if folder.is_dir():
            count = sum(1 for _ in folder.glob("*.jpg"))
            if count >= min_photos:
                out.append((folder.name, count))
    return out
