"""The privacy benchmark: its metrics on synthetic data, and a tiny end-to-end run on LFW.

The end-to-end run (2 users, 50 distractors, methods none + uniform, three
fast FR models, two robustness variants) needs ``../shared`` and the fetched
models; it checks the JSON's structure, that metrics are in range and that
an unprotected photo is found by a strong model.
"""

import json
import sys

import numpy as np
import pytest
from PIL import Image

from facecloak.bench import quality, scoring
from facecloak.bench.privacy_cli import METHOD_NAMES, VARIANT_NAMES
from facecloak.bench.privacy_methods import METHODS, get_method
from facecloak.bench.robustness import VARIANTS, shrink_to
from facecloak.errors import FaceCloakError

# --------------------------------------------------------------- quality


def _ssim_bruteforce(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM with an explicit 11x11 Gaussian window (valid pixels only)."""
    r, sigma = 5, 1.5
    t = np.arange(-r, r + 1)
    g = np.exp(-t**2 / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for y in range(r, a.shape[0] - r):
        for x in range(r, a.shape[1] - r):
            pa, pb = a[y - r:y + r + 1, x - r:x + r + 1], b[y - r:y + r + 1, x - r:x + r + 1]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
            cov = (w * pa * pb).sum() - ma * mb
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_the_definition():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 20)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    assert quality.ssim(a, b) == pytest.approx(_ssim_bruteforce(a, b), abs=1e-9)
    assert quality.ssim(a, b) == pytest.approx(quality.ssim(b, a))
    assert quality.ssim(a, a) == pytest.approx(1.0)


def test_ssim_colour_is_mean_of_channels_and_psnr_known_value():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    per = [quality.ssim(a[..., c], b[..., c]) for c in range(3)]
    assert quality.ssim(a, b) == pytest.approx(np.mean(per))
    c = a.astype(np.float64) + 5.0  # MSE 25 -> 10 log10(255^2 / 25)
    assert quality.psnr(a, c) == pytest.approx(10 * np.log10(255**2 / 25))
    assert quality.psnr(a, a) == float("inf")
    with pytest.raises(ValueError):
        quality.ssim(a, a[:, :-1])
    s = quality.summarise([float("inf"), 30.0, 40.0])
    assert s["n_identical"] == 1 and s["mean"] == pytest.approx(35.0)


# --------------------------------------------------------------- scoring


def test_probe_scores_rank_and_psr():
    # Gallery: 2 photos of user 0, 1 of user 1, 2 distractors; unit vectors on axes.
    eye = np.eye(5, dtype=np.float32)
    gallery, gallery_user = eye, np.array([0, 0, 1, -1, -1])
    probes = np.stack([eye[0], eye[3], 0.6 * eye[3] + 0.8 * eye[1]])
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    probe_user = np.array([0, 0, 1])
    s = scoring.probe_scores(probes, probe_user, gallery, gallery_user, eye[[0, 2]])
    # probe 0 = its own photo: rank 0; probe 1 = a distractor: rank 1 (one distractor above,
    # own photos tie with the other distractor at 0); probe 2 of user 1 is nearest user 0's photo.
    assert list(s["rank"]) == [0, 1, 2]
    out = scoring.summarise(s, threshold=0.5)
    assert out["psr1"] == pytest.approx(2 / 3) and out["psr5"] == 0.0
    assert out["verification"] == pytest.approx(2 / 3)  # probes 1 and 2 are far from their enrolment
    with pytest.raises(ValueError):
        scoring.probe_scores(probes, np.array([0, 0, 2]), gallery, gallery_user, eye[[0, 2, 4]])


def test_roles_never_call_an_optimised_model_a_black_box():
    roles = scoring.model_roles(["faceplugin", "facenet-casia", "mobileface", "dlib-resnet"],
                                ("faceplugin", "mobileface"))
    assert roles == {"faceplugin": "surrogate", "facenet-casia": "other", "mobileface": "surrogate",
                     "dlib-resnet": "black box"}
    per_model = {m: {"psr1": v, "psr5": v, "verification": v}
                 for m, v in zip(roles, (1.0, 0.5, 0.8, 0.0), strict=True)}
    groups = scoring.group_means(per_model, roles)
    assert groups["black box"]["models"] == ["dlib-resnet"] and groups["black box"]["psr1"] == 0.0
    assert groups["surrogate"]["psr1"] == pytest.approx(0.9)


def test_bootstrap_resamples_users():
    ranks = {"m": np.array([0, 0, 5, 5, 5, 0])}
    lo, hi = scoring.bootstrap_group_psr(ranks, np.array([0, 0, 1, 1, 2, 2]), reps=500)
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    assert scoring.bootstrap_group_psr(ranks, np.zeros(6, int)) is None


# --------------------------------------------------------------- methods, names


def test_cli_names_match_the_tables():
    assert METHOD_NAMES == tuple(METHODS)
    assert VARIANT_NAMES == VARIANTS
    with pytest.raises(FaceCloakError, match="known"):
        get_method("no-such-method")


def test_names_option_picks_the_users(tmp_path):
    from facecloak.cli import build_parser

    args = build_parser().parse_args(["bench", "privacy", "--names", "Ian_Thorpe", "Jason_Kidd",
                                      "--out", str(tmp_path)])
    assert args.names == ["Ian_Thorpe", "Jason_Kidd"] and args.users is None


@pytest.mark.shared
def test_named_users_must_be_eligible(lfw):
    from facecloak.bench.privacy import select_users

    assert select_users(lfw, ["Jason_Kidd", "Ian_Thorpe"], quick=True, seed=0) == ["Ian_Thorpe", "Jason_Kidd"]
    with pytest.raises(FaceCloakError, match="No_Such_Person"):
        select_users(lfw, ["No_Such_Person"], quick=True, seed=0)


def test_black_box_models_are_never_default_surrogates():
    from facecloak.models.registry import DEFAULT_BLACKBOXES

    for name in METHODS:
        m = get_method(name)
        assert not set(m.surrogates) & set(DEFAULT_BLACKBOXES), name
    assert get_method("none").surrogates == () and get_method("uniform").surrogates == ()


def test_shrink_is_a_noop_on_small_photos():
    small = np.zeros((250, 250, 3), np.uint8)
    assert shrink_to(small) is small
    assert shrink_to(np.zeros((1250, 1000, 3), np.uint8)).shape == (1080, 864, 3)


# --------------------------------------------------------------- on real photos


@pytest.mark.shared
@pytest.mark.models
def test_idealised_without_mask_matches_realistic_embedding(lfw):
    from facecloak.bench.embed import dlib_chip_from_image, idealised_embeddings
    from facecloak.bench.lfw_data import photo_path
    from facecloak.faces import get_detector, load_image
    from facecloak.faces.align import warp_antialiased
    from facecloak.models.fr import load_embedder

    rgb = load_image(photo_path(lfw, "Ian_Thorpe", 2))
    lm = get_detector().detect(rgb)[0].landmarks
    embedders = {m: load_embedder(m) for m in ("faceplugin", "dlib-resnet")}
    ide = idealised_embeddings(embedders, rgb, lm, None)
    for name, emb in embedders.items():
        assert float(ide[name] @ emb.embed_faces(rgb, [lm])[0]) > 0.99, name
    # The chip frame we compute is dlib's own.
    dl = embedders["dlib-resnet"]
    import dlib

    c, h = np.mean(lm, axis=0), 1.25 * np.linalg.norm(lm[1] - lm[0])
    shape = dl.shape5(rgb, dlib.rectangle(int(c[0] - h), int(c[1] - 1.1 * h), int(c[0] + h), int(c[1] + 0.9 * h)))
    ours = warp_antialiased(rgb, dlib_chip_from_image(dlib.get_face_chip_details(shape, 150, 0.25)), (150, 150))
    assert np.abs(ours.astype(float) - dlib.get_face_chip(rgb, shape, 150, 0.25)).mean() < 1.5


@pytest.mark.shared
@pytest.mark.models
def test_tiny_end_to_end_run(lfw, tmp_path):
    from facecloak.bench import privacy

    models = ["mobilefacenet", "faceplugin", "hse-faceres"]
    doc = privacy.run(tmp_path / "out", users=["Ian_Thorpe", "Jason_Kidd"], distractors=50,
                      methods=["none", "uniform"], models=models, variants=["uploaded", "jpeg75"],
                      latency=False, plots=False, cache_dir=tmp_path / "cache", progress=False,
                      thresholds=tmp_path / "absent.json", tool_detector="rfb")
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["protocol"] == doc["protocol"]
    assert (doc["protocol"]["detector"], doc["protocol"]["tool_detector"]) == ("dlib", "rfb")
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.startswith("# Privacy benchmark") and "Detector `dlib` (the tool's: `rfb`)" in report
    per_probe = np.load(tmp_path / "out" / "per_probe.npz")
    assert len(per_probe["probe_keys"]) == 10

    proto = doc["protocol"]
    assert proto["n_users"] == 2 and proto["n_probes"] == 10 and proto["distractors"] == 50
    assert proto["gallery_size"] == 50 + proto["own_gallery_photos"] == 58  # 2 x (10 - 1 - 5)
    assert {"commit", "versions", "seed", "args"} <= set(doc["meta"])
    for m in models:
        assert "random cross-identity" in doc["models"][m]["threshold_source"]
    assert set(doc["methods"]) == {"none", "uniform"}
    for name, res in doc["methods"].items():
        assert set(res["scores"]) == {"uploaded", "jpeg75", "idealised"}
        for variant, s in res["scores"].items():
            assert s["n_probes"] == 10
            for r in s["per_model"].values():
                for key in ("psr1", "psr5", "verification"):
                    assert 0.0 <= r[key] <= 1.0
                assert r["psr5"] <= r["psr1"]
            assert s["groups"]["black box"]["models"] == ["hse-faceres"]
        q = res["quality"]
        assert 0.0 < q["uploaded_face_ssim"]["mean"] <= 1.0 and q["uploaded_photo_psnr"]["mean"] > 25
    # An unprotected photo is found: mobilefacenet is 99% accurate on LFW.
    assert doc["methods"]["none"]["scores"]["uploaded"]["per_model"]["mobilefacenet"]["psr1"] <= 0.2
    assert doc["methods"]["none"]["quality"]["cloak_face_psnr"]["n_identical"] == 10
    assert doc["methods"]["none"]["quality"]["cloak_face_ssim"]["mean"] == pytest.approx(1.0)
    uni = doc["methods"]["uniform"]
    assert uni["surrogates_used"] == [] and uni["roles"]["faceplugin"] == "other"
    assert 0.0 < uni["mask_linf"]["max"] <= 32.0 + 1e-3  # mid: 4/255, 32 on the stickers
    assert uni["quality"]["cloak_face_ssim"]["mean"] < 1.0


@pytest.mark.models
def test_refine_pushes_the_probe_further_than_the_users_mask_alone(lfw):
    import torch

    from facecloak.bench.privacy_methods import Enrolled, FaceCloakRefine, apply_mask
    from facecloak.cloak.mask import CloakMask
    from facecloak.cloak.methods import faces_to_tensor
    from facecloak.cloak.surrogates import load_surrogates
    from facecloak.faces import align_face, get_detector, load_image

    rgb = load_image(lfw / "images" / "Ian_Thorpe" / "Ian_Thorpe_0002.jpg")
    face = get_detector().detect(rgb)[0]
    delta = np.random.default_rng(0).choice([-4.0, 4.0], size=(112, 112, 3)).astype(np.float32)
    mask = CloakMask(delta, {"method": "facecloak", "models": ["faceplugin"]})
    method = FaceCloakRefine(overrides={"surrogates": ("faceplugin",)})
    out = method.cloak(Enrolled(mask, 0.0), rgb, face, seed=1)
    plain = apply_mask(rgb, mask, face)
    assert not np.array_equal(out.mask.delta, delta) and out.mask.linf <= 32.0 + 1e-3
    reach = apply_mask(rgb, CloakMask(np.full((112, 112, 3), 32.0, np.float32), mask.meta), face) != rgb
    assert ((out.rgb != rgb) & ~reach).sum() == 0  # only the face's footprint changes
    net = load_surrogates(("faceplugin",))[0]

    def sim(img):
        crops = [align_face(x, face.landmarks)[0] for x in (img, rgb)]
        with torch.no_grad():
            a, b = net(faces_to_tensor(crops))
        return float(a @ b)

    assert sim(out.rgb) < sim(plain) - 0.05


@pytest.mark.shared
def test_a_run_that_cannot_measure_latency_fails_before_it_starts(lfw, tmp_path, monkeypatch):
    from facecloak.bench import privacy

    (tmp_path / "elsewhere" / "data").mkdir(parents=True)  # a shared folder without the photos
    monkeypatch.setenv("FACECLOAK_SHARED", str(tmp_path / "elsewhere"))
    with pytest.raises(FaceCloakError, match="latency benchmark needs"):
        privacy.run(tmp_path / "out", users=["Ian_Thorpe"], distractors=5, methods=["none"], lfw=lfw,
                    cache_dir=tmp_path / "cache", progress=False, latency=True)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing was computed


@pytest.mark.shared
def test_latency_structure(shared_dir):
    from facecloak.bench.latency import measure_latency

    lat = measure_latency(sizes_mp=(0.2,), reps=2, warmup=1)
    (size,) = lat["sizes"]
    assert size["width"] * size["height"] == pytest.approx(0.2e6, rel=0.01)
    assert size["ratio"]["median"] > 0 and size["ratio"]["min"] <= size["ratio"]["max"]
    assert size["ratio_plain"]["min"] <= size["ratio_plain"]["median"] <= size["ratio_plain"]["max"]
    assert len({size["plain_ms"]["median"], size["baseline_ms"]["median"], size["cloak_ms"]["median"]}) == 3


def test_plain_reencode_keeps_pixels_size_and_metadata():
    import io

    from PIL import Image

    from facecloak.bench.latency import plain_reencode

    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, subsampling=2, exif=exif)
    out = plain_reencode(buf.getvalue())
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == "JPEG" and img.size == (64, 48)
        assert img.getexif()[0x010F] == "PhoneMaker"
        assert img.layer == [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]  # 4:4:4


@pytest.mark.shared
def test_bench_latency_writes_results_and_report(shared_dir, tmp_path, capsys):
    from facecloak.cli import main

    blocks_before = Image.core.get_blocks_max()
    assert main(["bench", "latency", "--reps", "1", "--megapixels", "0.3", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    (size,) = doc["latency"]["sizes"]
    assert size["megapixels"] == 0.3 and size["faces_cloaked"] >= 1
    assert list(size["detect_stage_ms"]) == ["shrink", "detect", "refine", "human_check"]
    assert sum(size["detect_stage_ms"].values()) <= size["detect_ms"]["max"]
    steps = size["cloak_step_ms"]  # the cloak of the JPEG step by step
    assert list(steps) == ["decode", "find", "landmarks", "paste_encode"]
    assert all(v["median"] > 0 for v in steps.values())
    report = (tmp_path / "report.md").read_text()
    assert report in capsys.readouterr().out and "| 0.3 MP |" in report
    floor = sum(steps[k]["median"] for k in ("decode", "landmarks", "paste_encode"))
    assert f"| {floor:.0f} | {floor / size['plain_ms']['median']:.2f} |" in report
    assert size["faces_cloaked_user"] == 1 and size["cloak_user_ms"]["median"] > 0  # the daemon's default
    assert "Only the user's faces" in report
    assert doc["latency"]["allocator"].startswith("Pillow keeps") and "Image memory: Pillow keeps" in report
    assert Image.core.get_blocks_max() == blocks_before  # as it was before the benchmark
    if sys.platform != "win32":  # page faults per call of each way, counted
        assert set(size["page_faults"]) == {"plain", "baseline", "cloak"}
        assert all(v >= 0 for v in size["page_faults"].values())


@pytest.mark.shared
def test_bench_latency_times_the_photo_it_is_given(shared_dir, tmp_path, capsys):
    from facecloak.cli import main

    photo = shared_dir / "data" / "photos" / "group" / "group-3.jpg"
    assert main(["bench", "latency", "--reps", "1", "--megapixels", "0.5", "--photo", str(photo),
                 "--out", str(tmp_path)]) == 0
    lat = json.loads((tmp_path / "results.json").read_text())["latency"]
    assert lat["photo"] == "group-3.jpg" and lat["sizes"][0]["faces_cloaked"] == 4
    assert "Photo `group-3.jpg`" in capsys.readouterr().out


def test_plots_draw(tmp_path):
    pytest.importorskip("matplotlib")
    from facecloak.bench import plots

    points = [{"value": v, "blackbox_psr1": v / 20, "surrogate_psr1": None, "per_model": {"a": v / 16},
               "face_ssim": 0.9} for v in (2, 8, 16)]
    img = np.full((40, 40, 3), 100, np.uint8)
    files = plots.write_all(tmp_path, {"budget": {"uniform": points}},
                            {"uniform": [{"key": ("x", 1), "clean": img, "uploaded": img + 3}]})
    assert files == {"budget": "psr_vs_budget.png", "examples": "examples.png"}
    assert (tmp_path / "psr_vs_budget.png").stat().st_size > 1000
