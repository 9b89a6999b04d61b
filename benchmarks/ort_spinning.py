"""onnxruntime's spinning worker threads against none, in the cloak: paired processes.

    python benchmarks/ort_spinning.py --out benchmarks/ort-spinning

The engine's sessions are made by `facecloak.device.ort_session_options`, which
turns spinning off. Each worker process times, after a warm-up, `cloak_bytes` of
the latency benchmark's close-up at 12 MP (every face, and only the user's:
the daemon's default) and plain decode + encode, in interleaved rounds, either
as shipped ("off") or with spinning put back ("on": the options patched before
the engine is imported). Workers run in pairs, the order alternating; the
report gives each setting's median over its processes and the paired
difference. Writes OUT/results.json and OUT/report.md. Needs ../shared; time it
on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def worker(spinning: str, rounds: int) -> dict:
    import facecloak.device as device

    if spinning == "on":
        shipped = device.ort_session_options

        def spinning_options(threads: int = 0):
            opts = shipped(threads)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
            return opts

        device.ort_session_options = spinning_options  # before the engine binds the name
    from detect_size import interleaved  # benchmarks/, beside this script; imports the engine
    from facecloak.bench.latency import _user_of, largest_photo, photo_at, plain_reencode
    from facecloak.cloak.apply import cloak_bytes
    from facecloak.cloak.mask import CloakMask
    from facecloak.faces import load_image

    rgb = load_image(largest_photo())
    data, user = photo_at(rgb, 12.0), _user_of(rgb)
    mask = CloakMask(np.random.default_rng(0).uniform(-8, 8, (112, 112, 3)), {"method": "uniform"})
    ways = {"all faces": lambda: cloak_bytes(data, mask),
            "user's faces": lambda: cloak_bytes(data, mask, only_user=user),
            "plain": lambda: plain_reencode(data)}
    for fn in ways.values():  # a second warm-up comes with `interleaved`
        fn()
    ms = interleaved(ways, rounds)
    return {name: float(np.median(v)) for name, v in ms.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker", choices=("on", "off"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rounds)))
        return
    if args.out is None:
        ap.error("--out is required")
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for p in range(args.pairs):
        for setting in ("on", "off") if p % 2 == 0 else ("off", "on"):
            got = subprocess.run([sys.executable, __file__, "--worker", setting, "--rounds", str(args.rounds)],
                                 check=True, capture_output=True, text=True)
            runs[setting].append(json.loads(got.stdout.strip().splitlines()[-1]))
    from facecloak.bench.meta import run_metadata

    meta = run_metadata()
    names = list(runs["on"][0])
    summary = {}
    for name in names:
        on, off = (np.array([r[name] for r in runs[s]]) for s in ("on", "off"))
        summary[name] = {"on": float(np.median(on)), "off": float(np.median(off)),
                         "on_minus_off": float(np.median(on - off)), "off_faster_in": int(np.sum(off < on))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "runs": runs, "summary": summary}, indent=1))
    lines = ["# onnxruntime spinning threads in the cloak", "",
             f"Commit {meta.get('commit')}; {args.pairs} pairs of worker processes, {args.rounds} interleaved "
             "rounds each (median per process); 12 MP close-up.", "",
             "| what | spinning on, ms | off (shipped), ms | on - off, paired median | pairs off was faster |",
             "|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['on']:.0f} | {s['off']:.0f} | {s['on_minus_off']:.1f} "
                     f"| {s['off_faster_in']} of {args.pairs} |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
