"""Numba twin of cpp/include/framefix/deflicker.hpp: same arguments as the framefix._core
functions, float32 operations in the C++ order, so both backends agree bit for bit."""

from __future__ import annotations

import numpy as np
from numba import njit

from framefix._numba._outputs import prepare_output
from framefix._numba._parallel import for_rows
from framefix._numba._pixels import to_pixel
from framefix._numba._sampling import bilinear

_jit = njit(cache=True, nogil=True)
_F = np.float32


def _max_value(dtype) -> np.float32:
    return _F(np.iinfo(dtype).max) if dtype.kind == "u" else _F(1.0)


@_jit
def _shrink_rows(image, factor, scale, out, y0, y1):
    out_w, channels = out.shape[1], out.shape[2]
    sums = np.empty((out_w, channels), np.float32)
    for y in range(y0, y1):
        sums[:] = _F(0.0)
        for dy in range(factor):
            for x in range(out_w):
                for dx in range(factor):
                    for c in range(channels):
                        sums[x, c] += _F(image[y * factor + dy, x * factor + dx, c])
        for x in range(out_w):
            for c in range(channels):
                out[y, x, c] = sums[x, c] * scale


def shrink_area(image, factor, out, workers):
    if factor < 1:
        raise ValueError("shrink_area: factor must be >= 1")
    out = prepare_output(out, (image.shape[0] // factor, image.shape[1] // factor, image.shape[2]), np.float32, "out")
    scale = _F(1.0) / (_F(factor * factor) * _max_value(image.dtype))
    for_rows(out.shape[0], workers, lambda y0, y1: _shrink_rows(image, factor, scale, out, y0, y1))
    return out


@_jit
def _tone_curve(v, xs, ys):
    last = xs.shape[0] - 1
    if v <= xs[0]:
        return v * (ys[0] / xs[0]) if xs[0] > _F(0.0) else ys[0]
    if v >= xs[last]:
        return ys[last] + (v - xs[last]) * (ys[last] / xs[last])
    lo, hi = 0, last
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= v:
            lo = mid
        else:
            hi = mid
    t = (v - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + t * (ys[hi] - ys[lo])


@_jit
def _tone_table(knots_x, knots_y, bins, max_value):
    curves = knots_x.shape[0]
    table = np.empty((curves, bins), np.float32)
    for c in range(curves):
        for i in range(bins):
            v = _F(i) / max_value
            table[c, i] = to_pixel(_tone_curve(v, knots_x[c], knots_y[c]) * max_value, True, max_value)
    return table


@_jit
def _table_rows(image, table, out, y0, y1):
    curves = table.shape[0]
    for y in range(y0, y1):
        for x in range(image.shape[1]):
            for c in range(image.shape[2]):
                v = image[y, x, c]
                out[y, x, c] = table[c, v] if c < curves else v


@_jit
def _curve_rows(image, knots_x, knots_y, out, y0, y1):
    curves = knots_x.shape[0]
    for y in range(y0, y1):
        for x in range(image.shape[1]):
            for c in range(image.shape[2]):
                v = image[y, x, c]
                out[y, x, c] = _tone_curve(v, knots_x[c], knots_y[c]) if c < curves else v


def apply_tone_curves(image, knots_x, knots_y, out, workers):
    out = prepare_output(out, image.shape, image.dtype, "out")
    curves, count = knots_x.shape
    if knots_y.shape != knots_x.shape or not 1 <= curves <= image.shape[2]:
        raise ValueError("apply_tone_curves: one curve per colour channel needed")
    if count < 2:
        raise ValueError("apply_tone_curves: curves need at least 2 knots")
    if not (np.diff(knots_x, axis=1) > 0).all():
        raise ValueError("apply_tone_curves: knot positions must increase")
    if not (knots_x[:, -1] > 0).all():
        raise ValueError("apply_tone_curves: the last knot must be above 0")
    is_integer = image.dtype.kind == "u"
    max_value = _max_value(image.dtype)
    if is_integer:
        table = _tone_table(knots_x, knots_y, int(max_value) + 1, max_value).astype(image.dtype)
        for_rows(image.shape[0], workers, lambda y0, y1: _table_rows(image, table, out, y0, y1))
    else:
        for_rows(image.shape[0], workers, lambda y0, y1: _curve_rows(image, knots_x, knots_y, out, y0, y1))
    return out


@_jit
def _axis(size, cells):
    index = np.empty(size, np.int64)
    weight = np.empty(size, np.float32)
    for i in range(size):
        g = (_F(i) + _F(0.5)) * _F(cells) / _F(size) - _F(0.5)
        g = min(max(g, _F(0.0)), _F(cells - 1))
        j = int(g)
        if j > cells - 2:
            j = max(cells - 2, 0)
        index[i] = j
        weight[i] = g - _F(j) if cells > 1 else _F(0.0)
    return index, weight


@_jit
def _gain_rows(image, gains, colours, rows, row_w, columns, column_w, is_integer, max_value, out, y0, y1):
    grid_h, grid_w, gain_channels = gains.shape
    step_x = 1 if grid_w > 1 else 0
    step_y = 1 if grid_h > 1 else 0
    for y in range(y0, y1):
        wy = row_w[y]
        r = rows[y]
        for x in range(image.shape[1]):
            wx = column_w[x]
            q = columns[x]
            for c in range(image.shape[2]):
                if c >= colours:
                    out[y, x, c] = image[y, x, c]
                    continue
                k = 0 if gain_channels == 1 else c
                gain = bilinear(gains[r, q, k], gains[r, q + step_x, k], gains[r + step_y, q, k],
                                gains[r + step_y, q + step_x, k], wx, wy)
                out[y, x, c] = to_pixel(_F(image[y, x, c]) * gain, is_integer, max_value)


def apply_gain_field(image, gains, colours, out, workers):
    out = prepare_output(out, image.shape, image.dtype, "out")
    grid_h, grid_w, gain_channels = gains.shape
    if grid_h < 1 or grid_w < 1:
        raise ValueError("apply_gain_field: the grid needs a cell")
    if not 1 <= colours <= image.shape[2] or gain_channels not in (1, colours):
        raise ValueError("apply_gain_field: gains must have 1 or one channel per colour")
    rows, row_w = _axis(image.shape[0], grid_h)
    columns, column_w = _axis(image.shape[1], grid_w)
    is_integer = image.dtype.kind == "u"
    max_value = _max_value(image.dtype)
    for_rows(image.shape[0], workers, lambda y0, y1: _gain_rows(image, gains, colours, rows, row_w, columns, column_w,
                                                                is_integer, max_value, out, y0, y1))
    return out
