"""The ``facecloak`` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from . import cli_cloak, cli_export, cli_lookalikes
from .bench import privacy_cli
from .cli_options import add_detector_option
from .errors import FaceCloakError
from .server import cli as server_cli

DEFAULT_MODELS = ("facenet-casia", "mobilefacenet", "faceplugin", "hse-faceres",
                  "dlib-resnet", "dlib-68", "dlib-5", "faceplugin-detect", "faceplugin-landmarks",
                  "mb3-centernet")  # the last: every detector's human-face check (faces/human.py)


def _bundled_photo() -> Path:
    return Path(str(resources.files("facecloak") / "data" / "astronaut.jpg"))


def fetch_models(names: list[str], model_dir: str | None) -> dict[str, Path]:
    """Fetch (and convert, where it is not ONNX or dlib) each model, with a progress bar."""
    from .models.registry import Format, get_spec
    from .models.store import model_file, onnx_file

    done = {}
    with tqdm(names, desc="models", unit="model", file=sys.stderr) as bar:
        for name in bar:
            bar.set_postfix_str(name)
            spec = get_spec(name)
            graph = spec.format in (Format.TF_FROZEN_GRAPH, Format.TFLITE, Format.TFJS_GRAPH)
            convertible = graph or (spec.is_fr and spec.format == Format.ONNX)
            done[name] = onnx_file(name, model_dir) if convertible else model_file(name, model_dir=model_dir)
    return done


def cmd_models_list(args) -> int:
    from .models.registry import REGISTRY

    print(f"{'name':24} {'role':14} {'format':16} source")
    for spec in REGISTRY.values():
        print(f"{spec.name:24} {spec.role.value:14} {spec.format.value:16} {spec.source.describe()}")
    return 0


def cmd_models_fetch(args) -> int:
    for name, path in fetch_models(args.names or list(DEFAULT_MODELS), args.model_dir).items():
        print(f"{name:16} {path}")
    return 0


def describe_faces(photo: Path, detector_name: str) -> dict:
    from .faces import get_detector, load_image

    rgb = load_image(photo)
    faces = get_detector(detector_name).detect(rgb)
    return {
        "photo": str(photo),
        "size": [int(rgb.shape[1]), int(rgb.shape[0])],
        "faces": [{"box": [round(float(v), 1) for v in f.box],
                   "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in f.landmarks],
                   "eye_distance_px": round(float(abs(f.landmarks[1][0] - f.landmarks[0][0])), 1),
                   "score": round(float(f.score), 3)} for f in faces],
    }


def _print_faces(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report))
        return
    w, h = report["size"]
    print(f"{report['photo']}: {w}x{h}, {len(report['faces'])} face(s)")
    for i, face in enumerate(report["faces"], 1):
        x0, y0, x1, y1 = face["box"]
        print(f"  face {i}: box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}), "
              f"eyes {face['eye_distance_px']:.0f} px apart, score {face['score']:.2f}")


def cmd_faces(args) -> int:
    photos = args.photos or [_bundled_photo()]
    for photo in photos:
        _print_faces(describe_faces(Path(photo), args.detector), args.json)
    return 0


def cmd_check(args) -> int:
    """Fetch and convert the default models, then report the faces in a photo."""
    fetch_models(list(DEFAULT_MODELS), args.model_dir)
    photo = Path(args.photo) if args.photo else _bundled_photo()
    report = describe_faces(photo, args.detector)
    _print_faces(report, args.json)
    if not args.photo and len(report["faces"]) != 1:
        raise FaceCloakError(f"self-check failed: expected one face in the bundled photo, "
                             f"found {len(report['faces'])}")
    return 0


def cmd_bench_lfw(args) -> int:
    from .bench import lfw_accuracy

    doc = lfw_accuracy.run(Path(args.out), args.models, args.lfw, args.folds, args.detector)
    print(lfw_accuracy.markdown(doc))
    print(f"wrote {Path(args.out) / 'results.json'} and report.md")
    return 0


def cmd_bench_daemon(args) -> int:
    from .bench import daemon_load

    doc = daemon_load.run(Path(args.out), args.requests, args.concurrency, args.megapixels, workers=args.workers)
    print(daemon_load.markdown(doc))
    return 0 if doc["ok"] == doc["requests"] else 1


def cmd_bench_enrol(args) -> int:
    from .bench import enrol_time
    from .bench.privacy_cli import parse_sets

    doc = enrol_time.run(Path(args.out), args.repeats, args.strength, parse_sets(args.set), load=args.load)
    print(enrol_time.markdown(doc))
    return 0


def cmd_bench_latency(args) -> int:
    from .bench import latency

    latency.run(Path(args.out), args.reps, sizes_mp=tuple(args.megapixels),
                photo=Path(args.photo) if args.photo else None)
    print((Path(args.out) / "report.md").read_text(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facecloak",
        description="Cloak your photos against face-recognition search engines, from one selfie.")
    parser.add_argument("--model-dir", help="folder of model files to use instead of downloading "
                        "(also FACECLOAK_MODEL_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="fetch and convert the default models, then find the faces in a photo",
                       description=cmd_check.__doc__)
    p.add_argument("photo", nargs="?", help="a photo (default: a bundled public-domain portrait)")
    add_detector_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("models", help="list or fetch the models")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    q = msub.add_parser("list", help="every model in the registry, with its role and source")
    q.set_defaults(func=cmd_models_list)
    q = msub.add_parser("fetch", help="download, verify and convert models (default: the default set)")
    q.add_argument("names", nargs="*", help="model names (see `facecloak models list`)")
    q.set_defaults(func=cmd_models_fetch)

    p = sub.add_parser("faces", help="detect faces and five landmarks in photos")
    p.add_argument("photos", nargs="*", help="photos (default: the bundled portrait)")
    add_detector_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per photo")
    p.set_defaults(func=cmd_faces)

    p = sub.add_parser("bench", help="benchmarks that write JSON and a Markdown report")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    q = bsub.add_parser("lfw", help="LFW verification accuracy and FAR=1e-3 threshold per FR model")
    q.add_argument("--lfw", help="LFW folder (default: ../shared/data/lfw)")
    q.add_argument("--models", nargs="*", help="FR models (default: all fetchable)")
    q.add_argument("--folds", type=int, default=10, help="use the first N folds of pairs.txt (default 10)")
    add_detector_option(q)
    q.add_argument("--out", default="benchmarks/lfw-accuracy", help="output folder")
    q.set_defaults(func=cmd_bench_lfw)
    q = bsub.add_parser("daemon", help="load test: 12 MP cloak requests on a disposable daemon while enrolments run")
    q.add_argument("--requests", type=int, default=200, help="cloak requests (default 200)")
    q.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    q.add_argument("--megapixels", type=float, default=12.0, help="photo size (default 12)")
    q.add_argument("--workers", type=int, help="daemon cloak workers (default: the daemon's)")
    q.add_argument("--out", default="benchmarks/daemon-load", help="output folder")
    q.set_defaults(func=cmd_bench_daemon)
    q = bsub.add_parser("enrol", help="seconds per enrolment of the portraits in ../shared, models loaded")
    q.add_argument("--repeats", type=int, default=1, help="enrolments per portrait (default 1)")
    q.add_argument("--strength", default="mid", help="cloak strength (default mid)")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", help="CloakConfig override (repeatable)")
    q.add_argument("--load", type=int, default=0,
                   help="processes that each keep a core busy while it runs (default 0: idle machine)")
    q.add_argument("--out", default="benchmarks/enrol-time", help="output folder")
    q.set_defaults(func=cmd_bench_enrol)
    q = bsub.add_parser("latency", help="cloak seconds at 1, 4 and 12 MP against decode + encode of the same photo")
    q.add_argument("--reps", type=int, default=5, help="timed rounds per size (default 5)")
    q.add_argument("--megapixels", type=float, nargs="+", default=[1.0, 4.0, 12.0],
                   help="photo sizes (default 1 4 12)")
    q.add_argument("--photo", help="the photo to resize and time (default: the largest of "
                   "shared/data/photos/deepface, a close-up)")
    q.add_argument("--out", default="benchmarks/latency", help="output folder")
    q.set_defaults(func=cmd_bench_latency)
    privacy_cli.register(bsub)
    cli_cloak.register(sub)
    cli_export.register(sub)
    cli_lookalikes.register(sub)
    server_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.model_dir:  # every model lookup, in this process and its workers
        os.environ["FACECLOAK_MODEL_DIR"] = args.model_dir
    try:
        return args.func(args)
    except FaceCloakError as exc:
        print(f"facecloak: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facecloak: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
