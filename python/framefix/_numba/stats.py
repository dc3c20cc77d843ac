"""Numba twin of cpp/include/framefix/stats.hpp: frame_sums with the same bands and order."""

from __future__ import annotations

import numpy as np
from numba import njit

from framefix._numba._parallel import for_rows
from framefix._numba._pixels import LUMA_B, LUMA_G, LUMA_R

_F = np.float32
_LUMA_BINS = 256


@njit(cache=True, nogil=True)
def _luma_bin(image, y, x, channels, scale):
    if channels >= 3:
        luma = (LUMA_R * _F(image[y, x, 0]) + LUMA_G * _F(image[y, x, 1])) + LUMA_B * _F(image[y, x, 2])
    else:
        luma = _F(image[y, x, 0])
    scaled = luma * scale
    if not scaled >= _F(0.0):
        return 0
    if scaled >= _F(255.0):
        return 255
    return int(scaled)


@njit(cache=True, nogil=True)
def _band(image, band, tiles_y, tiles_x, scale, zero, sums, squares, tiles, with_histogram, histogram, counts):
    # a row's stretch inside one tile is summed first, then added: the C++ kernel's order
    height, width, channels = image.shape
    s = np.empty(channels, sums.dtype)
    q = np.empty(channels, sums.dtype)
    for y in range(height * band // tiles_y, height * (band + 1) // tiles_y):
        for tile in range(tiles_x):
            x_start = width * tile // tiles_x
            x_end = width * (tile + 1) // tiles_x
            s[:] = zero
            q[:] = zero
            for x in range(x_start, x_end):
                for c in range(channels):
                    v = zero + image[y, x, c]
                    s[c] += v
                    q[c] += v * v
                if with_histogram:
                    histogram[band, _luma_bin(image, y, x, channels, scale)] += 1
            for c in range(channels):
                sums[band, c] += s[c]
                squares[band, c] += q[c]
                tiles[band, tile, c] += s[c]
            counts[band, tile] += x_end - x_start


def frame_sums(image, tiles_y, tiles_x, luma_histogram, workers):
    height, width, channels = image.shape
    if height <= 0 or width <= 0:
        raise ValueError("frame_sums: empty image")
    if not (1 <= tiles_y <= height and 1 <= tiles_x <= width):
        raise ValueError("frame_sums: the tile grid must have 1..height rows and 1..width columns")
    is_integer = image.dtype.kind == "u"
    accumulator = np.int64 if is_integer else np.float64
    zero = accumulator(0)
    scale = _F(256.0 / (np.iinfo(image.dtype).max + 1)) if is_integer else _F(256.0)
    sums = np.zeros((tiles_y, channels), accumulator)
    squares = np.zeros((tiles_y, channels), accumulator)
    tiles = np.zeros((tiles_y, tiles_x, channels), accumulator)
    histogram = np.zeros((tiles_y, _LUMA_BINS), np.int64)
    counts = np.zeros((tiles_y, tiles_x), np.int64)

    def run(b0, b1):
        for band in range(b0, b1):
            _band(image, band, tiles_y, tiles_x, scale, zero, sums, squares, tiles, bool(luma_histogram), histogram,
                  counts)

    for_rows(tiles_y, workers, run)
    total_sum, total_squares = sums[0].copy(), squares[0].copy()
    for band in range(1, tiles_y):  # in band order, as the C++ kernel adds them
        total_sum += sums[band]
        total_squares += squares[band]
    return (total_sum.astype(np.float64), total_squares.astype(np.float64),
            histogram.sum(axis=0) if luma_histogram else None,
            tiles.astype(np.float64), counts)
