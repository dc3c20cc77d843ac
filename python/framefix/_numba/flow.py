"""Numba twin of cpp/include/framefix/flow.hpp: patch_flow_level, same steps in the same order."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from framefix._numba._parallel import for_rows

_F = np.float32


@njit(cache=True, nogil=True)
def _sample_clamped(image, x, y):
    h, w = image.shape
    max_x = _F(w - 1)
    max_y = _F(h - 1)
    x = _F(0.0) if x < _F(0.0) else (max_x if x > max_x else x)
    y = _F(0.0) if y < _F(0.0) else (max_y if y > max_y else y)
    x0 = int(x)
    y0 = int(y)
    x1 = min(x0 + 1, w - 1)
    y1 = min(y0 + 1, h - 1)
    fx = x - _F(x0)
    fy = y - _F(y0)
    a = image[y0, x0]
    b = image[y0, x1]
    c = image[y1, x0]
    d = image[y1, x1]
    top = a + fx * (b - a)
    bottom = c + fx * (d - c)
    return top + fy * (bottom - top)


@njit(cache=True, nogil=True)
def _sample_patch(image, ox, oy, u, v, p, out):
    # the C++ sample_patch: one set of bilinear weights inside the image, clamped samples near it
    h, w = image.shape
    bx = _F(ox) + u
    by = _F(oy) + v
    total = _F(0.0)
    if bx >= _F(0.0) and by >= _F(0.0) and bx + _F(p) < _F(w - 1) and by + _F(p) < _F(h - 1):
        x0 = int(bx)
        y0 = int(by)
        fx = bx - _F(x0)
        fy = by - _F(y0)
        for j in range(p):
            for i in range(p):
                a = image[y0 + j, x0 + i]
                b = image[y0 + j, x0 + i + 1]
                c = image[y0 + j + 1, x0 + i]
                d = image[y0 + j + 1, x0 + i + 1]
                top = a + fx * (b - a)
                bottom = c + fx * (d - c)
                value = top + fy * (bottom - top)
                out[j * p + i] = value
                total += value
    else:
        for j in range(p):
            for i in range(p):
                value = _sample_clamped(image, bx + _F(i), by + _F(j))
                out[j * p + i] = value
                total += value
    return total / _F(p * p)


def _origins(size, patch, stride):
    origins = list(range(0, size - patch + 1, stride))
    if not origins or origins[-1] + patch < size:
        origins.append(size - patch)
    return np.array(origins, np.int64)


@njit(cache=True, nogil=True)
def _solve_rows(i0, i1, flow, xs, ys, p, iterations, r0, r1, pu, pv, m0, s0, m1, s1):
    h, w = i0.shape
    n = p * p
    t = np.empty(n, np.float32)
    gx = np.empty(n, np.float32)
    gy = np.empty(n, np.float32)
    warped = np.empty(n, np.float32)
    nx = xs.shape[0]
    for r in range(r0, r1):
        for c in range(nx):
            ox = xs[c]
            oy = ys[r]
            k = r * nx + c
            mean = _F(0.0)
            for j in range(p):
                y = oy + j
                ya = max(y - 1, 0)
                yb = min(y + 1, h - 1)
                for i in range(p):
                    x = ox + i
                    xa = max(x - 1, 0)
                    xb = min(x + 1, w - 1)
                    v = i0[y, x]
                    t[j * p + i] = v
                    gx[j * p + i] = (i0[y, xb] - i0[y, xa]) / _F(xb - xa)
                    gy[j * p + i] = (i0[yb, x] - i0[ya, x]) / _F(yb - ya)
                    mean += v
            mean /= _F(n)
            var = _F(0.0)
            mgx = _F(0.0)
            mgy = _F(0.0)
            for q in range(n):
                var += (t[q] - mean) * (t[q] - mean)
                mgx += gx[q]
                mgy += gy[q]
            sd = _F(math.sqrt(var / _F(n))) + _F(1e-4)
            mgx /= _F(n)
            mgy /= _F(n)
            hxx = _F(1e-6)
            hxy = _F(0.0)
            hyy = _F(1e-6)
            for q in range(n):
                t[q] = (t[q] - mean) / sd
                gx[q] = (gx[q] - mgx) / sd
                gy[q] = (gy[q] - mgy) / sd
                hxx += gx[q] * gx[q]
                hxy += gx[q] * gy[q]
                hyy += gy[q] * gy[q]
            det = hxx * hyy - hxy * hxy
            u0 = flow[oy + p // 2, ox + p // 2, 0]
            v0 = flow[oy + p // 2, ox + p // 2, 1]
            u = u0
            v = v0
            wm = _F(0.0)
            ws = _F(1.0)
            for it in range(iterations + 1):
                wm = _sample_patch(i1, ox, oy, u, v, p, warped)
                wv = _F(0.0)
                for q in range(n):
                    wv += (warped[q] - wm) * (warped[q] - wm)
                ws = _F(math.sqrt(wv / _F(n))) + _F(1e-4)
                if it == iterations or det <= _F(1e-6):
                    break
                bx = _F(0.0)
                by = _F(0.0)
                for q in range(n):
                    d = (warped[q] - wm) / ws - t[q]
                    bx += gx[q] * d
                    by += gy[q] * d
                du = (hyy * bx - hxy * by) / det
                dv = (hxx * by - hxy * bx) / det
                u -= du
                v -= dv
                if du * du + dv * dv < _F(1e-6):
                    break
            if (u - u0) * (u - u0) + (v - v0) * (v - v0) > _F(p * p):
                u = u0
                v = v0
            pu[k] = u
            pv[k] = v
            m0[k] = mean
            s0[k] = sd
            m1[k] = wm
            s1[k] = ws


@njit(cache=True, nogil=True)
def _median(values, count):
    ordered = np.sort(values[:count])
    if count % 2:
        return ordered[count // 2]
    return _F(0.5) * (ordered[count // 2 - 1] + ordered[count // 2])


@njit(cache=True, nogil=True)
def _reject_outliers(pu, pv, nx, ny):
    # the C++ kernel's step: a patch straying more than a pixel from its 3x3 median takes it
    u_in = pu.copy()
    v_in = pv.copy()
    us = np.empty(9, np.float32)
    vs = np.empty(9, np.float32)
    for r in range(ny):
        for c in range(nx):
            count = 0
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    rr = r + dr
                    cc = c + dc
                    if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                        continue
                    us[count] = u_in[rr * nx + cc]
                    vs[count] = v_in[rr * nx + cc]
                    count += 1
            mu = _median(us, count)
            mv = _median(vs, count)
            k = r * nx + c
            if (u_in[k] - mu) * (u_in[k] - mu) + (v_in[k] - mv) * (v_in[k] - mv) > _F(1.0):
                pu[k] = mu
                pv[k] = mv


@njit(cache=True, nogil=True)
def _blend(i0, i1, flow, xs, ys, p, pu, pv, m0, s0, m1, s1):
    h, w = i0.shape
    su = np.zeros((h, w), np.float32)
    sv = np.zeros((h, w), np.float32)
    sw = np.zeros((h, w), np.float32)
    warped = np.empty(p * p, np.float32)
    nx = xs.shape[0]
    for r in range(ys.shape[0]):
        for c in range(nx):
            k = r * nx + c
            _sample_patch(i1, xs[c], ys[r], pu[k], pv[k], p, warped)
            for j in range(p):
                for i in range(p):
                    x = xs[c] + i
                    y = ys[r] + j
                    a = (warped[j * p + i] - m1[k]) / s1[k]
                    b = (i0[y, x] - m0[k]) / s0[k]
                    weight = _F(1.0) / max(abs(a - b), _F(0.05))
                    su[y, x] += weight * pu[k]
                    sv[y, x] += weight * pv[k]
                    sw[y, x] += weight
    for y in range(h):
        for x in range(w):
            flow[y, x, 0] = su[y, x] / sw[y, x]
            flow[y, x, 1] = sv[y, x] / sw[y, x]


def patch_flow_level(i0, i1, flow, patch, stride, iterations, workers):
    h, w = i0.shape
    if i1.shape != (h, w) or flow.shape != (h, w, 2):
        raise ValueError("patch_flow_level: i0, i1 and flow must have the same height and width")
    if patch < 2 or stride < 1 or iterations < 0 or h < patch or w < patch:
        raise ValueError("patch_flow_level: bad patch settings for this image size")
    xs, ys = _origins(w, patch, stride), _origins(h, patch, stride)
    count = xs.size * ys.size
    pu, pv, m0, s0, m1, s1 = (np.empty(count, np.float32) for _ in range(6))
    for_rows(ys.size, workers, lambda r0, r1: _solve_rows(i0, i1, flow, xs, ys, patch, iterations, r0, r1,
                                                          pu, pv, m0, s0, m1, s1))
    _reject_outliers(pu, pv, xs.size, ys.size)
    _blend(i0, i1, flow, xs, ys, patch, pu, pv, m0, s0, m1, s1)
