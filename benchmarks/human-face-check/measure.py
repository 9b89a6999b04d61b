"""Measure the human-face check (daemon/facecloak/faces/human.py) and derive its threshold.

Run from the repository root, with ../shared beside the checkout:

    PYTHONPATH=daemon:exporter .venv/bin/python benchmarks/human-face-check/measure.py

Every detector in --detectors runs with the check off on
shared/data/photos/{portrait,group,deepface,nonface} and on --lfw LFW photos
(one photo each of --lfw identities drawn with --seed); each face found gets
the check's score (animal minus person heatmap peak). The threshold follows a
rule fixed in advance: the --quantile of the real faces' scores (all detectors
together) plus --sds standard deviations of them, rounded up to 0.01. Also:
dlib's CNN (MMOD) on the portraits and non-face photos, RFB and YuNet with
lowered thresholds on the non-face photos (more non-human "faces"), and the
check's cost. For comparison, the other candidate "is it a human face" scores
on the same faces: each detector's own score, and (RFB's faces) faceplugin's
unnormalised embedding norm and cosine to the mean LFW embedding, on the 112 px
recognition crop; for each, the share of real faces that look less like a face
than the husky does (what a threshold that drops the husky would drop).
Writes results.json beside this file and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from facecloak.bench.meta import run_metadata
from facecloak.faces import get_detector, human, load_image
from facecloak.faces.rfb_detect import RfbDetector
from facecloak.faces.yunet_detect import YuNetDetector
from facecloak.models.fr import load_embedder, normalise_np
from facecloak.paths import shared_dir

HERE = Path(__file__).resolve().parent
REAL_SETS = ("portrait", "group", "deepface", "lfw")
PORTRAIT = ("*.jpg", "stock-emotions-a/*.jpg", "stock-emotions-b/*.jpg")  # as tests/test_detect.py


def photo_sets(shared: Path, lfw: int, seed: int) -> dict[str, list[Path]]:
    photos = shared / "data" / "photos"
    sets = {
        "portrait": sorted(p for pattern in PORTRAIT for p in photos.glob("portrait/" + pattern)),
        "group": sorted(photos.glob("group/*.jp*g")),
        "deepface": sorted(photos.glob("deepface/*.jpg")),
        "nonface": sorted(p for p in photos.glob("nonface/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
    }
    people = sorted(d for d in (shared / "data" / "lfw" / "images").iterdir() if d.is_dir())
    rng = np.random.default_rng(seed)
    chosen = [people[i] for i in rng.permutation(len(people))[:lfw]]
    sets["lfw"] = []
    for person in chosen:
        own = sorted(person.glob("*.jpg"))
        sets["lfw"].append(own[int(rng.integers(len(own)))])
    return sets


def raw_embeddings(fr, rgb: np.ndarray, faces) -> np.ndarray:
    """faceplugin's output before its L2 normalisation, (N, 512)."""
    crops = np.stack([fr.align_for(rgb, face.landmarks) for face in faces])
    return fr.session.run(None, {fr.input_name: normalise_np(crops, fr.spec.preprocess)})[0].reshape(len(faces), -1)


def score_photos(detector, check: human.HumanCheck, paths: list[Path], label: str, name: str,
                 fr=None, embeddings: list | None = None) -> tuple[list, list]:
    """One record per face found (check off), with its score; and (faces, seconds) per photo.
    With `fr`, each face's raw faceplugin embedding goes to `embeddings` (row order)."""
    rows, timing = [], []
    for i, path in enumerate(paths):
        rgb = load_image(path)
        faces = detector.detect(rgb, human_check=False)
        if faces:  # as `FaceDetector.detect` runs the check: on its shrunk copy
            small, fx, fy = detector.shrink(rgb)
            t0 = time.perf_counter()
            scores = check.scores(small, [face.scaled(1 / fx, 1 / fy) for face in faces])
            timing.append((len(faces), time.perf_counter() - t0))
        else:
            scores = []
        if fr is not None and faces:
            embeddings.extend(raw_embeddings(fr, rgb, faces))
        for face, score in zip(faces, scores):
            rows.append({"detector": name, "set": label, "photo": path.name, "width": round(face.width, 1),
                         "eye_distance": round(face.eye_distance, 1), "detector_score": round(face.score, 4),
                         "score": round(float(score), 4)})
        if (i + 1) % 500 == 0:
            print(f"  {name} {label}: {i + 1}/{len(paths)}", file=sys.stderr, flush=True)
    return rows, timing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detectors", nargs="+", default=["rfb", "yunet", "dlib"])
    ap.add_argument("--lfw", type=int, default=3300, help="LFW identities, one photo each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quantile", type=float, default=99.9)
    ap.add_argument("--sds", type=float, default=2.0)
    ap.add_argument("--no-mmod", action="store_true", help="skip dlib's CNN (2-5 s a photo)")
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    args = ap.parse_args()

    shared = shared_dir()
    if shared is None:
        print("../shared not found", file=sys.stderr)
        return 2
    sets = photo_sets(shared, args.lfw, args.seed)
    check = human.HumanCheck()
    fr = load_embedder("faceplugin", providers=["CPUExecutionProvider"])
    rows, timing, embeddings = [], [], []
    started = time.time()
    for name in args.detectors:
        detector = get_detector(name)
        for label, paths in sets.items():
            r, t = score_photos(detector, check, paths, label, name,
                                fr if name == "rfb" else None, embeddings)
            rows += r
            timing += t
        print(f"{name}: {sum(r['detector'] == name for r in rows)} faces, {time.time() - started:.0f} s",
              file=sys.stderr, flush=True)
    extra = []  # not part of the threshold rule: other detectors and settings
    if not args.no_mmod:
        mmod = get_detector("dlib-mmod")
        for label in ("portrait", "nonface"):
            extra += score_photos(mmod, check, sets[label], label, "dlib-mmod")[0]
    loose = {"rfb-loose": RfbDetector(candidate_threshold=0.5, support_threshold=0.5, min_support=1),
             "yunet-loose": YuNetDetector(score_threshold=0.3)}
    for name, detector in loose.items():
        extra += score_photos(detector, check, sets["nonface"], "nonface", name)[0]

    # The rule, on the real faces of the main detectors.
    real = np.array([r["score"] for r in rows if r["set"] in REAL_SETS])
    quantile = float(np.percentile(real, args.quantile))
    sd = float(real.std())
    threshold = math.ceil((quantile + args.sds * sd) * 100 - 1e-9) / 100

    def summary(rs: list[dict]) -> dict:
        out = {}
        for name in sorted({r["detector"] for r in rs}):
            mine = [r for r in rs if r["detector"] == name]
            per = {}
            for label in sorted({r["set"] for r in mine}):
                s = [r for r in mine if r["set"] == label]
                rejected = [r for r in s if r["score"] > threshold]
                per[label] = {"faces": len(s), "photos": len({r["photo"] for r in s}),
                              "rejected": len(rejected), "rejected_fraction": round(len(rejected) / len(s), 5),
                              "rejected_faces": rejected,
                              "max_score": max(r["score"] for r in s),
                              "median_score": float(np.median([r["score"] for r in s]))}
            out[name] = per
        return out

    # The other candidates: how many real faces look less like a face than the husky?
    fr_rows = [r for r in rows if r["detector"] == "rfb"]
    candidates = {}
    if embeddings:
        emb = np.array(embeddings, np.float64)
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        mean = unit[[r["set"] == "lfw" for r in fr_rows]].mean(axis=0)
        for r, e, u in zip(fr_rows, emb, unit, strict=True):
            r["faceplugin_norm"] = round(float(np.linalg.norm(e)), 4)
            r["faceplugin_cos_to_mean"] = round(float(u @ mean / np.linalg.norm(mean)), 4)
    for name in args.detectors:
        for key in ("detector_score", "faceplugin_norm", "faceplugin_cos_to_mean", "score"):
            mine = [r for r in rows if r["detector"] == name and key in r]
            dog = [r[key] for r in mine if r["photo"] == "husky.jpg"]
            vals = np.array([r[key] for r in mine if r["set"] in REAL_SETS])
            if not dog or not len(vals):
                continue
            sign = -1 if key == "score" else 1  # the check's score is high for non-faces
            candidates[f"{name}:{key}"] = {
                "husky": dog[0], "real_median": round(float(np.median(vals)), 4),
                "real_less_face_like_than_husky": round(float(np.mean(sign * vals < sign * dog[0])), 4)}

    husky = {r["detector"]: r["score"] for r in rows + extra if r["photo"] == "husky.jpg" and r["set"] == "nonface"
             and r["detector"] in args.detectors + ["dlib-mmod"]}
    worst = sorted((r for r in rows if r["set"] in REAL_SETS), key=lambda r: -r["score"])[:15]
    faces_timed = sum(n for n, _ in timing)
    batch1 = [s for n, s in timing if n == 1]
    many = [(n, s) for n, s in timing if n >= 8]
    doc = {
        "meta": run_metadata(benchmark="human-face-check", detectors=args.detectors, lfw_identities=args.lfw,
                             seed=args.seed, quantile=args.quantile, sds=args.sds,
                             size=human.SIZE, crop_scale=human.CROP_SCALE),
        "rule": f"threshold = ceil_0.01(p{args.quantile:g} + {args.sds:g} sd) of real-face scores "
                f"({', '.join(REAL_SETS)}; {', '.join(args.detectors)} together)",
        "real_faces": len(real),
        "real_quantile": round(quantile, 4),
        "real_sd": round(sd, 4),
        "real_median": round(float(np.median(real)), 4),
        "real_max": round(float(real.max()), 4),
        "threshold": threshold,
        "threshold_in_code": human.THRESHOLD,
        "husky": husky,
        "margin_husky_over_threshold": round(min(husky[d] for d in args.detectors) - threshold, 4),
        "margin_threshold_over_worst_real": round(threshold - float(real.max()), 4),
        "margin_husky_over_worst_real": round(min(husky[d] for d in args.detectors) - float(real.max()), 4),
        "worst_real_faces": worst,
        "candidates": candidates,
        "cost_ms_per_face": {
            "all_photos": round(1000 * sum(s for _, s in timing) / max(faces_timed, 1), 2),
            "one_face_photos": round(1000 * float(np.mean(batch1)), 2) if batch1 else None,
            "photos_with_8_or_more_faces": round(1000 * sum(s for _, s in many) / max(sum(n for n, _ in many), 1), 2),
        },
        "by_detector": summary(rows),
        "other_detectors": summary(extra),
        "nonface_scores": [r for r in rows + extra if r["set"] == "nonface"],
        "seconds": round(time.time() - started),
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")

    print(f"rule: {doc['rule']}")
    print(f"real faces {len(real)}: median {doc['real_median']:+.3f}, p{args.quantile:g} {quantile:+.3f}, "
          f"sd {sd:.3f}, max {real.max():+.3f} -> threshold {threshold:+.2f} (in code {human.THRESHOLD:+.2f})")
    print("husky: " + ", ".join(f"{d} {s:+.3f}" for d, s in husky.items()))
    for group in ("by_detector", "other_detectors"):
        for name, per in doc[group].items():
            print(f"  {name:12s} " + "  ".join(f"{label} {v['rejected']}/{v['faces']}" for label, v in per.items()))
    print("worst real: " + ", ".join(f"{r['detector']}:{r['photo']}({r['width']:.0f}px) {r['score']:+.3f}"
                                      for r in worst[:8]))
    print(f"cost ms/face: {doc['cost_ms_per_face']}")
    print("share of real faces less face-like than the husky: " + ", ".join(
        f"{k} {v['real_less_face_like_than_husky']:.3f}" for k, v in candidates.items()))
    return 0 if threshold == human.THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
