"""How many CPU threads torch uses: a fixed default, and a per-enrolment choice by measurement.

    >>> set_threads()                    # once per process: FACECLOAK_THREADS, else usable CPUs - 1
    1
    >>> with ThreadTuner.for_device("cpu") as tuner:   # restores the thread count on exit
    ...     for t in tuner.steps(24):
    ...         ...                      # one optimisation step

Why measure rather than guess: on an idle 2-core machine a step with two
threads takes half the time of one (1.0 against 1.9 s), but with another
process busy on one core torch's OpenMP workers wait for it and two threads
are far slower (3.3 against 1.8 s a step; enrolments 78 against 46 s,
benchmarks/enrol-time/load-1). Load averages lag by a minute and count the enrolment
itself, so the tuner times the loop's own steps instead: at a few probe
points it runs one step with the fewer threads and one with the more, and
keeps the faster until the next probe. A probe costs at most one slow step.
Setting FACECLOAK_THREADS fixes the count and turns the tuner off.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator

import torch

from ..device import usable_cpus

__all__ = ["ENV", "ThreadTuner", "fixed_threads", "set_threads", "usable_cpus"]

ENV = "FACECLOAK_THREADS"


def fixed_threads() -> int | None:
    """The thread count FACECLOAK_THREADS asks for, or None when it is unset or not a positive integer."""
    env = os.environ.get(ENV, "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else None


@functools.cache
def set_threads() -> int:
    """Size torch's intra-op pool once: ``FACECLOAK_THREADS`` if set, else usable CPUs - 1; return the count.

    One core is left to the rest of the machine (the browser the user is
    uploading from, the daemon's own I/O). An enrolment may use more for its
    own loop when it measures that they help (`ThreadTuner`).
    """
    n = fixed_threads() or max(1, usable_cpus() - 1)
    torch.set_num_threads(n)
    return n


class ThreadTuner:
    """Chooses between ``few`` and ``many`` threads by timing steps of the loop it runs in.

    Probes start at step ``first`` (step 0 carries first-call costs) and
    repeat every ``every`` steps: step p runs with ``many``, step p + 1 with
    ``few``; ``many`` is kept when its step took less than ``margin`` times
    the other's. ``choices`` records (step, seconds with many, seconds with
    few, chosen) for each probe. With ``few == many`` it does nothing.
    """

    def __init__(self, few: int, many: int, first: int = 1, every: int = 8, margin: float = 0.85):
        if not 1 <= few <= many:
            raise ValueError(f"need 1 <= few <= many, got {few}, {many}")
        self.few, self.many, self.first, self.every, self.margin = few, many, first, every, margin
        self.before = torch.get_num_threads()
        self.choices: list[tuple[int, float, float, int]] = []

    @classmethod
    def for_device(cls, device: str) -> ThreadTuner:
        """Tuning between half and all usable CPUs on "cpu"; a no-op on a GPU or with FACECLOAK_THREADS set."""
        n = torch.get_num_threads()
        if device != "cpu" or fixed_threads() is not None:
            return cls(n, n)
        cpus = usable_cpus()
        return cls(max(1, cpus // 2), cpus)

    @property
    def active(self) -> bool:
        return self.many > self.few

    def _probe(self, t: int) -> int | None:
        """0 for the probe's ``many`` step, 1 for its ``few`` step, None outside a probe."""
        if not self.active or t < self.first:
            return None
        phase = (t - self.first) % self.every
        return phase if phase < 2 else None

    def steps(self, n: int) -> Iterator[int]:
        """``range(n)``, each step run with the thread count its place in the probe schedule gives."""
        many_s = 0.0
        for t in range(n):
            phase = self._probe(t)
            if phase is not None:
                torch.set_num_threads(self.many if phase == 0 else self.few)
            start = time.perf_counter()
            yield t
            seconds = time.perf_counter() - start
            if phase == 0:
                many_s = seconds
            elif phase == 1:
                chosen = self.many if many_s < self.margin * seconds else self.few
                self.choices.append((t - 1, many_s, seconds, chosen))
                torch.set_num_threads(chosen)

    def __enter__(self) -> ThreadTuner:
        return self

    def __exit__(self, *exc: object) -> None:
        """Restore the thread count the loop started with."""
        torch.set_num_threads(self.before)
