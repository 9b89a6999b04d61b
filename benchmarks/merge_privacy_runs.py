"""One privacy-benchmark report from runs that split the methods between them.

    python benchmarks/merge_privacy_runs.py OUT_DIR RUN_DIR [RUN_DIR ...]

On a 2-core machine the methods of one benchmark can run as parallel
processes (`facecloak bench privacy --methods ...`, one thread each). They
are one run when everything but the method list is the same: commit,
protocol (users, probes, gallery), models and their thresholds, variants,
seed, strength, overrides, device. This checks that, refuses otherwise (a
method in two parts must have scored the same in both), and
writes OUT_DIR/results.json, per_probe.npz and report.md as the benchmark
would have, with each part's arguments and timings under meta["parts"]
(the merged timings are the longest part's: the parts ran side by side).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from facecloak.bench.privacy_report import markdown

SAME_META = ("commit", "seed", "strength", "detector", "overrides", "device", "versions")


def merge(run_dirs: list[Path]) -> tuple[dict, dict]:
    docs = [json.loads((d / "results.json").read_text()) for d in run_dirs]
    first = docs[0]
    for d, doc in zip(run_dirs[1:], docs[1:]):
        for key in SAME_META:
            if doc["meta"].get(key) != first["meta"].get(key):
                raise SystemExit(f"{d}: meta[{key!r}] differs from {run_dirs[0]}'s; not one run")
        for key in ("protocol", "models"):
            if doc[key] != first[key]:
                raise SystemExit(f"{d}: {key} differs from {run_dirs[0]}'s; not one run")
    merged = {**first, "methods": {}, "skipped_methods": {}, "timings": {}}
    merged["meta"] = {**first["meta"], "parts": [
        {"dir": str(d), "args": doc["meta"].get("args"), "started": doc["meta"]["started"],
         "timings": doc["timings"]} for d, doc in zip(run_dirs, docs)]}
    arrays: dict = {}
    for d, doc in zip(run_dirs, docs):
        for name, method in doc["methods"].items():
            if name in merged["methods"] and merged["methods"][name]["scores"] != method["scores"]:
                raise SystemExit(f"{d}: method {name!r} is in two parts with different scores")
            merged["methods"][name] = method
        merged["skipped_methods"].update(doc.get("skipped_methods") or {})
        for key, value in doc["timings"].items():  # the parts ran side by side: wall time is the longest
            merged["timings"][key] = max(merged["timings"].get(key, 0.0), value)
        for key in ("latency", "sweeps"):
            if doc.get(key) and not merged.get(key):
                merged[key] = doc[key]
        npz = d / "per_probe.npz"
        if npz.exists():
            with np.load(npz, allow_pickle=False) as f:
                arrays.update({k: f[k] for k in f.files})
    return merged, arrays


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, runs = Path(argv[0]), [Path(a) for a in argv[1:]]
    doc, arrays = merge(runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2))
    if arrays:
        np.savez_compressed(out / "per_probe.npz", **arrays)
    (out / "report.md").write_text(markdown(doc))
    print(f"{len(doc['methods'])} methods from {len(runs)} parts -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
