"""Numba twin of cpp/include/framefix/temporal.hpp: compare_along_flow, same steps in the same order."""

from __future__ import annotations

import numpy as np
from numba import njit

from framefix._numba._parallel import for_rows
from framefix._numba._sampling import bilinear, clamped_taps, sample_clamped
from framefix._numba.flow import consistency_at

_F = np.float32


@njit(cache=True, nogil=True)
def _compare_rows(r0, r1, step, prev, next, prev_luma, flow, back_u, back_v, alpha, beta, carried, valid, sums,
                  counts):
    h, w, channels = next.shape
    for r in range(r0, r1):
        y = r * step
        total = 0.0
        count = 0
        for column in range(carried.shape[1]):
            x = column * step
            px = _F(x) + flow[y, x, 0]
            py = _F(y) + flow[y, x, 1]
            carried[r, column] = sample_clamped(prev_luma, px, py)
            consistent = consistency_at(flow, back_u, back_v, y, x, alpha, beta, True) < _F(1.0)
            valid[r, column] = consistent
            if not consistent:
                continue
            x0, x1, fx = clamped_taps(px, w)
            y0, y1, fy = clamped_taps(py, h)
            squares = _F(0.0)
            for ch in range(channels):
                difference = bilinear(_F(prev[y0, x0, ch]), _F(prev[y0, x1, ch]), _F(prev[y1, x0, ch]),
                                      _F(prev[y1, x1, ch]), fx, fy) - _F(next[y, x, ch])
                squares += difference * difference
            total += np.float64(squares)
            count += 1
        sums[r] = total
        counts[r] = count


def compare_along_flow(prev, next, prev_luma, flow, back, alpha, beta, step, workers):
    h, w = next.shape[:2]
    if (step < 1 or prev.shape != next.shape or prev_luma.shape != (h, w) or flow.shape != (h, w, 2)
            or back.shape != (h, w, 2)):
        raise ValueError("compare_along_flow: frames, flows and outputs must have matching sizes")
    rows, columns = -(-h // step), -(-w // step)
    carried = np.empty((rows, columns), np.float32)
    valid = np.empty((rows, columns), np.bool_)
    sums = np.zeros(rows, np.float64)
    counts = np.zeros(rows, np.int64)
    back_u = np.ascontiguousarray(back[..., 0])
    back_v = np.ascontiguousarray(back[..., 1])
    alpha, beta = _F(alpha), _F(beta)
    for_rows(rows, workers, lambda r0, r1: _compare_rows(r0, r1, step, prev, next, prev_luma, flow, back_u, back_v,
                                                         alpha, beta, carried, valid, sums, counts))
    total = 0.0
    for value in sums:  # in row order, as the C++ kernel adds them
        total += float(value)
    return total, int(counts.sum()), carried, valid
