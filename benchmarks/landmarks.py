"""Where each detector puts the five landmarks, against YuNet's, on real photos.

    python benchmarks/landmarks.py --out benchmarks/landmarks [--compare OLD/results.json]

The mask is pasted where the landmarks say the face is, so a face whose
landmarks are off gets its cloak on a cheek or an ear. The faces: every
third probe photo of the privacy protocol (LFW identities with >= 10
photos, photos 2-6: 264 photos) and every photo of shared/data/photos but
nonface/. For each face a detector finds, the reference is YuNet's face
(shared/models/yunet) whose box centre is nearest, if within half a box
width; the error is the mean distance of the five points divided by YuNet's
eye distance (NME). YuNet is not ground truth: a large error says the two
disagree (on the faces looked at by eye, it was the other detector that was
off). ``--compare`` pairs the faces of an earlier run face by face (same
photo, same detector, boxes within a few pixels).

Writes OUT/results.json (every face) and OUT/report.md. Needs ../shared
(or FACECLOAK_SHARED).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facecloak.bench.meta import run_metadata
from facecloak.faces import get_detector, load_image
from facecloak.paths import shared_dir

DETECTORS = ("rfb", "dlib")
BANDS = (0.15, 0.25, 0.5)


def photos(shared: Path) -> list[Path]:
    lfw = shared / "data" / "lfw" / "images"
    people = [p for p in sorted(lfw.iterdir()) if sum(1 for _ in p.glob("*.jpg")) >= 10]
    probes = [p / f"{p.name}_{i:04d}.jpg" for p in people for i in range(2, 7)][::3]
    others = sorted(p for p in (shared / "data" / "photos").rglob("*")
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png") and "nonface" not in p.parts)
    return probes + others


def errors(paths: list[Path], shared: Path) -> dict[str, list[dict]]:
    """{detector: [{"photo", "box", "nme"}...]} for the faces YuNet also finds."""
    reference = get_detector("yunet")
    out: dict[str, list[dict]] = {name: [] for name in DETECTORS}
    for path in paths:
        rgb = load_image(path)
        refs = reference.detect(rgb)
        if not refs:
            continue
        ref_mids = np.array([[(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] for f in refs])
        for name in DETECTORS:
            for face in get_detector(name).detect(rgb):
                mid = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
                i = int(np.argmin(np.linalg.norm(ref_mids - mid, axis=1)))
                if np.linalg.norm(ref_mids[i] - mid) > 0.5 * (face.box[2] - face.box[0]):
                    continue
                ref = refs[i].landmarks
                eyes = float(np.linalg.norm(ref[1] - ref[0]))
                nme = float(np.linalg.norm(face.landmarks - ref, axis=1).mean() / max(eyes, 1e-6))
                out[name].append({"photo": str(path.relative_to(shared)), "box": [round(float(v), 1) for v in face.box],
                                  "nme": round(nme, 4)})
    return out


def summary(rows: list[dict]) -> dict:
    e = np.array([r["nme"] for r in rows])
    return {"faces": len(e), "median": float(np.median(e)), "mean": float(e.mean()),
            **{f"over_{b}": int((e > b).sum()) for b in BANDS}}


def paired(old: list[dict], new: list[dict], by: float = 0.1) -> dict:
    """Faces in both runs (same photo, box corners within 3 px): how many got better or worse by `by`."""
    index: dict[str, list[dict]] = {}
    for r in old:
        index.setdefault(r["photo"], []).append(r)
    better, worse, both = [], [], 0
    for r in new:
        match = [o for o in index.get(r["photo"], []) if max(abs(a - b) for a, b in zip(o["box"], r["box"])) <= 3]
        if not match:
            continue
        both += 1
        d = r["nme"] - match[0]["nme"]
        if d < -by:
            better.append((r["photo"], match[0]["nme"], r["nme"]))
        elif d > by:
            worse.append((r["photo"], match[0]["nme"], r["nme"]))
    return {"faces": both, "better": better, "worse": worse, "by": by}


def report(doc: dict) -> str:
    lines = ["# Landmarks against YuNet's", "",
             f"Commit {doc['meta'].get('commit')}. {doc['photos']} photos (every third privacy-protocol probe of LFW, "
             "and shared/data/photos but nonface/); a face counts where YuNet finds one within half a box width. "
             "NME: mean distance of the five points / YuNet's eye distance.", "",
             "| detector | faces | median NME | mean NME | " + " | ".join(f"> {b}" for b in BANDS) + " |",
             "|---|---|---|---|" + "---|" * len(BANDS)]
    for name, s in doc["summary"].items():
        lines.append(f"| {name} | {s['faces']} | {s['median']:.3f} | {s['mean']:.3f} | "
                     + " | ".join(str(s[f'over_{b}']) for b in BANDS) + " |")
    for name, p in doc.get("compare", {}).items():
        lines += ["", f"Against {doc['compare_with']}, {name}: {p['faces']} faces in both; "
                  f"{len(p['better'])} closer to YuNet's by more than {p['by']} NME, {len(p['worse'])} farther.", ""]
        for what in ("better", "worse"):
            for photo, a, b in p[what]:
                lines.append(f"- {what}: {photo} {a:.2f} -> {b:.2f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--compare", type=Path, help="results.json of an earlier run, paired face by face")
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        raise SystemExit("needs ../shared (or FACECLOAK_SHARED)")
    paths = photos(shared)
    faces = errors(paths, shared)
    doc = {"meta": run_metadata(benchmark="landmarks"), "photos": len(paths),
           "summary": {name: summary(rows) for name, rows in faces.items()}, "faces": faces}
    if args.compare:
        old = json.loads(args.compare.read_text())
        doc["compare_with"] = str(args.compare)
        doc["compare"] = {name: paired(old["faces"][name], faces[name]) for name in DETECTORS if name in old["faces"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(doc, indent=1))
    (args.out / "report.md").write_text(report(doc))
    print(report(doc))


if __name__ == "__main__":
    main()
