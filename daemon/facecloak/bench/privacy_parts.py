"""One privacy-benchmark run split by users over processes or sessions.

A run over all 158 LFW users is ~20 core-hours here. It can be cut into N
parts that run anywhere (side by side, or on other days at the same
commit), then joined into the report the whole run would have written:

    facecloak bench privacy ARGS --part 0/2 --out /tmp/p0    # users 0, 2, 4, ...
    facecloak bench privacy ARGS --part 1/2 --out /tmp/p1    # users 1, 3, 5, ...
    facecloak bench privacy ARGS --join /tmp/p0 /tmp/p1 --out benchmarks/privacy-full

Every part builds the whole run's protocol (the same gallery, the same
seeds per user), so a probe's scores do not depend on how the run was cut.
A part writes, per method, what it measured on its users: each probe's
rank in the whole gallery and similarity to its enrolment photo, per variant
and FR model (`privacy.rank_probes`), detections, quality and seconds, to
``part-<method>.npz`` and ``.json`` (a few hundred kB for 79 users: small
enough to commit, so that another session can add a method to the same
run), and its run's description to ``part.json``. Methods run later into
the same folder are added to it. The join checks that the parts are one
run (same commit, protocol, models, variants, settings; every user exactly
once), puts the probes back in the whole run's order and scores them as one
run would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import FaceCloakError

#: What the parts of one run must share (from the run metadata).
SAME_META = ("commit", "seed", "strength", "detector", "overrides", "versions")
_JSON_KEYS = ("enrol_seconds", "probe_seconds", "surrogates", "linf", "uncloaked_no_face", "enrol_no_face",
              "enrol_how", "seconds")


def parse_part(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N), 0 <= I < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise FaceCloakError(f"--part wants I/N (e.g. 0/2), got {text!r}") from None
    if not 0 <= i < n:
        raise FaceCloakError(f"--part {text}: need 0 <= I < N")
    return i, n


def part_users(n_users: int, part: tuple[int, int]) -> set[int]:
    """Indices of the users part (I, N) runs: I, I + N, I + 2N, ..."""
    i, n = part
    return set(range(i, n_users, n))


def save_raw(out_dir: Path, method: str, raw: dict, ranked: dict) -> None:
    """Write one method's `run_method` result with its probes' ``ranked`` scores
    (`privacy.rank_probes`), embeddings and examples left out, for a later join."""
    arrays = {"order": np.asarray(raw["order"], np.int64).reshape(-1, 2)}
    for variant, by_model in ranked.items():
        for model, scores in by_model.items():
            for key, values in scores.items():
                arrays[f"{key}/{variant}/{model}"] = values
    for variant, det in raw["detected"].items():
        arrays[f"detected/{variant}"] = det
    for key, values in raw["quality"].items():
        arrays[f"quality/{key}"] = np.asarray(values, np.float64)
    np.savez_compressed(out_dir / f"part-{method}.npz", **arrays)
    doc = {k: raw[k] for k in _JSON_KEYS}
    doc["surrogates"] = list(doc["surrogates"])
    (out_dir / f"part-{method}.json").write_text(json.dumps(doc, indent=1))


def _load_raw(part_dir: Path, method: str) -> dict:
    with np.load(part_dir / f"part-{method}.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    raw = json.loads((part_dir / f"part-{method}.json").read_text())
    raw["order"] = arrays.pop("order")
    raw["ranked"], raw["detected"], raw["quality"] = {}, {}, {}
    for key, value in arrays.items():
        kind, rest = key.split("/", 1)
        if kind in ("rank", "enrol_sim"):
            variant, model = rest.split("/", 1)
            raw["ranked"].setdefault(variant, {}).setdefault(model, {})[kind] = value
        elif kind == "detected":
            raw["detected"][rest] = value
        else:
            raw["quality"][rest] = [float(v) for v in value]
    return raw


def _difference(doc: dict, protocol: dict, meta: dict, setup: dict) -> str | None:
    """What makes the part described by ``doc`` (a ``part.json``) not a part of the run with
    this ``protocol``, ``meta`` and ``setup``; None when it is one."""
    if doc["protocol"] != protocol:
        return "its protocol (users, gallery, seed) is not this run's"
    for key in SAME_META:
        if doc["meta"].get(key) != meta.get(key):
            return f"meta[{key!r}] is {doc['meta'].get(key)!r}, this run's is {meta.get(key)!r}; not one run"
    for key, value in setup.items():
        if doc["setup"].get(key) != value:
            return f"{key} {doc['setup'].get(key)!r} differs from this run's {value!r}"
    return None


def write_part(out_dir: Path, doc: dict) -> dict:
    """Write ``part.json``; when the folder already holds this part of this run (methods run
    earlier), keep its methods and timings too. Returns what was written."""
    path = out_dir / "part.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("part") != doc["part"] or _difference(old, doc["protocol"], doc["meta"], doc["setup"]):
            raise FaceCloakError(f"{out_dir} holds another part or run; give a new --out")
        doc = {**doc, "saved": sorted(set(old["saved"]) | set(doc["saved"])),
               "timings": {**old["timings"], **doc["timings"]}}
    path.write_text(json.dumps(doc, indent=2))
    return doc


def check_parts(part_dirs: Sequence[Path], protocol: dict, meta: dict, setup: dict) -> list[dict]:
    """The parts' ``part.json`` documents, after checking they are one run: ``protocol``, ``meta``
    and ``setup`` (models, variants, idealised) are the joining run's own."""
    docs = [json.loads((Path(d) / "part.json").read_text()) for d in part_dirs]
    n = {doc["part"][1] for doc in docs}
    if len(n) != 1:
        raise FaceCloakError(f"the parts were cut differently: {sorted(n)} parts")
    got = sorted(doc["part"][0] for doc in docs)
    if got != list(range(n.pop())):
        raise FaceCloakError(f"parts {got} given; every part must be there exactly once")
    for d, doc in zip(part_dirs, docs, strict=True):
        why = _difference(doc, protocol, meta, setup)
        if why:
            raise FaceCloakError(f"{d}: {why}")
    return docs


def join_raw(part_dirs: Sequence[Path], method: str, n_probes: int) -> dict:
    """One method's `run_method` result for the whole run, probes in the run's order."""
    missing = [str(d) for d in part_dirs if not (Path(d) / f"part-{method}.npz").is_file()]
    if missing:
        raise FaceCloakError(f"method {method!r} is not in part(s) {', '.join(missing)}")
    raws = [_load_raw(Path(d), method) for d in part_dirs]
    order = np.concatenate([r["order"] for r in raws])
    if len(order) != n_probes or len({tuple(o) for o in order}) != n_probes:
        raise FaceCloakError(f"{method}: the parts hold {len(order)} probes, the run has {n_probes}")
    perm = np.lexsort((order[:, 1], order[:, 0]))
    joined: dict = {"order": order[perm].tolist(), "examples": []}
    first = raws[0]
    joined["ranked"] = {v: {m: {k: np.concatenate([r["ranked"][v][m][k] for r in raws])[perm] for k in scores}
                            for m, scores in by_model.items()} for v, by_model in first["ranked"].items()}
    joined["detected"] = {v: np.concatenate([r["detected"][v] for r in raws])[perm] for v in first["detected"]}
    joined["quality"] = {k: list(np.concatenate([r["quality"][k] for r in raws])[perm]) for k in first["quality"]}
    joined["probe_seconds"] = list(np.concatenate([r["probe_seconds"] for r in raws])[perm])
    joined["enrol_seconds"] = [s for r in raws for s in r["enrol_seconds"]]
    joined["linf"] = [s for r in raws for s in r["linf"]]
    joined["surrogates"] = tuple(sorted({s for r in raws for s in r["surrogates"]}))
    joined["uncloaked_no_face"] = sum(r["uncloaked_no_face"] for r in raws)
    joined["enrol_no_face"] = sum(r["enrol_no_face"] for r in raws)
    how: dict = {}
    for r in raws:
        for k, v in r["enrol_how"].items():
            how[k] = how.get(k, 0) + v
    joined["enrol_how"] = how
    joined["seconds"] = sum(r["seconds"] for r in raws)  # core time: the parts may have run side by side
    return joined
