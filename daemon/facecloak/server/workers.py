"""Worker processes that run the models, so the event loop never computes.

`CloakPool`: a pool of processes for per-request work (detect, cloak,
checking an enrolment photo). Each worker loads the detector and the match
model once, when it starts. A crashed worker (killed for memory, say)
breaks the pool; the next request gets 503 ``unavailable`` and a fresh pool
is started in its place.

The functions below run in the workers; they take and return plain values
(bytes, dicts, arrays) so that they pickle cheaply.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .http_errors import ApiError

log = logging.getLogger("facecloak.server")


def exit_with_parent() -> None:
    """In a worker: end this process at once if the daemon that started it dies.

    A SIGKILLed daemon runs no clean-up, and its workers would otherwise live
    on, holding models in memory, reparented to init.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(threads: int) -> None:
    os.environ["FACECLOAK_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    logging.basicConfig(level=logging.WARNING)
    exit_with_parent()


def warm() -> int:
    """Load the detector and the match model (runs once per worker)."""
    from ..cloak.apply import DEFAULT_MATCH_MODEL, _match_embedder
    from ..faces import get_detector

    get_detector().detect(np.zeros((64, 64, 3), np.uint8))
    _match_embedder(DEFAULT_MATCH_MODEL)
    return os.getpid()


def detect_faces(data: bytes, max_pixels: int) -> dict:
    from ..faces import get_detector, load_image_with_info

    rgb, info = load_image_with_info(data, max_pixels)
    faces = get_detector().detect(rgb)
    width, height = info.size
    return {"width": width, "height": height, "faces": [
        {"box": [round(float(v), 1) for v in f.box],
         "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(f.landmarks)],
         "score": round(float(f.score), 4)} for f in faces]}


def check_enrolment_photo(data: bytes, max_pixels: int) -> dict:
    """The enrolment photo's one face, or the engine's NoFace/ManyFaces/FaceTooSmall error."""
    from ..cloak.enrol import enrolment_face
    from ..faces import load_image_with_info

    rgb, _ = load_image_with_info(data, max_pixels)
    face = enrolment_face(rgb)
    return {"box": [float(v) for v in face.box]}


def cloak(data: bytes, mask_bytes: bytes, user_embedding: np.ndarray | None, strip_gps: bool,
          max_pixels: int, match_model: str | None = None) -> dict:
    """`cloak_bytes`; `user_embedding` (only the user's faces) is `match_model`'s
    (default `DEFAULT_MATCH_MODEL`)."""
    from ..cloak.apply import DEFAULT_MATCH_MODEL, cloak_bytes
    from ..cloak.mask import CloakMask

    mask = _mask(mask_bytes)
    assert isinstance(mask, CloakMask)
    result = cloak_bytes(data, mask, only_user=user_embedding, match_model=match_model or DEFAULT_MATCH_MODEL,
                         strip_gps=strip_gps, max_pixels=max_pixels)
    return {"data": result.data, "format": result.format, "faces_found": result.faces_found,
            "faces_cloaked": result.faces_cloaked, "ms": result.ms}


@functools.lru_cache(maxsize=4)
def _mask(mask_bytes: bytes):
    from ..cloak.mask import CloakMask

    return CloakMask.from_bytes(mask_bytes)


class CloakPool:
    """A restartable process pool; `run` awaits one call in a worker."""

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads = workers, threads
        self._pool: ProcessPoolExecutor | None = None

    def _make(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(self.threads,))

    async def start(self) -> None:
        """Start every worker and load its models before the first request."""
        self._pool = self._make()
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(*(loop.run_in_executor(self._pool, warm) for _ in range(self.workers)))
        log.info("cloak workers ready: %d (pids %s)", len(set(pids)), sorted(set(pids)))

    async def run(self, fn, *args):
        if self._pool is None:
            self._pool = self._make()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args))
        except BrokenProcessPool:
            log.error("a cloak worker died; starting a new pool")
            broken, self._pool = self._pool, self._make()
            broken.shutdown(wait=False, cancel_futures=True)
            raise ApiError(503, "unavailable", "a worker stopped unexpectedly and is being restarted; "
                                               "try again in a few seconds") from None

    def pids(self) -> list[int]:
        procs = getattr(self._pool, "_processes", None) or {}
        return sorted(procs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
