"""Paired difference in black-box PSR between two methods of one privacy run.

    python benchmarks/paired_difference.py benchmarks/privacy-full facecloak opom-convex
    python benchmarks/paired_difference.py RUN_A facecloak facecloak --run-b RUN_B
    python benchmarks/paired_difference.py RUN_A facecloak facecloak --run-b RUN_B \
        --pool RUN_A2 RUN_B2 --pool RUN_A3 RUN_B3

The second form compares method a of RUN_A with method b of RUN_B: two runs
of one protocol, e.g. a lever against its baseline (their probes must
match). `--pool` adds more such pairs on other users (e.g. the held-out
screening users) and pools their probes. Both methods cloaked the same
probes, so the difference is taken probe by probe (mean over the black-box
models of "rank >= k", as the report's PSR@k) and its 95% interval comes
from resampling users (2,000 cluster bootstrap draws, seed 0), as the
report's intervals do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np


def protected(probes: np.lib.npyio.NpzFile, method: str, variant: str, models: list[str], k: int) -> np.ndarray:
    return np.mean([probes[f"{method}__{variant}__{m}__rank"] >= k for m in models], axis=0)


class Pair(NamedTuple):
    models: list[str]  # black boxes for both methods
    variants: list[str]  # scored in both runs
    probes_a: np.lib.npyio.NpzFile
    probes_b: np.lib.npyio.NpzFile


def load_pair(run_a: Path, run_b: Path, a: str, b: str) -> Pair:
    """Method a of `run_a` against method b of `run_b`, whose probes must be the same."""
    doc_a = json.loads((run_a / "results.json").read_text())
    doc_b = json.loads((run_b / "results.json").read_text())
    roles_a, roles_b = doc_a["methods"][a]["roles"], doc_b["methods"][b]["roles"]
    models = [m for m, role in roles_a.items() if role == "black box" and roles_b.get(m) == "black box"]
    probes_a, probes_b = np.load(run_a / "per_probe.npz"), np.load(run_b / "per_probe.npz")
    if list(probes_a["probe_keys"]) != list(probes_b["probe_keys"]):
        raise SystemExit(f"{run_a} and {run_b} cloaked different probes")
    variants = [v for v in doc_a["protocol"]["variants"] if v in doc_b["protocol"]["variants"]]
    return Pair(models, variants, probes_a, probes_b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a privacy run's folder (results.json, per_probe.npz)")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--run-b", type=Path, help="the run of method b (default: the same run)")
    ap.add_argument("--pool", type=Path, nargs=2, action="append", default=[], metavar=("RUN_A", "RUN_B"),
                    help="another pair of runs (other users) whose probes are pooled with the first")
    args = ap.parse_args()
    pairs = [load_pair(args.run, args.run_b or args.run, args.a, args.b)]
    pairs += [load_pair(run_a, run_b, args.a, args.b) for run_a, run_b in args.pool]
    models = pairs[0].models
    if any(p.models != models for p in pairs):
        raise SystemExit("the pooled runs score different black boxes")
    variants = [v for v in pairs[0].variants if all(v in p.variants for p in pairs)]
    keys = np.concatenate([p.probes_a["probe_keys"] for p in pairs])
    users = np.array([key.rsplit("_", 1)[0] for key in keys])
    names = np.unique(users)
    if len(keys) != len(np.unique(keys)):
        raise SystemExit("the pooled runs share probes")
    rng = np.random.default_rng(0)
    draws = [rng.choice(len(names), len(names)) for _ in range(2000)]
    rows = {name: np.nonzero(users == name)[0] for name in names}
    print(f"{args.a} - {args.b}, black-box mean over {', '.join(models)}; {len(names)} users, {len(users)} probes")
    for variant in variants:
        for k in (1, 5):
            a = np.concatenate([protected(p.probes_a, args.a, variant, models, k) for p in pairs])
            b = np.concatenate([protected(p.probes_b, args.b, variant, models, k) for p in pairs])
            d = a - b
            boot = [d[np.concatenate([rows[names[i]] for i in draw])].mean() for draw in draws]
            lo, hi = 100 * np.percentile(boot, [2.5, 97.5])
            print(f"{variant:18s} PSR@{k}: {100 * a.mean():5.1f} vs {100 * b.mean():5.1f}, "
                  f"difference {100 * d.mean():+5.1f} [{lo:+.1f}, {hi:+.1f}]")


if __name__ == "__main__":
    main()
