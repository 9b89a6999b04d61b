"""One base class for every perturbation method (after torchattacks' ``attack.py``).

`PerturbationMethod` owns what all methods share: the surrogate ensemble
(eval mode, frozen weights), the per-pixel budget and its projection, the
sign-gradient loop with momentum (MI-FGSM: gradient divided by its mean
absolute value, accumulated, sign step), the robustness transforms drawn
fresh at each step, progress reports, cooperative cancellation and seeding.
A method overrides `loss` (and, where it needs to, `setup`, `init_delta`,
`effective` and `after_step`).

Shape:
    faces: (N, 3, S, S) float32 RGB in [0, 1], aligned to the ArcFace
        template (S = 112); the models resize to their own input size.
    delta: (1, 3, S, S) for a universal method (one mask for every face),
        (N, 3, S, S) for a per-image one; [0, 1] units inside the loop,
        pixel units (x255) in the returned `CloakMask`.
    budget: (1 or N, 1, S, S), [0, 1] units, from `facecloak.cloak.budget`.

Device: faces, budget and the loop's tensors live on ``config.device``
(resolved once, `facecloak.device`), where the surrogates are; callers may pass
CPU tensors, and `run` returns the delta on the CPU.

Convention: the loop *minimises* `loss`; lower = further from the user's
identity on the surrogates. Model normalisation lives in the model wrappers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ... import __version__
from ...device import resolve_device
from ...errors import FaceCloakError
from ..budget import budget_map
from ..config import CloakConfig
from ..mask import CloakMask
from ..surrogates import load_surrogates
from ..threads import ThreadTuner
from ..transforms import LightingJitter, RobustnessTransform, elastic_faces, zoom_faces

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]


class Cancelled(FaceCloakError):
    """The caller asked to stop (``should_stop()`` returned True)."""


def check_faces(faces: torch.Tensor, size: int = 112) -> None:
    """Raise ValueError unless ``faces`` is (N, 3, size, size) float in [0, 1]."""
    if not isinstance(faces, torch.Tensor) or faces.ndim != 4 or tuple(faces.shape[1:]) != (3, size, size) \
            or not faces.is_floating_point() or faces.shape[0] == 0:
        got = tuple(faces.shape) if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise ValueError(f"expected faces (N, 3, {size}, {size}) float in [0, 1], got {got}")
    if float(faces.min()) < 0.0 or float(faces.max()) > 1.0:
        raise ValueError("faces must be in [0, 1]")


def to_uint8(face: torch.Tensor) -> np.ndarray:
    """(3, S, S) [0, 1] tensor -> (S, S, 3) uint8 RGB."""
    return (face.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def faces_to_tensor(crops: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) RGB in pixel units (uint8 crops, or float deltas such as a mask's) ->
    (N, 3, S, S) float32 in [0, 1] units."""
    arr = np.ascontiguousarray(np.stack(list(crops)))
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0


class PerturbationMethod(ABC):
    """Turns aligned faces into a cloak, optimised against the surrogate ensemble.

    Args:
        config: budgets, steps, switches, seed (`CloakConfig`).
        surrogates: torch embedders to use instead of loading ``config.surrogates``.
        progress: called as ``progress(fraction, message)`` after each step.
        should_stop: polled before each step; True raises `Cancelled`.
    """

    name: ClassVar[str] = ""
    universal: ClassVar[bool] = True
    #: Whether the method uses learnable attention (recorded in the mask metadata).
    has_attention: ClassVar[bool] = False

    def __init__(self, config: CloakConfig | None = None, surrogates: Sequence[torch.nn.Module] | None = None,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None):
        self.config = config or CloakConfig()
        self.device = resolve_device(self.config.device)
        self.models = (list(surrogates) if surrogates is not None
                       else load_surrogates(self.config.surrogates, self.device))
        self.model_names = [getattr(getattr(m, "spec", None), "name", type(m).__name__) for m in self.models]
        self.progress = progress or (lambda fraction, message: None)
        self.should_stop = should_stop or (lambda: False)
        self.history: list[float] = []  # loss at each step (under that step's transforms)
        self.thread_choices: list[tuple[int, float, float, int]] = []  # `ThreadTuner.choices` of the last run
        self.clean: list[torch.Tensor] = []  # clean embeddings per model, (N, D)

    # ------------------------------------------------------------- hooks
    def setup(self, faces: torch.Tensor) -> None:
        """Precompute what the loss needs; by default the clean embeddings per model."""
        with torch.no_grad():
            self.clean = [m(faces) for m in self.models]

    @abstractmethod
    def loss(self, embeddings: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        """Scalar to minimise, from each model's (B, D) embeddings of the faces ``index``."""

    def init_delta(self, shape: tuple[int, ...], budget: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The starting delta ([0, 1] units), on ``budget``'s device; zeros by default."""
        return torch.zeros(shape, device=budget.device)

    def effective(self, delta: torch.Tensor) -> torch.Tensor:
        """The delta actually added to the faces (attention reweights it); identity by default."""
        return delta

    def face_changes(self) -> tuple[bool, float]:
        """(lighting, elastic amplitude) in effect: they stand for the user's *next* photo, a universal
        mask's concern only; a per-image delta is fitted to the photo it will be added to."""
        cfg = self.config
        return (cfg.lighting, cfg.elastic) if self.universal else (False, 0.0)

    def after_step(self, grad_effective: torch.Tensor, step: int) -> None:
        """Called with d loss / d effective delta after each step (attention updates here)."""

    # ------------------------------------------------------------- loop
    def budget_for(self, faces: torch.Tensor, face0: np.ndarray | None = None) -> torch.Tensor:
        """The budget map: from ``face0`` (or faces[0]) if universal, else one per face."""
        if self.universal:
            return budget_map(self.config, face0 if face0 is not None else to_uint8(faces[0]))
        return torch.cat([budget_map(self.config, to_uint8(f)) for f in faces])

    def check_stop(self) -> None:
        if self.should_stop():
            raise Cancelled("cloaking was cancelled")

    def run(self, faces: torch.Tensor, budget: torch.Tensor | None = None,
            face0: np.ndarray | None = None) -> torch.Tensor:
        """Optimise and return the effective delta, (1 or N, 3, S, S), [0, 1] units, within budget (CPU)."""
        check_faces(faces)
        cfg, n = self.config, faces.shape[0]
        budget = self.budget_for(faces, face0) if budget is None else budget.float()
        faces, budget = faces.to(self.device), budget.to(self.device)
        if budget.ndim != 4 or budget.shape[1] != 1 or budget.shape[0] not in (1, n) \
                or tuple(budget.shape[2:]) != tuple(faces.shape[2:]):
            raise ValueError(f"budget must be (1 or {n}, 1, {faces.shape[2]}, {faces.shape[3]}), "
                             f"got {tuple(budget.shape)}")
        gen = torch.Generator().manual_seed(cfg.seed)
        self.setup(faces)
        shape = (1 if self.universal else n, *faces.shape[1:])
        delta = self.init_delta(shape, budget, gen).clamp(-budget, budget)
        base = max(cfg.eps, cfg.step_size) / 255.0
        step = cfg.step_size / 255.0 * torch.clamp(budget / base, min=1.0)  # every pixel reaches its cap
        transform = RobustnessTransform(cfg.seed) if cfg.robustness else None
        relight, elastic = self.face_changes()
        lighting = LightingJitter(cfg.seed) if relight else None
        shape_rng = np.random.default_rng([cfg.seed, 11])
        momentum = torch.zeros(shape, device=self.device)
        self.history = []
        with ThreadTuner.for_device(self.device) as tuner:  # CPU: more threads only where measured faster
            for t in tuner.steps(cfg.steps):
                self.check_stop()
                index = torch.arange(n)
                if cfg.batch is not None and cfg.batch < n:
                    index = torch.randperm(n, generator=gen)[:cfg.batch].sort().values
                index = index.to(self.device)
                delta.requires_grad_(True)
                eff = self.effective(delta)
                d = eff if self.universal else eff[index]
                x = faces[index] if lighting is None else lighting(faces[index])
                if elastic:
                    x = elastic_faces(x, shape_rng, elastic)
                x_adv = transform(x, d) if transform is not None else (x + d).clamp(0.0, 1.0)
                if cfg.zoom and shape_rng.random() < 0.5:
                    x_adv = zoom_faces(x_adv, shape_rng)
                loss = self.loss([m(x_adv) for m in self.models], index)
                grad, grad_eff = torch.autograd.grad(loss, [delta, eff])
                with torch.no_grad():
                    dims = (1, 2, 3)
                    grad = grad / grad.abs().mean(dim=dims, keepdim=True).clamp_min(1e-12)
                    momentum = cfg.momentum * momentum + grad
                    delta = (delta.detach() - step * momentum.sign()).clamp(-budget, budget)
                    if not self.universal:  # a per-image delta keeps its own face in range
                        delta = (faces + delta).clamp(0.0, 1.0) - faces
                self.after_step(grad_eff.detach(), t)
                self.history.append(float(loss.detach()))
                self.progress((t + 1) / cfg.steps, f"step {t + 1}/{cfg.steps}, loss {self.history[-1]:.3f}")
        self.thread_choices = tuner.choices
        with torch.no_grad():
            return self.effective(delta.detach()).clamp(-budget, budget).cpu()

    @torch.no_grad()
    def evaluate_loss(self, faces: torch.Tensor, delta: torch.Tensor | None = None) -> float:
        """The loss on every face with ``delta`` added, no transforms (call after `run`)."""
        faces = faces.to(self.device)
        x = faces if delta is None else (faces + delta.to(self.device)).clamp(0.0, 1.0)
        return float(self.loss([m(x) for m in self.models], torch.arange(faces.shape[0], device=self.device)))

    def fit(self, faces: torch.Tensor, face0: np.ndarray | None = None, budget: torch.Tensor | None = None,
            **meta: Any) -> CloakMask:
        """Run and wrap the result in a `CloakMask`; ``meta`` (e.g. backend=...) joins its metadata.

        A per-image method takes exactly one face here (use `run` for a batch).
        """
        if not self.universal and faces.shape[0] != 1:
            raise FaceCloakError(f"{self.name} makes one image-specific mask per photo; "
                                 f"got {faces.shape[0]} faces (use run() for a batch)")
        delta = self.run(faces, budget, face0)
        return CloakMask(delta[0].permute(1, 2, 0).numpy() * 255.0, self.metadata(faces.shape[0], **meta))

    def metadata(self, n_faces: int, **extra: Any) -> dict[str, Any]:
        cfg = self.config
        relight, elastic = self.face_changes()
        meta: dict[str, Any] = {
            "method": self.name, "universal": self.universal, "models": self.model_names,
            **cfg.budgets(), "strength": cfg.strength, "steps": cfg.steps, "step_size": cfg.step_size,
            "momentum": cfg.momentum, "lighting": relight, "zoom": cfg.zoom, "elastic": elastic,
            "k": n_faces, "batch": cfg.batch, "backend": "none",
            "seed": cfg.seed, "version": __version__, "anchor": cfg.anchor, "device": self.device,
            "switches": {"stickers": cfg.stickers, "highpass": cfg.highpass,
                         "attention": cfg.attention and self.has_attention, "robustness": cfg.robustness},
            "final_loss": self.history[-1] if self.history else None,
        }
        meta.update(extra)
        return meta
