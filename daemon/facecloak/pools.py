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
from concurrent.futures import ThreadPoolExecutor


class ProcessLocalPool:
    """A `ThreadPoolExecutor` of `workers` threads, made per process, lazily."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def get(self) -> ThreadPoolExecutor:
        """The calling process's pool. No lock (a lock held by another thread at
        fork time would stay held in the child): two threads that race here on a
        process's first call may each make one; the one not kept serves that call only."""
        pid = os.getpid()
        pool = self._pool
        if pool is None or self._pid != pid:
            pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
            self._pool, self._pid = pool, pid
        return pool
