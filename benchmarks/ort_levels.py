"""onnxruntime's graph optimisation levels on the registry's face-recognition models.

    python benchmarks/ort_levels.py --out benchmarks/ort-levels

For every ONNX face-recognition model of the registry: a batch of 15 random
inputs through a session at ORT_ENABLE_EXTENDED (no layout pass) and one at
ORT_ENABLE_ALL (which on x86 converts convolutions to the blocked NCHWc
layout), on one and on two threads, in interleaved rounds; and the level
`facecloak.models.fr.optimization_level` picks for it. Then the step it
mattered most for: `match_user` (the daemon's default, only the user's faces)
on the 15 faces of stock-group-1 at 12 MP, with faceplugin's session (the
registry's model without the layout pass, the match model until b3b2e15) at
the level the product picks and at the full level. Writes OUT/results.json and
OUT/report.md. Time it on an idle machine; the figures depend on the CPU
(AVX2, AVX-512, ARM).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facecloak.bench.latency import photo_at
from facecloak.bench.meta import run_metadata
from facecloak.errors import FaceCloakError
from facecloak.faces import get_detector, load_image
from facecloak.models.fr import load_embedder, optimization_level
from facecloak.models.registry import REGISTRY, Format
from facecloak.models.store import onnx_file
from facecloak.paths import shared_dir

from detect_size import interleaved  # benchmarks/, beside this script

LEVELS = {"extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def session(path: Path, level, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def time_model(path: Path, rounds: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for threads in (1, 2):
        sessions = {name: session(path, level, threads) for name, level in LEVELS.items()}
        inp = next(iter(sessions.values())).get_inputs()[0]
        batch = 15 if not isinstance(inp.shape[0], int) else inp.shape[0]  # a graph frozen to its batch
        shape = [batch] + [d for d in inp.shape[1:]]
        feed = {inp.name: rng.normal(0, 1, shape).astype(np.float32)}
        ms = interleaved({name: functools.partial(s.run, None, feed) for name, s in sessions.items()}, rounds)
        out[f"{threads} thread{'s' if threads > 1 else ''}"] = {
            "batch": batch, **{name: float(np.median(v)) for name, v in ms.items()}}
    return out


#: The model `time_match` embeds with: the one the registry keeps from the layout pass.
MATCH_MODEL = "faceplugin"


def time_match(rounds: int) -> dict | None:
    """match_user's embedding of a 12 MP group photo's faces with `MATCH_MODEL`, the product's
    level against the full one."""
    shared = shared_dir()
    if shared is None:
        return None
    from PIL import Image

    from facecloak.faces.align import PixelSource

    data = photo_at(load_image(shared / "data" / "photos" / "group" / "stock-group-1.jpg"), 12.0)
    img = Image.open(io.BytesIO(data))
    img.load()
    faces = get_detector().detect(np.asarray(img))
    pixels = PixelSource(img)
    embedders = {"product": load_embedder(MATCH_MODEL), "all": load_embedder(MATCH_MODEL)}
    full = embedders["all"]
    full.session = session(full.onnx_path, LEVELS["all"], 0)
    crops = np.stack([full.align_for(pixels, f.landmarks) for f in faces])
    ms = interleaved({name: functools.partial(e.embed_aligned, crops) for name, e in embedders.items()}, rounds)
    got = {name: e.embed_aligned(crops) for name, e in embedders.items()}
    cos = np.sum(got["product"] * got["all"], axis=1)
    return {"model": MATCH_MODEL, "faces": len(faces),
            "product_level": str(optimization_level(full.spec)).rsplit(".", 1)[-1],
            "median_ms": {name: float(np.median(v)) for name, v in ms.items()},
            "min_cosine_between_levels": float(cos.min())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    models, absent = {}, []
    for name, spec in sorted(REGISTRY.items()):
        if spec.is_fr and spec.format != Format.DLIB:
            try:
                path = onnx_file(name)
            except FaceCloakError:  # weights a user fetches by hand (insightface's)
                absent.append(name)
                continue
            models[name] = {"product_level": str(optimization_level(spec)).rsplit(".", 1)[-1],
                            **time_model(path, args.rounds)}
    match = time_match(args.rounds)
    meta = run_metadata()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "models": models, "absent": absent,
                                                       "match": match}, indent=1))
    lines = ["# onnxruntime optimisation levels", "",
             f"Commit {meta.get('commit')}; median ms of {args.rounds} interleaved rounds, random inputs.", "",
             "| model | batch | 1 thread: extended / all | 2 threads: extended / all | level the product picks |",
             "|---|---|---|---|---|"]
    for name, m in models.items():
        one, two = m["1 thread"], m["2 threads"]
        lines.append(f"| {name} | {one['batch']} | {one['extended']:.0f} / {one['all']:.0f} "
                     f"| {two['extended']:.0f} / {two['all']:.0f} | {m['product_level']} |")
    if absent:
        lines += ["", "Not on this machine (their weights are fetched by hand): " + ", ".join(absent) + "."]
    if match:
        lines += ["", f"`match_user`'s embedding of the {match['faces']} faces of stock-group-1 at 12 MP "
                  f"({match['model']}, default threads): {match['median_ms']['product']:.0f} ms at the level "
                  f"the product picks ({match['product_level']}), {match['median_ms']['all']:.0f} ms at the "
                  f"full level; least cosine between the two's embeddings {match['min_cosine_between_levels']:.6f}."]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
