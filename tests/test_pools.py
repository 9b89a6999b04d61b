"""ProcessLocalPool: one pool per process, and one that works in a forked child
(a plain ThreadPoolExecutor with an idle thread, inherited through fork, starts no
thread for new work in the child: its `submit` never completes there)."""

import os
import threading

import pytest

from facecloak.pools import ProcessLocalPool


def test_one_pool_per_process_with_its_workers():
    pool = ProcessLocalPool(2, "test-pool")
    first = pool.get()
    assert pool.get() is first
    names = set(first.map(lambda _: threading.current_thread().name, range(8)))
    assert names and all(name.startswith("test-pool") for name in names)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_a_pool_that_runs():
    pool = ProcessLocalPool(1, "test-fork")
    parent = pool.get()
    assert parent.submit(lambda: 1).result(timeout=5) == 1  # the parent's thread exists and is idle
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its pool does, then leave without running pytest's teardown
        code = 1
        try:
            child = pool.get()
            ok = child is not parent and child.submit(os.getpid).result(timeout=5) == os.getpid()
            os.write(write, b"ok" if ok else b"no")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        said = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and said == b"ok", said
    assert pool.get() is parent
