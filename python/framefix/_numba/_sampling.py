"""Numba twin of cpp/include/framefix/sampling.hpp: linear interpolation, bilinear samples with the
point clamped into the image (edge border) and central differences with the index clamped, the
same expression for expression, for every kernel family that samples (flow, temporal, warp,
deflicker). Arguments must already be float32 (np.float32 constants, no Python floats) for the
arithmetic to stay in float32 as the C++ does."""

import numpy as np
from numba import njit

_F = np.float32


@njit(cache=True, nogil=True)
def lerp(a, b, t):
    return a + t * (b - a)


@njit(cache=True, nogil=True)
def bilinear(a, b, c, d, fx, fy):
    """Taps a (top left), b (top right), c (bottom left), d (bottom right): along x, then y."""
    return lerp(lerp(a, b, fx), lerp(c, d, fx), fy)


@njit(cache=True, nogil=True)
def clamped_taps(v, n):
    """(i0, i1, t): where coordinate v falls on a line of n samples once clamped into it."""
    top = _F(n - 1)
    v = _F(0.0) if v < _F(0.0) else (top if v > top else v)
    i0 = int(v)
    return i0, min(i0 + 1, n - 1), v - _F(i0)


@njit(cache=True, nogil=True)
def sample_clamped(image, x, y):
    h, w = image.shape
    x0, x1, fx = clamped_taps(x, w)
    y0, y1, fy = clamped_taps(y, h)
    return bilinear(image[y0, x0], image[y0, x1], image[y1, x0], image[y1, x1], fx, fy)


@njit(cache=True, nogil=True)
def neighbours(i, n):
    """(before, after, scale): the neighbours of index i on a line of n samples, clamped into it,
    and the factor that makes their difference a derivative (one-sided at a border)."""
    before = i - 1 if i > 0 else 0
    after = i + 1 if i + 1 < n else n - 1
    return before, after, _F(0.5) if after - before == 2 else _F(1.0)


@njit(cache=True, nogil=True)
def difference_x(plane, y, x):
    a, b, scale = neighbours(x, plane.shape[1])
    return (plane[y, b] - plane[y, a]) * scale


@njit(cache=True, nogil=True)
def difference_y(plane, y, x):
    a, b, scale = neighbours(y, plane.shape[0])
    return (plane[b, x] - plane[a, x]) * scale
