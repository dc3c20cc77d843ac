"""Numba twin of cpp/include/framefix/warp.hpp: same arguments as framefix._core.warp/remap.

Parity with the C++ kernel is by construction: every value is float32 (np.float32 constants,
no Python float literals, which would promote to float64), operations happen in the same order,
indices use the same truncate-then-correct floor and integers round with np.rint (ties to even,
as std::lrint). Integer outputs therefore match exactly and float32 outputs bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from framefix._numba._outputs import prepare_output
from framefix._numba._parallel import for_rows
from framefix._numba._pixels import to_pixel as _to_pixel
from framefix._numba._sampling import bilinear

_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_ONE_HALF = np.float32(1.5)
_TWO = np.float32(2.0)
_TWO_HALF = np.float32(2.5)
_MAX_COORDINATE = np.float32(2.0**30)

_NEAREST, _LINEAR, _CUBIC = 0, 1, 2
_CONSTANT, _EDGE, _REFLECT, _SYMMETRIC, _WRAP = 0, 1, 2, 3, 4

_jit = njit(cache=True, nogil=True)


@_jit
def _border_index(i, n, border):
    if 0 <= i < n:
        return i
    if border == _CONSTANT:
        return -1
    if border == _EDGE:
        return 0 if i < 0 else n - 1
    if border == _REFLECT:
        if n == 1:
            return 0
        period = 2 * n - 2
        m = i % period  # Python modulo: already non-negative
        return m if m < n else period - m
    if border == _SYMMETRIC:
        period = 2 * n
        m = i % period
        return m if m < n else period - 1 - m
    return i % n  # wrap


@_jit
def _clamp_coordinate(v):
    if v < -_MAX_COORDINATE:
        return -_MAX_COORDINATE
    if v > _MAX_COORDINATE:
        return _MAX_COORDINATE
    return v


@_jit
def _floor_index(v):
    i = int(v)
    return i - 1 if np.float32(i) > v else i


@_jit
def _tap_value(src, iy, ix, c, cval):
    if iy < 0 or ix < 0:
        return cval
    return np.float32(src[iy, ix, c])


@_jit
def _cubic_weights(t):
    w0 = t * (t * (_ONE - _HALF * t) - _HALF)
    w1 = _ONE + t * t * (_ONE_HALF * t - _TWO_HALF)
    w2 = t * (_HALF + t * (_TWO - _ONE_HALF * t))
    w3 = t * t * (_HALF * t - _HALF)
    return w0, w1, w2, w3


@_jit
def _sample_nearest(src, sx, sy, dst, y, x, border, cval):
    height, width, channels = src.shape
    ix = _border_index(_floor_index(_clamp_coordinate(sx + _HALF)), width, border)
    iy = _border_index(_floor_index(_clamp_coordinate(sy + _HALF)), height, border)
    for c in range(channels):
        if ix < 0 or iy < 0:
            dst[y, x, c] = cval
        else:
            dst[y, x, c] = src[iy, ix, c]


@_jit
def _interior_linear(src, x0, y0, fx, fy, dst, y, x, is_integer, max_value):
    # all four taps inside the image
    for c in range(src.shape[2]):
        a = np.float32(src[y0, x0, c])
        b = np.float32(src[y0, x0 + 1, c])
        d = np.float32(src[y0 + 1, x0, c])
        e = np.float32(src[y0 + 1, x0 + 1, c])
        dst[y, x, c] = _to_pixel(bilinear(a, b, d, e, fx, fy), is_integer, max_value)


@_jit
def _sample_linear(src, sx, sy, dst, y, x, border, cval, is_integer, max_value):
    height, width, channels = src.shape
    x0 = _floor_index(sx)
    y0 = _floor_index(sy)
    fx = sx - np.float32(x0)
    fy = sy - np.float32(y0)
    if x0 >= 0 and x0 + 1 < width and y0 >= 0 and y0 + 1 < height:
        _interior_linear(src, x0, y0, fx, fy, dst, y, x, is_integer, max_value)
        return
    ix0 = _border_index(x0, width, border)
    ix1 = _border_index(x0 + 1, width, border)
    iy0 = _border_index(y0, height, border)
    iy1 = _border_index(y0 + 1, height, border)
    for c in range(channels):
        a = _tap_value(src, iy0, ix0, c, cval)
        b = _tap_value(src, iy0, ix1, c, cval)
        d = _tap_value(src, iy1, ix0, c, cval)
        e = _tap_value(src, iy1, ix1, c, cval)
        dst[y, x, c] = _to_pixel(bilinear(a, b, d, e, fx, fy), is_integer, max_value)


@_jit
def _cubic_row(src, iy, ix0, ix1, ix2, ix3, c, cval, w0, w1, w2, w3):
    return (
        w0 * _tap_value(src, iy, ix0, c, cval) + w1 * _tap_value(src, iy, ix1, c, cval)
        + w2 * _tap_value(src, iy, ix2, c, cval) + w3 * _tap_value(src, iy, ix3, c, cval)
    )


@_jit
def _sample_cubic(src, sx, sy, dst, y, x, border, cval, is_integer, max_value):
    height, width, channels = src.shape
    x0 = _floor_index(sx)
    y0 = _floor_index(sy)
    wx0, wx1, wx2, wx3 = _cubic_weights(sx - np.float32(x0))
    wy0, wy1, wy2, wy3 = _cubic_weights(sy - np.float32(y0))
    ix0 = _border_index(x0 - 1, width, border)
    ix1 = _border_index(x0, width, border)
    ix2 = _border_index(x0 + 1, width, border)
    ix3 = _border_index(x0 + 2, width, border)
    iy0 = _border_index(y0 - 1, height, border)
    iy1 = _border_index(y0, height, border)
    iy2 = _border_index(y0 + 1, height, border)
    iy3 = _border_index(y0 + 2, height, border)
    for c in range(channels):
        r0 = _cubic_row(src, iy0, ix0, ix1, ix2, ix3, c, cval, wx0, wx1, wx2, wx3)
        r1 = _cubic_row(src, iy1, ix0, ix1, ix2, ix3, c, cval, wx0, wx1, wx2, wx3)
        r2 = _cubic_row(src, iy2, ix0, ix1, ix2, ix3, c, cval, wx0, wx1, wx2, wx3)
        r3 = _cubic_row(src, iy3, ix0, ix1, ix2, ix3, c, cval, wx0, wx1, wx2, wx3)
        dst[y, x, c] = _to_pixel(wy0 * r0 + wy1 * r1 + wy2 * r2 + wy3 * r3, is_integer, max_value)


@_jit
def _load_row(y, flow, map_x, map_y, use_flow, sx, sy):
    if use_flow:
        row = np.float32(y)
        for x in range(sx.shape[0]):
            sx[x] = np.float32(x) + flow[y, x, 0]
            sy[x] = row + flow[y, x, 1]
    else:
        for x in range(sx.shape[0]):
            sx[x] = map_x[y, x]
            sy[x] = map_y[y, x]


@_jit
def _linear_row(src, sx, sy, dst, y, border, cval, is_integer, max_value):
    # Interior points (every tap inside) straight from the image; the rest through the border rule.
    height, width, channels = src.shape
    high_x = np.float32(width - 1)
    high_y = np.float32(height - 1)
    for x in range(sx.shape[0]):
        px = sx[x]
        py = sy[x]
        if px >= _ZERO and px < high_x and py >= _ZERO and py < high_y:
            x0 = int(px)
            y0 = int(py)
            _interior_linear(src, x0, y0, px - np.float32(x0), py - np.float32(y0), dst, y, x, is_integer, max_value)
        elif not (math.isfinite(px) and math.isfinite(py)):
            for c in range(channels):
                dst[y, x, c] = cval
        else:
            _sample_linear(src, _clamp_coordinate(px), _clamp_coordinate(py), dst, y, x, border, cval,
                           is_integer, max_value)


@_jit
def _remap_rows(src, flow, map_x, map_y, use_flow, dst, mask, has_mask, interpolation, border, cval,
                is_integer, max_value, y_begin, y_end):
    height, width, channels = src.shape
    last_x = np.float32(width - 1)
    last_y = np.float32(height - 1)
    sx = np.empty(dst.shape[1], np.float32)
    sy = np.empty(dst.shape[1], np.float32)
    for y in range(y_begin, y_end):
        _load_row(y, flow, map_x, map_y, use_flow, sx, sy)
        if has_mask:
            for x in range(sx.shape[0]):
                mask[y, x] = sx[x] >= _ZERO and sx[x] <= last_x and sy[x] >= _ZERO and sy[x] <= last_y
        if interpolation == _LINEAR:
            _linear_row(src, sx, sy, dst, y, border, cval, is_integer, max_value)
            continue
        for x in range(sx.shape[0]):
            px = sx[x]
            py = sy[x]
            if not (math.isfinite(px) and math.isfinite(py)):
                for c in range(channels):
                    dst[y, x, c] = cval
                continue
            px = _clamp_coordinate(px)
            py = _clamp_coordinate(py)
            if interpolation == _NEAREST:
                _sample_nearest(src, px, py, dst, y, x, border, cval)
            else:
                _sample_cubic(src, px, py, dst, y, x, border, cval, is_integer, max_value)


_NO_MASK = np.zeros((1, 1), dtype=bool)
_NO_FLOW = np.zeros((1, 1, 2), dtype=np.float32)
_NO_MAP = np.zeros((1, 1), dtype=np.float32)


def _run(image, flow, map_x, map_y, use_flow, out, mask, interpolation, border, cval, workers):
    is_integer = out.dtype.kind == "u"
    max_value = np.float32(np.iinfo(out.dtype).max if is_integer else 1.0)
    cval = np.float32(cval)
    has_mask = mask is not None
    mask = mask if has_mask else _NO_MASK

    def run_rows(y0: int, y1: int) -> None:
        _remap_rows(image, flow, map_x, map_y, use_flow, out, mask, has_mask, interpolation, border, cval,
                    is_integer, max_value, y0, y1)

    for_rows(out.shape[0], workers, run_rows)


_MAX_SIDE = 1 << 30  # as warp.hpp's kMaxSide: 32-bit sample indices, coordinates clamped to +-2^30


def _check_size(image):
    if image.shape[0] > _MAX_SIDE or image.shape[1] > _MAX_SIDE:
        raise ValueError("image sides must be at most 2^30 pixels")


def warp(image, flow, out, mask, interpolation, border, cval, workers):
    _check_size(image)
    out = prepare_output(out, flow.shape[:2] + image.shape[2:], image.dtype, "out")
    _run(image, flow, _NO_MAP, _NO_MAP, True, out, mask, interpolation, border, cval, workers)
    return out


def remap(image, map_x, map_y, out, mask, interpolation, border, cval, workers):
    _check_size(image)
    out = prepare_output(out, map_x.shape + image.shape[2:], image.dtype, "out")
    _run(image, _NO_FLOW, map_x, map_y, False, out, mask, interpolation, border, cval, workers)
    return out
