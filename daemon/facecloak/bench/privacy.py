"""Privacy benchmark: how well each cloaking method hides a person from face search.

Protocol (DESIGN.md section 3, the identity-specific "Privacy-Celebrities"
protocol of OPOM / AdvCloak / FaceCloak, on LFW):

* users: LFW identities with >= 10 photos (158). Photo 0 (``_0001``) is the
  single enrolment photo; photos 1-5 are probes that get the cloak; photos 6
  and on stay clean in the gallery. Photo 0 is NOT in the gallery.
* distractors: the photos of every other identity, clean, in the gallery
  (optionally a seeded random subset).
* realistic scoring (the headline): the cloaked probe is the full photo as
  the user uploads it (mask warped into the face by the tool, JPEG q95
  4:4:4); each FR model then finds, aligns and embeds the face itself
  (`facecloak.bench.embed`). "Idealised" scores add the mask to each model's
  aligned crop (no paste, no re-detection, no JPEG) and are labelled so.
* robustness: the same scores after what social sites do (JPEG q75, shrink
  to 1080 px, both) and for a 5x-enlarged "phone" probe cloaked at that size
  (`facecloak.bench.robustness`).
* each FR model ranks the gallery by cosine similarity: PSR@1 / PSR@5 per
  model and the means over black boxes and over the method's surrogates;
  verification against the enrolment photo at FAR=1e-3; SSIM / PSNR of the
  cloaked probe on the photo and the 112 px face crop; enrolment time; cloak
  latency at 1/4/12 MP as a ratio to decode+encode (`facecloak.bench.latency`).

    >>> doc = run(Path("benchmarks/privacy"), quick=True, methods=["none", "uniform"])

Everything is seeded; clean gallery landmarks and embeddings are cached
(`facecloak.bench.gallery`). Nothing runs in parallel beyond onnxruntime's
and torch's own threads.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..device import resolve_device
from ..errors import FaceCloakError
from ..faces import Face, align_face, get_detector, load_image
from ..models.fr import load_embedder
from ..models.registry import DEFAULT_BLACKBOXES, FETCHABLE_FR, get_spec
from . import privacy_parts, quality, robustness, scoring
from .embed import RealisticEmbedder, idealised_embeddings
from .gallery import CleanPhotos, PhotoKey
from .lfw_data import lfw_root, people_with, photo_path
from .meta import run_metadata
from .privacy_methods import DEFAULT_METHODS, FaceCloakEnrol, PrivacyMethod, check_ready, get_method

MIN_PHOTOS = 10
N_PROBES = 5
QUICK_USERS = 20
QUICK_DISTRACTORS = 3000  # DESIGN section 5's first measurement had a gallery of 3,516 photos
DEFAULT_THRESHOLDS = Path("benchmarks/lfw-accuracy/results.json")
EXAMPLES = 3  # probes kept per method for the example grid


@dataclass(frozen=True)
class User:
    name: str
    enrol: PhotoKey
    probes: tuple[PhotoKey, ...]
    gallery: tuple[PhotoKey, ...]


@dataclass
class Protocol:
    """Who is enrolled, what is probed and what the gallery holds (gallery sorted, clean)."""

    users: list[User]
    gallery: list[PhotoKey]
    gallery_user: np.ndarray  # (G,) index into users, -1 for distractors
    distractors: int
    distractor_pool: int
    seed: int

    def describe(self) -> dict:
        return {
            "users": [u.name for u in self.users], "n_users": len(self.users),
            "n_probes": sum(len(u.probes) for u in self.users),
            "gallery_size": len(self.gallery), "own_gallery_photos": int(np.sum(self.gallery_user >= 0)),
            "distractors": self.distractors, "distractor_pool": self.distractor_pool,
            "enrolment": "photo _0001 of each user (not in the gallery)",
            "probes": f"photos _0002.._{N_PROBES + 1:04d}", "own_gallery": f"photos _{N_PROBES + 2:04d} and on",
            "seed": self.seed,
        }


def user_seed(seed: int, name: str) -> int:
    return zlib.crc32(f"{seed}:{name}".encode())


def select_users(root: Path, users: int | Sequence[str] | None, quick: bool, seed: int) -> list[str]:
    """Identity names: all with >= 10 photos, or a seeded sample of N of them (sorted), or the given names."""
    eligible = [name for name, _ in people_with(root, MIN_PHOTOS)]
    if users is not None and not isinstance(users, int):
        bad = sorted(set(users) - set(eligible))
        if bad:
            raise FaceCloakError(f"not LFW identities with >= {MIN_PHOTOS} photos: {', '.join(bad)}")
        return sorted(users)
    n = QUICK_USERS if users is None and quick else users
    if n is None or n >= len(eligible):
        return eligible
    if n < 1:
        raise FaceCloakError("--users must be at least 1")
    return sorted(random.Random(seed).sample(eligible, n))


def build_protocol(root: Path, users: int | Sequence[str] | None = None, quick: bool = False,
                   distractors: int | None = None, seed: int = 0) -> Protocol:
    names = select_users(root, users, quick, seed)
    chosen = set(names)
    people = []
    for name in names:
        count = len(list((root / "images" / name).glob("*.jpg")))
        keys = [(name, i) for i in range(1, count + 1)]
        people.append(User(name, keys[0], tuple(keys[1:1 + N_PROBES]), tuple(keys[1 + N_PROBES:])))
    pool = sorted((folder.name, int(p.stem.rsplit("_", 1)[1]))
                  for folder in (root / "images").iterdir() if folder.is_dir() and folder.name not in chosen
                  for p in folder.glob("*.jpg"))
    if distractors is None and quick:
        distractors = QUICK_DISTRACTORS
    picked = pool if distractors is None or distractors >= len(pool) \
        else sorted(random.Random(seed).sample(pool, distractors))
    owner = {k: i for i, u in enumerate(people) for k in u.gallery}
    gallery = sorted(set(owner) | set(picked))
    gallery_user = np.array([owner.get(k, -1) for k in gallery], dtype=np.int64)
    return Protocol(people, gallery, gallery_user, len(picked), len(pool), seed)


@dataclass
class Context:
    """What every method's run shares: models, embeddings of the clean photos, tool detections."""

    root: Path
    protocol: Protocol
    models: list[str]
    embedders: dict
    clean: CleanPhotos
    realistic: RealisticEmbedder
    detector: str  # the tool's: the face it cloaks in each probe (the scorers' is `realistic`'s)
    variants: tuple[str, ...]
    idealised: bool
    thresholds: dict[str, float | None]
    _faces: dict = field(default_factory=dict)

    def tool_face(self, key: PhotoKey, rgb: np.ndarray, tag: str = "") -> Face | None:
        """The face the tool would cloak: its detector's face nearest the photo centre (memoised)."""
        memo = (key, tag)
        if memo not in self._faces:
            faces = get_detector(self.detector).detect(rgb)
            centre = np.array([rgb.shape[1], rgb.shape[0]], np.float64) / 2
            self._faces[memo] = min(faces, key=lambda f: float(np.linalg.norm(
                f.landmarks.mean(axis=0) - centre))) if faces else None
        return self._faces[memo]


def _quality(clean: np.ndarray, other: np.ndarray, landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(photo SSIM, photo PSNR, face SSIM, face PSNR); the face is the 112 px crop at ``landmarks``."""
    a, _ = align_face(clean.astype(np.float32), landmarks, 112)
    b, _ = align_face(other.astype(np.float32), landmarks, 112)
    return quality.ssim(clean, other), quality.psnr(clean, other), quality.ssim(a, b), quality.psnr(a, b)


def run_method(method: PrivacyMethod, ctx: Context, seed: int, progress: bool = True,
               variants: tuple[str, ...] | None = None, idealised: bool | None = None,
               keep_examples: bool = True, only_users: set[int] | None = None) -> dict:
    """Cloak every probe with ``method`` and embed each variant; raw per-probe results.

    only_users: run only these users (indices into the protocol's users; a
    part of a split run, `privacy_parts`); ``raw["order"]`` lists each
    probe's (user index, probe index).
    """
    variants = ctx.variants if variants is None else variants
    idealised = ctx.idealised if idealised is None else idealised
    phone = any(v in robustness.PHONE_VARIANTS for v in variants)
    embs: dict[str, dict[str, list]] = {v: {m: [] for m in ctx.models} for v in variants}
    if idealised:
        embs["idealised"] = {m: [] for m in ctx.models}
    found = {v: [] for v in variants}
    qual = {f"{stage}_{what}": [] for stage in ("cloak", "uploaded")
            for what in ("photo_ssim", "photo_psnr", "face_ssim", "face_psnr")}
    enrol_seconds, probe_seconds, surrogates, linf = [], [], set(), []
    no_face, enrol_failed, examples, enrol_how = 0, 0, [], {}
    probes = [(ui, u, j, key) for ui, u in enumerate(ctx.protocol.users) for j, key in enumerate(u.probes)
              if only_users is None or ui in only_users]
    order = [(ui, j) for ui, _, j, _ in probes]
    if progress:
        from tqdm import tqdm

        probes = tqdm(probes, desc=f"{method.name}", unit="probe", leave=False)
    enrolled = {}
    t0 = time.perf_counter()
    for ui, user, j, key in probes:
        useed = user_seed(seed, user.name)
        if ui not in enrolled:
            rgb0 = load_image(photo_path(ctx.root, *user.enrol))
            face0 = ctx.tool_face(user.enrol, rgb0)
            enrolled.clear()  # one user's enrolment at a time
            enrolled[ui] = method.enrol(rgb0, face0, useed)
            enrol_failed += face0 is None
            enrol_seconds.append(enrolled[ui].seconds)
            how = enrolled[ui].info.get("enrol")
            if how:
                enrol_how[how] = enrol_how.get(how, 0) + 1
            surrogates.update(enrolled[ui].surrogates)
        ctx.realistic.clear()
        clean = load_image(photo_path(ctx.root, *key))
        face = ctx.tool_face(key, clean)
        cl = method.cloak(enrolled[ui], clean, face, useed + 1 + j)
        no_face += cl.mask is None and method.name != "none"
        probe_seconds.append(cl.seconds)
        if cl.mask is not None:
            linf.append(cl.mask.linf)
            if method.optimises and cl.mask.meta.get("models"):
                surrogates.update(cl.mask.meta["models"])
        uploaded = robustness.upload(cl.rgb)
        phone_uploaded = None
        if phone:
            big = robustness.enlarge(clean)
            big_face = ctx.tool_face(key, big, "x5")
            phone_uploaded = robustness.upload(method.cloak(enrolled[ui], big, big_face, useed + 1 + j).rgb)
        for v, img in robustness.variant_images(uploaded, phone_uploaded, variants).items():
            e, ok = ctx.realistic(img)
            found[v].append(ok)
            for m in ctx.models:
                embs[v][m].append(e[m])
        lm = face.landmarks if face is not None else ctx.clean.median_landmarks
        if idealised:
            ide = idealised_embeddings(ctx.embedders, clean, lm, None if cl.mask is None else cl.mask.delta)
            for m in ctx.models:
                embs["idealised"][m].append(ide[m])
        for stage, img in (("cloak", cl.rgb), ("uploaded", uploaded)):
            for what, val in zip(("photo_ssim", "photo_psnr", "face_ssim", "face_psnr"),
                                 _quality(clean, img, lm), strict=True):
                qual[f"{stage}_{what}"].append(val)
        if keep_examples and len(examples) < EXAMPLES and j == 0:
            examples.append({"key": key, "clean": clean, "uploaded": uploaded})
    return {
        "order": order,
        "embeddings": {v: {m: np.stack(e) for m, e in d.items()} for v, d in embs.items()},
        "detected": {v: np.array(f, bool) for v, f in found.items()},
        "quality": qual, "enrol_seconds": enrol_seconds, "probe_seconds": probe_seconds,
        "surrogates": tuple(sorted(surrogates | set(method.surrogates))), "linf": linf,
        "uncloaked_no_face": int(no_face), "enrol_no_face": int(enrol_failed), "examples": examples,
        "enrol_how": enrol_how,
        "seconds": time.perf_counter() - t0,
    }


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    v = np.asarray(values, float)
    return {"n": len(v), "mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()),
            "max": float(v.max())}


def rank_probes(raw: dict, ctx: Context) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """{variant: {model: `scoring.probe_scores`}} of ``raw``'s probes (``raw["order"]``)
    against the whole protocol's gallery and enrolment photos."""
    proto = ctx.protocol
    probe_user = np.array([ui for ui, _ in raw["order"]], np.int64)
    gal_rows = ctx.clean.rows(proto.gallery)
    enrol_rows = ctx.clean.rows([u.enrol for u in proto.users])
    out: dict = {}
    for variant, by_model in raw["embeddings"].items():
        out[variant] = {}
        for m, pe in by_model.items():
            clean = ctx.clean.embeddings(m)
            out[variant][m] = scoring.probe_scores(pe, probe_user, clean[gal_rows], proto.gallery_user,
                                                   clean[enrol_rows])
    return out


def score_method(method: PrivacyMethod, raw: dict, ctx: Context, seed: int) -> tuple[dict, dict]:
    """(JSON-able scores of one method, per-probe arrays for the .npz). ``raw`` is `run_method`'s,
    or a joined one that holds ``"ranked"`` (`rank_probes`) instead of embeddings."""
    proto = ctx.protocol
    probe_user = np.array([ui for ui, u in enumerate(proto.users) for _ in u.probes], np.int64)
    roles = scoring.model_roles(ctx.models, set(raw["surrogates"]))
    refused = sorted(m for m in raw["surrogates"] if m in DEFAULT_BLACKBOXES and m in ctx.models)
    scores, per_probe = {}, {}
    ranked = raw["ranked"] if "ranked" in raw else rank_probes(raw, ctx)
    for variant, by_model in ranked.items():
        per_model, ranks = {}, {}
        for m, s in by_model.items():
            per_model[m] = scoring.summarise(s, ctx.thresholds.get(m))
            per_model[m]["role"] = roles[m]
            ranks[m] = s["rank"]
            per_probe[f"{method.name}/{variant}/{m}/rank"] = s["rank"]
            per_probe[f"{method.name}/{variant}/{m}/enrol_sim"] = s["enrol_sim"]
        groups = scoring.group_means(per_model, roles)
        for role, entry in groups.items():
            if entry is not None:
                ci = scoring.bootstrap_group_psr({m: ranks[m] for m in entry["models"]}, probe_user, 1,
                                                 seed=seed)
                entry["psr1_ci95"] = None if ci is None else list(ci)
        det = raw["detected"].get(variant)
        scores[variant] = {"per_model": per_model, "groups": groups,
                           "detector_misses": None if det is None else int(np.sum(~det)),
                           "n_probes": int(len(probe_user))}
    q = raw["quality"]
    return {
        **method.describe(),
        "surrogates_used": list(raw["surrogates"]),
        "blackbox_refused": refused,
        "roles": roles,
        "scores": scores,
        "quality": {key: quality.summarise(vals) for key, vals in q.items()},
        "speed": {"enrol_seconds": _stats(raw["enrol_seconds"]), "probe_seconds": _stats(raw["probe_seconds"])},
        "mask_linf": _stats(raw["linf"]),
        "uncloaked_no_face": raw["uncloaked_no_face"],
        "enrol_no_face": raw["enrol_no_face"],
        "enrol_how": raw["enrol_how"],
        "seconds": raw["seconds"],
    }, per_probe


def _thresholds(ctx_clean: CleanPhotos, root: Path, models: list[str], path: Path | None,
                timings: dict) -> tuple[dict[str, float | None], dict[str, str]]:
    if path is None:
        repo = Path(__file__).resolve().parents[3]
        path = next((p for p in (DEFAULT_THRESHOLDS, repo / DEFAULT_THRESHOLDS) if p.is_file()), DEFAULT_THRESHOLDS)
    loaded, what = scoring.load_thresholds(Path(path))
    thr, source = {}, {}
    for m in models:
        if m in loaded:
            thr[m], source[m] = loaded[m], what
        else:
            start = time.perf_counter()
            thr[m], source[m] = scoring.threshold_from_clean(root, ctx_clean.keys, ctx_clean.embeddings(m))
            timings[f"threshold_{m}"] = time.perf_counter() - start
    return thr, source


def run(out_dir: Path | str, *, users: int | Sequence[str] | None = None, quick: bool = False,
        distractors: int | None = None, methods: Sequence[str] | None = None, strength: str = "mid",
        overrides: dict | None = None, models: Sequence[str] | None = None,
        variants: Sequence[str] | None = None, idealised: bool = True, latency: bool = True,
        plots: bool = False, seed: int = 0, lfw: str | Path | None = None,
        thresholds: str | Path | None = None, cache_dir: str | Path | None = None, detector: str = "dlib",
        tool_detector: str | None = None,
        sweep_values: dict | None = None, progress: bool = True, args: dict | None = None,
        device: str = "auto", part: tuple[int, int] | None = None, join: Sequence[Path] | None = None,
        lookalike_pool: int = 0) -> dict:
    """Run the benchmark, write ``results.json``, ``per_probe.npz`` and ``report.md`` to ``out_dir``.

    device: "auto" | "cpu" | "cuda" for the engine methods' optimisation (their
    CloakConfig) and the FR models' onnxruntime sessions; recorded in the metadata.
    part: (I, N): run only part I of N of the users and write what a later
        ``join`` needs instead of a report (`privacy_parts`); no latency, plots.
    join: the folders of every part of this run: score them as one run.
    detector: finds the faces the FR models embed (clean gallery, cloaked probes).
    tool_detector: finds the face the tool cloaks in each photo (default: ``detector``;
        the product's own is `DEFAULT_DETECTOR`).
    lookalike_pool: FaceCloak's look-alikes come from this many LFW identities
        outside the protocol (`lookalike_pool`); 0 = none, as without an
        installed pool. The product's own pool is never used here.
    """
    if part is not None and (join or plots):
        raise FaceCloakError("a part of a run cannot also join parts or draw plots")
    if part is not None:
        latency = False
    out_dir = Path(out_dir)
    resolved = resolve_device(device)
    if device != "auto":
        overrides = {**(overrides or {}), "device": device}
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    root = lfw_root(lfw)
    models = list(models or FETCHABLE_FR)
    for m in models:
        if not get_spec(m).is_fr:
            raise FaceCloakError(f"{m!r} is not a face-recognition model")
    variants = tuple(variants or robustness.VARIANTS)
    for v in variants:
        if v not in robustness.VARIANTS:
            raise FaceCloakError(f"unknown variant {v!r}; known: {', '.join(robustness.VARIANTS)}")
    if latency:  # its photo is needed at the end of a long run: fail now, not then
        from .latency import largest_photo

        largest_photo()
    method_objs = [get_method(name, strength, overrides) for name in (methods or DEFAULT_METHODS)]
    skipped = {}
    for mo in list(method_objs):
        why = check_ready(mo)
        if why:
            skipped[mo.name] = why
            method_objs.remove(mo)

    start = time.perf_counter()
    proto = build_protocol(root, users, quick, distractors, seed)
    timings["protocol"] = time.perf_counter() - start
    clean_keys = sorted(set(proto.gallery) | {u.enrol for u in proto.users})
    start = time.perf_counter()
    embedders = {m: load_embedder(m, device=device) for m in models}
    timings["load_models"] = time.perf_counter() - start
    start = time.perf_counter()
    clean = CleanPhotos(root, clean_keys, detector, cache_dir, progress)
    for m in models:
        clean.embeddings(m, embedders[m])
    timings["clean_photos"] = time.perf_counter() - start
    thr, thr_source = _thresholds(clean, root, models, thresholds, timings)
    sample = load_image(photo_path(root, *proto.users[0].probes[0]))
    ctx = Context(root, proto, models, embedders, clean,
                  RealisticEmbedder(embedders, detector, clean.median_landmarks, sample.shape[:2]),
                  tool_detector or detector, variants, idealised, thr)

    if lookalike_pool and not join:  # FaceCloak's look-alikes: outside identities only
        from .lookalike_pool import benchmark_pool

        start, pools = time.perf_counter(), {}
        for mo in method_objs:
            if isinstance(mo, FaceCloakEnrol):
                key = tuple(mo.surrogates)
                if key not in pools:
                    pools[key] = benchmark_pool(ctx, key, lookalike_pool, seed, device)
                mo.lookalikes = pools[key]
        timings["lookalike_pool"] = time.perf_counter() - start

    protocol_doc = {**proto.describe(), "variants": list(variants), "idealised": idealised,
                    "detector": detector, "tool_detector": tool_detector or detector, "clean_photos": len(clean_keys),
                    "clean_detector_misses": int(np.sum(~clean.detected)),
                    "headline": "uploaded (realistic: paste, JPEG q95 4:4:4, each model re-detects)"}
    meta = run_metadata(benchmark="privacy", seed=seed, strength=strength, detector=detector,
                        args=args or {}, overrides=overrides or {}, device=resolved)
    setup = {"models": models, "variants": list(variants), "idealised": idealised, "lookalike_pool": lookalike_pool}
    only = part_doc = None
    out_dir.mkdir(parents=True, exist_ok=True)
    if part is not None:
        if part[1] > len(proto.users):
            raise FaceCloakError(f"{part[1]} parts for {len(proto.users)} users")
        only = privacy_parts.part_users(len(proto.users), part)
        part_doc = {"part": list(part), "users": sorted(only), "protocol": protocol_doc, "meta": meta,
                    "setup": setup, "timings": {}, "saved": []}
        privacy_parts.write_part(out_dir, part_doc)  # claim the folder: a clash shows now, not hours later
    part_docs = privacy_parts.check_parts(join, protocol_doc, meta, setup) if join else []
    if join:
        meta["joined_parts"] = [{"dir": str(d), "part": doc["part"], "timings": doc["timings"]}
                                for d, doc in zip(join, part_docs, strict=True)]

    results, per_probe, examples = {}, {}, {}
    for mo in method_objs:
        start = time.perf_counter()
        if join:
            raw = privacy_parts.join_raw(join, mo.name, protocol_doc["n_probes"])
        else:
            raw = run_method(mo, ctx, seed, progress, only_users=only)
        timings[f"method_{mo.name}"] = time.perf_counter() - start if not join else \
            sum(doc["timings"].get(f"method_{mo.name}", 0.0) for doc in part_docs)  # the parts' work
        if part is not None:
            privacy_parts.save_raw(out_dir, mo.name, raw, rank_probes(raw, ctx))
            continue
        results[mo.name], arrays = score_method(mo, raw, ctx, seed)
        per_probe.update(arrays)
        examples[mo.name] = raw["examples"]
    if part_doc is not None:
        timings["total"] = time.perf_counter() - t_all
        done = {**part_doc, "timings": timings, "saved": [mo.name for mo in method_objs]}
        return {**privacy_parts.write_part(out_dir, done), "methods": {}}

    lat = None
    if latency:
        from .latency import measure_latency

        start = time.perf_counter()
        lat = measure_latency(strength=strength, seed=seed)
        timings["latency"] = time.perf_counter() - start

    sweeps = None
    plot_files: dict[str, str] = {}
    if plots:
        from . import plots as plotmod

        start = time.perf_counter()
        sweeps = run_sweeps(ctx, strength, overrides, seed, progress, sweep_values)
        timings["sweeps"] = time.perf_counter() - start
        plot_files = plotmod.write_all(out_dir, sweeps, examples)

    timings["total"] = time.perf_counter() - t_all
    doc = {
        "meta": meta,
        "protocol": protocol_doc,
        "models": {m: {"registry_role": get_spec(m).role.value, "threshold_far_1e-3": thr[m],
                       "threshold_source": thr_source[m]} for m in models},
        "methods": results,
        "skipped_methods": skipped,
        "latency": lat,
        "sweeps": sweeps,
        "plots": plot_files,
        "timings": {**timings, **{f"clean_{k}": v for k, v in clean.timings.items()}},
    }
    (out_dir / "results.json").write_text(json.dumps(doc, indent=2))
    np.savez_compressed(out_dir / "per_probe.npz",
                        probe_keys=np.array([f"{n}_{i:04d}" for u in proto.users for n, i in u.probes]),
                        **{k.replace("/", "__"): v for k, v in per_probe.items()})
    from .privacy_report import markdown

    (out_dir / "report.md").write_text(markdown(doc))
    return doc


#: Sweep points for the plots (budgets in /255).
SWEEP_BUDGETS = (2.0, 4.0, 8.0, 12.0, 16.0)
SWEEP_STEPS = (5, 10, 24, 50)
SWEEP_K = (1, 2, 4, 8)


def _sweep_overrides(name: str, param: str, value: float, strength: str) -> dict:
    """A budget sweep scales the sticker and high-pass budgets with the base one (strength's ratios)."""
    if param != "eps":
        return {param: value}
    from ..cloak.config import STRENGTHS

    base, sticker, highpass = STRENGTHS[strength]
    return {"eps": value, "sticker_eps": min(255.0, value * sticker / base),
            "highpass_eps": min(255.0, value * highpass / base)}


def run_sweeps(ctx: Context, strength: str, overrides: dict | None, seed: int, progress: bool,
               values: dict | None = None) -> dict:
    """PSR (uploaded, realistic) against budget, iterations and K; engine sweeps only where it runs.

    Each point is a full run of one method over the same users, headline
    variant only. Returns {"budget": {method: [point...]}, "steps": ..., "k": ...},
    each point {"value", "blackbox_psr1", "surrogate_psr1", "per_model": {m: psr1}, "face_ssim"}.
    ``values`` overrides the points per axis, e.g. {"steps": (5, 10)}.
    """
    values = {"budget": SWEEP_BUDGETS, "steps": SWEEP_STEPS, "k": SWEEP_K, **(values or {})}
    plan = {"budget": [("uniform", "eps", values["budget"]), ("facecloak", "eps", values["budget"])],
            "steps": [("facecloak", "steps", values["steps"])],
            "k": [("facecloak", "k", values["k"])]}
    out: dict = {"skipped": {}}
    for axis, entries in plan.items():
        out[axis] = {}
        for name, param, values in entries:
            probe = get_method(name, strength, overrides)
            why = check_ready(probe)
            if why:
                out["skipped"][f"{axis}/{name}"] = why
                continue
            points = []
            for value in values:
                mo = get_method(name, strength, {**(overrides or {}), **_sweep_overrides(name, param, value,
                                                                                           strength)})
                raw = run_method(mo, ctx, seed, progress, variants=("uploaded",), idealised=False,
                                 keep_examples=False)
                res, _ = score_method(mo, raw, ctx, seed)
                s = res["scores"]["uploaded"]
                groups = s["groups"]
                points.append({
                    "value": value,
                    "blackbox_psr1": groups["black box"]["psr1"] if groups["black box"] else None,
                    "surrogate_psr1": groups["surrogate"]["psr1"] if groups["surrogate"] else None,
                    "per_model": {m: r["psr1"] for m, r in s["per_model"].items()},
                    "face_ssim": res["quality"]["cloak_face_ssim"]["mean"],
                })
            out[axis][name] = points
    return out
