"""Where the work runs: "auto" | "cpu" | "cuda", for torch and for onnxruntime.

    >>> resolve_device("auto")          # "cuda" when torch sees a CUDA GPU, else "cpu"
    'cpu'
    >>> ort_providers("cpu")
    ['CPUExecutionProvider']

torch decides whether a GPU is usable (`torch.cuda.is_available()`); the
onnxruntime sessions then put ``CUDAExecutionProvider`` first when the
installed onnxruntime has it (the ``gpu`` extra, onnxruntime-gpu, which
replaces plain onnxruntime) and run on the CPU otherwise. Asking for "cuda"
where torch sees no GPU is an error, never a silent fall-back. Where
onnxruntime has no CUDA provider, `ort_providers("auto")` answers without
importing torch, so detection alone stays torch-free.

`usable_cpus` lives here too, so that detection can size its thread pool
without importing torch; torch's own count is `facecloak.cloak.threads`.
"""

from __future__ import annotations

import os

from .errors import FaceCloakError


def usable_cpus() -> int:
    """CPUs this process may run on (affinity / cgroup aware where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


DEVICES = ("auto", "cpu", "cuda")
_CUDA_EP, _CPU_EP = "CUDAExecutionProvider", "CPUExecutionProvider"


def check_device(device: str) -> str:
    """``device`` itself if it is one of `DEVICES`; FaceCloakError otherwise."""
    if device not in DEVICES:
        raise FaceCloakError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    return device


def resolve_device(device: str = "auto") -> str:
    """"cpu" or "cuda": "auto" is "cuda" when torch can use a CUDA GPU.

    Raises FaceCloakError for an unknown name, or for "cuda" without a usable GPU.
    """
    check_device(device)
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        build = ("a CPU-only build" if torch.version.cuda is None
                 else f"CUDA {torch.version.cuda}, but no GPU is visible")
        raise FaceCloakError(f"device 'cuda' was asked for, but torch {torch.__version__} has no usable "
                             f"CUDA GPU ({build}); use --device cpu or auto")
    return "cpu"


def ort_providers(device: str = "auto") -> list[str]:
    """onnxruntime providers for ``device``, best first; the CPU provider always last.

    "cuda" without a usable GPU raises as `resolve_device` does; with one, but
    an onnxruntime without the CUDA provider, the sessions run on the CPU.
    """
    check_device(device)
    if device == "cpu":
        return [_CPU_EP]
    import onnxruntime as ort

    if _CUDA_EP not in ort.get_available_providers():
        if device == "cuda":
            resolve_device(device)  # still refuse "cuda" where there is no GPU at all
        return [_CPU_EP]
    return [_CUDA_EP, _CPU_EP] if resolve_device(device) == "cuda" else [_CPU_EP]


def ort_session_options(threads: int = 0):
    """onnxruntime session options for the engine: ``threads`` intra-op threads (0: its
    default, one per core), warnings and below not logged, and no spinning.

    By default onnxruntime's worker threads spin, busy, for a while after each run, waiting
    for the next; a cloak runs other work on both cores right after (the paste and encode,
    the reduced decode), and the spinning took its CPU: turning it off made `cloak_bytes` of
    a 12 MP close-up ~8% faster and of only the user's faces ~13%, for a few percent more
    per run of a session used alone (`benchmarks/ort-spinning`)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
