"""Every cloak method stays in its per-pixel budget, lowers its loss, and behaves.

Correctness, not strength: the real `faceplugin` surrogate (small and fast),
few steps, the varied faces of one real photo from ../shared.
"""

import numpy as np
import pytest
import torch

from facecloak.cloak.budget import budget_map, highpass_map, sticker_mask
from facecloak.cloak.config import STRENGTHS, CloakConfig
from facecloak.cloak.mask import CloakMask
from facecloak.cloak.methods import (METHODS, Cancelled, FaceCloak, OPOM, PerImagePGD, faces_to_tensor,
                                     get_method, to_uint8)
from facecloak.cloak.methods.opom import convex_hull_point, project_simplex
from facecloak.cloak.surrogates import load_surrogates, torch_surrogate
from facecloak.errors import FaceCloakError

pytestmark = [pytest.mark.models, pytest.mark.shared]
SURROGATE = ("faceplugin",)
# The core loop without its random transforms, so that short runs are comparable step to step.
FAST = dict(surrogates=SURROGATE, steps=4, k=4, batch=None, robustness=False, lighting=False, zoom=False,
            elastic=0.0)


def fast(**changes) -> CloakConfig:
    """A small, quick config on the one surrogate; ``changes`` override it."""
    return CloakConfig(**{**FAST, **changes})


@pytest.fixture(scope="module")
def nets():
    return load_surrogates(SURROGATE)


@pytest.fixture(scope="module")
def varied(photos_dir):
    """(faces (4, 3, 112, 112) [0, 1], face0 (112, 112, 3) uint8) from one real portrait."""
    from facecloak.cloak.variations import AugmentBackend
    from facecloak.faces import align_face, get_detector, load_image

    rgb = load_image(photos_dir / "portrait" / "person-vlado.jpg")
    face = get_detector().detect(rgb)[0]
    variants = AugmentBackend().generate(rgb, face.landmarks, k=4, seed=0)
    crops = [align_face(v.image, v.landmarks)[0] for v in variants]
    return faces_to_tensor(crops), align_face(rgb, face.landmarks)[0]


def cosines(net, a, b):
    with torch.no_grad():
        return (net(a) * net(b)).sum(dim=1)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_stays_in_its_budget(name, nets, varied):
    faces, face0 = varied
    cfg = fast(steps=2)
    method = get_method(name, cfg, nets)
    inputs = faces[:1] if not method.universal else faces[:2]
    mask = method.fit(inputs, face0 if method.universal else None, backend="test")
    assert isinstance(mask, CloakMask)
    budget = (budget_map(cfg, face0 if method.universal else (inputs[0].permute(1, 2, 0).numpy() * 255)
                         .round().astype(np.uint8))[0, 0].numpy() * 255)
    assert np.all(np.abs(mask.delta) <= budget[..., None] + 1e-3)
    assert mask.linf > 0
    meta = mask.meta
    assert meta["method"].startswith(name.split("-")[0]) and meta["models"] == list(SURROGATE)
    assert (meta["eps"], meta["sticker_eps"], meta["highpass_eps"]) == STRENGTHS["mid"]
    assert meta["backend"] == "test" and meta["seed"] == 0 and meta["version"]
    assert CloakMask.from_bytes(mask.to_bytes()).meta["method"] == meta["method"]


def test_stickers_and_highpass_get_their_larger_budget(nets, varied):
    faces, face0 = varied
    cfg = fast(attention=False, eps=2.0, sticker_eps=6.0, highpass_eps=4.0)
    mask = FaceCloak(cfg, nets).fit(faces, face0)
    mag = np.abs(mask.delta).max(axis=2)
    stick = sticker_mask()
    hp = highpass_map(face0, cfg.highpass_sigma)
    textured = ~stick & (hp > 0.6)
    assert cfg.eps + 0.5 < mag[stick].max() <= cfg.sticker_eps + 1e-3
    assert cfg.eps + 0.5 < mag[textured].max()
    assert np.all(mag[~stick] <= cfg.eps + (cfg.highpass_eps - cfg.eps) * hp[~stick] + 1e-3)
    off = FaceCloak(cfg.replace(stickers=False, highpass=False), nets).fit(faces, face0)
    assert off.linf <= cfg.eps + 1e-3
    assert off.meta["sticker_eps"] is None and off.meta["highpass_eps"] is None


@pytest.mark.parametrize("make", [
    lambda cfg, nets: FaceCloak(cfg, nets),
    lambda cfg, nets: OPOM(cfg, nets, mode="centre"),
    lambda cfg, nets: OPOM(cfg, nets, mode="affine"),
    lambda cfg, nets: OPOM(cfg, nets, mode="convex"),
    lambda cfg, nets: PerImagePGD(cfg, nets),
], ids=["facecloak", "opom-centre", "opom-affine", "opom-convex", "pgd"])
def test_loss_decreases_on_the_surrogate(make, nets, varied):
    faces, face0 = varied
    method = make(fast(), nets)
    delta = method.run(faces, face0=face0 if method.universal else None)
    assert len(method.history) == 4
    assert method.evaluate_loss(faces, delta) < method.evaluate_loss(faces) - 0.05
    assert method.history[-1] < method.history[0]


def test_facecloak_lowers_clean_to_cloaked_cosine_more_than_noise(nets, varied):
    faces, face0 = varied
    cfg = fast()
    delta = FaceCloak(cfg, nets).run(faces, face0=face0)
    noise = get_method("uniform", cfg, nets).run(faces, face0=face0)
    cloaked = cosines(nets[0], faces, (faces + delta).clamp(0, 1))
    noisy = cosines(nets[0], faces, (faces + noise).clamp(0, 1))
    assert float(cloaked.mean()) < 0.7 and float(cloaked.mean()) < float(noisy.mean()) - 0.1


def test_far_anchor_is_the_least_similar_gallery_identity(nets, varied):
    faces, face0 = varied
    with torch.no_grad():
        enrol = nets[0](faces[:1])[0].numpy()
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(6, enrol.size)).astype(np.float32)
    gallery[4] = -enrol  # the most distant identity possible
    method = FaceCloak(fast(steps=2, anchor="far"), nets, anchor_gallery={"faceplugin": gallery})
    mask = method.fit(faces, face0)
    assert method.anchor_index == 4 and mask.meta["anchor_index"] == 4
    assert FaceCloak(fast(anchor="none"), nets, anchor_gallery={}).anchor_gallery == {}
    by_default = FaceCloak(fast(steps=2), nets, anchor_gallery={"faceplugin": gallery})
    assert by_default.fit(faces, face0).meta["anchor_index"] is None  # the default only pushes away
    with pytest.raises(FaceCloakError, match="faceplugin"):
        FaceCloak(fast(anchor="far"), nets, anchor_gallery={"other": gallery})


def test_zoom_and_elastic_reach_the_optimisation_within_budget(nets, varied):
    faces, face0 = varied
    zoomed = FaceCloak(fast(attention=False, zoom=True, steps=6), nets).fit(faces, face0)
    bent = FaceCloak(fast(attention=False, elastic=3.0, steps=6), nets).fit(faces, face0)
    budget = budget_map(fast(), face0)[0, 0].numpy() * 255
    for mask in (zoomed, bent):
        assert np.all(np.abs(mask.delta) <= budget[..., None] + 1e-3) and mask.linf > 0
    assert zoomed.meta["zoom"] is True
    six = FaceCloak(fast(attention=False, steps=6), nets).fit(faces, face0).delta
    assert not np.array_equal(zoomed.delta, six) and not np.array_equal(bent.delta, six)
    assert bent.meta["elastic"] == 3.0
    with pytest.raises(FaceCloakError):
        fast(elastic=-1.0)


def test_per_image_pgd_ignores_the_next_photo_changes(nets, varied):
    faces, _ = varied
    plain = PerImagePGD(fast(steps=3), nets).run(faces[:2])
    varied_light = PerImagePGD(fast(steps=3, lighting=True, elastic=3.0), nets).run(faces[:2])
    assert torch.equal(plain, varied_light)  # a per-image delta is fitted to its own photo as it is
    meta = PerImagePGD(fast(steps=1, lighting=True, elastic=3.0), nets).fit(faces[:1]).meta
    assert meta["lighting"] is False and meta["elastic"] == 0.0  # the metadata says what was in effect


def test_pgd_refines_a_universal_mask_from_where_it_is(nets, varied):
    faces, face0 = varied
    universal = FaceCloak(fast(steps=3), nets).run(faces[:2], face0=face0)  # (1, 3, 112, 112)
    probe = faces[2:3]
    budget = budget_map(fast(), to_uint8(probe[0]))
    mask_only = PerImagePGD(fast(), nets)
    mask_only.setup(probe)
    before = mask_only.evaluate_loss(probe, universal.clamp(-budget, budget))
    refined = PerImagePGD(fast(steps=2), nets, start=universal).run(probe)
    assert (refined.abs() <= budget + 1e-6).all()
    assert mask_only.evaluate_loss(probe, refined) < before - 0.01  # the steps lower the probe's own similarity
    from_zero = PerImagePGD(fast(steps=2), nets).run(probe)
    # two sign steps from zero move a pixel by at most twice the step; from the mask, as far as the mask went
    assert refined.abs().max() > from_zero.abs().max() + 1 / 255
    with pytest.raises(ValueError, match="start must be"):
        PerImagePGD(fast(steps=1), nets, start=universal[:, :, :100]).run(probe)


def test_push_self_adds_each_variants_own_clean_embedding_to_the_loss(nets, varied):
    faces, _ = varied
    index = torch.arange(faces.shape[0])
    gen = torch.Generator().manual_seed(0)  # not the global generator: what ran before must not decide the draw
    f = torch.nn.functional.normalize(torch.randn(faces.shape[0], nets[0](faces[:1]).shape[1], generator=gen), dim=1)
    losses = {}
    for push in (False, True):
        method = FaceCloak(fast(anchor="none", push_self=push), nets)
        method.setup(faces)
        losses[push] = float(method.loss([f], index))
    enrol, centroid, own = method.enrol[0], method.centroid[0], method.clean[0]
    plain = float((0.5 * (f @ enrol + f @ centroid)).mean())
    pushed = float(((f @ enrol + f @ centroid + (f * own).sum(dim=1)) / 3).mean())
    assert losses[False] == pytest.approx(plain, abs=1e-6) and losses[True] == pytest.approx(pushed, abs=1e-6)
    assert abs(losses[True] - losses[False]) > 1e-4, losses



def test_progress_cancel_and_seed(nets, varied):
    faces, face0 = varied
    cfg = fast(steps=3, robustness=True)
    faces = faces[:2]
    seen = []
    a = FaceCloak(cfg, nets, progress=lambda f, m: seen.append(f)).run(faces, face0=face0)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])
    b = FaceCloak(cfg, nets).run(faces, face0=face0)
    assert torch.equal(a, b)
    polls = iter([False, True])
    with pytest.raises(Cancelled):
        FaceCloak(cfg, nets, should_stop=lambda: next(polls)).run(faces, face0=face0)


def test_pgd_is_per_image_and_inputs_are_checked(nets, varied):
    faces, _ = varied
    pgd = PerImagePGD(fast(steps=1), nets)
    assert pgd.run(faces[:2]).shape == (2, 3, 112, 112)
    with pytest.raises(FaceCloakError, match="one image-specific mask"):
        pgd.fit(faces[:2])
    with pytest.raises(ValueError, match="expected faces"):
        pgd.run(faces[:, :, :100])
    with pytest.raises(FaceCloakError, match="known:"):
        get_method("fgsm")


def test_black_boxes_are_never_surrogates():
    with pytest.raises(FaceCloakError, match="not a surrogate"):
        torch_surrogate("mobileface")


def test_simplex_projection_and_convex_hull_point():
    w = project_simplex(torch.tensor([[0.2, 0.3, 0.9], [-1.0, 5.0, 0.0], [0.1, 0.1, 0.1]]))
    assert torch.allclose(w.sum(dim=1), torch.ones(3)) and float(w.min()) >= 0
    assert torch.allclose(w[1], torch.tensor([0.0, 1.0, 0.0]))
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    p = convex_hull_point(torch.tensor([[1.0, 1.0], [0.2, 0.2], [-1.0, -0.5]]), x, iters=300)
    assert torch.allclose(p, torch.tensor([[0.5, 0.5], [0.2, 0.2], [0.0, 0.0]]), atol=1e-3)



def test_lighting_fits_the_mask_under_fresh_light_within_its_budget(nets, varied):
    faces, face0 = varied
    cfg = fast(lighting=True)
    lit = FaceCloak(cfg, nets).fit(faces, face0)
    plain = FaceCloak(fast(), nets).fit(faces, face0)
    budget = budget_map(cfg, face0)[0, 0].numpy() * 255
    assert np.all(np.abs(lit.delta) <= budget[..., None] + 1e-3) and lit.linf > 0
    assert lit.meta["lighting"] is True and plain.meta["lighting"] is False
    assert not np.array_equal(lit.delta, plain.delta)  # the light reached the optimisation


def test_attention_floor_and_quantile_reach_the_attention_and_the_metadata(nets, varied):
    faces, face0 = varied
    method = FaceCloak(fast(attention_floor=0.0, attention_quantile=0.8, steps=4), nets)
    mask = method.fit(faces, face0)
    weights = method.attention.weights
    assert float(weights.min()) < 0.5  # below the old fixed floor: flat regions give up their budget
    assert float((weights >= 1.0 - 1e-6).float().mean()) == pytest.approx(0.2, abs=0.02)  # the top 20% keep it all
    assert mask.meta["attention"] == {"floor": 0.0, "quantile": 0.8}
    budget = budget_map(fast(), face0)[0, 0].numpy() * 255
    assert np.all(np.abs(mask.delta) <= budget[..., None] + 1e-3)
    for bad in (dict(attention_floor=-0.1), dict(attention_quantile=0.0)):
        with pytest.raises(FaceCloakError):
            fast(**bad)


def test_the_loop_tunes_its_threads_on_the_cpu_and_restores_them(nets, varied, monkeypatch):
    from facecloak.cloak.threads import usable_cpus

    monkeypatch.delenv("FACECLOAK_THREADS", raising=False)
    faces, face0 = varied
    before = torch.get_num_threads()
    method = FaceCloak(fast(steps=4), nets)
    method.run(faces, face0=face0)
    assert torch.get_num_threads() == before
    if usable_cpus() >= 2:  # one probe (steps 1 and 2), kept count one of the two it timed
        [(step, many, few, kept)] = method.thread_choices
        assert step == 1 and many > 0 and few > 0 and kept in (usable_cpus() // 2, usable_cpus())
    else:
        assert method.thread_choices == []
    monkeypatch.setenv("FACECLOAK_THREADS", "1")
    fixed = FaceCloak(fast(steps=4), nets)
    fixed.run(faces, face0=face0)
    assert fixed.thread_choices == []


def test_the_centroid_is_the_users_own_variants(nets, varied):
    faces, _ = varied
    every = FaceCloak(fast(), nets)
    every.setup(faces)
    own = FaceCloak(fast(), nets, own=[0, 2, 3])  # face 1 stands for a look-alike
    own.setup(faces)
    clean = every.clean[0]
    assert torch.allclose(every.centroid[0], torch.nn.functional.normalize(clean.mean(dim=0), dim=0))
    expected = torch.nn.functional.normalize(clean[[0, 2, 3]].mean(dim=0), dim=0)
    assert torch.allclose(own.centroid[0], expected, atol=1e-6)
    assert not torch.allclose(own.centroid[0], every.centroid[0], atol=1e-4)
