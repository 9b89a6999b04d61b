"""``facecloak export``: ONNX files for clients that have onnxruntime but not torch.

    facecloak export apply apply.onnx              the apply step (warp + add + round + clip)
    facecloak export fr faceplugin fr.onnx         an FR model from the registry

Each file is checked against the project's own path before it is written
(`facecloak.exports`); a failed check writes nothing and exits with status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_export_apply(args) -> int:
    """Export the apply step and check it against `cloak_array` on a test scene."""
    from .exports import write_apply_onnx

    report = write_apply_onnx(Path(args.output))
    print(f"wrote {args.output}: {report['faces']} test faces, at most {report['max_diff']} grey level(s) "
          f"from cloak_array ({report['pixels_diff']} of {report['changed']} changed values differ), "
          f"{report['changed_outside']} changed outside the faces")
    return 0


def cmd_export_fr(args) -> int:
    """Export an FR model's ONNX and check it against the torch path on real aligned faces."""
    from .exports import write_fr_onnx

    report = write_fr_onnx(args.name, Path(args.output), args.photo)
    print(f"wrote {args.output}: {report['faces']} aligned faces, cosine to the torch path "
          f">= {report['min_cosine']:.6f}, largest embedding difference {report['max_abs']:.2e}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export apply`` and ``export fr`` to the ``facecloak`` subparsers."""
    p = sub.add_parser("export", help="write ONNX files for clients without torch (apply step, FR models)")
    esub = p.add_subparsers(dest="export_command", required=True, metavar="WHAT")
    q = esub.add_parser("apply", help="the apply step: photo + mask + face matrices -> cloaked photo",
                        description=cmd_export_apply.__doc__ + " Inputs: photo (H, W, 3) uint8 RGB, mask "
                        "(112, 112, 3) float32, aligned_from_image (N, 2, 3) float64; output: cloaked "
                        "(H, W, 3) uint8.")
    q.add_argument("output", metavar="OUT.onnx", help="file to write")
    q.set_defaults(func=cmd_export_apply)
    q = esub.add_parser("fr", help="a face-recognition model's ONNX, its preprocessing in the metadata",
                        description=cmd_export_fr.__doc__)
    q.add_argument("name", metavar="NAME", help="FR model (see `facecloak models list`)")
    q.add_argument("output", metavar="OUT.onnx", help="file to write")
    q.add_argument("--photo", action="append", metavar="PHOTO",
                   help="photo whose faces the check uses (repeatable; default: a bundled portrait)")
    q.set_defaults(func=cmd_export_fr)
