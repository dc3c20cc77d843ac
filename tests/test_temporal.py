"""Temporal measures along the motion: warping error, inconsistency map and the compare_along_flow kernel."""

import numpy as np
import pytest

import framefix
from clips import blob_flicker, sample_frames
from parity import assert_backends_agree
from reference import flow_consistency_reference, warp_reference


@pytest.fixture(scope="module")
def bikes():
    return sample_frames("bikes.mp4")


def test_warping_error_is_lower_for_clean_footage(bikes):
    shot = bikes[137:157]
    rng = np.random.default_rng(4)
    flickered = [np.clip(f * (1 + 0.08 * rng.standard_normal()), 0, 255).astype(np.uint8) for f in shot]
    clean = np.mean([framefix.warping_error(a, b).error for a, b in zip(shot[:-1], shot[1:], strict=True)])
    noisy = np.mean([framefix.warping_error(a, b).error for a, b in zip(flickered[:-1], flickered[1:], strict=True)])
    assert noisy > 2 * clean
    same = framefix.warping_error(shot[0], shot[0])
    assert isinstance(same, framefix.WarpingResult)
    assert same.error < 1e-6 and same.valid.dtype == bool and same.valid[20:-20, 20:-20].all()


def test_the_inconsistency_map_shows_local_shimmer_not_global_flicker(bikes):
    a, b = bikes[140], bikes[141]
    plain = framefix.temporal_inconsistency(a, b)
    brighter = framefix.temporal_inconsistency(a, np.clip(b * 1.12, 0, 255).astype(np.uint8))
    shimmer = framefix.temporal_inconsistency(a, blob_flicker([b, b], 0.3, period=4)[1])
    h, w = plain.shape
    region = (slice(int(0.22 * h), int(0.38 * h)), slice(int(0.68 * w), int(0.82 * w)))
    assert plain.dtype == np.float32 and np.isfinite(plain).mean() > 0.5
    typical = np.nanmedian(np.abs(plain))
    assert np.nanmedian(np.abs(brighter)) < 2 * typical + 0.002  # the uniform change is removed
    assert np.nanmedian(shimmer[region]) > 10 * typical + 0.02 > np.nanmedian(np.abs(shimmer))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_the_pair_comparison_kernel(native, dtype):
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:33, 0:41].astype(np.float32)
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    prev = (rng.random((33, 41, 3)) * top).astype(dtype)
    nxt = (rng.random((33, 41, 3)) * top).astype(dtype)
    flow = np.stack([2 * np.sin(y / 20) + 0.5, 1.5 * np.cos(x / 25)], axis=-1).astype(np.float32)
    back = (-flow + rng.normal(0, 0.3, flow.shape)).astype(np.float32)
    luma = native.flow_luma(prev, 1)
    for step in (1, 2, 3):
        assert_backends_agree("compare_along_flow", prev, nxt, luma, flow, back, 0.01, 0.5, step, workers=(1, 2, 3))
    total, count, carried, valid = native.compare_along_flow(prev, nxt, luma, flow, back, 0.01, 0.5, 1, 1)
    np.testing.assert_array_equal(valid, flow_consistency_reference(flow, back) < 1)
    warped = warp_reference(prev.astype(np.float64), flow, "linear", "edge")[0]
    squares = ((warped - nxt.astype(np.float64)) ** 2).sum(axis=2)
    assert count == valid.sum() and total == pytest.approx(squares[valid].sum(), rel=1e-5)
    np.testing.assert_allclose(carried, warp_reference(luma.astype(np.float64), flow, "linear", "edge")[0], atol=1e-5)
