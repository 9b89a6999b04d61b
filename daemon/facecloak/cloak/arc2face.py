"""Arc2Face: new photos of one person from their ArcFace embedding (Stable Diffusion 1.5, diffusers).

    >>> pipe = load_pipeline(weights.unet, weights.encoder, weights.base, device="cuda")  # fp16 on CUDA
    >>> emb = ArcFaceIdentity(weights.glintr100).embed(rgb, landmarks)          # (512,) unit
    >>> pipe.generate(emb, n=7, seed=0).shape                                  # uint8 RGB
    (7, 512, 512, 3)

How the identity reaches the image (Papantoniou et al., "Arc2Face", 2024): the
prompt "photo of a id person" is tokenised, the token embedding at the
placeholder "id" is replaced by the unit ArcFace embedding zero-padded to the
text width (512 -> 768), and the fine-tuned CLIP text transformer turns that
sequence into the UNet's cross-attention context. Classifier-free guidance
takes its unconditional branch from the empty prompt through the same
encoder. Defaults are the published settings: DPM-Solver++ (multistep),
25 steps, guidance 3.0, 512 px, no text prompt.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ..errors import FaceCloakError
from ..faces.align import align_face
from ..models.fr import l2_normalise, normalise_np
from ..models.registry import get_spec

PROMPT = "photo of a id person"
PLACEHOLDER = "id"


class IdentityPrompt:
    """The conditioning: ArcFace embeddings -> the UNet's ``encoder_hidden_states``.

    Shape: id_embs (N, D) with D <= the text width W; outputs (N, L, W), L the
    tokenizer's ``model_max_length`` (77 for SD 1.5).
    """

    def __init__(self, tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel):
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        ids = tokenizer.encode(PLACEHOLDER, add_special_tokens=False)
        if len(ids) != 1:
            raise FaceCloakError(f"the tokenizer splits the placeholder {PLACEHOLDER!r} into {len(ids)} tokens; "
                                 "it is not SD 1.5's CLIP tokenizer")
        self.placeholder_id = ids[0]
        self.width = text_encoder.config.hidden_size

    def input_ids(self, text: str, n: int) -> torch.Tensor:
        """(n, L) token ids of ``text``, padded to the tokenizer's full length."""
        tok = self.tokenizer(text, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt")
        return tok.input_ids.to(self.text_encoder.device).repeat(n, 1)

    @contextmanager
    def _identity_in_place_of_placeholder(self, ids: torch.Tensor, id_embs: torch.Tensor) -> Iterator[None]:
        """While open, the token-embedding layer outputs the padded ``id_embs`` at each placeholder."""
        if id_embs.ndim != 2 or id_embs.shape[0] != ids.shape[0] or id_embs.shape[1] > self.width:
            raise FaceCloakError(f"expected ({ids.shape[0]}, D <= {self.width}) identity embeddings, "
                                 f"got {tuple(id_embs.shape)}")
        where = ids == self.placeholder_id
        if not bool((where.sum(dim=1) == 1).all()):
            raise FaceCloakError(f"the prompt {PROMPT!r} must hold the placeholder exactly once")
        unit = F.normalize(id_embs.float(), dim=-1)
        padded = F.pad(unit, (0, self.width - unit.shape[1]))

        def substitute(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            out = output.clone()
            out[where] = padded.to(device=out.device, dtype=out.dtype)
            return out

        handle = self.text_encoder.get_input_embeddings().register_forward_hook(substitute)
        try:
            yield
        finally:
            handle.remove()

    @torch.no_grad()
    def token_embeddings(self, id_embs: torch.Tensor) -> torch.Tensor:
        """(N, L, W) token embeddings fed to the transformer (before position embeddings)."""
        ids = self.input_ids(PROMPT, len(id_embs))
        with self._identity_in_place_of_placeholder(ids, id_embs):
            return self.text_encoder.get_input_embeddings()(ids)

    @torch.no_grad()
    def encode(self, id_embs: torch.Tensor) -> torch.Tensor:
        """(N, L, W) cross-attention context for identities ``id_embs`` (N, D)."""
        ids = self.input_ids(PROMPT, len(id_embs))
        with self._identity_in_place_of_placeholder(ids, id_embs):
            return self.text_encoder(input_ids=ids)[0]

    @torch.no_grad()
    def encode_empty(self, n: int) -> torch.Tensor:
        """(n, L, W) context of the empty prompt: guidance's unconditional branch."""
        return self.text_encoder(input_ids=self.input_ids("", n))[0]


class Arc2FacePipeline:
    """Sampling: seeded noise -> DPM-Solver++ with guidance -> VAE decode -> uint8 RGB images."""

    def __init__(self, prompt: IdentityPrompt, unet: UNet2DConditionModel, vae: AutoencoderKL,
                 scheduler: DPMSolverMultistepScheduler, device: torch.device, dtype: torch.dtype):
        self.prompt, self.unet, self.vae, self.scheduler = prompt, unet, vae, scheduler
        self.device, self.dtype = device, dtype
        self.vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
        self.multiple = self.vae_scale * 2 ** (len(unet.config.block_out_channels) - 1)

    @torch.no_grad()
    def generate(self, id_embedding: np.ndarray | torch.Tensor, n: int, seed: int = 0, steps: int = 25,
                 guidance: float = 3.0, size: int = 512, batch: int = 4) -> np.ndarray:
        """n images of the identity ``id_embedding`` ((D,) or (1, D)); (n, size, size, 3) uint8 RGB.

        The same seed, device and weights give the same images; ``batch``
        images are sampled at a time (guidance doubles it on the UNet).
        """
        if n < 1 or steps < 1 or batch < 1 or size % self.multiple:
            raise FaceCloakError(f"need n, steps, batch >= 1 and size a multiple of {self.multiple}; "
                                 f"got n={n}, steps={steps}, batch={batch}, size={size}")
        emb = torch.as_tensor(id_embedding, dtype=torch.float32).reshape(1, -1).to(self.device)
        cond = self.prompt.encode(emb).to(self.dtype)
        uncond = self.prompt.encode_empty(1).to(self.dtype)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        images = [self._sample(cond, uncond, min(batch, n - i), generator, steps, guidance, size)
                  for i in range(0, n, batch)]
        return np.concatenate(images)

    def _sample(self, cond: torch.Tensor, uncond: torch.Tensor, m: int, generator: torch.Generator,
                steps: int, guidance: float, size: int) -> np.ndarray:
        context = torch.cat([uncond.expand(m, -1, -1), cond.expand(m, -1, -1)])
        side = size // self.vae_scale
        shape = (m, self.unet.config.in_channels, side, side)
        latents = torch.randn(shape, generator=generator, device=self.device, dtype=torch.float32)
        latents = (latents * self.scheduler.init_noise_sigma).to(self.dtype)
        self.scheduler.set_timesteps(steps, device=self.device)
        for t in self.scheduler.timesteps:
            x = self.scheduler.scale_model_input(torch.cat([latents, latents]), t)
            eps_uncond, eps_cond = self.unet(x, t, encoder_hidden_states=context).sample.chunk(2)
            eps = eps_uncond + guidance * (eps_cond - eps_uncond)
            latents = self.scheduler.step(eps, t, latents, generator=generator).prev_sample
        pixels = self.vae.decode(latents / self.vae.config.scaling_factor).sample.float()
        pixels = ((pixels / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        return pixels.permute(0, 2, 3, 1).cpu().numpy()


@functools.lru_cache(maxsize=1)
def load_pipeline(unet_dir: Path, encoder_dir: Path, base_dir: Path, device: str = "cuda") -> Arc2FacePipeline:
    """Arc2Face's UNet and encoder with SD 1.5's tokenizer, VAE and scheduler; fp16 on CUDA, fp32 elsewhere.

    Loads only local files; the last pipeline stays loaded (one per process).
    """
    dev = torch.device(device)
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    tokenizer = CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer", local_files_only=True)
    encoder = CLIPTextModel.from_pretrained(encoder_dir, local_files_only=True).to(dtype=dtype)
    # low_cpu_mem_usage needs the accelerate package, which this project does not require.
    opts = {"torch_dtype": dtype, "local_files_only": True, "low_cpu_mem_usage": False}
    unet = UNet2DConditionModel.from_pretrained(unet_dir, **opts)
    vae = AutoencoderKL.from_pretrained(base_dir, subfolder="vae", **opts)
    for model in (encoder, unet, vae):
        model.to(dev).eval().requires_grad_(False)
    scheduler = DPMSolverMultistepScheduler.from_pretrained(base_dir, subfolder="scheduler", local_files_only=True)
    return Arc2FacePipeline(IdentityPrompt(tokenizer, encoder), unet, vae, scheduler, dev, dtype)


class ArcFaceIdentity:
    """The identity Arc2Face is conditioned on: insightface antelopev2's glintr100 (ArcFace R100).

    Runs with onnxruntime on our own 112 px alignment, with the registry's
    preprocessing for ``insightface-antelopev2`` (RGB, (x - 127.5) / 127.5, NCHW).
    """

    def __init__(self, onnx_path: Path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.pre = get_spec("insightface-antelopev2").preprocess

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(D,) float32 unit embedding of the face at ``landmarks`` ((5, 2) (x, y)) in ``rgb`` (H, W, 3)."""
        crop, _ = align_face(rgb, landmarks, size=self.pre.size)
        x = normalise_np(crop[None], self.pre)
        out = self.session.run(None, {self.session.get_inputs()[0].name: x})[0]
        return l2_normalise(out.reshape(1, -1).astype(np.float32))[0]
