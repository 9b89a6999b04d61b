"""LFW verification accuracy and FAR=1e-3 threshold of each FR model.

Faces are found and aligned by our own pipeline (the default detector and the
ArcFace five-point template); where the detector finds no face in an LFW
photo, the median landmarks of the photos where it did are used (LFW photos
are deep-funneled, so faces sit at nearly the same place), and the count is
reported. Results: ``results.json`` and ``report.md`` in the output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import FaceCloakError
from ..faces import get_detector, load_image
from ..models.fr import load_embedder
from ..models.registry import FETCHABLE_FR, get_spec
from .lfw_data import lfw_root, photo_path, read_pairs
from .meta import run_metadata
from .verify import ten_fold_accuracy, threshold_at_far

FAR = 1e-3


def central_landmarks(rgb: np.ndarray, detector) -> np.ndarray | None:
    """Landmarks of the face nearest the photo centre, or None."""
    faces = detector.detect(rgb)
    if not faces:
        return None
    centre = np.array([rgb.shape[1], rgb.shape[0]]) / 2
    return min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(axis=0) - centre)).landmarks


def lfw_landmarks(root: Path, keys: list[tuple[str, int]], detector_name: str = "dlib"
                  ) -> tuple[dict, int]:
    """(landmarks per photo key, number of photos that fell back to the median)."""
    detector = get_detector(detector_name)
    found: dict[tuple[str, int], np.ndarray | None] = {}
    for key in tqdm(keys, desc="detect faces", unit="photo"):
        found[key] = central_landmarks(load_image(photo_path(root, *key)), detector)
    detected = [lm for lm in found.values() if lm is not None]
    median = np.median(np.stack(detected), axis=0) if detected else None
    misses = sum(lm is None for lm in found.values())
    return {k: (lm if lm is not None else median) for k, lm in found.items()}, misses


def run(out_dir: Path, models: list[str] | None = None, lfw: str | Path | None = None,
        folds: int = 10, detector: str = "dlib") -> dict:
    if folds < 2:
        raise FaceCloakError("cross-validated accuracy needs at least 2 folds")
    root = lfw_root(lfw)
    models = list(models or FETCHABLE_FR)
    pairs = [p for p in read_pairs(root) if p.fold < folds]
    keys = sorted({p.a for p in pairs} | {p.b for p in pairs})
    meta = run_metadata(benchmark="lfw-accuracy", detector=detector, folds=folds, pairs=len(pairs),
                        photos=len(keys), far=FAR)
    landmarks, misses = lfw_landmarks(root, keys, detector)
    index = {k: i for i, k in enumerate(keys)}
    same = np.array([p.same for p in pairs])
    fold_ids = np.array([p.fold for p in pairs])
    results = {}
    for name in models:
        embedder = load_embedder(name)
        start = time.perf_counter()
        embs = np.zeros((len(keys), get_spec(name).embedding_dim or 128), np.float32)
        for i, key in enumerate(tqdm(keys, desc=f"embed {name}", unit="photo")):
            embs[i] = embedder.embed_faces(load_image(photo_path(root, *key)), [landmarks[key]])[0]
        seconds = time.perf_counter() - start
        a = embs[[index[p.a] for p in pairs]]
        b = embs[[index[p.b] for p in pairs]]
        sims = np.sum(a * b, axis=1)
        acc, std = ten_fold_accuracy(sims, same, fold_ids)
        thr = threshold_at_far(sims[~same], FAR)
        results[name] = {
            "role": get_spec(name).role.value,
            "accuracy": acc,
            "accuracy_std": std,
            "threshold_far_1e-3": thr,
            "tar_at_far_1e-3": float(np.mean(sims[same] > thr)),
            "ms_per_photo": 1000 * seconds / len(keys),
        }
    doc = {"meta": meta, "detector_fallbacks": misses, "results": results}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(doc, indent=2))
    (out_dir / "report.md").write_text(markdown(doc))
    return doc


def markdown(doc: dict) -> str:
    meta = doc["meta"]
    lines = [
        "| model | role | LFW accuracy (10-fold) | threshold at FAR=1e-3 | TAR at FAR=1e-3 | ms/photo |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in doc["results"].items():
        lines.append(f"| {name} | {r['role']} | {100 * r['accuracy']:.2f}% ± {100 * r['accuracy_std']:.2f} "
                     f"| {r['threshold_far_1e-3']:.3f} | {100 * r['tar_at_far_1e-3']:.1f}% "
                     f"| {r['ms_per_photo']:.1f} |")
    head = (f"# LFW verification accuracy\n\n{meta['pairs']} pairs ({meta['folds']} folds of pairs.txt), "
            f"{meta['photos']} photos, detector `{meta['detector']}` + ArcFace 5-point alignment; "
            f"{doc['detector_fallbacks']} photos with no detected face used the median landmarks.\n"
            f"Commit `{meta['commit']}`, {meta['platform']}, {meta['cpu_count']} CPUs, {meta['started']}.\n\n")
    return head + "\n".join(lines) + "\n"
