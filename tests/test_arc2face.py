"""Arc2Face on CPU with tiny random weights in the real layout: conditioning, sampling, fallback.

The tiny models have SD 1.5's structure (CLIP text model + tokenizer, UNet
with cross-attention, VAE, SD 1.5's scheduler config) at toy sizes: text
width 32, identity embeddings of 16 (zero-padded to 32, as 512 is to 768),
32 px images, 2 steps. The identity encoder is a tiny ONNX graph standing in
for glintr100.onnx (same input convention).
"""

import functools
import json
import shutil

import cv2
import numpy as np
import onnx
import pytest
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
from onnx import TensorProto, helper, numpy_helper
from transformers import CLIPTextConfig, CLIPTextModel

from facecloak.cloak.arc2face import PROMPT, ArcFaceIdentity, load_pipeline
from facecloak.cloak.arc2face_weights import find_weights
from facecloak.cloak.variations import (
    Arc2FaceBackend,
    AugmentBackend,
    backend_for,
    context_crop,
    generated_variants,
    get_backend,
    made_by,
)
from facecloak.faces import ARCFACE_TEMPLATE_112, align_face, get_detector, load_image

ID_DIM, WIDTH, MAX_LEN, SIZE = 16, 32, 16, 32
WORDS = ["photo", "of", "a", "id", "person"]
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _write_tokenizer(folder):
    """A CLIP BPE vocabulary that knows the prompt's words (SD 1.5's tokenizer/ file set)."""
    folder.mkdir(parents=True)
    vocab, merges = [BOS, EOS], []
    for ch in sorted(set("".join(WORDS))):
        vocab += [ch, ch + "</w>"]
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            vocab.append(pieces[0])
    vocab = list(dict.fromkeys(vocab))
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_LEN, "do_lower_case": True,
        "bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "unk_token": EOS}))
    return vocab


def _write_identity_onnx(path, weight):
    """(N, 3, 112, 112) -> channel means -> (N, ID_DIM): a stand-in for glintr100.onnx."""
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["683"])],
        "identity", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", ID_DIM])],
        [numpy_helper.from_array(weight, "w")])
    path.parent.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """``<dir>/{arc2face,encoder,stable-diffusion-v1-5,antelopev2}`` with tiny random weights."""
    root = tmp_path_factory.mktemp("arc2face")
    base = root / "stable-diffusion-v1-5"
    vocab = _write_tokenizer(base / "tokenizer")
    torch.manual_seed(0)
    CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=WIDTH, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_LEN, bos_token_id=0, eos_token_id=1,
        pad_token_id=1)).save_pretrained(root / "encoder")
    UNet2DConditionModel(
        sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        norm_num_groups=8, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=WIDTH, attention_head_dim=8,
    ).save_pretrained(root / "arc2face")
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    ).save_pretrained(base / "vae")
    PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                  steps_offset=1, set_alpha_to_one=False).save_pretrained(base / "scheduler")
    (base / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    _write_identity_onnx(root / "antelopev2" / "glintr100.onnx",
                         np.random.default_rng(0).normal(size=(3, ID_DIM)).astype(np.float32))
    return root


@pytest.fixture(scope="module")
def pipe(weights_dir):
    w = find_weights(weights_dir, caches=False)
    return load_pipeline(w.unet, w.encoder, w.base, "cpu")


def _ids(n=2, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).normal(size=(n, ID_DIM)), dtype=torch.float32)


def test_placeholder_holds_the_padded_identity_before_the_transformer(pipe):
    emb = _ids()
    ids = pipe.prompt.input_ids(PROMPT, 2)
    assert ids.shape == (2, MAX_LEN)
    at = ids == pipe.prompt.placeholder_id
    assert at.sum(dim=1).tolist() == [1, 1]  # "id" is one token, once
    tokens = pipe.prompt.token_embeddings(emb)
    padded = torch.nn.functional.pad(emb / emb.norm(dim=1, keepdim=True), (0, WIDTH - ID_DIM))
    torch.testing.assert_close(tokens[at], padded)
    table = pipe.prompt.text_encoder.get_input_embeddings().weight
    torch.testing.assert_close(tokens[~at], table[ids[~at]])  # every other token as usual
    plain = pipe.prompt.text_encoder.get_input_embeddings()(ids)  # the substitution does not linger
    torch.testing.assert_close(plain[at], table[pipe.prompt.placeholder_id].expand(2, -1))


def test_identity_reaches_the_context_from_the_placeholder_on(pipe):
    a, b = pipe.prompt.encode(_ids(1, 0)), pipe.prompt.encode(_ids(1, 1))
    assert a.shape == (1, MAX_LEN, WIDTH)
    pos = int((pipe.prompt.input_ids(PROMPT, 1)[0] == pipe.prompt.placeholder_id).nonzero())
    assert pos == 4  # <bos> photo of a id
    torch.testing.assert_close(a[:, :pos], b[:, :pos])  # causal: the tokens before it cannot see it
    assert (a[0, pos:] - b[0, pos:]).abs().amax(dim=-1).min() > 1e-4  # every later position does
    empty = pipe.prompt.encode_empty(1)
    assert empty.shape == a.shape and not torch.allclose(empty, a)


@pytest.fixture(scope="module")
def sample(pipe):
    """sample(identity, seed, guidance): one image of identity ``_ids(1, identity)``, computed once."""

    @functools.cache
    def run(identity: int, seed: int, guidance: float = 3.0) -> np.ndarray:
        return pipe.generate(_ids(1, identity)[0].numpy(), n=1, seed=seed, steps=2, size=SIZE, guidance=guidance)

    return run


def test_generate_shapes_and_seed(pipe, sample):
    batched = pipe.generate(_ids(1)[0].numpy(), n=3, seed=0, steps=2, size=SIZE, batch=2)
    assert batched.shape == (3, SIZE, SIZE, 3) and batched.dtype == np.uint8
    assert batched.std() > 1.0 and not np.array_equal(batched[0], batched[1])  # fresh noise per image
    first = sample(0, 0)
    assert first.shape == (1, SIZE, SIZE, 3)
    assert np.array_equal(first, pipe.generate(_ids(1)[0].numpy(), n=1, seed=0, steps=2, size=SIZE))
    assert not np.array_equal(first, sample(0, 1))


def test_identity_reaches_the_image_through_the_guided_branch(sample):
    assert np.abs(sample(0, 0).astype(int) - sample(1, 0).astype(int)).max() > 0
    # With guidance 0 only the empty-prompt branch is used: the identity can no longer matter.
    assert np.array_equal(sample(0, 0, 0.0), sample(1, 0, 0.0))
    assert not np.array_equal(sample(0, 0, 0.0), sample(0, 0))


def test_identity_encoder_sees_rgb_of_our_alignment(weights_dir):
    rng = np.random.default_rng(3)
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 90, 30  # far from grey: a channel swap would show
    rgb = (rgb + rng.integers(0, 40, rgb.shape)).astype(np.uint8)
    lms = ARCFACE_TEMPLATE_112 * 1.5 + 20
    emb = ArcFaceIdentity(weights_dir / "antelopev2" / "glintr100.onnx").embed(rgb, lms)
    crop = align_face(rgb, lms, size=112)[0].astype(np.float32)
    w = numpy_helper.to_array(onnx.load(weights_dir / "antelopev2" / "glintr100.onnx").graph.initializer[0])
    want = ((crop - 127.5) / 127.5).mean(axis=(0, 1)) @ w
    np.testing.assert_allclose(emb, want / np.linalg.norm(want), atol=1e-5)
    swapped = ((crop[..., ::-1] - 127.5) / 127.5).mean(axis=(0, 1)) @ w
    assert np.abs(emb - swapped / np.linalg.norm(swapped)).max() > 0.05


def test_weights_are_found_locally_and_in_the_standard_caches(tmp_path, weights_dir):
    here = find_weights(weights_dir, caches=False)
    assert here.unet == weights_dir / "arc2face" and here.base == weights_dir / "stable-diffusion-v1-5"
    assert here.missing(weights_dir) == []
    empty = find_weights(tmp_path / "none", caches=False)
    lines = empty.missing(tmp_path / "none")
    assert len(lines) == 3 and "FoivosPar/Arc2Face" in lines[0] and "encoder/" in lines[0]
    assert "model_index.json, scheduler/, tokenizer/ and vae/" in lines[1]
    assert str(tmp_path / "none" / "stable-diffusion-v1-5") in lines[1]
    assert "glintr100.onnx" in lines[2] and str(tmp_path / "none" / "antelopev2") in lines[2]
    # huggingface_hub's snapshot layout and insightface's model folder, found offline
    hub = tmp_path / "hub"
    for repo, parts in (("FoivosPar/Arc2Face", ("arc2face", "encoder")),
                        ("stable-diffusion-v1-5/stable-diffusion-v1-5", ("stable-diffusion-v1-5",))):
        entry = hub / ("models--" + repo.replace("/", "--"))
        (entry / "refs").mkdir(parents=True)
        (entry / "refs" / "main").write_text("0123abcd")
        snap = entry / "snapshots" / "0123abcd"
        for part in parts:
            dest = snap if part == "stable-diffusion-v1-5" else snap / part
            shutil.copytree(weights_dir / part, dest)
    shutil.copytree(weights_dir / "antelopev2", tmp_path / "insightface" / "models" / "antelopev2")
    cached = find_weights(tmp_path / "none", hub_cache=hub, insightface_root=tmp_path / "insightface")
    assert cached.missing(tmp_path / "none") == []
    assert cached.unet.parent == cached.encoder.parent and cached.unet.parent.parent.name == "snapshots"
    assert cached.base.parent.name == "snapshots" and cached.glintr100.is_file()


def test_auto_falls_back_to_augment_and_says_why(tmp_path, weights_dir):
    fallback = get_backend("auto", weights_dir=tmp_path, caches=False)
    assert isinstance(fallback, AugmentBackend) and fallback.name == "augment"
    assert "Arc2Face not used" in fallback.note and "glintr100.onnx" in fallback.note
    assert "Stable Diffusion 1.5" in fallback.note
    # The same choice with every part in place (CPU allowed explicitly) picks Arc2Face.
    chosen = get_backend("auto", weights_dir=weights_dir, device="cpu", caches=False)
    assert isinstance(chosen, Arc2FaceBackend) and chosen.missing() == []


@pytest.fixture(scope="module")
def photo(photos_dir):
    rgb = load_image(photos_dir / "portrait" / "person-vlado.jpg")
    return rgb, get_detector().detect(rgb)[0].landmarks


@pytest.mark.shared
def test_backend_on_cpu_fills_faceless_images_with_augmentation(weights_dir, photo):
    backend = Arc2FaceBackend(weights_dir, device="cpu", steps=2, size=SIZE, batch=2, caches=False)
    variants = backend.generate(*photo, k=3, seed=0)
    # Random weights draw no face, so both generated images give way to augmentation.
    assert [v.source for v in variants] == ["photo", "augment", "augment"] and made_by(variants) == "augment"
    assert np.array_equal(variants[0].image, context_crop(*photo).image)
    augmented = AugmentBackend().generate(*photo, k=3, seed=0)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(variants, augmented))


@pytest.mark.shared
def test_generated_images_with_one_face_become_arc2face_variants(photos_dir, photo):
    rgb, lms = photo
    centre, half = lms.mean(axis=0).astype(int), int(2.2 * np.linalg.norm(lms[1] - lms[0]))
    x0, y0 = max(centre[0] - half, 0), max(centre[1] - half, 0)
    close_up = cv2.resize(rgb[y0:y0 + 2 * half, x0:x0 + 2 * half], (512, 512), interpolation=cv2.INTER_AREA)
    couple = cv2.resize(load_image(photos_dir / "group" / "couple.jpg"), (512, 512), interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    assert len(get_detector().detect(couple)) > 1
    variants = generated_variants(np.stack([close_up, couple, noise]))
    assert len(variants) == 1 and variants[0].source == "arc2face" and made_by(variants) == "arc2face"
    crop, _ = align_face(variants[0].image, variants[0].landmarks)
    direct, _ = align_face(close_up, get_detector().detect(close_up)[0].landmarks)
    assert np.abs(crop.astype(float) - direct.astype(float)).mean() < 6.0  # the same face, context-cropped


def test_enrolment_on_the_cpu_never_picks_arc2face_by_itself():
    # Every part is in place, but "auto" on a CPU enrolment keeps augmentation;
    # asking for "arc2face" by name still gets it.
    chosen = backend_for("auto", "cpu")
    assert isinstance(chosen, AugmentBackend) and "CUDA GPU" in chosen.note
    assert isinstance(backend_for("arc2face", "cpu"), Arc2FaceBackend)
