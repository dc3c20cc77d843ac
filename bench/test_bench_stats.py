"""frame_statistics (the frame_sums kernel) on a 720p frame, on each backend.

    python -m pytest bench/test_bench_stats.py --benchmark-group-by=group --benchmark-columns=min,median,rounds
"""

import numpy as np
import pytest

import framefix
from conftest import run_on


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_statistics_alone(benchmark, backend):
    frame = np.random.default_rng(1).integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)
    benchmark.group = "frame_statistics 720p RGB uint8, 1 thread"
    benchmark(run_on(backend, framefix.frame_statistics, frame, workers=1))
