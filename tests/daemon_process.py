"""The disposable daemon the tests drive (it lives in the package so benchmarks use it too)."""

from facecloak.server.local import TOKEN_HEADER, DaemonProcess, free_port

__all__ = ["TOKEN_HEADER", "DaemonProcess", "free_port"]
