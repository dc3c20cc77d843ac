"""Per-frame statistics (frame_statistics and its frame_sums kernel) against NumPy, on both backends."""

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import framefix
from framefix.stats import LUMA_WEIGHTS
from parity import assert_backends_agree

DTYPES = (np.uint8, np.uint16, np.float32)


def frame(rng, height, width, channels, dtype):
    shape = (height, width) if channels is None else (height, width, channels)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    return rng.uniform(-0.1, 1.1, size=shape).astype(np.float32)  # beyond the nominal range too


def reference_statistics(image, tiles):
    """The obvious NumPy computation."""
    img = image[..., None] if image.ndim == 2 else image
    top = float(np.iinfo(img.dtype).max) if img.dtype.kind == "u" else 1.0
    data = img.astype(np.float64)
    h, w, c = data.shape
    rows = [h * i // tiles[0] for i in range(tiles[0] + 1)]
    cols = [w * j // tiles[1] for j in range(tiles[1] + 1)]
    tile_means = np.array([[data[rows[i]:rows[i + 1], cols[j]:cols[j + 1]].reshape(-1, c).mean(0)
                            for j in range(tiles[1])] for i in range(tiles[0])])
    if c >= 3:
        r, g, b = (np.float32(w) for w in LUMA_WEIGHTS)
        luma = (r * img[..., 0].astype(np.float32) + g * img[..., 1].astype(np.float32)) + b * img[..., 2].astype(np.float32)
    else:
        luma = img[..., 0].astype(np.float32)
    scale = np.float32(256.0 / (top + 1)) if img.dtype.kind == "u" else np.float32(256.0)
    bins = np.clip(np.floor(np.where(luma * scale >= 0, luma * scale, 0)), 0, 255).astype(np.int64)
    return (data.reshape(-1, c).mean(0) / top, data.reshape(-1, c).std(0) / top,
            np.bincount(bins.ravel(), minlength=256), tile_means / top)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_statistics_match_numpy(backend, dtype, channels):
    rng = np.random.default_rng(len(str(dtype)) + (channels or 0))
    image = frame(rng, 37, 53, channels, dtype)
    stats = framefix.frame_statistics(image, tiles=(5, 7))
    mean, std, histogram, tiles = reference_statistics(image, (5, 7))
    assert_allclose(stats.mean, mean, rtol=1e-9, atol=1e-12)
    assert_allclose(stats.std, std, rtol=1e-7, atol=1e-9)
    assert_array_equal(stats.luma_histogram, histogram)
    assert_allclose(stats.tile_means, tiles, rtol=1e-9, atol=1e-12)


def test_backends_and_worker_counts_agree_exactly(native):
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        for image in (frame(rng, 64, 81, 3, dtype)[::-1, ::2], frame(rng, 64, 81, 3, dtype)):
            for histogram in (True, False):
                assert_backends_agree("frame_sums", image, 8, 8, histogram, workers=(1, 2, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_luma_histogram_can_be_left_out(backend, dtype):
    image = frame(np.random.default_rng(4), 30, 41, 3, dtype)
    full = framefix.frame_statistics(image, tiles=(3, 4))
    lean = framefix.frame_statistics(image, tiles=(3, 4), luma_histogram=False)
    assert lean.luma_histogram is None and full.luma_histogram.sum() == 30 * 41
    for name in ("mean", "std", "tile_means"):
        assert_array_equal(getattr(lean, name), getattr(full, name))
    with pytest.raises(TypeError, match=r"frame_statistics: luma_histogram must be True or False, got 'no'"):
        framefix.frame_statistics(image, luma_histogram="no")


def test_luma_of_gray_and_flat_frames(backend):
    stats = framefix.frame_statistics(np.full((10, 12, 3), 128, np.uint8), tiles=(2, 3))
    assert_allclose(stats.mean, 128 / 255)
    assert_allclose(stats.std, 0)
    assert stats.luma == pytest.approx(128 / 255)
    assert stats.luma_histogram[128] == 120 and stats.luma_histogram.sum() == 120


def test_bad_statistics_input(backend):
    image = np.zeros((6, 7, 3), np.uint8)
    with pytest.raises(ValueError, match=r"tiles must be 1..6 rows and 1..7 columns, got 8x8"):
        framefix.frame_statistics(image)
    with pytest.raises(TypeError, match="tiles must be a pair of ints"):
        framefix.frame_statistics(image, tiles=4)
    with pytest.raises(ValueError, match="frame contains NaN"):
        framefix.frame_statistics(np.full((6, 7), np.nan, np.float32), tiles=(1, 1))
    with pytest.raises(TypeError, match="frame must be uint8, uint16 or float32, got float64"):
        framefix.frame_statistics(image.astype(np.float64), tiles=(1, 1))


@pytest.mark.parametrize("dtype", (np.uint8, np.uint16))
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_packed_rows_give_what_strided_rows_give(backend, dtype, channels):
    # packed integer rows take the C++ kernel's fast path (wide lanes, a table for 8-bit luma,
    # blocks of 4096 pixels): a strided view of the same pixels takes the general one
    rng = np.random.default_rng(channels)
    image = frame(rng, 6, 4500, channels, dtype)
    image[0] = np.iinfo(dtype).max  # the top luma bin, and the lanes' largest sums
    strided = np.empty((6, 4500 * 2, channels), dtype)[:, ::2]
    strided[...] = image
    for tiles in ((1, 1), (2, 3), (6, 7)):
        packed, general = (framefix.frame_statistics(v, tiles=tiles) for v in (image, strided))
        for a, b in zip(dataclasses.astuple(packed), dataclasses.astuple(general)):
            assert_array_equal(a, b)
