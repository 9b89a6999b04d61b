"""Where the Arc2Face weights are: a local folder first, then the standard caches, offline.

    >>> weights = find_weights(model_cache() / "arc2face")
    >>> weights.missing(model_cache() / "arc2face")     # [] when all four parts are there
    []

Layout of the local folder (``<model cache>/arc2face`` by default)::

    arc2face/               config.json, diffusion_pytorch_model.safetensors  (Arc2Face's UNet)
    encoder/                config.json, pytorch_model.bin   (Arc2Face's fine-tuned CLIP text encoder)
    stable-diffusion-v1-5/  model_index.json, scheduler/, tokenizer/, vae/   (diffusers layout)
    antelopev2/             glintr100.onnx   (insightface's ArcFace R100, the identity encoder)

A part absent there is looked up without any network access in
huggingface_hub's snapshot cache (``FoivosPar/Arc2Face``; SD 1.5 as
``stable-diffusion-v1-5/stable-diffusion-v1-5`` or ``runwayml/stable-diffusion-v1-5``)
and in insightface's own model folder (``~/.insightface/models/antelopev2``).
Nothing here imports torch or diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..models.registry import get_spec

ARC2FACE_REPO = "FoivosPar/Arc2Face"
SD15_REPOS = ("stable-diffusion-v1-5/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5")
_HUB = "https://huggingface.co/"


def _has_model(folder: Path, config: str, weights: tuple[str, ...]) -> bool:
    """``folder`` holds ``config`` and a weights file matching one of the ``weights`` patterns."""
    return (folder / config).is_file() and any(any(folder.glob(p)) for p in weights)


def _unet_ok(d: Path) -> bool:
    return _has_model(d, "config.json", ("diffusion_pytorch_model*.safetensors", "diffusion_pytorch_model*.bin"))


def _encoder_ok(d: Path) -> bool:
    return _has_model(d, "config.json", ("model*.safetensors", "pytorch_model*.bin"))


def _base_ok(d: Path) -> bool:
    return ((d / "model_index.json").is_file() and (d / "scheduler" / "scheduler_config.json").is_file()
            and any((d / "tokenizer" / f).is_file() for f in ("vocab.json", "tokenizer.json"))
            and _unet_ok(d / "vae"))


def _hub_snapshot(repo: str, probe: str, hub_cache: Path | None) -> Path | None:
    """The cached snapshot folder of ``repo`` that holds ``probe``, or None (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo, probe, cache_dir=hub_cache)
    if not isinstance(found, str):  # None or the "known not to exist" marker
        return None
    root = Path(found)
    for _ in Path(probe).parts:
        root = root.parent
    return root


@dataclass(frozen=True)
class Arc2FaceWeights:
    """The folders (and the .onnx file) found for each part; None where a part is missing."""

    unet: Path | None
    encoder: Path | None
    base: Path | None
    glintr100: Path | None

    def missing(self, weights_dir: Path) -> list[str]:
        """One line per missing part: exactly what to download and where to put it."""
        out = []
        if self.unet is None or self.encoder is None:
            out.append(f"the Arc2Face weights: arc2face/ (config.json, diffusion_pytorch_model.safetensors) and "
                       f"encoder/ (config.json, pytorch_model.bin) from {_HUB}{ARC2FACE_REPO}, into {weights_dir} "
                       f"(or that repository in the Hugging Face cache)")
        if self.base is None:
            out.append(f"the Stable Diffusion 1.5 base model: model_index.json, scheduler/, tokenizer/ and vae/ "
                       f"from {_HUB}{SD15_REPOS[0]} (diffusers layout), into "
                       f"{weights_dir / 'stable-diffusion-v1-5'} (or that repository in the Hugging Face cache)")
        if self.glintr100 is None:
            url = get_spec("insightface-antelopev2").source.package
            out.append(f"the ArcFace identity encoder glintr100.onnx from insightface's antelopev2 ({url}), "
                       f"into {weights_dir / 'antelopev2'} (or ~/.insightface/models/antelopev2)")
        return out


def find_weights(weights_dir: Path, caches: bool = True, hub_cache: Path | None = None,
                 insightface_root: Path | None = None) -> Arc2FaceWeights:
    """Each part from ``weights_dir`` if complete there, else (``caches``) from the standard caches.

    hub_cache: huggingface_hub's cache folder (None = its default, HF_HUB_CACHE).
    insightface_root: insightface's root folder (None = ``~/.insightface``).
    """
    d = Path(weights_dir)
    unet = d / "arc2face" if _unet_ok(d / "arc2face") else None
    encoder = d / "encoder" if _encoder_ok(d / "encoder") else None
    base = d / "stable-diffusion-v1-5" if _base_ok(d / "stable-diffusion-v1-5") else None
    onnx = d / "antelopev2" / "glintr100.onnx"
    glint = onnx if onnx.is_file() else None
    if caches:
        snap = _hub_snapshot(ARC2FACE_REPO, "arc2face/config.json", hub_cache)
        if unet is None and snap is not None and _unet_ok(snap / "arc2face"):
            unet = snap / "arc2face"
        if encoder is None and snap is not None and _encoder_ok(snap / "encoder"):
            encoder = snap / "encoder"
        for repo in SD15_REPOS if base is None else ():
            snap = _hub_snapshot(repo, "model_index.json", hub_cache)
            if snap is not None and _base_ok(snap):
                base = snap
                break
        root = Path(insightface_root) if insightface_root is not None else Path.home() / ".insightface"
        onnx = root / "models" / "antelopev2" / "glintr100.onnx"
        if glint is None and onnx.is_file():
            glint = onnx
    return Arc2FaceWeights(unet, encoder, base, glint)
