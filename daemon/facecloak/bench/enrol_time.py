"""Enrolment seconds: the one-photo fit a user waits for, on this machine.

Method: the portraits of ``shared/data/photos/portrait`` (one face each) are
enrolled one after another, ``repeats`` times each, with the default
configuration (or ``strength`` and ``overrides``), in this process. The
models are loaded and the detector run once first, untimed, as in the
daemon, where they stay loaded between enrolments. Each enrolment is timed
from the encoded photo to the fitted mask (`facecloak.cloak.enrol.enrol`).
The system load average is recorded before and after: these timings mean
something only on an otherwise idle machine, and the report says how busy
it was. ``load`` > 0 makes it busy on purpose: that many processes spin a
Python loop for the whole timed part (a stand-in for the browser or any
other job the user runs; each keeps one core busy). Torch's thread count is
the engine's own choice (`facecloak.cloak.threads`: a fixed count with
FACECLOAK_THREADS, else one chosen per enrolment by timing its steps); each
row records the tuner's probes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[list[subprocess.Popen]]:
    """``n`` processes that each keep one core busy until the block ends (yields them)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield spinners
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()


def run(out: Path, repeats: int = 1, strength: str = "mid", overrides: dict | None = None,
        folder: Path | None = None, load: int = 0) -> dict:
    """Time the enrolments; write ``out``/results.json and report.md; return the results."""
    import torch

    from ..cloak.config import CloakConfig
    from ..cloak.enrol import enrol
    from ..cloak.threads import set_threads

    config = CloakConfig.for_strength(strength, **(overrides or {}))
    photos = portraits(folder)
    threads = set_threads()
    enrol(photos[0].read_bytes(), config.replace(steps=1, k=1))  # warm-up: loads every model, first-call costs
    load_before = os.getloadavg()
    rows = []
    with busy_processes(load):
        for r in range(repeats):
            for photo in photos:
                start = time.perf_counter()
                result = enrol(photo.read_bytes(), config)
                rows.append({"photo": photo.name, "repeat": r, "seconds": time.perf_counter() - start,
                             "thread_probes": result.mask.meta["thread_probes"]})
        load_after = os.getloadavg()
    seconds = np.array([row["seconds"] for row in rows])
    doc = {
        "meta": run_metadata(device=config.device),
        "config": {"strength": strength, "overrides": overrides or {}, "steps": config.steps, "k": config.k,
                   "batch": config.batch, "surrogates": list(config.surrogates)},
        "torch_threads": threads, "torch_threads_now": torch.get_num_threads(),
        "busy_processes": load,
        "load_average_before": list(load_before), "load_average_after": list(load_after),
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
        f"Busy processes beside it: {doc.get('busy_processes', 0)}. Load average (1, 5, 15 min) before: "
        f"{', '.join(f'{v:.2f}' for v in doc['load_average_before'])}; "
        f"after: {', '.join(f'{v:.2f}' for v in doc['load_average_after'])}.",
        "",
        f"**Median {s['median']:.1f} s** (min {s['min']:.1f}, max {s['max']:.1f}) over "
        f"{len(doc['enrolments'])} enrolments, models already loaded.",
        "",
        "Threads: each probe times one step with more threads and one with fewer and keeps the faster;",
        "the last column lists them as step: seconds with more / fewer -> threads kept (none: tuning off).",
        "",
        "| photo | repeat | seconds | thread probes |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['photo']} | {r['repeat']} | {r['seconds']:.1f} | {probes(r.get('thread_probes', []))} |"
              for r in doc["enrolments"]]
    return "\n".join(lines) + "\n"


def probes(rows: list) -> str:
    return "; ".join(f"{step}: {many:.2f} / {few:.2f} s -> {kept}" for step, many, few, kept in rows) or "none"
