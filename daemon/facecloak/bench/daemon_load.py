"""Load on the real daemon: many 12-megapixel cloaks, several at a time, while enrolments run.

Method: a disposable daemon (`server.local.DaemonProcess`, loopback only) is
started with its default workers; profile "me" is enrolled from one photo.
Then N cloak requests of one 12 MP JPEG (`bench.latency.photo_at` of the
largest deepface photo) are sent by C client threads, while enrolments of
another profile run back to back, and a status request every 0.5 s measures
how responsive the event loop stays. Every cloak answer must be 200, cloak
one face, keep the size and format, and be byte-identical to the others (one
input, one mask, deterministic pipeline): a dropped, truncated or mixed-up
answer shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .meta import run_metadata


def _pct(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {}
    return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


def run(out: Path, requests: int = 200, concurrency: int = 8, megapixels: float = 12.0,
        enrol_query: str = "strength=mid", workers: int | None = None) -> dict:
    from ..paths import shared_dir
    from ..server.local import DaemonProcess
    from .latency import photo_at

    shared = shared_dir()
    if shared is None:
        raise SystemExit("../shared not found: the load benchmark uses real photos")
    photos = shared / "data" / "photos" / "deepface"
    selfie = (photos / "img20.jpg").read_bytes()
    big = photo_at(np.asarray(Image.open(photos / "img40.jpg").convert("RGB")), megapixels)
    size = Image.open(io.BytesIO(big)).size
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"  # the disposable daemon's files, fresh each run
    shutil.rmtree(work, ignore_errors=True)
    extra = ("--workers", str(workers)) if workers else ()
    with DaemonProcess(work, extra_args=extra) as daemon:
        token = daemon.pair("load-benchmark")
        status, body = daemon.json("POST", "/v1/enrol?profile=me&strength=low&k=2&steps=10", selfie, token=token)
        assert status == 202, body
        assert daemon.wait_job(body["job"], token)["state"] == "done"

        stop = threading.Event()
        enrolments: list[dict] = []
        status_ms: list[float] = []

        def enrol_loop() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                s, b = daemon.json("POST", f"/v1/enrol?profile=background&{enrol_query}", selfie, token=token)
                if s != 202:
                    enrolments.append({"error": b})
                    return
                job = daemon.wait_job(b["job"], token, timeout=3600)
                enrolments.append({"state": job["state"], "seconds": time.perf_counter() - t0})

        def status_loop() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                daemon.request("GET", "/v1/status", token=token)
                status_ms.append(1000 * (time.perf_counter() - t0))
                stop.wait(0.5)

        def one(i: int) -> dict:
            t0 = time.perf_counter()
            s, h, data = daemon.request("POST", "/v1/cloak?only_user=0", big, token=token, timeout=1800)
            ms = 1000 * (time.perf_counter() - t0)
            ok = s == 200 and h.get("x-facecloak-faces-cloaked") == "1" and h.get("content-type") == "image/jpeg"
            if ok:
                ok = Image.open(io.BytesIO(data)).size == size
            return {"i": i, "status": s, "ok": bool(ok), "ms": ms, "worker_ms": float(h.get("x-facecloak-ms", "nan")),
                    "sha256": hashlib.sha256(data).hexdigest() if s == 200 else None}

        background = [threading.Thread(target=enrol_loop, daemon=True),
                      threading.Thread(target=status_loop, daemon=True)]
        for t in background:
            t.start()
        t_start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - t_start
        stop.set()
        for t in background:
            t.join(timeout=3700)
        log_tail = daemon.log()[-2000:]
    digests = {r["sha256"] for r in results if r["sha256"]}
    doc = {
        "meta": run_metadata(args={"requests": requests, "concurrency": concurrency, "megapixels": megapixels,
                                   "enrol_query": enrol_query, "workers": workers}),
        "photo": {"width": size[0], "height": size[1], "bytes": len(big)},
        "requests": requests,
        "ok": sum(r["ok"] for r in results),
        "statuses": {str(s): sum(r["status"] == s for r in results) for s in sorted({r["status"] for r in results})},
        "identical_outputs": len(digests) == 1,
        "wall_s": wall,
        "throughput_per_s": requests / wall,
        "latency_ms": _pct([r["ms"] for r in results]),
        "worker_ms": _pct([r["worker_ms"] for r in results if r["status"] == 200]),
        "status_ms_during_load": _pct(status_ms),
        "enrolments_during_load": enrolments,
        "log_tail": log_tail if any(not r["ok"] for r in results) else "",
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    (out / "report.md").write_text(markdown(doc))
    return doc


def markdown(doc: dict) -> str:
    lat, wk, st = doc["latency_ms"], doc["worker_ms"], doc["status_ms_during_load"]
    done = [e for e in doc["enrolments_during_load"] if e.get("state") == "done"]
    lines = [
        "# Daemon under load",
        "",
        f"{doc['requests']} cloak requests of a {doc['photo']['width']}x{doc['photo']['height']} JPEG "
        f"({doc['photo']['bytes'] / 1e6:.1f} MB), {doc['meta']['args']['concurrency']} at a time, while "
        f"enrolments ran back to back alongside ({len(done)} enrolments, the last one finishing after the cloaks).",
        "",
        f"- correct answers: **{doc['ok']} / {doc['requests']}** (statuses {doc['statuses']}); "
        f"all outputs byte-identical: {doc['identical_outputs']}",
        f"- wall time {doc['wall_s']:.0f} s, {doc['throughput_per_s']:.2f} photos/s",
        "",
        "| latency (ms) | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|",
        f"| client, request to last byte | {lat['p50']:.0f} | {lat['p90']:.0f} | {lat['p99']:.0f} | {lat['max']:.0f} |",
        f"| in the worker (decode to encode) | {wk['p50']:.0f} | {wk['p90']:.0f} | {wk['p99']:.0f} | {wk['max']:.0f} |",
    ]
    if st:
        lines.append(f"| GET /v1/status during the load | {st['p50']:.1f} | {st['p90']:.1f} | {st['p99']:.1f} "
                     f"| {st['max']:.1f} |")
    if done:
        secs = [e["seconds"] for e in done]
        lines += ["", f"Enrolment ({doc['meta']['args']['enrol_query']}) under this load: "
                      f"{min(secs):.0f}-{max(secs):.0f} s each."]
    lines += ["", "Client latency includes queueing: with C requests in flight and W workers, a request "
                  "waits for about C/W others, so p50 is roughly C/W times the worker time.",
              "", f"Machine: {doc['meta']['cpu_count']} CPUs, {doc['meta']['platform']}; "
                  f"commit {doc['meta']['commit']}.", ""]
    return "\n".join(lines)
