"""``facecloak lookalikes``: the look-alike pool enrolment draws on (`facecloak.cloak.lookalikes`).

    facecloak lookalikes build lfw/ --limit 800     one face per person of a photo folder
    facecloak lookalikes show                       what the installed pool holds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm


def cmd_lookalikes_build(args) -> int:
    """Build a pool from a folder of face photos (one subfolder per person, or one photo each)."""
    from .cloak.lookalikes import build_pool, photo_faces, pool_sources, save_pool
    from .paths import lookalike_pool_path

    sources = pool_sources(Path(args.folder), args.limit, args.seed)
    with tqdm(total=len(sources), desc="look-alikes", unit="photo", file=sys.stderr) as bar:
        pool = build_pool(photo_faces(sources), device=args.device, progress=lambda name: bar.update())
    out = save_pool(pool, Path(args.out) if args.out else lookalike_pool_path())
    print(f"wrote {out}: {len(pool)} faces of {len(sources)} people, surrogates {', '.join(pool.embeddings)}")
    return 0


def cmd_lookalikes_show(args) -> int:
    """Say where the pool is and what it holds."""
    from .cloak.lookalikes import load_pool
    from .paths import lookalike_pool_path

    path = Path(args.path) if args.path else lookalike_pool_path()
    if not path.is_file():
        print(f"no look-alike pool at {path}: enrolment augments only (`facecloak lookalikes build`)")
        return 1
    pool = load_pool(path)
    print(f"{path}: {len(pool)} faces, surrogates {', '.join(pool.embeddings)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``lookalikes build`` and ``lookalikes show`` to the ``facecloak`` subparsers."""
    p = sub.add_parser("lookalikes", help="build or show the look-alike pool that enrolment draws on")
    lsub = p.add_subparsers(dest="lookalikes_command", required=True, metavar="ACTION")
    q = lsub.add_parser("build", help="build the pool from a folder of face photos (e.g. LFW's)",
                        description=cmd_lookalikes_build.__doc__)
    q.add_argument("folder", help="one subfolder of photos per person (LFW's layout), or one photo per person")
    q.add_argument("--limit", type=int, default=800, help="people drawn at random (default 800)")
    q.add_argument("--seed", type=int, default=0, help="seed of that draw (default 0)")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the models run")
    q.add_argument("--out", help="pool file (default: the one enrolment uses)")
    q.set_defaults(func=cmd_lookalikes_build)
    q = lsub.add_parser("show", help="where the pool is and what it holds")
    q.add_argument("path", nargs="?", help="pool file (default: the one enrolment uses)")
    q.set_defaults(func=cmd_lookalikes_show)
