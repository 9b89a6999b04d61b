"""Config presets, per-pixel budget maps, robustness transforms, attention (no models needed)."""

import cv2
import numpy as np
import pytest
import torch

from facecloak.cloak.attention import GradientAttention, gaussian_blur
from facecloak.cloak.budget import budget_map, highpass_map, sticker_boxes, sticker_mask
from facecloak.cloak.config import STRENGTHS, CloakConfig
from facecloak.cloak.transforms import (
    LightingJitter,
    RobustnessTransform,
    jitter_delta,
    jpeg_ste,
    elastic_faces,
    resize_down_up,
    zoom_faces,
)
from facecloak.errors import FaceCloakError
from facecloak.faces import template


def textured_face(seed=0):
    """112x112 uint8: flat left half, fine noise texture on the right half."""
    rng = np.random.default_rng(seed)
    img = np.full((112, 112, 3), 128, np.uint8)
    img[:, 56:] = rng.integers(0, 256, (112, 56, 3), dtype=np.uint8)
    return img


# ---------------------------------------------------------------- config
def test_default_config_is_mid_preset():
    cfg = CloakConfig()
    assert (cfg.eps, cfg.sticker_eps, cfg.highpass_eps) == STRENGTHS["mid"] == (4.0, 32.0, 16.0)
    assert cfg.stickers and cfg.highpass and cfg.attention and cfg.robustness
    assert cfg.lighting and cfg.zoom and cfg.elastic == 3.0 and cfg.push_self


def test_presets_grow_and_overrides_apply():
    low, mid, high = (CloakConfig.for_strength(n) for n in ("low", "mid", "high"))
    for name in ("eps", "sticker_eps", "highpass_eps"):  # no budget shrinks from low to high
        assert getattr(low, name) <= getattr(mid, name) <= getattr(high, name)
    total = [sum(c.budgets().values()) for c in (low, mid, high)]
    assert total[0] < total[1] < total[2]
    cfg = CloakConfig.for_strength("high", steps=5, eps=10)
    assert (cfg.strength, cfg.steps, cfg.eps, cfg.sticker_eps) == ("high", 5, 10.0, 32.0)
    assert cfg.replace(strength="low").eps == 4.0
    off = cfg.replace(stickers=False)
    assert off.budgets()["sticker_eps"] is None and off.budgets()["eps"] == 10.0


def test_unknown_strength_lists_valid_ones():
    with pytest.raises(FaceCloakError, match="low, mid, high"):
        CloakConfig.for_strength("extreme")
    with pytest.raises(FaceCloakError):
        CloakConfig(steps=-1)
    with pytest.raises(FaceCloakError, match="anchor"):
        CloakConfig(anchor="near")


# ---------------------------------------------------------------- budget
def test_sticker_mask_covers_eyes_nose_mouth_about_15_percent():
    mask = sticker_mask(112)
    assert mask.dtype == bool and 0.12 <= mask.mean() <= 0.18
    for x, y in np.round(template(112)).astype(int):
        assert mask[y, x]
    assert not mask[5, 5] and not mask[110, 56]
    assert len(sticker_boxes(224)) == 4
    assert sticker_mask(224).mean() == pytest.approx(mask.mean(), abs=0.01)


def test_highpass_map_is_high_on_texture_and_zero_on_flat():
    hp = highpass_map(textured_face())
    assert hp.shape == (112, 112) and hp.dtype == np.float32
    assert hp.min() >= 0.0 and hp.max() <= 1.0
    assert hp[:, :40].max() < 0.05 and hp[:, 70:].mean() > 0.5
    assert highpass_map(np.full((112, 112, 3), 77, np.uint8)).max() == 0.0
    with pytest.raises(ValueError):
        highpass_map(np.zeros((112, 112), np.uint8))


def test_budget_map_combines_base_stickers_and_highpass():
    cfg = CloakConfig()
    face = textured_face()
    b = budget_map(cfg, face)
    assert b.shape == (1, 1, 112, 112) and b.dtype == torch.float32
    b255 = b[0, 0].numpy() * 255
    stick = sticker_mask()
    hp = highpass_map(face, cfg.highpass_sigma)
    assert b255.min() == pytest.approx(cfg.eps)
    np.testing.assert_allclose(b255[stick], cfg.sticker_eps, atol=1e-3)  # 24 >= any high-pass budget
    expected = cfg.eps + (cfg.highpass_eps - cfg.eps) * hp
    np.testing.assert_allclose(b255[~stick], expected[~stick], atol=1e-3)
    assert b255.max() <= cfg.sticker_eps + 1e-3


def test_budget_switches_turn_mechanisms_off():
    face = textured_face()
    budgets = {"eps": 8.0, "sticker_eps": 24.0, "highpass_eps": 16.0}
    flat = budget_map(CloakConfig(stickers=False, highpass=False, **budgets))  # no face needed
    np.testing.assert_allclose(flat.numpy() * 255, 8.0, atol=1e-4)
    no_stick = budget_map(CloakConfig(stickers=False, **budgets), face)[0, 0].numpy() * 255
    assert no_stick.max() <= 16.0 + 1e-3 and no_stick[:, :40].max() == pytest.approx(8.0, abs=0.1)
    no_hp = budget_map(CloakConfig(highpass=False, **budgets), face)[0, 0].numpy() * 255
    assert set(np.round(np.unique(no_hp), 3)) == {8.0, 24.0}
    with pytest.raises(ValueError, match="aligned face"):
        budget_map(CloakConfig())


# ---------------------------------------------------------------- transforms
def test_jpeg_ste_is_real_jpeg_forward_identity_backward():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8), (0, 0), 2)
    x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255).requires_grad_(True)
    y = jpeg_ste(x, 50)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 50])
    ref = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
    np.testing.assert_allclose(y[0].detach().permute(1, 2, 0).numpy(), ref, atol=1e-6)
    (g,) = torch.autograd.grad((y * 3).sum(), x)
    assert torch.allclose(g, torch.full_like(g, 3.0))


def test_resize_and_jitter_are_differentiable_and_keep_zero_delta():
    x = torch.rand(2, 3, 112, 112, requires_grad=True)
    y = resize_down_up(x, 0.6)
    assert y.shape == x.shape
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.abs().sum() > 0
    rng = np.random.default_rng(0)
    assert jitter_delta(torch.zeros(1, 3, 112, 112), 3, rng).abs().max() == 0
    d = torch.ones(1, 3, 112, 112)
    out = jitter_delta(d, 3, rng)
    assert out.shape == (3, 3, 112, 112) and out[:, :, 40:70, 40:70].min() > 0.99


def test_robustness_transform_is_seeded_and_varies_per_call():
    clean = torch.rand(2, 3, 112, 112) * 0.5 + 0.25
    delta = (torch.rand(1, 3, 112, 112) - 0.5) * 0.06

    def draws(seed):
        tf = RobustnessTransform(seed, p=0.7)
        outs, ops = [], []
        for _ in range(6):
            outs.append(tf(clean, delta))
            ops.append(tuple(tf.last))
        return outs, ops

    a, ops_a = draws(3)
    b, ops_b = draws(3)
    assert ops_a == ops_b and all(torch.equal(u, v) for u, v in zip(a, b))
    assert len(set(ops_a)) > 1  # a fresh combination per call
    assert all(o.min() >= 0 and o.max() <= 1 for o in a)


def test_lighting_jitter_relights_each_face_freshly_and_reproducibly():
    flat = torch.full((3, 3, 64, 64), 0.5)
    lj = LightingJitter(seed=1)
    first, second = lj(flat), lj(flat)
    again = LightingJitter(seed=1)(flat)
    assert torch.equal(first, again) and not torch.equal(first, second)
    assert first.shape == flat.shape and first.min() >= 0 and first.max() <= 1
    # each face its own light: the three faces differ, and one face is not flat (shading ramp)
    means = first.mean(dim=(1, 2, 3))
    assert len({round(float(m), 4) for m in means}) == 3
    assert float(first.std(dim=(2, 3)).max()) > 0.005
    # light changes the face, not what is added to it: a dark pixel stays dark, a bright one bright
    ramp = torch.linspace(0, 1, 64).expand(1, 3, 64, 64)
    lit = LightingJitter(seed=2)(ramp)
    assert float(lit[..., :, 2].mean()) < float(lit[..., :, 60].mean())


def test_zoom_faces_rescales_about_the_centre_and_is_differentiable():
    x = torch.zeros(2, 3, 65, 65)
    x[:, :, 30:35, 30:35] = 1.0  # a bright square at the centre
    x.requires_grad_(True)
    rng = np.random.default_rng(0)
    out = zoom_faces(x, rng, scale=(1.0, 1.0))
    assert torch.allclose(out, x, atol=1e-5)  # factor 1 leaves the face as it is
    big = zoom_faces(x, rng, scale=(1.5, 1.5))
    grown = big.detach()[0, 0]
    assert float(grown.sum()) > 1.5 * float(x.detach()[0, 0].sum())  # the square grew about the centre
    assert float(grown[32, 32]) > 0.99 and float(grown[0, 0]) == 0.0
    big.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_elastic_faces_bends_smoothly_within_its_amplitude():
    edge = torch.zeros(3, 3, 112, 112)
    edge[..., 56:] = 1.0  # a vertical edge down the middle
    same = elastic_faces(edge, np.random.default_rng(0), 0.0)
    assert torch.allclose(same, edge, atol=1e-5)
    bent = elastic_faces(edge, np.random.default_rng(0), 3.0)
    column = (bent[:, 0] > 0.5).float().argmax(dim=2)  # where the edge is, per face and row
    moved = (column - 56).abs()
    assert int(moved.max()) <= 4 and int(moved.max()) >= 1  # moved, by at most ~the amplitude
    assert len({tuple(c.tolist()) for c in column}) == 3  # each face its own field
    assert int((column[:, 1:] - column[:, :-1]).abs().max()) <= 1  # smooth: neighbouring rows agree


# ---------------------------------------------------------------- attention
def test_gradient_attention_stays_in_floor_one_and_follows_gradient():
    att = GradientAttention(112, floor=0.5, warmup=1)
    grad = torch.zeros(2, 3, 112, 112)
    grad[:, :, 40:60, 40:60] = 1.0
    w = att.update(grad)
    assert w.shape == (1, 1, 112, 112)
    assert float(w.min()) >= 0.5 - 1e-6 and float(w.max()) <= 1.0 + 1e-6
    assert float(w[0, 0, 50, 50]) == pytest.approx(1.0) and float(w[0, 0, 5, 5]) == pytest.approx(0.5)
    const = torch.full((1, 1, 20, 20), 2.0)
    assert torch.allclose(gaussian_blur(const, 2.0), const)
