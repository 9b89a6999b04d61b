"""What a smaller detection copy buys and costs: the RFB detector at several `detect_size`s.

    python benchmarks/detect_size.py --out benchmarks/detect-size

Two measurements, written to OUT/results.json and OUT/report.md:

* faces: every photo of shared/data/photos longer than the smallest size
  tried (smaller ones are detected at their own size whatever the setting),
  detected on a copy of each size; a face of the first size's run is "kept"
  at another size when a box there overlaps it (IoU > 0.3), and boxes there
  that overlap none are "new";
* time: `cloak_bytes` on the latency benchmark's 12 MP JPEG (its largest
  photo resized, q95 4:2:0) with a detector at each size, against Pillow's
  plain decode + encode of the same file, in interleaved rounds.

The sizes are exact (``min_copy_fraction=1``). The last row, "default", is
the product's detector, whose copy of a large photo is the largest halving
within a quarter of 1280 px (`FaceDetector.copy_factor`): its faces are
those of the photos at their own size (only those of 1920-2560 px change),
and its 12 MP cloak is the one the latency benchmark times; what it finds
on a 12 MP phone photo (4032 px, a 1008 px copy) is the 1008 row's.

Needs ../shared (or FACECLOAK_SHARED). Time it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from facecloak.bench.latency import largest_photo, photo_at, plain_reencode
from facecloak.bench.meta import run_metadata
from facecloak.cloak.apply import cloak_bytes
from facecloak.cloak.mask import CloakMask
from facecloak.faces.image_io import load_image
from facecloak.faces.rfb_detect import RfbDetector
from facecloak.paths import shared_dir

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def faces_at_sizes(photos: Path, detectors: dict[str, RfbDetector]) -> list[dict]:
    """[{"photo", "long_side", "<size>": [[x0, y0, x1, y1]...]}] for photos longer than the smallest size."""
    rows = []
    for path in sorted(p for p in photos.rglob("*") if p.suffix.lower() in SUFFIXES):
        rgb = load_image(path)
        if max(rgb.shape[:2]) <= min(d.detect_size for d in detectors.values()):
            continue
        row = {"photo": str(path.relative_to(photos)), "long_side": int(max(rgb.shape[:2]))}
        for s, det in detectors.items():
            row[str(s)] = [[round(v, 1) for v in face.box] for face in det.detect(rgb)]
        rows.append(row)
    return rows


def compare(rows: list[dict], ref: str, size: str) -> dict:
    """Faces of the `ref` run missing at `size`, and new ones there; widths in a `ref` px copy."""
    lost, new = [], []
    for row in rows:
        a, b = row[ref], row[size]
        scale = int(ref) / row["long_side"]
        lost += [{"photo": row["photo"], "width": round((f[2] - f[0]) * scale, 1)}
                 for f in a if not any(iou(f, g) > 0.3 for g in b)]
        new += [{"photo": row["photo"], "width": round((g[2] - g[0]) * scale, 1)}
                for g in b if not any(iou(f, g) > 0.3 for f in a)]
    return {"faces": sum(len(r[size]) for r in rows), "lost": lost, "new": new}


def interleaved(runs: dict, rounds: int) -> dict[str, list[float]]:
    """ms of each of `runs` (name: function) per round, after one untimed call of each; the
    order alternates between rounds, so that machine noise hits all alike."""
    for fn in runs.values():  # warm-up
        fn()
    ms: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(rounds):
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            t = time.perf_counter()
            runs[k]()
            ms[k].append(1000 * (time.perf_counter() - t))
    return ms


def timing(detectors: dict[str, RfbDetector], rounds: int) -> dict:
    """Median ms of plain decode + encode and of cloak_bytes per detect_size, and the ratio."""
    data = photo_at(load_image(largest_photo()), 12.0)
    mask = CloakMask(np.random.default_rng(0).uniform(-4, 4, (112, 112, 3)), {"method": "uniform"})
    runs = {"plain": lambda: plain_reencode(data)}
    runs.update({s: (lambda d=d: cloak_bytes(data, mask, detector=d)) for s, d in detectors.items()})
    ms = interleaved(runs, rounds)
    plain = np.array(ms["plain"])
    return {k: {"median_ms": float(np.median(v)), "ratio_to_plain": float(np.median(np.array(v) / plain))}
            for k, v in ms.items()}


def report(doc: dict) -> str:
    ref = doc["sizes"][0]
    least = min(int(s) for s in doc["sizes"] if s.isdigit())
    lines = [f"# Detection copy size: faces against time\n\nCommit {doc['meta']['commit']}. "
             f"{doc['photos']} photos of shared/data/photos longer than {least} px, "
             f"{doc['faces'][ref]['faces']} faces at {ref} px. 12 MP cloak: {doc['rounds']} "
             "interleaved rounds. Default: the product's detector (1280, copies down to "
             f"{doc['default_min_copy_fraction']:g} of it).\n",
             f"| detect_size | faces | lost (photo: width in a {ref} px copy) | new | 12 MP cloak ms | "
             "ratio to plain decode + encode |", "|---|---|---|---|---|---|"]
    for s in doc["sizes"]:
        f, t = doc["faces"][s], doc["time"][s]
        lost = ", ".join(f"{x['photo']}: {x['width']:.0f}" for x in f["lost"]) or "-"
        new = ", ".join(f"{x['photo']}: {x['width']:.0f}" for x in f["new"]) or "-"
        lines.append(f"| {s} | {f['faces']} | {lost} | {new} | {t['median_ms']:.0f} | {t['ratio_to_plain']:.2f} |")
    lines.append(f"\nPlain decode + encode: {doc['time']['plain']['median_ms']:.0f} ms (median).")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1280, 1062, 1008, 960])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/detect-size"))
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        raise SystemExit("needs the shared folder (../shared or FACECLOAK_SHARED)")
    # loaded once, used by both parts
    detectors = {str(s): RfbDetector(detect_size=s, min_copy_fraction=1.0) for s in args.sizes}
    detectors["default"] = RfbDetector()
    sizes = list(detectors)
    rows = faces_at_sizes(shared / "data" / "photos", detectors)
    doc = {"meta": run_metadata(), "sizes": sizes, "photos": len(rows), "rounds": args.rounds,
           "default_min_copy_fraction": detectors["default"].min_copy_fraction,
           "faces": {s: compare(rows, sizes[0], s) for s in sizes},
           "time": timing(detectors, args.rounds), "per_photo": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (args.out / "report.md").write_text(report(doc))
    print(report(doc))


if __name__ == "__main__":
    main()
