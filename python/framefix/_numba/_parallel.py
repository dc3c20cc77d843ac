"""Row stripes over Python threads for the Numba kernels.

The kernels are compiled with ``nogil=True``, so plain threads run them in parallel. This avoids
Numba's own threading layers: the default one aborts the process when two threads launch
parallel kernels at once, and the others are not installed everywhere.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

# The most threads a kernel runs on: the C++ pool's limit (parallel.hpp), which framefix._backend
# caps `workers` at too. Written here rather than imported: this package imports nothing from the
# rest of framefix (tests/test_backend.py checks both facts).
MAX_WORKERS = 256

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _forget_executor_in_child() -> None:
    # The executor's threads do not exist in a forked child; a fresh one is made on demand.
    global _executor, _lock
    _executor, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor_in_child)


def _helpers() -> ThreadPoolExecutor:
    # One executor for the process, never shut down (a concurrent caller may be submitting to
    # it); it starts threads only as they are needed, up to the library's limit.
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=MAX_WORKERS - 1, thread_name_prefix="framefix")
        return _executor


def for_rows(height: int, workers: int, run_rows: Callable[[int, int], None]) -> None:
    """Call ``run_rows(y0, y1)`` over [0, height) in chunks on up to ``workers`` threads (the
    caller included). Chunk boundaries depend only on height and workers, as in the C++ pool."""
    chunks = min(height, workers * 4)
    if workers <= 1 or chunks <= 1:
        run_rows(0, height)
        return
    bounds = [height * c // chunks for c in range(chunks + 1)]
    next_chunk = itertools.count()  # next() on it is atomic under the GIL

    def drain() -> None:
        for c in iter(lambda: next(next_chunk), None):
            if c >= chunks:
                return
            run_rows(bounds[c], bounds[c + 1])

    futures = [_helpers().submit(drain) for _ in range(min(workers, chunks) - 1)]
    try:
        drain()
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
