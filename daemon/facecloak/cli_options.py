"""Options shared by several subcommands."""

from __future__ import annotations

import argparse


def add_detector_option(parser: argparse.ArgumentParser) -> None:
    """``--detector NAME``, defaulting to the package's default detector."""
    from .faces.detect import DEFAULT_DETECTOR, DETECTORS

    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS),
                        help=f"face detector (default: {DEFAULT_DETECTOR})")
