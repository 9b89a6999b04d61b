"""Perturbation methods, one base class, one table.

    >>> method = get_method("facecloak", config)          # or "opom-convex", "pgd", ...
    >>> mask = method.fit(faces, face0, backend="augment")  # faces: (K, 3, 112, 112) [0, 1]

Every name in `METHODS` is a `PerturbationMethod`; the benchmark and the
tests iterate over this table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ...errors import FaceCloakError
from .base import Cancelled, PerturbationMethod, ProgressFn, StopFn, faces_to_tensor, to_uint8
from .facecloak import FaceCloak
from .opom import OPOM
from .pgd import PerImagePGD
from .uniform import UniformNoise

#: name -> factory(config=None, surrogates=None, progress=None, should_stop=None, **kw)
METHODS: dict[str, Callable[..., PerturbationMethod]] = {
    "facecloak": FaceCloak,
    "uniform": UniformNoise,
    "opom-centre": functools.partial(OPOM, mode="centre"),
    "opom-affine": functools.partial(OPOM, mode="affine"),
    "opom-convex": functools.partial(OPOM, mode="convex"),
    "pgd": PerImagePGD,
}


def get_method(name: str, *args: Any, **kwargs: Any) -> PerturbationMethod:
    """The method registered as ``name``, built with the given arguments."""
    factory = METHODS.get(name)
    if factory is None:
        raise FaceCloakError(f"unknown cloak method {name!r}; known: {', '.join(METHODS)}")
    return factory(*args, **kwargs)


__all__ = ["METHODS", "OPOM", "Cancelled", "FaceCloak", "PerImagePGD", "PerturbationMethod", "ProgressFn",
           "StopFn", "UniformNoise", "faces_to_tensor", "get_method", "to_uint8"]
