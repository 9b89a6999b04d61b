"""Options shared by several subcommands."""

from __future__ import annotations

import argparse


def add_device_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--device auto|cpu|cuda`` (default auto: a CUDA GPU when torch sees one)."""
    from .device import DEVICES

    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help=f"where {what} run: auto (a CUDA GPU when there is one), cpu or cuda "
                             "(default auto)")


def add_detector_option(parser: argparse.ArgumentParser) -> None:
    """``--detector NAME``, defaulting to the package's default detector."""
    from .faces.detect import DEFAULT_DETECTOR, DETECTORS

    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS),
                        help=f"face detector (default: {DEFAULT_DETECTOR})")
