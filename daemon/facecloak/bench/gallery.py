"""Clean LFW photos: landmarks and per-model embeddings, cached on disk.

Embedding every clean gallery photo with every FR model is the slow part of
the privacy benchmark (13k photos x 6 models), so both the landmarks and the
embeddings are cached under ``paths.home()/bench-cache``:

    landmarks/<detector key>__<photo list hash>.npz       keys, landmarks, detected
    embeddings/<model key>__<detector key>__<photo list hash>.npz   keys, embeddings

A model key is the model name plus the sha256 of its converted ONNX file (for
dlib: of its ``.dat`` file, plus the dlib version); a detector key is the
detector name plus its settings and the dlib version. Both also hash the code
that produces them (`code_hash`: the modules' syntax trees without
docstrings or comments), so a fix to detection, alignment or preprocessing
invalidates the cache while an edit to the prose does not. A photo list hash is
the sha256 of the photo keys ("Name_0001", ...) in order. On a miss, entries
for the same photos in other files of the same model and detector key are
reused, so a run over a new subset only computes the photos it adds.

Photos where the detector finds no face get the median landmarks of those
where it did (LFW is deep-funneled: faces sit at nearly one place).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from .. import paths
from ..faces import get_detector, load_image
from ..models.registry import Format, get_spec
from ..models.store import model_file, onnx_file, sha256_of
from .lfw_data import photo_path

CACHE_VERSION = 1
PhotoKey = tuple[str, int]


def key_str(key: PhotoKey) -> str:
    return f"{key[0]}_{key[1]:04d}"


def _parse(name: str) -> PhotoKey:
    person, number = name.rsplit("_", 1)
    return person, int(number)


def photo_list_hash(keys: Sequence[PhotoKey]) -> str:
    return hashlib.sha256("\n".join(key_str(k) for k in keys).encode()).hexdigest()[:16]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    root = Path(cache_dir) if cache_dir else paths.home() / "bench-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _dlib_version() -> str:
    import dlib

    return str(getattr(dlib, "__version__", "unknown"))


@functools.cache
def _file_sha(path: str, size: int, mtime: float) -> str:  # size/mtime: re-hash when the file changes
    return sha256_of(Path(path))


def _sha(path: Path) -> str:
    st = path.stat()
    return _file_sha(str(path), st.st_size, st.st_mtime)


def code_hash(*modules: str) -> str:
    """sha256 (10 hex) of the named modules' syntax trees, docstrings and comments left out."""
    import ast
    import importlib.util

    digest = hashlib.sha256()
    for module in modules:
        spec = importlib.util.find_spec(module)
        tree = ast.parse(Path(spec.origin).read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:10]


_EMBED_CODE = ("facecloak.models.fr", "facecloak.faces.align")
_DETECT_CODE = {"dlib": ("facecloak.faces.detect", "facecloak.faces.dlib_detect", "facecloak.faces.align"),
                "dlib-mmod": ("facecloak.faces.detect", "facecloak.faces.dlib_detect", "facecloak.faces.align"),
                "yunet": ("facecloak.faces.detect", "facecloak.faces.yunet_detect", "facecloak.faces.align"),
                "rfb": ("facecloak.faces.detect", "facecloak.faces.rfb_detect", "facecloak.faces.dlib_detect",
                        "facecloak.faces.align")}
_DETECT_CODE = {k: v + ("facecloak.faces.human",) for k, v in _DETECT_CODE.items()}  # every detector's check
# Model files each detector's results depend on, beyond its code (mb3-centernet: the human check's).
_DETECT_MODELS = {"dlib": ("dlib-68", "mb3-centernet"), "dlib-mmod": ("dlib-68", "dlib-mmod", "mb3-centernet"),
                  "yunet": ("mb3-centernet",),
                  "rfb": ("dlib-68", "faceplugin-detect", "faceplugin-landmarks", "mb3-centernet")}


def model_key(name: str) -> str:
    """``<name>-<sha12 of the converted model>`` (dlib: of the .dat, plus the dlib version)."""
    spec = get_spec(name)
    if spec.format == Format.DLIB:
        digest = _sha(model_file(name))[:12] + f"-dlib{_dlib_version()}" + "-sp5" + _sha(model_file("dlib-5"))[:8]
    else:
        digest = _sha(onnx_file(name))[:12]
    return f"{name}-{digest}-c{code_hash(*_EMBED_CODE)}"


def detector_key(name: str) -> str:
    """``<name>-<hash of its settings, the landmark model and the dlib version>``."""
    det = get_detector(name)
    settings = {k: v for k, v in sorted(vars(det).items()) if isinstance(v, (int, float, str, bool))}
    settings.update(cls=type(det).__name__, dlib=_dlib_version(), cache=CACHE_VERSION,
                    code=code_hash(*_DETECT_CODE.get(name, ("facecloak.faces.detect", "facecloak.faces.align"))))
    for model in _DETECT_MODELS.get(name, ()):
        settings[model] = _sha(model_file(model))[:12]
    digest = hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()[:10]
    return f"{name}-{digest}"


def _save_npz(path: Path, **arrays) -> None:
    """Atomic write (temp file + rename), so an interrupted run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_cached(folder: Path, prefix: str, keys: Sequence[PhotoKey], fields: Sequence[str]
                 ) -> tuple[dict[str, np.ndarray] | None, dict[str, tuple]]:
    """(exact file's arrays or None, {photo key str: (field values...)} from sibling files)."""
    exact = folder / f"{prefix}__{photo_list_hash(keys)}.npz"
    if exact.is_file():
        with np.load(exact) as data:
            if list(data["keys"]) == [key_str(k) for k in keys]:
                return {f: data[f] for f in fields}, {}
    wanted = {key_str(k) for k in keys}
    found: dict[str, tuple] = {}
    for sibling in sorted(folder.glob(f"{prefix}__*.npz")):
        with np.load(sibling) as data:
            names = list(data["keys"])
            arrays = [data[f] for f in fields]
        for i, name in enumerate(names):
            if name in wanted and name not in found:
                found[name] = tuple(a[i] for a in arrays)
        if len(found) == len(wanted):
            break
    return None, found


def _progress(iterable: Iterable, desc: str, total: int, show: bool):
    if not show:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit="photo", leave=False)


def central_face_landmarks(rgb: np.ndarray, detector) -> np.ndarray | None:
    """(5, 2) landmarks of the face nearest the photo centre, or None."""
    faces = detector.detect(rgb)
    if not faces:
        return None
    centre = np.array([rgb.shape[1], rgb.shape[0]], np.float64) / 2
    return min(faces, key=lambda f: float(np.linalg.norm(f.landmarks.mean(axis=0) - centre))).landmarks


class CleanPhotos:
    """Landmarks and embeddings of a fixed list of clean LFW photos.

    >>> clean = CleanPhotos(root, keys, detector="dlib")
    >>> clean.landmarks.shape, clean.detected.mean()      # (N, 5, 2), share found
    >>> emb = clean.embeddings("faceplugin")              # (N, D) unit vectors
    """

    def __init__(self, root: Path, keys: Sequence[PhotoKey], detector: str = "dlib",
                 cache_dir: str | Path | None = None, progress: bool = True):
        self.root = root
        self.keys = list(keys)
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.detector_name = detector
        self.cache = cache_root(cache_dir)
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._det_key = detector_key(detector)
        self.landmarks, self.detected = self._landmarks()
        found = self.landmarks[self.detected]
        self.median_landmarks = (np.median(found, axis=0) if len(found)
                                 else np.full((5, 2), np.nan)).astype(np.float32)
        self.landmarks[~self.detected] = self.median_landmarks
        self._embeddings: dict[str, np.ndarray] = {}

    def _compute_all(self, todo: list[PhotoKey], desc: str, fn: Callable[[np.ndarray, PhotoKey], tuple]
                     ) -> dict[str, tuple]:
        out = {}
        for key in _progress(todo, desc, len(todo), self.progress):
            out[key_str(key)] = fn(load_image(photo_path(self.root, *key)), key)
        return out

    def _landmarks(self) -> tuple[np.ndarray, np.ndarray]:
        folder = self.cache / "landmarks"
        start = time.perf_counter()
        exact, found = _load_cached(folder, self._det_key, self.keys, ("landmarks", "detected"))
        if exact is not None:
            self.timings["landmarks_cached"] = time.perf_counter() - start
            return exact["landmarks"].astype(np.float32), exact["detected"].astype(bool)
        detector = get_detector(self.detector_name)

        def detect(rgb: np.ndarray, key: PhotoKey) -> tuple:
            lm = central_face_landmarks(rgb, detector)
            return (np.full((5, 2), np.nan, np.float32) if lm is None else lm.astype(np.float32), lm is not None)

        todo = [k for k in self.keys if key_str(k) not in found]
        found.update(self._compute_all(todo, f"detect ({self.detector_name})", detect))
        lms = np.stack([found[key_str(k)][0] for k in self.keys]).astype(np.float32)
        detected = np.array([bool(found[key_str(k)][1]) for k in self.keys])
        _save_npz(folder / f"{self._det_key}__{photo_list_hash(self.keys)}.npz",
                  keys=np.array([key_str(k) for k in self.keys]), landmarks=lms, detected=detected)
        self.timings["landmarks_computed"] = time.perf_counter() - start
        self.timings["landmarks_new_photos"] = len(todo)
        return lms, detected

    def embeddings(self, model: str, embedder=None) -> np.ndarray:
        """(N, D) float32 unit vectors of every photo by FR model ``model`` (cached)."""
        if model in self._embeddings:
            return self._embeddings[model]
        folder = self.cache / "embeddings"
        prefix = f"{model_key(model)}__{self._det_key}"
        start = time.perf_counter()
        exact, found = _load_cached(folder, prefix, self.keys, ("embeddings",))
        if exact is not None:
            embs = exact["embeddings"].astype(np.float32)
            self.timings[f"embed_{model}_cached"] = time.perf_counter() - start
        else:
            if embedder is None:
                from ..models.fr import load_embedder

                embedder = load_embedder(model)

            def embed(rgb: np.ndarray, key: PhotoKey) -> tuple:
                return (embedder.embed_faces(rgb, [self.landmarks[self.index[key]]])[0],)

            # An undetected photo's embedding depends on this list's median landmarks: recompute it.
            found = {k: v for k, v in found.items() if self.detected[self.index[_parse(k)]]}
            todo = [k for k in self.keys if key_str(k) not in found]
            found.update(self._compute_all(todo, f"embed {model}", embed))
            embs = np.stack([found[key_str(k)][0] for k in self.keys]).astype(np.float32)
            _save_npz(folder / f"{prefix}__{photo_list_hash(self.keys)}.npz",
                      keys=np.array([key_str(k) for k in self.keys]), embeddings=embs)
            self.timings[f"embed_{model}_computed"] = time.perf_counter() - start
            self.timings[f"embed_{model}_new_photos"] = len(todo)
        self._embeddings[model] = embs
        return embs

    def rows(self, keys: Iterable[PhotoKey]) -> np.ndarray:
        return np.array([self.index[k] for k in keys], dtype=np.int64)
