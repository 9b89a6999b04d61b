"""A JPEG's paste and encode strip by strip on both threads, against paste then encode: paired.

    python benchmarks/strips.py --out benchmarks/strips

`cloak_bytes` of a 12 MP JPEG two ways in one process, in interleaved pairs (the
order alternating), with plain Pillow decode + encode timed in each round:

* strips: the product, `pillow_path.cloak_and_encode` (each strip of 512 rows pasted
  and encoded by whichever thread takes it, `facecloak.cloak.jpeg_strips`);
* whole: what it replaced, `pillow_path.cloak_image` (a large face in two bands, one
  per thread) and then `encode_image_like`, one encode on the calling thread.

Photos: the latency benchmark's close-up (`largest_photo`) and the 15-face group
photo of benchmarks/latency-group, both resized to 12 MP as the latency benchmark
stores them; the mask is uniform noise of 8 levels. Writes OUT/results.json and
OUT/report.md (medians, the paired difference whole - strips with its p25-p75, the
share of pairs the strips won). Needs ../shared; time it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from facecloak.bench.latency import largest_photo, photo_at, plain_reencode
from facecloak.bench.meta import run_metadata
from facecloak.cloak import pillow_path
from facecloak.cloak.apply import cloak_bytes
from facecloak.cloak.encode import encode_image_like
from facecloak.cloak.mask import CloakMask
from facecloak.faces import load_image
from facecloak.paths import shared_dir

STRIPS = pillow_path.cloak_and_encode


def whole(img, mask, faces, select, original, info, *, strip_gps=True):
    """The cloak's last steps before the strips: paste, then one encode."""
    n = pillow_path.cloak_image(img, mask, faces, select)
    return *encode_image_like(img, original, info, strip_gps=strip_gps), n


def paired(data: bytes, mask: CloakMask, pairs: int) -> dict:
    ways = {"strips": STRIPS, "whole": whole}
    ms: dict[str, list[float]] = {"strips": [], "whole": [], "plain": []}
    try:
        for name in ("whole", "strips", "whole", "strips"):  # warm-up
            pillow_path.cloak_and_encode = ways[name]
            cloak_bytes(data, mask)
        for r in range(pairs):
            for name in ("strips", "whole") if r % 2 == 0 else ("whole", "strips"):
                pillow_path.cloak_and_encode = ways[name]
                t = time.perf_counter()
                cloak_bytes(data, mask)
                ms[name].append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            plain_reencode(data)
            ms["plain"].append(1000 * (time.perf_counter() - t))
    finally:
        pillow_path.cloak_and_encode = STRIPS
    s, w, p = (np.array(ms[k]) for k in ("strips", "whole", "plain"))
    d = w - s
    return {"pairs": pairs, "median_ms": {k: float(np.median(v)) for k, v in ms.items()},
            "ratio_to_plain": {"strips": float(np.median(s / p)), "whole": float(np.median(w / p))},
            "whole_minus_strips_ms": {"median": float(np.median(d)), "p25": float(np.percentile(d, 25)),
                                      "p75": float(np.percentile(d, 75))},
            "strips_faster": float(np.mean(d > 0)), "ms": ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if shared_dir() is None:
        raise SystemExit("needs the shared photos (../shared or FACECLOAK_SHARED)")
    photos = {"close-up": largest_photo(), "group": shared_dir() / "data" / "photos" / "group" / "stock-group-1.jpg"}
    mask = CloakMask(np.random.default_rng(0).uniform(-8, 8, (112, 112, 3)), {"method": "uniform"})
    results = {}
    for name, path in photos.items():
        results[name] = {"photo": path.name, **paired(photo_at(load_image(path), 12.0), mask, args.pairs)}
    meta = run_metadata()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "photos": results}, indent=1))
    lines = ["# Paste and encode: strips on both threads against paste then one encode", "",
             f"Commit {meta.get('commit')}; `cloak_bytes` of each photo at 12 MP, {args.pairs} interleaved "
             "pairs in one process, plain decode + encode in each round.", "",
             "| photo | plain ms | whole ms | strips ms | ratio to plain, whole / strips "
             "| whole - strips ms: median (p25-p75) | pairs strips won |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        m, d = r["median_ms"], r["whole_minus_strips_ms"]
        lines.append(f"| {name} (`{r['photo']}`) | {m['plain']:.0f} | {m['whole']:.0f} | {m['strips']:.0f} "
                     f"| {r['ratio_to_plain']['whole']:.2f} / {r['ratio_to_plain']['strips']:.2f} "
                     f"| {d['median']:.1f} ({d['p25']:.1f} to {d['p75']:.1f}) "
                     f"| {round(r['strips_faster'] * r['pairs'])} of {r['pairs']} |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
