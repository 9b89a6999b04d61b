"""Surrogate FR models, loaded once per process.

    >>> nets = load_surrogates(("faceplugin", "mobilefacenet"), device="auto")
    >>> emb = nets[0](x)          # (N, 3, 112, 112) RGB [0, 1] -> (N, D) unit vectors

The torch modules are in eval mode with no gradient to any weight (only the
input gets one); each resizes a 112 px aligned crop to its own input size.
Each is loaded once per process and device ("auto" resolves first, so "auto"
and the device it means share one copy; `facecloak.device`); its weights sit
on that device, where the input must be too.
Only surrogate-role models may be optimised against: a black-box model name
is refused here, so that no protection figure is ever measured on a model the
cloak saw.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ..device import resolve_device
from ..errors import FaceCloakError
from ..models.fr import OnnxEmbedder, TorchEmbedder, load_embedder
from ..models.registry import Role, get_spec
from .threads import set_threads


def onnx_embedder(name: str, device: str = "auto") -> OnnxEmbedder:
    """The onnxruntime embedder of FR model ``name`` (any role), cached per device."""
    return _onnx_embedder(name, resolve_device(device))


@functools.lru_cache(maxsize=None)
def _onnx_embedder(name: str, device: str) -> OnnxEmbedder:
    embedder = load_embedder(name, device=device)
    if not isinstance(embedder, OnnxEmbedder):
        raise FaceCloakError(f"model {name!r} has no ONNX runtime (it is native)")
    return embedder


def torch_surrogate(name: str, device: str = "auto") -> TorchEmbedder:
    """The differentiable module of surrogate ``name`` on ``device``, cached, eval, frozen weights."""
    return _torch_surrogate(name, resolve_device(device))


@functools.lru_cache(maxsize=None)
def _torch_surrogate(name: str, device: str) -> TorchEmbedder:
    spec = get_spec(name)
    if spec.role != Role.SURROGATE_FR:
        raise FaceCloakError(f"model {name!r} is a {spec.role.value} model, not a surrogate: "
                             "black boxes only ever measure a cloak, they never shape one")
    set_threads()
    module = _onnx_embedder(name, device).torch_module().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module if device == "cpu" else module.to(device)


def load_surrogates(names: Sequence[str], device: str = "auto") -> list[TorchEmbedder]:
    """The torch surrogates for ``names`` on ``device``, in that order (each loaded once per process)."""
    return [torch_surrogate(name, device) for name in names]
