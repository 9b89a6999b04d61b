"""Which FR model should tell the user's faces from strangers' (`cloak_bytes(only_user=...)`)?

    python benchmarks/match_model.py --out benchmarks/match-model

The photos of LFW pairs.txt folds 1-4 (600 genuine and 600 impostor pairs a
fold), found and aligned by the product's own path (the default detector's
face nearest the centre; the median landmarks where it finds none). Genuine:
the 1,200 same-person pairs; impostor: every pair of those photos of two
different people (millions). For each candidate model, the share of genuine
pairs a threshold accepts (the user's faces that get cloaked) against the
share of impostor pairs (strangers' faces cloaked by mistake), at the
thresholds where the impostor share is 1e-3 and 2.7e-3 (the operating point
faceplugin's 0.30 was chosen at); and the time to embed 1 and 15 faces as
the daemon does (one onnxruntime session, its default threads, crops
given). Writes OUT/results.json and OUT/report.md; needs ../shared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from facecloak.bench.lfw_accuracy import lfw_landmarks
from facecloak.bench.lfw_data import lfw_root, photo_path, read_pairs
from facecloak.bench.meta import run_metadata
from facecloak.faces import DEFAULT_DETECTOR, load_image
from facecloak.models.fr import load_embedder

MODELS = ("faceplugin", "mobilefacenet", "facenet-casia")
FOLDS = 4
FARS = (1e-3, 2.7e-3)


def threshold_for(impostor: np.ndarray, far: float) -> float:
    """The least threshold t with at most `far` of the impostor similarities >= t."""
    k = int(np.floor(far * len(impostor)))
    top = np.partition(impostor, len(impostor) - k - 1)[len(impostor) - k - 1]
    return float(np.nextafter(np.float32(top), np.float32(np.inf)))


def speed(embedder, n: int, rounds: int = 11) -> float:
    crops = np.random.default_rng(0).integers(0, 256, (n, embedder.input_size, embedder.input_size, 3), np.uint8)
    for _ in range(3):
        embedder.embed_aligned(crops)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        embedder.embed_aligned(crops)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def run(out: Path) -> dict:
    root = lfw_root()
    pairs = [p for p in read_pairs(root) if p.fold < FOLDS]
    keys = sorted({p.a for p in pairs} | {p.b for p in pairs})
    landmarks, misses = lfw_landmarks(root, keys, DEFAULT_DETECTOR)
    index = {k: i for i, k in enumerate(keys)}
    names = np.array([k[0] for k in keys])
    genuine = [(index[p.a], index[p.b]) for p in pairs if p.same]
    upper = np.triu_indices(len(keys), 1)
    different = names[upper[0]] != names[upper[1]]
    doc = {"meta": run_metadata(benchmark="match-model", detector=DEFAULT_DETECTOR, folds=FOLDS),
           "photos": len(keys), "detector_fallbacks": misses, "genuine_pairs": len(genuine),
           "impostor_pairs": int(different.sum()), "models": {}}
    for name in MODELS:
        embedder = load_embedder(name)
        embs = np.stack([embedder.embed_faces(load_image(photo_path(root, *k)), [landmarks[k]])[0] for k in keys])
        sims = embs @ embs.T
        gen = np.array([sims[a, b] for a, b in genuine])
        imp = sims[upper][different]
        row = {"ms_1_face": speed(embedder, 1), "ms_15_faces": speed(embedder, 15), "at_far": {}}
        for far in FARS:
            t = threshold_for(imp, far)
            row["at_far"][str(far)] = {"threshold": t, "genuine_accepted": float(np.mean(gen >= t)),
                                       "impostor_accepted": float(np.mean(imp >= t))}
        doc["models"][name] = row
        del sims
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    (out / "report.md").write_text(report(doc))
    return doc


def report(doc: dict) -> str:
    lines = ["# The match model", "",
             f"Commit {doc['meta'].get('commit')}. LFW pairs.txt folds 1-{FOLDS}: {doc['photos']} photos "
             f"({doc['detector_fallbacks']} with no face found: median landmarks), detector "
             f"`{doc['meta'].get('detector')}`; {doc['genuine_pairs']} genuine pairs, "
             f"{doc['impostor_pairs']:,} impostor pairs (every two photos of different people).", "",
             "| model | ms, 1 face | ms, 15 faces | " + " | ".join(
                 f"threshold at FAR {far:g} | genuine accepted | impostor accepted" for far in FARS) + " |",
             "|---|---|---|" + "---|---|---|" * len(FARS)]
    for name, row in doc["models"].items():
        cells = []
        for far in FARS:
            r = row["at_far"][str(far)]
            cells += [f"{r['threshold']:.3f}", f"{100 * r['genuine_accepted']:.1f}%",
                      f"{100 * r['impostor_accepted']:.3f}%"]
        lines.append(f"| {name} | {row['ms_1_face']:.1f} | {row['ms_15_faces']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    print(report(run(args.out)))


if __name__ == "__main__":
    main()
