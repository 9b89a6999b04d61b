"""Paired difference in black-box PSR between two methods of one privacy run.

    python benchmarks/paired_difference.py benchmarks/privacy-full facecloak opom-convex
    python benchmarks/paired_difference.py RUN_A facecloak facecloak --run-b RUN_B

(the second form: method a of RUN_A against method b of RUN_B, two runs of
one protocol, e.g. a lever against its baseline; their probes must match).
Both methods cloaked the same probes, so the difference is taken probe by
probe (mean over the black-box models of "rank >= k", as the report's PSR@k)
and its 95% interval comes from resampling users (2,000 cluster bootstrap
draws, seed 0), as the report's intervals do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def protected(probes: np.lib.npyio.NpzFile, method: str, variant: str, models: list[str], k: int) -> np.ndarray:
    return np.mean([probes[f"{method}__{variant}__{m}__rank"] >= k for m in models], axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a privacy run's folder (results.json, per_probe.npz)")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--run-b", type=Path, help="the run of method b (default: the same run)")
    args = ap.parse_args()
    run_b = args.run_b or args.run
    doc = json.loads((args.run / "results.json").read_text())
    doc_b = json.loads((run_b / "results.json").read_text())
    roles_a, roles_b = doc["methods"][args.a]["roles"], doc_b["methods"][args.b]["roles"]
    models = [m for m, role in roles_a.items() if role == "black box" and roles_b.get(m) == "black box"]
    probes, probes_b = np.load(args.run / "per_probe.npz"), np.load(run_b / "per_probe.npz")
    if list(probes["probe_keys"]) != list(probes_b["probe_keys"]):
        raise SystemExit(f"{args.run} and {run_b} cloaked different probes")
    users = np.array([key.rsplit("_", 1)[0] for key in probes["probe_keys"]])
    names = np.unique(users)
    rng = np.random.default_rng(0)
    draws = [rng.choice(len(names), len(names)) for _ in range(2000)]
    rows = {name: np.nonzero(users == name)[0] for name in names}
    print(f"{args.a} - {args.b}, black-box mean over {', '.join(models)}; {len(names)} users, {len(users)} probes")
    for variant in doc["protocol"]["variants"]:
        for k in (1, 5):
            a = protected(probes, args.a, variant, models, k)
            b = protected(probes_b, args.b, variant, models, k)
            d = a - b
            boot = [d[np.concatenate([rows[names[i]] for i in draw])].mean() for draw in draws]
            lo, hi = 100 * np.percentile(boot, [2.5, 97.5])
            print(f"{variant:18s} PSR@{k}: {100 * a.mean():5.1f} vs {100 * b.mean():5.1f}, "
                  f"difference {100 * d.mean():+5.1f} [{lo:+.1f}, {hi:+.1f}]")


if __name__ == "__main__":
    main()
