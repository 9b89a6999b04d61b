"""Enrolment seconds: the one-photo fit a user waits for, on this machine.

Method: the portraits of ``shared/data/photos/portrait`` (one face each) are
enrolled one after another, ``repeats`` times each, with the default
configuration (or ``strength`` and ``overrides``), in this process. The
models are loaded and the detector run once first, untimed, as in the
daemon, where they stay loaded between enrolments. Each enrolment is timed
from the encoded photo to the fitted mask (`facecloak.cloak.enrol.enrol`).
The system load average is recorded before and after: these timings mean
something only on an otherwise idle machine, and the report says how busy
it was. Torch's thread count is the engine's own choice
(`facecloak.cloak.surrogates.set_threads`, FACECLOAK_THREADS).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import FaceCloakError
from ..paths import shared_dir
from .meta import run_metadata


def portraits(folder: Path | None = None) -> list[Path]:
    """The enrolment photos: every image in ``shared/data/photos/portrait``."""
    if folder is None:
        shared = shared_dir()
        if shared is None:
            raise FaceCloakError("the enrolment benchmark needs ../shared/data/photos/portrait")
        folder = shared / "data" / "photos" / "portrait"
    photos = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FaceCloakError(f"no photos in {folder}")
    return photos


def run(out: Path, repeats: int = 1, strength: str = "mid", overrides: dict | None = None,
        folder: Path | None = None) -> dict:
    """Time the enrolments; write ``out``/results.json and report.md; return the results."""
    import torch

    from ..cloak.config import CloakConfig
    from ..cloak.enrol import enrol
    from ..cloak.surrogates import set_threads

    config = CloakConfig.for_strength(strength, **(overrides or {}))
    photos = portraits(folder)
    threads = set_threads()
    enrol(photos[0].read_bytes(), config.replace(steps=1, k=1))  # warm-up: loads every model, first-call costs
    load_before = os.getloadavg()
    rows = []
    for r in range(repeats):
        for photo in photos:
            start = time.perf_counter()
            enrol(photo.read_bytes(), config)
            rows.append({"photo": photo.name, "repeat": r, "seconds": time.perf_counter() - start})
    seconds = np.array([row["seconds"] for row in rows])
    doc = {
        "meta": run_metadata(device=config.device),
        "config": {"strength": strength, "overrides": overrides or {}, "steps": config.steps, "k": config.k,
                   "batch": config.batch, "surrogates": list(config.surrogates)},
        "torch_threads": threads, "torch_threads_now": torch.get_num_threads(),
        "load_average_before": list(load_before), "load_average_after": list(os.getloadavg()),
        "enrolments": rows,
        "seconds": {"median": float(np.median(seconds)), "min": float(seconds.min()), "max": float(seconds.max())},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    (out / "report.md").write_text(markdown(doc))
    return doc


def markdown(doc: dict) -> str:
    s, cfg = doc["seconds"], doc["config"]
    sets = ", ".join(f"{k}={v}" for k, v in cfg["overrides"].items()) or "none"
    lines = [
        "# Enrolment seconds",
        "",
        f"Commit {doc['meta'].get('commit')}, {doc['meta'].get('cpu_count')} CPUs, torch threads "
        f"{doc['torch_threads']}; strength {cfg['strength']}, overrides {sets} ({cfg['steps']} steps, "
        f"K {cfg['k']}, batch {cfg['batch']}, surrogates {', '.join(cfg['surrogates'])}).",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in doc['load_average_before'])}; "
        f"after: {', '.join(f'{v:.2f}' for v in doc['load_average_after'])}.",
        "",
        f"**Median {s['median']:.1f} s** (min {s['min']:.1f}, max {s['max']:.1f}) over "
        f"{len(doc['enrolments'])} enrolments, models already loaded.",
        "",
        "| photo | repeat | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {r['photo']} | {r['repeat']} | {r['seconds']:.1f} |" for r in doc["enrolments"]]
    return "\n".join(lines) + "\n"
