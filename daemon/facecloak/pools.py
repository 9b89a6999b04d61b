"""Thread pools that survive `fork`: each process makes its own on first use.

A `ThreadPoolExecutor` inherited through fork keeps its bookkeeping but none
of its threads, so work submitted to it in the child can wait forever.
`ProcessLocalPool.get()` hands back the pool of the calling process and makes
a fresh one the first time a process asks.

    >>> pool = ProcessLocalPool(2, "example")
    >>> list(pool.get().map(abs, [-1, 2]))
    [1, 2]
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor


class ProcessLocalPool:
    """A `ThreadPoolExecutor` of `workers` threads, made per process, lazily."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        pid = os.getpid()
        if self._pool is None or self._pid != pid:
            with self._lock:
                if self._pool is None or self._pid != pid:
                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
                    self._pid = pid
        return self._pool
