"""Scores of the privacy benchmark: PSR@k, verification, role means, bootstrap intervals.

Per probe and FR model the benchmark keeps two numbers (`probe_scores`):

    rank       how many gallery photos are strictly more similar to the probe
               than the most similar photo of the probe's own identity
               (0 = the person is the top match); PSR@k = share with rank >= k,
               i.e. no photo of their own among the k nearest;
    enrol_sim  cosine similarity to the person's clean enrolment photo;
               verification protection = share below the model's threshold
               at FAR = 1e-3.

Model roles per method (`model_roles`): "surrogate" if the method optimised
against the model, else "black box" if the registry lists it as one, else
"other" (a default surrogate this method did not use). A black-box model a
method did optimise against is reported as that method's surrogate, never as
a black box. Group means average the per-model values with equal weight.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..models.registry import DEFAULT_BLACKBOXES
from .lfw_data import read_pairs
from .verify import threshold_at_far

FAR = 1e-3
KS = (1, 5)
ROLES = ("black box", "surrogate", "other")


def probe_scores(probe_emb: np.ndarray, probe_user: np.ndarray, gallery_emb: np.ndarray,
                 gallery_user: np.ndarray, enrol_emb: np.ndarray) -> dict[str, np.ndarray]:
    """Per probe: rank of the best own-identity gallery photo, and similarity to the enrolment photo.

    Shapes: probe_emb (P, D), probe_user (P,) user index; gallery_emb (G, D),
    gallery_user (G,) user index or -1 for distractors; enrol_emb (U, D).
    Every user must have at least one gallery photo.
    """
    sims = probe_emb @ gallery_emb.T  # (P, G)
    own = gallery_user[None, :] == probe_user[:, None]
    if not own.any(axis=1).all():
        raise ValueError("a probe's identity has no photo in the gallery")
    best_own = np.where(own, sims, -np.inf).max(axis=1)
    rank = np.sum(sims > best_own[:, None], axis=1)
    enrol_sim = np.sum(probe_emb * enrol_emb[probe_user], axis=1)
    return {"rank": rank.astype(np.int32), "enrol_sim": enrol_sim.astype(np.float32)}


def summarise(scores: dict[str, np.ndarray], threshold: float | None) -> dict:
    """{"psr1", "psr5", "verification", "n"} as shares in [0, 1] (verification None without a threshold)."""
    rank = scores["rank"]
    out = {f"psr{k}": float(np.mean(rank >= k)) for k in KS}
    out["verification"] = None if threshold is None else float(np.mean(scores["enrol_sim"] < threshold))
    out["n"] = int(len(rank))
    return out


def model_roles(models: list[str], surrogates: tuple[str, ...] | set[str]) -> dict[str, str]:
    """{model: "surrogate" | "black box" | "other"} for one method (see the module docstring)."""
    return {m: "surrogate" if m in surrogates else "black box" if m in DEFAULT_BLACKBOXES else "other"
            for m in models}


def group_means(per_model: dict[str, dict], roles: dict[str, str]) -> dict[str, dict | None]:
    """{role: {"psr1", "psr5", "verification", "models"} or None when the role has no model}."""
    out: dict[str, dict | None] = {}
    for role in ROLES:
        names = [m for m, r in roles.items() if r == role and m in per_model]
        if not names:
            out[role] = None
            continue
        entry: dict = {"models": names}
        for metric in ("psr1", "psr5", "verification"):
            vals = [per_model[m][metric] for m in names]
            entry[metric] = None if any(v is None for v in vals) else float(np.mean(vals))
        out[role] = entry
    return out


def bootstrap_group_psr(ranks: dict[str, np.ndarray], probe_user: np.ndarray, k: int = 1,
                        reps: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """95% interval of the mean over ``ranks``' models of PSR@k, resampling users (cluster bootstrap).

    Probes of one person are correlated (one mask, one face), so users, not
    probes, are the unit that is resampled.
    """
    if not ranks:
        return None
    protected = np.mean([r >= k for r in ranks.values()], axis=0)  # (P,) mean over models
    users = np.unique(probe_user)
    if len(users) < 2:
        return None
    per_user_sum = np.array([protected[probe_user == u].sum() for u in users])
    per_user_n = np.array([np.sum(probe_user == u) for u in users])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(users), size=(reps, len(users)))
    stats = per_user_sum[idx].sum(axis=1) / per_user_n[idx].sum(axis=1)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def load_thresholds(path: Path) -> tuple[dict[str, float], str]:
    """({model: threshold at FAR=1e-3}, description of the file) from an lfw-accuracy
    ``results.json``; ({}, "") if absent."""
    if not path.is_file():
        return {}, ""
    doc = json.loads(path.read_text())
    meta = doc.get("meta", {})
    what = (f"{path}: LFW pairs.txt, {meta.get('pairs', '?')} pairs, detector {meta.get('detector', '?')}, "
            f"commit {str(meta.get('commit'))[:12]}")
    return {m: float(r["threshold_far_1e-3"]) for m, r in doc.get("results", {}).items()
            if r.get("threshold_far_1e-3") is not None}, what


def threshold_from_clean(root: Path, keys: list[tuple[str, int]], embs: np.ndarray,
                         min_pairs: int = 1000, max_pairs: int = 500_000, seed: int = 0) -> tuple[float, str]:
    """(threshold at FAR=1e-3, how it was found) from clean embeddings of this run's photos.

    Uses pairs.txt's mismatched pairs whose photos both have embeddings when
    there are at least ``min_pairs`` of them; otherwise random cross-identity
    pairs among the photos (at most ``max_pairs``), which is a different
    impostor set than the LFW protocol's: the source string says which.
    """
    index = {k: i for i, k in enumerate(keys)}
    impostors = [(index[p.a], index[p.b]) for p in read_pairs(root)
                 if not p.same and p.a in index and p.b in index]
    if len(impostors) >= min_pairs:
        a, b = np.array(impostors).T
        sims = np.sum(embs[a] * embs[b], axis=1)
        return threshold_at_far(sims, FAR), f"pairs.txt mismatched pairs among this run's clean photos ({len(sims)})"
    labels = np.array([k[0] for k in keys])
    rng = np.random.default_rng(seed)
    n = len(keys)
    a = rng.integers(0, n, size=max_pairs)
    b = rng.integers(0, n, size=max_pairs)
    keep = labels[a] != labels[b]
    a, b = a[keep], b[keep]
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    sims = np.sum(embs[pairs[:, 0]] * embs[pairs[:, 1]], axis=1)
    return (threshold_at_far(sims, FAR),
            f"random cross-identity pairs among this run's {n} clean photos ({len(sims)}; "
            f"pairs.txt covered only {len(impostors)})")
