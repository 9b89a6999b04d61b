"""The enrolment process: one long-lived worker that fits masks, one job at a time.

It loads the surrogate models when it starts, then takes tasks from a queue
and reports back through another:

    ("ready", pid)
    ("progress", job_id, fraction, message)
    ("done", job_id, {"mask": bytes, "embeddings": {name: array}, "meta": {...}})
    ("cancelled", job_id) | ("failed", job_id, message)

Cancelling sets a shared integer to the job's number; the engine polls it
between steps. If the process dies (killed, out of memory), `EnrolRunner`
fails the job it was running and starts a new process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger("facecloak.server")
_PROGRESS_EVERY_S = 0.25


def worker_main(tasks, events, cancel, threads: int) -> None:  # runs in the child
    from .workers import exit_with_parent

    exit_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    from ..cloak.config import DEFAULT_SURROGATES, CloakConfig
    from ..cloak.enrol import Cancelled, enrol
    from ..cloak.surrogates import load_surrogates, onnx_embedder
    from ..cloak.threads import fixed_threads
    from ..errors import FaceCloakError
    from ..faces import get_detector

    get_detector()
    load_surrogates(DEFAULT_SURROGATES)
    # ``threads`` between enrolments; each enrolment's loop then takes more
    # cores only while it measures them faster (`ThreadTuner`), unless the
    # user fixed the count with FACECLOAK_THREADS.
    torch.set_num_threads(fixed_threads() or threads)
    for name in DEFAULT_SURROGATES:
        onnx_embedder(name)
    events.put(("ready", os.getpid()))
    while True:
        task = tasks.get()
        if task is None:
            return
        number, job_id, photo, config = task
        last = [0.0, ""]

        def progress(fraction: float, message: str, job_id=job_id, last=last) -> None:
            stage = message.split(":", 1)[0]
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY_S or stage != last[1] or fraction >= 1.0:
                last[0], last[1] = now, stage
                events.put(("progress", job_id, float(fraction), message))

        try:
            result = enrol(photo, CloakConfig(**config), progress=progress,
                           should_stop=lambda number=number: cancel.value == number)
        except Cancelled:
            events.put(("cancelled", job_id))
        except FaceCloakError as exc:
            events.put(("failed", job_id, str(exc)))
        except Exception as exc:  # noqa: BLE001 - report, keep the worker alive
            traceback.print_exc()
            events.put(("failed", job_id, f"internal error ({type(exc).__name__}); see the daemon's log"))
        else:
            meta = {"seconds": round(result.seconds, 2), "backend": result.backend}
            events.put(("done", job_id, {"mask": result.mask.to_bytes(), "embeddings": result.embeddings,
                                         "meta": meta}))


class EnrolRunner:
    """Owns the enrolment process; `on_event(event_tuple)` runs on the event loop."""

    def __init__(self, threads: int, on_event: Callable[[tuple], None]):
        self.threads = threads
        self.on_event = on_event
        self._ctx = multiprocessing.get_context("spawn")
        self._number = 0
        self._current: str | None = None
        self._proc = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.tasks = self._ctx.Queue()
        self.events = self._ctx.Queue()
        self.cancel_value = self._ctx.Value("q", 0)
        self.ready = asyncio.Event()
        self._proc = self._ctx.Process(target=worker_main, name="facecloak-enrol", daemon=True,
                                       args=(self.tasks, self.events, self.cancel_value, self.threads))
        self._proc.start()
        threading.Thread(target=self._pump, args=(self._proc, self.events), daemon=True).start()

    def _pump(self, proc, events) -> None:
        """Forward events to the loop; notice when the process dies."""
        while True:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                if not proc.is_alive():
                    if not self._closing:
                        self._loop.call_soon_threadsafe(self._died, proc.exitcode)
                    return
                continue
            self._loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: tuple) -> None:
        if self._closing:  # a job cut off by shutdown stays "running" on disk: failed at next start
            return
        if event[0] == "ready":
            self.ready.set()
            log.info("enrolment worker ready (pid %s)", event[1])
            return
        if event[0] in ("done", "failed", "cancelled") and event[1] == self._current:
            self._current = None
        self.on_event(event)

    def _died(self, exitcode) -> None:
        log.error("the enrolment worker stopped (exit code %s); starting a new one", exitcode)
        if self._current is not None:
            job, self._current = self._current, None
            why = f"the enrolment worker stopped unexpectedly (exit code {exitcode}); try again"
            self.on_event(("failed", job, why))
        self.start()

    def submit(self, job_id: str, photo: bytes, config: dict) -> None:
        self._number += 1
        self._current = job_id
        self.tasks.put((self._number, job_id, photo, config))

    def cancel(self, job_id: str) -> None:
        if job_id == self._current:
            self.cancel_value.value = self._number

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        self._closing = True
        if self._proc is None:
            return
        self.cancel_value.value = self._number
        self.tasks.put(None)
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
