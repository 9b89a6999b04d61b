"""Cloak latency per photo, as a ratio to plain decode + encode of the same photo.

Method (STYLE.md item 12): one large real photo (the largest in
``shared/data/photos/deepface``) is resized to 1, 4 and 12 megapixels and
stored as a phone would (JPEG q95, 4:2:0). For each size, after ``warmup``
untimed rounds, ``reps`` rounds each time

    plain     decode + encode with Pillow alone (`plain_reencode`: the file
              decoded and saved as JPEG q95 4:4:4 with its metadata), what
              any re-save of the photo costs;
    baseline  decode + encode the engine's way (`load_image_with_info` to a
              numpy array, `encode_like` back): plain plus the two copies
              between Pillow and numpy, ~50-80 ms of a 12 MP photo;
    cloak     the public API `facecloak.cloak.apply.cloak_bytes` (decode,
              detect every face, warp the mask into each, encode),
    user      the same for only the user's faces (``only_user``, the
              daemon's default; the user is the photo's widest face), which
              embeds every face found with the match model first,

side by side in alternating order, so that machine noise hits all alike.
The ratios are taken per round (cloak / plain, cloak / baseline) and
reported as median and spread (25th-75th percentile, min, max); cloak /
plain is the headline, the stricter of the two. The absolute milliseconds are
reported too, and, timed in the same rounds, face detection alone on the
decoded photo (the default detector, which `cloak_bytes` runs), to show how
much of the cloak's cost is finding the faces, with the median of each of
its stages (`FaceDetector.detect`'s ``timings``). Also in the same rounds,
the steps of the cloak of a JPEG (`facecloak.cloak.pillow_path`) run one
after another, each timed alone (`cloak_steps`): the full decode, the
reduced decode with the face finding (which `cloak_bytes` runs beside the
full decode, on a second thread), the landmarks and human check, and the
paste with the encode (strip by strip on both threads, `cloak_and_encode`).
The full decode, landmarks and paste with encode follow one another in any
cloak, so their sum is what the cloak would take even were the faces found
for free; its ratio to plain decode + encode is the lowest
any detector could bring the cloak to on these cores. The mask is a
uniform-noise mask: the cost of applying a mask does not depend on its
values.

Pillow keeps freed image memory for the next image while this runs
(`kept_image_blocks`), so that whether a 12 MP decode faults in fresh pages
(~20 ms) does not depend on what ran before it; the page faults of each
call are counted and reported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import FaceCloakError
from ..faces import get_detector, load_image, load_image_with_info
from ..paths import shared_dir

SIZES_MP = (1.0, 4.0, 12.0)


def largest_photo(folder: Path | None = None) -> Path:
    """The photo with the most pixels in ``shared/data/photos/deepface``."""
    if folder is None:
        shared = shared_dir()
        if shared is None:
            raise FaceCloakError("the latency benchmark needs ../shared/data/photos/deepface")
        folder = shared / "data" / "photos" / "deepface"
    if not folder.is_dir():
        raise FaceCloakError(f"the latency benchmark needs the photos of {folder}")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FaceCloakError(f"no photos in {folder}")
    def pixels(p: Path) -> int:
        with Image.open(p) as img:
            return img.size[0] * img.size[1]

    return max(photos, key=pixels)


def photo_at(rgb: np.ndarray, megapixels: float) -> bytes:
    """``rgb`` resized (area, keeping the aspect) to ``megapixels``, as phone JPEG bytes (q95, 4:2:0)."""
    h, w = rgb.shape[:2]
    f = np.sqrt(megapixels * 1e6 / (h * w))
    resized = cv2.resize(rgb, (round(w * f), round(h * f)),
                         interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    buf = io.BytesIO()
    Image.fromarray(resized).save(buf, "JPEG", quality=95, subsampling=2)
    return buf.getvalue()


def plain_reencode(data: bytes) -> bytes:
    """Decode and save again as JPEG q95 4:4:4 (EXIF and ICC kept) with Pillow alone."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        params = {k: img.info[k] for k in ("exif", "icc_profile") if img.info.get(k)}
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95, subsampling=0, **params)
    return buf.getvalue()


def _engine_paths():
    """(baseline fn, cloak fn, implementation): the engine's decode + encode and `cloak_bytes`."""
    from ..cloak.apply import cloak_bytes
    from ..cloak.encode import encode_like

    def baseline(data: bytes) -> bytes:
        rgb, info = load_image_with_info(data)
        return encode_like(rgb, data, info)[0]

    def cloak(data: bytes, mask) -> int:
        return cloak_bytes(data, mask).faces_cloaked

    return baseline, cloak, "engine: facecloak.cloak.apply.cloak_bytes vs decode + encode_like"


@contextlib.contextmanager
def kept_image_blocks(blocks: int = 32) -> Iterator[str]:
    """While inside, Pillow keeps the memory blocks of freed images (up to ``blocks`` of
    its 16 MB; a 12 MP RGB image takes 3) for the next images; yields what it set.

    By default each image's blocks go back to the C allocator when it is freed, and
    whether the next 12 MP image then gets the same pages or fresh ones from the system
    (~11,000 page faults, ~20 ms) depends on whatever else the process allocated in
    between: in interleaved rounds plain decode + encode paid them in one run and not in
    another (108 against 88-92 ms), and the ratios with it. Kept, images reuse their
    pages: plain decode + encode at its best. The cloak, which the daemon runs without
    kept blocks, is if anything a little slower here: the ratios lean against it."""
    before = Image.core.get_blocks_max()
    Image.core.set_blocks_max(blocks)
    try:
        yield f"Pillow keeps up to {blocks} freed image blocks of {Image.core.get_block_size() >> 20} MB"
    finally:
        Image.core.set_blocks_max(before)
        Image.core.clear_cache()


def _page_faults() -> int | None:
    """Minor page faults of this process so far (all threads); None where not known."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _user_of(rgb: np.ndarray) -> np.ndarray | None:
    """The match model's embedding of the photo's widest face: the "user" for the cloak
    of only the user's faces, the daemon's default. None when no face is found."""
    from ..cloak.apply import DEFAULT_MATCH_MODEL
    from ..models.fr import load_embedder

    faces = get_detector().detect(rgb)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.width)
    return load_embedder(DEFAULT_MATCH_MODEL).embed_faces(rgb, [face.landmarks])[0]


def _cloak_user(data: bytes, mask, user: np.ndarray) -> int:
    from ..cloak.apply import cloak_bytes

    return cloak_bytes(data, mask, only_user=user).faces_cloaked


#: The steps of `cloak_steps`, in order.
CLOAK_STEPS = ("decode", "find", "landmarks", "paste_encode")


def cloak_steps(data: bytes, mask, detector) -> dict[str, float] | None:
    """The cloak of a JPEG that stays a Pillow image, step by step, each timed alone (ms):
    {"decode": the full decode, upright; "find": the reduced decode and the face finding
    on it; "landmarks": landmarks and human check on the decoded photo; "paste_encode": the
    mask into every face and the cloaked photo's encode, `cloak_and_encode`, which shares
    them between both threads}. None for a photo `cloak_bytes`
    decodes to numpy instead (`pillow_path.takes`) or that is not a JPEG."""
    from ..cloak import pillow_path
    from ..faces.image_io import DEFAULT_MAX_PIXELS, load_upright, open_image

    img, what = open_image(data, DEFAULT_MAX_PIXELS)
    if not pillow_path.takes(img) or img.format not in ("JPEG", "MPO"):
        return None
    ms, t = {}, time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        ms[step], t = 1000 * (now - t), now

    img, info = load_upright(img, what, DEFAULT_MAX_PIXELS)
    lap("decode")
    photo, faces = pillow_path.find_on_draft(data, detector)
    lap("find")
    faces = pillow_path.finish(img, detector, photo, faces)
    lap("landmarks")
    pillow_path.cloak_and_encode(img, mask, faces, None, data, info)
    lap("paste_encode")
    return ms


def _spread(v: np.ndarray) -> dict:
    p25, p50, p75 = np.percentile(v, [25, 50, 75])
    return {"median": float(p50), "p25": float(p25), "p75": float(p75), "min": float(v.min()),
            "max": float(v.max())}


def measure_latency(sizes_mp: tuple[float, ...] = SIZES_MP, reps: int = 5, warmup: int = 1,
                    strength: str = "mid", seed: int = 0, photo: Path | None = None) -> dict:
    """{"photo", "implementation", "sizes": [{"megapixels", "width", "height", "faces_cloaked",
    "plain_ms", "baseline_ms", "cloak_ms", "ratio_plain", "ratio", "detect_ms", "detect_stage_ms",
    "cloak_step_ms"}...]} (ms and ratios as median/p25/p75/min/max; ratio_plain = cloak / plain,
    ratio = cloak / baseline; detect_stage_ms: medians per stage; cloak_step_ms: per `cloak_steps`
    step, empty where the engine's apply module is absent or the photo takes the numpy path;
    page_faults: median minor page faults per call of plain, baseline and cloak), with
    "allocator": how image memory was kept (`kept_image_blocks`)."""
    with kept_image_blocks() as allocator:
        return _measure_latency(sizes_mp, reps, warmup, strength, seed, photo, allocator)


def _measure_latency(sizes_mp: tuple[float, ...], reps: int, warmup: int, strength: str, seed: int,
                     photo: Path | None, allocator: str) -> dict:
    from ..cloak.mask import CloakMask
    from .privacy_methods import base_eps

    path = photo or largest_photo()
    rgb = load_image(path)
    eps = base_eps(strength)
    mask = CloakMask(np.random.default_rng(seed).uniform(-eps, eps, (112, 112, 3)), {"method": "uniform"})
    baseline, cloak, impl = _engine_paths()
    user = _user_of(rgb)
    sizes = []
    for mp in sizes_mp:
        data = photo_at(rgb, mp)
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
        for _ in range(warmup):
            plain_reencode(data)
            baseline(data)
            n = cloak(data, mask)
        decoded = load_image(data)
        detector = get_detector()
        plain_ms, base_ms, cloak_ms, detect_ms, user_ms = [], [], [], [], []
        n_user = 0
        stage_ms: dict[str, list[float]] = {}
        step_ms: dict[str, list[float]] = {}
        faults: dict[str, list[int]] = {}
        for r in range(reps):
            order = (3, 0, 1, 5, 2, 4) if r % 2 == 0 else (4, 2, 5, 1, 0, 3)
            for which in order:
                f0 = _page_faults()
                t = time.perf_counter()
                if which == 4:
                    steps = cloak_steps(data, mask, detector)
                    for name, ms in (steps or {}).items():
                        step_ms.setdefault(name, []).append(ms)
                elif which == 3:
                    plain_reencode(data)
                    plain_ms.append(1000 * (time.perf_counter() - t))
                elif which == 0:
                    baseline(data)
                    base_ms.append(1000 * (time.perf_counter() - t))
                elif which == 1:
                    n = cloak(data, mask)
                    cloak_ms.append(1000 * (time.perf_counter() - t))
                elif which == 5:
                    if user is None:
                        continue
                    n_user = _cloak_user(data, mask, user)
                    user_ms.append(1000 * (time.perf_counter() - t))
                else:
                    stages: dict[str, float] = {}
                    detector.detect(decoded, timings=stages)
                    detect_ms.append(1000 * (time.perf_counter() - t))
                    for name, ms in stages.items():
                        stage_ms.setdefault(name, []).append(ms)
                counted = {3: "plain", 0: "baseline", 1: "cloak"}.get(which)
                if f0 is not None and counted:
                    faults.setdefault(counted, []).append(_page_faults() - f0)
        p, b, c, d = np.array(plain_ms), np.array(base_ms), np.array(cloak_ms), np.array(detect_ms)
        sizes.append({"megapixels": mp, "width": w, "height": h, "faces_cloaked": int(n),
                      "plain_ms": _spread(p), "baseline_ms": _spread(b), "cloak_ms": _spread(c),
                      "ratio_plain": _spread(c / p), "ratio": _spread(c / b),
                      "detect_ms": _spread(d),
                      "detect_stage_ms": {name: float(np.median(v)) for name, v in stage_ms.items()},
                      "cloak_step_ms": {name: _spread(np.array(v)) for name, v in step_ms.items()},
                      "page_faults": {name: float(np.median(v)) for name, v in faults.items()}})
        if user_ms:
            u = np.array(user_ms)
            sizes[-1].update(faces_cloaked_user=int(n_user), cloak_user_ms=_spread(u), ratio_user_plain=_spread(u / p))
    return {"photo": path.name, "implementation": impl, "reps": reps, "warmup": warmup,
            "detector": detector.name, "allocator": allocator, "sizes": sizes}


def steps_table(lat: dict) -> list[str]:
    """Markdown lines: the cloak's steps timed alone (`cloak_steps`) and their serial floor."""
    sizes = [s for s in lat["sizes"] if s.get("cloak_step_ms")]
    if not sizes:
        return []
    lines = ["", "The cloak's steps, each timed alone in the same rounds (`cloak_steps`), median ms. "
             "*Floor*: decode + landmarks + paste and encode, the steps that follow one another whatever "
             "finds the faces (the finding runs beside the decode), and its ratio to plain decode + encode "
             "in the same rounds: the least a cloak could take here with a detector that cost nothing.", "",
             "| size | decode | reduced decode + find | landmarks + human check "
             "| paste and encode (both threads) | floor | floor / plain |", "|---|---|---|---|---|---|---|"]
    for s in sizes:
        med = {k: v["median"] for k, v in s["cloak_step_ms"].items()}
        floor = med["decode"] + med["landmarks"] + med["paste_encode"]
        lines.append(f"| {s['megapixels']:g} MP | " + " | ".join(f"{med[k]:.0f}" for k in CLOAK_STEPS)
                     + f" | {floor:.0f} | {floor / s['plain_ms']['median']:.2f} |")
    return lines


def user_table(lat: dict) -> list[str]:
    """Markdown lines: the cloak of only the user's faces (the daemon's default)."""
    sizes = [s for s in lat["sizes"] if s.get("cloak_user_ms")]
    if not sizes:
        return []
    lines = ["", "Only the user's faces (`cloak_bytes(only_user=...)`, the daemon's default; the user: the "
             "photo's widest face), in the same rounds: every face found is embedded by the match model "
             "first.", "", "| size | faces cloaked | cloak ms (median) | ratio to plain: median (p25–p75) |",
             "|---|---|---|---|"]
    for s in sizes:
        c, r = s["cloak_user_ms"], s["ratio_user_plain"]
        lines.append(f"| {s['megapixels']:g} MP | {s['faces_cloaked_user']} | {c['median']:.0f} "
                     f"| {r['median']:.2f} ({r['p25']:.2f}–{r['p75']:.2f}) |")
    return lines


def faults_table(lat: dict) -> list[str]:
    """Markdown lines: the image memory (`kept_image_blocks`) and page faults per call."""
    lines = ["", f"Image memory: {lat.get('allocator', 'as Pillow has it')} (`kept_image_blocks`). Minor page faults "
             "per call, median (fresh pages the C library had given back and took again):", "",
             "| size | plain | engine's decode + encode | cloak |", "|---|---|---|---|"]
    sizes = [s for s in lat["sizes"] if s.get("page_faults")]
    for s in sizes:
        pf = s["page_faults"]
        cells = " | ".join(f"{pf.get(k, 0):.0f}" for k in ("plain", "baseline", "cloak"))
        lines.append(f"| {s['megapixels']:g} MP | {cells} |")
    return lines if sizes else []


def run(out: Path, reps: int = 5, strength: str = "mid", sizes_mp: tuple[float, ...] = SIZES_MP,
        photo: Path | None = None) -> dict:
    """`measure_latency` alone (of ``photo``, default `largest_photo`); write ``out``/results.json
    and report.md; return the results."""
    from .meta import run_metadata
    from .privacy_report import latency_table

    load_before = os.getloadavg()
    lat = measure_latency(sizes_mp, reps=reps, strength=strength, photo=photo)
    doc = {"meta": run_metadata(), "strength": strength, "load_average_before": list(load_before),
           "load_average_after": list(os.getloadavg()), "latency": lat}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    lines = ["# Cloak latency", "",
             f"Commit {doc['meta'].get('commit')}, {doc['meta'].get('cpu_count')} CPUs; load average "
             f"(1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}, after: "
             f"{', '.join(f'{v:.2f}' for v in doc['load_average_after'])}.", ""]
    stages = list(lat["sizes"][0]["detect_stage_ms"]) if lat["sizes"] else []  # `FaceDetector.detect`'s, in order
    lines += latency_table(lat) + ["", f"Detection by stage ({lat['detector']} detector), median ms:", "",
                                   "| size | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
    for size in lat["sizes"]:
        ms = size["detect_stage_ms"]
        lines.append(f"| {size['megapixels']:g} MP | " + " | ".join(f"{ms.get(k, 0):.0f}" for k in stages) + " |")
    lines += user_table(lat) + steps_table(lat) + faults_table(lat)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return doc

