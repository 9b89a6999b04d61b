"""``facecloak bench privacy``: the command-line face of `facecloak.bench.privacy`.

`register` adds the subcommand to the ``bench`` subparsers of the main CLI::

    from .bench.privacy_cli import register as register_privacy
    register_privacy(bsub)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli_options import add_detector_option, add_device_option


def cmd_bench_privacy(args: argparse.Namespace) -> int:
    from . import privacy
    from .privacy_parts import parse_part

    overrides = parse_sets(args.set)
    part = None if args.part is None else parse_part(args.part)
    doc = privacy.run(
        Path(args.out), users=args.names or args.users, quick=args.quick, distractors=args.distractors,
        methods=args.methods, strength=args.strength, overrides=overrides or None, models=args.models,
        variants=args.variants, idealised=not args.no_idealised, latency=not args.no_latency,
        plots=args.plots, seed=args.seed, lfw=args.lfw, thresholds=args.thresholds, detector=args.detector,
        tool_detector=args.tool_detector,
        device=args.device, args={k: v for k, v in vars(args).items() if k != "func"},
        part=part, join=[Path(d) for d in args.join] if args.join else None, lookalike_pool=args.lookalike_pool)
    if part is not None:
        print(f"wrote part {part[0]}/{part[1]} ({len(doc['users'])} users) to {args.out}; "
              f"join every part with --join")
        return 0
    head = doc["methods"]
    for name, res in head.items():
        g = res["scores"]["uploaded"]["groups"]
        bb = g["black box"]
        psr = "—" if bb is None else f"{100 * bb['psr1']:5.1f}%"
        print(f"{name:24} black-box PSR@1 (uploaded) {psr}")
    print(f"wrote {Path(args.out) / 'results.json'}, per_probe.npz and report.md")
    return 0


def parse_sets(items: list[str] | None) -> dict:
    """``--set KEY=VALUE`` items -> CloakConfig overrides (``surrogates`` takes a comma list)."""
    overrides = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if not key or not _:
            from ..errors import FaceCloakError

            raise FaceCloakError(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key] = tuple(v for v in value.split(",") if v) if key == "surrogates" else _parse_value(value)
    return overrides


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "," in text:
        return tuple(t for t in text.split(",") if t)
    return text


#: Names for --help only (kept light: importing the benchmark loads cv2 and the engine);
#: run() validates them, and a test checks they match `privacy_methods.METHODS` and
#: `robustness.VARIANTS`.
METHOD_NAMES = ("none", "uniform", "opom-centre", "opom-affine", "opom-convex", "pgd", "facecloak",
                "facecloak-no-stickers", "facecloak-no-highpass", "facecloak-no-attention", "naive", "facecloak-refine")
VARIANT_NAMES = ("uploaded", "jpeg75", "resize1080", "resize1080+jpeg75", "phone-x5", "phone-x5-social")


def register(bench_subparsers) -> argparse.ArgumentParser:
    """Add ``privacy`` to the ``facecloak bench`` subparsers; returns its parser."""
    q = bench_subparsers.add_parser(
        "privacy", help="protection (PSR@1/5 per FR model), quality and speed of every cloaking method on LFW",
        description="DESIGN.md section 3: LFW identities with >= 10 photos, photo 1 enrols, photos 2-6 are "
                    "cloaked probes, the rest and every other identity form the gallery; realistic scoring "
                    "(upload as JPEG, each model re-detects) is the headline.")
    q.add_argument("--quick", action="store_true",
                   help="20 users (seeded sample) and 3000 distractors unless --users/--distractors say otherwise")
    q.add_argument("--users", type=int, help="number of users (seeded sample of the 158; default all)")
    q.add_argument("--names", nargs="+", metavar="NAME",
                   help="these LFW identities as the users instead of a sample (e.g. a held-out set)")
    q.add_argument("--distractors", type=int, help="seeded subsample of distractor photos (default all)")
    q.add_argument("--methods", nargs="+", metavar="METHOD",
                   help=f"methods to run (default all but facecloak-refine): {', '.join(METHOD_NAMES)}")
    q.add_argument("--strength", default="mid", choices=("low", "mid", "high"), help="cloak strength preset")
    q.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="CloakConfig override for every engine method, e.g. --set steps=10 (repeatable)")
    q.add_argument("--models", nargs="+", help="FR models to score with (default: the six fetchable ones)")
    q.add_argument("--variants", nargs="+", metavar="VARIANT",
                   help=f"robustness paths (default all): {', '.join(VARIANT_NAMES)}")
    q.add_argument("--no-idealised", action="store_true", help="skip the idealised (aligned-crop) scores")
    q.add_argument("--no-latency", action="store_true", help="skip the 1/4/12 MP latency measurement")
    q.add_argument("--plots", action="store_true",
                   help="also run the budget / steps / K sweeps and draw the plots (needs matplotlib)")
    q.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    q.add_argument("--lfw", help="LFW folder (default ../shared/data/lfw)")
    q.add_argument("--thresholds", help="lfw-accuracy results.json with FAR=1e-3 thresholds "
                   "(default benchmarks/lfw-accuracy/results.json; computed from LFW when absent)")
    add_detector_option(q)
    from ..faces.detect import DETECTORS

    q.add_argument("--tool-detector", choices=sorted(DETECTORS),
                   help="the detector that finds the face the tool cloaks in each photo (default: --detector; "
                        "the product's own is rfb)")
    add_device_option(q, "the optimisation and the FR models")
    q.add_argument("--part", metavar="I/N",
                   help="run only users I, I+N, I+2N, ... of this run and keep what --join needs (no report)")
    q.add_argument("--join", nargs="+", metavar="DIR",
                   help="score the --part folders of this run (same arguments otherwise) as one run")
    q.add_argument("--lookalike-pool", type=int, default=800, metavar="M",
                   help="FaceCloak's look-alikes come from M LFW identities outside the protocol, as from "
                        "an installed pool (default 800; 0: none, as without a pool)")
    q.add_argument("--out", default="benchmarks/privacy", help="output folder (default benchmarks/privacy)")
    q.set_defaults(func=cmd_bench_privacy)
    return q
