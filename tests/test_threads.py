"""The per-enrolment thread choice (`facecloak.cloak.threads`): probes, the kept count, restoring it.

The loop bodies here sleep for a time set by torch's current thread count, a
workload whose faster setting is known, so the tuner's choice can be checked.
"""

import time

import pytest
import torch

from facecloak.cloak.threads import ThreadTuner, fixed_threads, usable_cpus


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(tuner: ThreadTuner, n: int, seconds) -> list[int]:
    """Threads in effect at each step; step t sleeps ``seconds(t, threads)``."""
    seen = []
    with tuner:
        for t in tuner.steps(n):
            seen.append(torch.get_num_threads())
            time.sleep(seconds(t, seen[-1]))
    return seen


@pytest.mark.parametrize("fast, kept", [(2, 2), (1, 1)])
def test_tuner_keeps_the_faster_count_between_probes(one_thread, fast, kept):
    tuner = ThreadTuner(1, 2, first=1, every=4)
    seen = run(tuner, 8, lambda t, n: 0.01 if n == fast else 0.05)
    # step 0 as before; probes at steps 1-2 and 5-6 (many, then few); the faster one in between
    assert seen == [1, 2, 1, kept, kept, 2, 1, kept]
    assert [(step, chosen) for step, _, _, chosen in tuner.choices] == [(1, kept), (5, kept)]
    assert all((many < few) == (kept == 2) for _, many, few, _ in tuner.choices)
    assert torch.get_num_threads() == 1


def test_tuner_follows_a_change_of_load_at_the_next_probe(one_thread):
    # two threads faster at first, then slower (as when another job starts on the second core)
    tuner = ThreadTuner(1, 2, first=1, every=4)
    seen = run(tuner, 8, lambda t, n: (0.01 if n == 2 else 0.05) if t < 4 else (0.05 if n == 2 else 0.01))
    assert seen == [1, 2, 1, 2, 2, 2, 1, 1]


def test_tuner_needs_a_clear_win_to_take_more_threads(one_thread):
    tuner = ThreadTuner(1, 2, first=1, every=4, margin=0.5)
    seen = run(tuner, 4, lambda t, n: 0.03 if n == 2 else 0.04)  # 25% faster is not 50%
    assert seen == [1, 2, 1, 1]


def test_tuner_restores_the_count_when_the_loop_fails(one_thread):
    with pytest.raises(RuntimeError):
        with ThreadTuner(1, 2) as tuner:
            for t in tuner.steps(5):
                if t == 1:
                    assert torch.get_num_threads() == 2  # the probe's first step
                    raise RuntimeError("cancelled")
    assert torch.get_num_threads() == 1


def test_tuner_is_off_on_a_gpu_with_a_fixed_count_and_on_one_core(monkeypatch, one_thread):
    monkeypatch.delenv("FACECLOAK_THREADS", raising=False)
    assert not ThreadTuner.for_device("cuda").active
    cpu = ThreadTuner.for_device("cpu")
    assert (cpu.few, cpu.many) == (max(1, usable_cpus() // 2), usable_cpus())
    assert cpu.active == (usable_cpus() >= 2)
    assert run(ThreadTuner(1, 1), 4, lambda t, n: 0.0) == [1, 1, 1, 1]
    monkeypatch.setenv("FACECLOAK_THREADS", "3")
    assert fixed_threads() == 3 and not ThreadTuner.for_device("cpu").active
    monkeypatch.setenv("FACECLOAK_THREADS", "zero")
    assert fixed_threads() is None
    with pytest.raises(ValueError):
        ThreadTuner(2, 1)
