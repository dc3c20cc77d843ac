"""The C++ thread pool and the Numba row stripes: coverage, errors, fork."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest


def test_every_index_runs_exactly_once(native):
    for count, workers in [(1, 4), (7, 2), (1000, 2), (1000, 3), (5, 64)]:
        visits, threads = native._parallel_probe(count, workers)
        np.testing.assert_array_equal(visits, 1)
        assert 1 <= threads <= workers


def test_the_work_is_shared_between_threads(native):
    # 50 us per index: 0.2 s of work to share. A busy machine may, rarely, let one thread take
    # every chunk before the other starts: the helper must join in at least one of a few runs.
    used = []
    for _ in range(5):
        used.append(native._parallel_probe(4000, 2)[1])
        if used[-1] == 2:
            break
    assert 2 in used and max(used) <= 2, used


def test_the_numba_stripes_run_on_that_many_threads_at_once():
    import threading

    from framefix._numba._parallel import for_rows

    # every chunk waits for a chunk on another thread: this only completes if `workers` threads
    # run chunks at the same time (no timing involved; the timeout only turns a hang into a failure)
    barrier = threading.Barrier(3, timeout=60)
    seen, lock = {}, threading.Lock()

    def run_rows(y0, y1):
        with lock:
            seen[(y0, y1)] = threading.get_ident()
            meet = len(seen) <= 3  # the first three chunks meet
        if meet:
            barrier.wait()

    for_rows(24, 3, run_rows)
    assert sorted(seen) == [(2 * i, 2 * i + 2) for i in range(12)]  # every row once, in 12 chunks
    assert len(set(seen.values())) == 3


def test_an_exception_in_a_chunk_reaches_the_caller(native):
    with pytest.raises(RuntimeError, match="parallel_probe: failure at index 777"):
        native._parallel_probe(1000, 2, throw_at=777)
    visits, _ = native._parallel_probe(100, 2)  # the pool still works afterwards
    np.testing.assert_array_equal(visits, 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kernels_work_in_a_forked_child(backend):
    script = textwrap.dedent(f"""
        import os, signal, numpy as np, framefix
        image = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
        flow = np.full((64, 64, 2), 0.5, np.float32)
        with framefix.use_backend({backend!r}):
            expected = framefix.warp(image, flow, workers=2)  # starts the worker threads
            pid = os.fork()
            if pid == 0:
                signal.alarm(60)  # a deadlock in the child ends as a failure, not a hung suite
                ok = np.array_equal(framefix.warp(image, flow, workers=2), expected)
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
