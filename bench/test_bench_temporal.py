"""The temporal family at 720p, on each backend: compare_along_flow (the one pass behind
warping_error, temporal_inconsistency and the analysis's regional flicker) with its flows given,
and warping_error whole (two fast-preset flows, then the pass).

    python -m pytest bench/test_bench_temporal.py --benchmark-group-by=group --benchmark-columns=min,median,rounds
"""

import numpy as np
import pytest

import framefix
from conftest import run_on, smooth_flow
from framefix import _backend


@pytest.fixture(scope="module")
def pair_720p():
    rng = np.random.default_rng(2)
    base = np.repeat(np.repeat(rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8), 8, axis=0), 8, axis=1)
    motion = smooth_flow(720, 1280, amplitude=4.0)
    return base, framefix.warp(base, motion), motion


def compare(prev, nxt, flow, back, step):
    kernels = _backend.implementation()
    return kernels.compare_along_flow(prev, nxt, kernels.flow_luma(prev, 1), flow, back, 0.01, 0.5, step, 1)


@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("backend", ["native", "numba"])
def test_compare_along_flow(benchmark, backend, step, pair_720p):
    prev, nxt, motion = pair_720p
    benchmark.group = f"compare_along_flow 720p RGB uint8, step {step}, 1 thread (luma included)"
    benchmark(run_on(backend, compare, prev, nxt, motion, -motion, step))


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_warping_error(benchmark, backend, pair_720p):
    prev, nxt, _ = pair_720p
    benchmark.group = "warping_error 720p RGB uint8, fast preset, 2 workers"
    benchmark.pedantic(run_on(backend, framefix.warping_error, prev, nxt, workers=2), rounds=3, iterations=1)
