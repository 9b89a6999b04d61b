"""The privacy benchmark's view of every cloaking method: photo in, cloaked photo out.

The benchmark never reaches into the engine itself; it asks this adapter, by
method name, to

    method = get_method("facecloak", strength="mid", overrides={"steps": 10})
    enrolled = method.enrol(enrol_rgb, enrol_face, seed)        # once per user
    cloaked = method.cloak(enrolled, probe_rgb, probe_face, seed)  # per probe photo

``enrol`` sees only the user's single enrolment photo; ``cloak`` returns the
probe photo with the mask warped into the given face (the benchmark passes
the face nearest the photo centre, found by the tool's own detector), plus
the aligned-space mask it used, so that the "idealised" score can add the
very same mask to each model's aligned crop. Per-image methods (``pgd``)
fit their mask in ``cloak`` on the probe itself; ``facecloak-refine``
enrols as ``facecloak`` and takes a few per-image steps on each probe from
the user's mask.

Methods (``METHODS``): none, uniform, opom-centre, opom-affine, opom-convex,
pgd, facecloak, facecloak-no-stickers, facecloak-no-highpass,
facecloak-no-attention, naive, facecloak-refine. Every engine method, uniform
noise included, spends the engine's per-pixel budget map for the strength
(`CloakConfig`: base ``eps`` everywhere, ``sticker_eps`` on the eye/nose/mouth
boxes, ``highpass_eps`` on textured pixels; 4/32/16 at "mid"), so baselines and
FaceCloak pay the same budget. Run-wide ``overrides`` (``--set``) apply to
every engine method; a named configuration's own settings win over them
(``naive``: DESIGN section 5's first row, flat 8/255; the ablation switch).

Shapes: photos are (H, W, 3) uint8 RGB; masks are `CloakMask` (112, 112, 3)
pixel units in the ArcFace aligned frame.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FaceCloakError
from ..faces import Face, estimate_similarity, paste_aligned, template
from ..cloak.mask import SIZE, CloakMask


class EngineNotReady(FaceCloakError):
    """The cloak engine module a method needs is not there (yet)."""


@dataclass
class Enrolled:
    """What a method keeps for one user after enrolment.

    mask: the universal mask, or None (no mask / per-image method).
    seconds: wall time of the enrolment.
    surrogates: FR models the mask was optimised against (from the mask's
        own metadata when it says, else from the config).
    """

    mask: CloakMask | None
    seconds: float
    surrogates: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)


@dataclass
class Cloaked:
    """rgb: the cloaked photo, same size as the input; mask: what went into
    ``face`` (None when nothing was applied); seconds: fitting (per-image
    methods) plus applying."""

    rgb: np.ndarray
    mask: CloakMask | None
    face: Face | None
    seconds: float


def aligned_from_face(face: Face) -> np.ndarray:
    """(2, 3) ``aligned_from_image`` of the 112 px ArcFace crop of ``face``."""
    return estimate_similarity(np.asarray(face.landmarks, np.float64), template(SIZE))


def apply_mask(rgb: np.ndarray, mask: CloakMask, face: Face) -> np.ndarray:
    """Warp ``mask`` into ``face`` of ``rgb`` (the engine's `cloak_array` when present)."""
    try:
        from ..cloak.apply import cloak_array
    except ImportError:
        return paste_aligned(rgb, mask.delta, aligned_from_face(face))
    return cloak_array(rgb, mask, [face])[0]


def _engine(module: str) -> Any:
    try:
        return importlib.import_module(f"facecloak.cloak.{module}")
    except ImportError as exc:
        raise EngineNotReady(f"facecloak.cloak.{module} is not available ({exc})") from None


def base_eps(strength: str, overrides: dict | None = None) -> float:
    """The base L_inf budget (/255) for a strength (8.0 at "mid"), overrides first."""
    if overrides and overrides.get("eps") is not None:
        return float(overrides["eps"])
    try:
        from ..cloak.config import STRENGTHS
    except ImportError:
        return {"low": 4.0, "mid": 8.0, "high": 12.0}[strength]
    return STRENGTHS[strength][0]


class PrivacyMethod(ABC):
    """One cloaking method as the benchmark sees it (see the module docstring)."""

    name: str = ""
    description: str = ""
    per_image: bool = False
    #: "engine" when the engine's own code makes the mask, "bench" for the
    #: benchmark's stand-ins (none, and uniform until the engine has it).
    implementation: str = "engine"
    #: Whether the mask is optimised against surrogate models (their names then
    #: come from the mask's own metadata, so a mis-set config cannot hide one).
    optimises: bool = False

    def __init__(self, strength: str = "mid", overrides: dict | None = None):
        self.strength = strength
        self.overrides = dict(overrides or {})

    @property
    def surrogates(self) -> tuple[str, ...]:
        """FR models this method optimises against (empty for model-free methods)."""
        return ()

    @property
    def eps(self) -> float:
        return base_eps(self.strength, self.overrides)

    def describe(self) -> dict:
        """JSON-able description: name, implementation, budget, surrogates, settings."""
        return {"name": self.name, "description": self.description, "implementation": self.implementation,
                "per_image": self.per_image, "eps": self.eps, "surrogates": list(self.surrogates),
                "strength": self.strength, "overrides": self.overrides}

    def enrol(self, rgb: np.ndarray, face: Face | None, seed: int) -> Enrolled:
        """Fit the user's universal mask from the enrolment photo (timed)."""
        start = time.perf_counter()
        mask = None if self.per_image or face is None else self._fit_universal(rgb, face, seed)
        seconds = time.perf_counter() - start
        used = self.surrogates
        if self.optimises and mask is not None and mask.meta.get("models"):
            used = tuple(mask.meta["models"])
        return Enrolled(mask, seconds, tuple(used))

    def cloak(self, enrolled: Enrolled, rgb: np.ndarray, face: Face | None, seed: int) -> Cloaked:
        """The probe photo as this method would make it (``face`` None: the tool found none)."""
        start = time.perf_counter()
        if face is None:
            return Cloaked(rgb.copy(), None, None, 0.0)
        mask = self._fit_probe(rgb, face, seed) if self.per_image else enrolled.mask
        out = rgb.copy() if mask is None else apply_mask(rgb, mask, face)
        return Cloaked(out, mask, face if mask is not None else None, time.perf_counter() - start)

    def _fit_universal(self, rgb: np.ndarray, face: Face, seed: int) -> CloakMask | None:
        return None

    def _fit_probe(self, rgb: np.ndarray, face: Face, seed: int) -> CloakMask | None:
        return None


class NoMask(PrivacyMethod):
    name = "none"
    description = "no mask: the photo as it is (the baseline every other row is compared with)"
    implementation = "bench"

    @property
    def eps(self) -> float:
        return 0.0


class Uniform(PrivacyMethod):
    """Uniform random noise within the engine's budget map (the same per-pixel budget as FaceCloak)."""

    name = "uniform"
    description = "uniform random noise within the same per-pixel budget map, one draw per user"

    def __init__(self, strength: str = "mid", overrides: dict | None = None):
        super().__init__(strength, overrides)
        try:
            _engine("methods")
            self.implementation = "engine"
        except EngineNotReady:
            self.implementation = "bench"

    def config(self, seed: int = 0):
        return _config(self.strength, {**self.overrides, "seed": seed})

    def describe(self) -> dict:
        return {**super().describe(), "config": _config_dict(self)}

    def _fit_universal(self, rgb: np.ndarray, face: Face, seed: int) -> CloakMask:
        if self.implementation == "engine":
            from ..faces import align_face

            methods = _engine("methods")
            face0 = align_face(rgb, np.asarray(face.landmarks), SIZE)[0]
            # No surrogate is loaded: uniform noise optimises nothing.
            return methods.get_method("uniform", self.config(seed), surrogates=[]).fit(
                methods.faces_to_tensor([face0]), face0=face0)
        rng = np.random.default_rng(seed)
        delta = rng.uniform(-self.eps, self.eps, (SIZE, SIZE, 3)).astype(np.float32)
        return CloakMask(delta, {"method": "uniform", "models": [], "eps": self.eps, "strength": self.strength})


def _config(strength: str, overrides: dict):
    config = _engine("config")
    try:
        return config.CloakConfig.for_strength(strength, **overrides)
    except TypeError as exc:  # an override the engine does not know
        raise FaceCloakError(f"CloakConfig does not accept these overrides {overrides}: {exc}") from None


def _config_dict(method) -> dict | None:
    try:
        cfg = method.config()
    except EngineNotReady:
        return None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()}


def _variation_faces(rgb: np.ndarray, face: Face, cfg) -> tuple[Any, np.ndarray, str]:
    """(K faces (K, 3, 112, 112) [0, 1], face0 (112, 112, 3) uint8, backend name), as `enrol` makes them."""
    from ..device import resolve_device
    from ..faces import align_face

    variations, methods = _engine("variations"), _engine("methods")
    backend = variations.backend_for(cfg.backend, resolve_device(cfg.device))
    lms = np.asarray(face.landmarks)
    variants = backend.generate(rgb, lms, cfg.k, cfg.seed)
    crops = np.stack([align_face(v.image, v.landmarks, size=SIZE)[0] for v in variants])
    return methods.faces_to_tensor(crops), align_face(rgb, lms, size=SIZE)[0], variations.made_by(variants)


class EngineMethod(PrivacyMethod):
    """An engine `PerturbationMethod` (``facecloak.cloak.methods.get_method(engine_name, config)``).

    Universal: fitted, as `enrol` does, to the K varied images of the
    enrolment face (variant 0 = the photo) with the budget map of that face.
    Per-image: fitted to the probe's own 112 px aligned face.
    """

    engine_name: str = ""
    optimises = True

    def config(self, seed: int = 0):
        return _config(self.strength, {**self.overrides, "seed": seed})

    @property
    def surrogates(self) -> tuple[str, ...]:
        try:
            return tuple(self.config().surrogates)
        except EngineNotReady:
            return tuple(self.overrides.get("surrogates", ()))

    def describe(self) -> dict:
        return {**super().describe(), "config": _config_dict(self)}

    def _method(self, cfg):
        return _engine("methods").get_method(self.engine_name, cfg)

    def _fit_universal(self, rgb: np.ndarray, face: Face, seed: int) -> CloakMask:
        cfg = self.config(seed)
        faces, face0, backend = _variation_faces(rgb, face, cfg)
        return self._method(cfg).fit(faces, face0=face0, backend=backend)

    def _fit_probe(self, rgb: np.ndarray, face: Face, seed: int) -> CloakMask:
        from ..faces import align_face

        cfg = self.config(seed)
        crop = align_face(rgb, np.asarray(face.landmarks), size=SIZE)[0]
        return self._method(cfg).fit(_engine("methods").faces_to_tensor([crop]))


class FaceCloakEnrol(EngineMethod):
    """FaceCloak through the product path, ``facecloak.cloak.enrol.enrol`` (timed as a whole).

    `enrol` wants a photo of the user alone; LFW photos often show
    bystanders, so it gets the square around the chosen face (3 aligned crops
    wide), as a user would crop it. Where it still refuses (another face in
    that square, no face found, face too small), the same steps are run on
    the chosen face directly (variations, then `FaceCloak.fit`): the count of
    such fallbacks is reported. No anchor gallery is passed (the product
    default, ``anchor="none"``: a far anchor measured worse, see CloakConfig).
    ``lookalikes`` is the run's look-alike pool (`bench.lookalike_pool`), never
    the one installed on the machine, which may hold the people scored.
    """

    name = "facecloak"
    description = "FaceCloak: universal mask from one photo (stickers, high-pass, attention, robustness)"
    engine_name = "facecloak"
    fixed: dict = {}
    lookalikes = None

    def __init__(self, strength: str = "mid", overrides: dict | None = None):
        # A named configuration's own settings win over run-wide overrides (--set).
        super().__init__(strength, {**(overrides or {}), **self.fixed})

    def enrol(self, rgb: np.ndarray, face: Face | None, seed: int) -> Enrolled:
        if face is None:
            return Enrolled(None, 0.0, self.surrogates, {"enrol": "no face"})
        from ..errors import FaceTooSmallError, ManyFacesError, NoFaceError

        enrol_mod = _engine("enrol")
        cfg = self.config(seed)
        start = time.perf_counter()
        try:
            mask = enrol_mod.enrol(_single_face_photo(rgb, face), cfg, lookalikes=self.lookalikes).mask
            how = "enrol"
        except (NoFaceError, ManyFacesError, FaceTooSmallError) as exc:
            faces, face0, backend = _variation_faces(rgb, face, cfg)
            mask = self._method(cfg).fit(faces, face0=face0, backend=backend)
            how = f"fallback ({type(exc).__name__})"
        seconds = time.perf_counter() - start
        return Enrolled(mask, seconds, tuple(mask.meta.get("models") or self.surrogates), {"enrol": how})


def _single_face_photo(rgb: np.ndarray, face: Face) -> np.ndarray:
    """The square around ``face``, 3 aligned crops wide, clipped to the photo (a copy)."""
    from ..faces.align import affine_scale

    side = 3 * SIZE / affine_scale(aligned_from_face(face))
    cx, cy = np.asarray(face.landmarks, np.float64).mean(axis=0)
    h, w = rgb.shape[:2]
    x0, y0 = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    x1, y1 = min(int(cx + side / 2) + 1, w), min(int(cy + side / 2) + 1, h)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def _ablation(switch: str) -> type[FaceCloakEnrol]:
    return type(f"FaceCloakNo{switch.title()}", (FaceCloakEnrol,), {
        "name": f"facecloak-no-{switch}",
        "description": f"FaceCloak without {switch} (ablation)",
        "fixed": {switch: False},
    })


class Naive(FaceCloakEnrol):
    name = "naive"
    description = ("DESIGN section 5, first row: one photo + 7 fixed classical augmentations, 10 sign steps, "
                   "8/255, surrogate faceplugin only, no stickers/high-pass/attention/robustness")
    fixed = {"eps": 8.0, "steps": 10, "step_size": 1.0, "momentum": 0.0, "k": 8, "batch": None,
             "backend": "augment", "surrogates": ("faceplugin",), "stickers": False, "highpass": False,
             "attention": False, "robustness": False, "lighting": False, "zoom": False, "elastic": 0.0,
             "push_self": False, "anchor": "none"}


def _opom(mode: str) -> type[EngineMethod]:
    return type(f"Opom{mode.title()}", (EngineMethod,), {
        "name": f"opom-{mode}",
        "description": f"OPOM-style universal mask away from the {mode} of the one photo's variations",
        "engine_name": f"opom-{mode}",
    })


class PerImagePGD(EngineMethod):
    name = "pgd"
    description = "per-image PGD fitted on each probe itself (a ceiling: it needs every photo)"
    per_image = True
    engine_name = "pgd"


class FaceCloakRefine(FaceCloakEnrol):
    """FaceCloak's universal mask, then `REFINE_STEPS` per-image PGD steps on each probe, starting
    from the mask in the probe's aligned frame, within the probe's own budget map (`PerImagePGD`
    with ``start``). Not the product: a photo costs about a second of surrogate passes on a CPU
    core instead of milliseconds; it measures what a few such steps buy (benchmarks/ablation,
    "Twelfth round")."""

    name = "facecloak-refine"
    description = "FaceCloak's universal mask refined on each probe by 4 per-image PGD steps"
    REFINE_STEPS = 4

    def cloak(self, enrolled: Enrolled, rgb: np.ndarray, face: Face | None, seed: int) -> Cloaked:
        from ..faces import align_face

        start = time.perf_counter()
        if face is None or enrolled.mask is None:
            return Cloaked(rgb.copy(), None, None, 0.0)
        methods = _engine("methods")
        cfg = self.config(seed).replace(steps=self.REFINE_STEPS)
        crop = align_face(rgb, np.asarray(face.landmarks), size=SIZE)[0]
        universal = methods.faces_to_tensor([enrolled.mask.delta])
        mask = methods.PerImagePGD(cfg, start=universal).fit(methods.faces_to_tensor([crop]))
        return Cloaked(apply_mask(rgb, mask, face), mask, face, time.perf_counter() - start)


METHODS: dict[str, type[PrivacyMethod]] = {
    cls.name: cls for cls in (
        NoMask, Uniform, _opom("centre"), _opom("affine"), _opom("convex"), PerImagePGD, FaceCloakEnrol,
        _ablation("stickers"), _ablation("highpass"), _ablation("attention"), Naive, FaceCloakRefine,
    )
}
#: What `facecloak bench privacy` runs by default: all but the refinement, whose second a probe
#: would lengthen the runs whose commands are written beside their results.
DEFAULT_METHODS = tuple(name for name in METHODS if name != FaceCloakRefine.name)


def get_method(name: str, strength: str = "mid", overrides: dict | None = None) -> PrivacyMethod:
    """The method called ``name``; FaceCloakError lists the known names."""
    cls = METHODS.get(name)
    if cls is None:
        raise FaceCloakError(f"unknown privacy method {name!r}; known: {', '.join(METHODS)}")
    return cls(strength, overrides)


def check_ready(method: PrivacyMethod) -> str | None:
    """None if the method can run here, else why not (the engine part it lacks, a bad override)."""
    try:
        if isinstance(method, (Uniform, EngineMethod)) and method.implementation == "engine":
            method.config()
        if isinstance(method, EngineMethod):
            methods = _engine("methods")
            if method.engine_name not in methods.METHODS:
                raise EngineNotReady(f"the engine has no method {method.engine_name!r}")
            _engine("variations")
        if isinstance(method, FaceCloakEnrol):
            _engine("enrol")
    except FaceCloakError as exc:
        return str(exc)
    return None
