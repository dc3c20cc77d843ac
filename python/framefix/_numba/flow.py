"""Numba twins of the flow estimator (cpp/include/framefix/flow.hpp: flow_from_luma) and of its
parts, one section each, same steps in the same order: patch_search.hpp (patch_flow_level),
flow_refine.hpp (refine_flow_level), pyramid.hpp (flow_luma, halve_plane, resize_flow) and
consistency.hpp (consistency_ratio, and consistency_at, which the temporal twin shares)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from framefix._numba._parallel import for_rows
from framefix._numba._pixels import LUMA_B, LUMA_G, LUMA_R
from framefix._numba._sampling import (
    bilinear,
    clamped_taps,
    difference_x,
    difference_y,
    neighbours,
    sample_clamped,
)

_F = np.float32


# --- patch_search.hpp ----------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _lane_total(values, n):
    # the C++ lane_sum: term q into lane q % 8 in increasing q, then the lanes added in order
    lanes = np.zeros(8, np.float32)
    for q in range(n):
        lanes[q % 8] += values[q]
    total = lanes[0]
    for lane in range(1, 8):
        total += lanes[lane]
    return total


@njit(cache=True, nogil=True)
def _sample_patch(image, ox, oy, u, v, p, out):
    # the C++ sample_patch: one set of bilinear weights inside the image, clamped samples near it
    h, w = image.shape
    bx = _F(ox) + u
    by = _F(oy) + v
    if bx >= _F(0.0) and by >= _F(0.0) and bx + _F(p) < _F(w - 1) and by + _F(p) < _F(h - 1):
        x0 = int(bx)
        y0 = int(by)
        fx = bx - _F(x0)
        fy = by - _F(y0)
        for j in range(p):
            for i in range(p):
                out[j * p + i] = bilinear(image[y0 + j, x0 + i], image[y0 + j, x0 + i + 1], image[y0 + j + 1, x0 + i],
                                          image[y0 + j + 1, x0 + i + 1], fx, fy)
    else:
        for j in range(p):
            for i in range(p):
                out[j * p + i] = sample_clamped(image, bx + _F(i), by + _F(j))
    return _lane_total(out, p * p) / _F(p * p)


def _origins(size, patch, stride):
    origins = list(range(0, size - patch + 1, stride))
    if not origins or origins[-1] + patch < size:
        origins.append(size - patch)
    return np.array(origins, np.int64)


@njit(cache=True, nogil=True)
def _patch_buffers(n):
    # the C++ PatchSolver's scratch: template, its gradients, the warped patch, sums' terms
    return (np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.float32),
            np.empty(n, np.float32))


@njit(cache=True, nogil=True)
def _set_template(i0, ox, oy, p, t, gx, gy, scratch):
    # the C++ PatchSolver::set_template: the normalised patch, its gradients and Gauss-Newton matrix
    n = p * p
    for j in range(p):
        y = oy + j
        for i in range(p):
            x = ox + i
            t[j * p + i] = i0[y, x]
            gx[j * p + i] = difference_x(i0, y, x)
            gy[j * p + i] = difference_y(i0, y, x)
    count = _F(n)
    mean = _lane_total(t, n) / count
    for q in range(n):
        scratch[q] = (t[q] - mean) * (t[q] - mean)
    var = _lane_total(scratch, n)
    mgx = _lane_total(gx, n) / count
    mgy = _lane_total(gy, n) / count
    sd = _F(math.sqrt(var / count)) + _F(1e-4)
    for q in range(n):
        t[q] = (t[q] - mean) / sd
        gx[q] = (gx[q] - mgx) / sd
        gy[q] = (gy[q] - mgy) / sd
    for q in range(n):
        scratch[q] = gx[q] * gx[q]
    hxx = _F(1e-6) + _lane_total(scratch, n)
    for q in range(n):
        scratch[q] = gx[q] * gy[q]
    hxy = _lane_total(scratch, n)
    for q in range(n):
        scratch[q] = gy[q] * gy[q]
    hyy = _F(1e-6) + _lane_total(scratch, n)
    return mean, sd, hxx, hxy, hyy, hxx * hyy - hxy * hxy


@njit(cache=True, nogil=True)
def _cost(i1, ox, oy, u, v, p, t, warped, scratch):
    # the C++ PatchSolver::cost: (normalised SSD, warped mean, warped spread)
    n = p * p
    wm = _sample_patch(i1, ox, oy, u, v, p, warped)
    for q in range(n):
        scratch[q] = (warped[q] - wm) * (warped[q] - wm)
    ws = _F(math.sqrt(_lane_total(scratch, n) / _F(n))) + _F(1e-4)
    inv = _F(1.0) / ws
    for q in range(n):
        r = (warped[q] - wm) * inv - t[q]
        scratch[q] = r * r
    return _lane_total(scratch, n), wm, ws


@njit(cache=True, nogil=True)
def _solve(i1, ox, oy, p, u0, v0, iterations, t, gx, gy, hxx, hxy, hyy, det, warped, scratch):
    # the C++ PatchSolver::solve: (u, v, cost, warped mean, warped spread)
    h, w = i1.shape
    n = p * p
    u = u0
    v = v0
    cost, wm, ws = _F(0.0), _F(0.0), _F(1.0)
    for it in range(iterations + 1):
        cost, wm, ws = _cost(i1, ox, oy, u, v, p, t, warped, scratch)
        if it == iterations or det <= _F(1e-6):
            break
        inv_ws = _F(1.0) / ws
        for q in range(n):
            scratch[q] = gx[q] * ((warped[q] - wm) * inv_ws - t[q])
        bx = _lane_total(scratch, n)
        for q in range(n):
            scratch[q] = gy[q] * ((warped[q] - wm) * inv_ws - t[q])
        by = _lane_total(scratch, n)
        du = (hyy * bx - hxy * by) / det
        dv = (hxx * by - hxy * bx) / det
        u -= du
        v -= dv
        if du * du + dv * dv < _F(1e-6):
            cost, wm, ws = _cost(i1, ox, oy, u, v, p, t, warped, scratch)
            break
    half = _F(p // 2)
    cx = _F(ox) + half + u
    cy = _F(oy) + half + v
    if ((u - u0) * (u - u0) + (v - v0) * (v - v0) > _F(p * p) or cx < _F(0.0) or cy < _F(0.0)
            or cx > _F(w - 1) or cy > _F(h - 1)):
        u = u0
        v = v0
        cost, wm, ws = _cost(i1, ox, oy, u, v, p, t, warped, scratch)
    return u, v, cost, wm, ws


@njit(cache=True, nogil=True)
def _solve_rows(i0, i1, flow, xs, ys, p, iterations, r0, r1, pu, pv, cost, m0, s0, m1, s1):
    n = p * p
    t, gx, gy, warped, scratch = _patch_buffers(n)
    nx = xs.shape[0]
    for r in range(r0, r1):
        for c in range(nx):
            ox = xs[c]
            oy = ys[r]
            k = r * nx + c
            mean, sd, hxx, hxy, hyy, det = _set_template(i0, ox, oy, p, t, gx, gy, scratch)
            u0 = flow[oy + p // 2, ox + p // 2, 0]
            v0 = flow[oy + p // 2, ox + p // 2, 1]
            pu[k], pv[k], cost[k], m1[k], s1[k] = _solve(i1, ox, oy, p, u0, v0, iterations, t, gx, gy, hxx, hxy,
                                                         hyy, det, warped, scratch)
            m0[k] = mean
            s0[k] = sd


@njit(cache=True, nogil=True)
def _offer(i0, i1, ox, oy, p, iterations, k, source, pu, pv, cost, m1, s1, t, gx, gy, warped, scratch):
    # the C++ propagation step: patch k tries patch `source`'s flow
    du = pu[source] - pu[k]
    dv = pv[source] - pv[k]
    if du * du + dv * dv < _F(1.0):
        return
    mean, sd, hxx, hxy, hyy, det = _set_template(i0, ox, oy, p, t, gx, gy, scratch)
    tried, _, _ = _cost(i1, ox, oy, pu[source], pv[source], p, t, warped, scratch)
    if not tried < cost[k]:
        return
    u, v, refined, wm, ws = _solve(i1, ox, oy, p, pu[source], pv[source], iterations, t, gx, gy, hxx, hxy, hyy, det,
                                   warped, scratch)
    if refined < cost[k]:
        pu[k] = u
        pv[k] = v
        cost[k] = refined
        m1[k] = wm
        s1[k] = ws


@njit(cache=True, nogil=True)
def _propagate_rows(i0, i1, xs, ys, p, iterations, r0, r1, pu, pv, cost, m1, s1):
    n = p * p
    t, gx, gy, warped, scratch = _patch_buffers(n)
    nx = xs.shape[0]
    for r in range(r0, r1):
        for c in range(1, nx):
            _offer(i0, i1, xs[c], ys[r], p, iterations, r * nx + c, r * nx + c - 1, pu, pv, cost, m1, s1, t, gx, gy,
                   warped, scratch)
        for c in range(nx - 2, -1, -1):
            _offer(i0, i1, xs[c], ys[r], p, iterations, r * nx + c, r * nx + c + 1, pu, pv, cost, m1, s1, t, gx, gy,
                   warped, scratch)


@njit(cache=True, nogil=True)
def _propagate_columns(i0, i1, xs, ys, p, iterations, c0, c1, pu, pv, cost, m1, s1):
    n = p * p
    t, gx, gy, warped, scratch = _patch_buffers(n)
    nx = xs.shape[0]
    ny = ys.shape[0]
    for c in range(c0, c1):
        for r in range(1, ny):
            _offer(i0, i1, xs[c], ys[r], p, iterations, r * nx + c, (r - 1) * nx + c, pu, pv, cost, m1, s1, t, gx,
                   gy, warped, scratch)
        for r in range(ny - 2, -1, -1):
            _offer(i0, i1, xs[c], ys[r], p, iterations, r * nx + c, (r + 1) * nx + c, pu, pv, cost, m1, s1, t, gx,
                   gy, warped, scratch)


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
            scale0 = _F(1.0) / s0[k]
            scale1 = _F(1.0) / s1[k]
            for j in range(p):
                for i in range(p):
                    x = xs[c] + i
                    y = ys[r] + j
                    a = (warped[j * p + i] - m1[k]) * scale1
                    b = (i0[y, x] - m0[k]) * scale0
                    weight = _F(1.0) / max(abs(a - b), _F(0.05))
                    su[y, x] += weight * pu[k]
                    sv[y, x] += weight * pv[k]
                    sw[y, x] += weight
    for y in range(h):
        for x in range(w):
            flow[y, x, 0] = su[y, x] / sw[y, x]
            flow[y, x, 1] = sv[y, x] / sw[y, x]


def patch_flow_level(i0, i1, flow, patch, stride, iterations, propagation, workers):
    h, w = i0.shape
    if i1.shape != (h, w) or flow.shape != (h, w, 2):
        raise ValueError("patch_flow_level: i0, i1 and flow must have the same height and width")
    if patch < 2 or stride < 1 or stride > patch or iterations < 0 or h < patch or w < patch:
        raise ValueError("patch_flow_level: bad patch settings for this image size")
    xs, ys = _origins(w, patch, stride), _origins(h, patch, stride)
    count = xs.size * ys.size
    pu, pv, cost, m0, s0, m1, s1 = (np.empty(count, np.float32) for _ in range(7))
    for_rows(ys.size, workers, lambda r0, r1: _solve_rows(i0, i1, flow, xs, ys, patch, iterations, r0, r1,
                                                          pu, pv, cost, m0, s0, m1, s1))
    if propagation:
        for_rows(ys.size, workers, lambda r0, r1: _propagate_rows(i0, i1, xs, ys, patch, iterations, r0, r1,
                                                                  pu, pv, cost, m1, s1))
        for_rows(xs.size, workers, lambda c0, c1: _propagate_columns(i0, i1, xs, ys, patch, iterations, c0, c1,
                                                                     pu, pv, cost, m1, s1))
    _reject_outliers(pu, pv, xs.size, ys.size)
    _blend(i0, i1, flow, xs, ys, patch, pu, pv, m0, s0, m1, s1)


# --- flow_refine.hpp: variational refinement ------------------------------------------------------

_EPS2 = _F(1e-6)  # Charbonnier epsilon squared


@njit(cache=True, nogil=True)
def _normalise_locally(image, radius, epsilon, out, row_sum, row_squares):
    h, w = image.shape
    for y in range(h):
        for x in range(w):
            total = _F(0.0)
            squares = _F(0.0)
            for d in range(-radius, radius + 1):
                value = image[y, min(max(x + d, 0), w - 1)]
                total += value
                squares += value * value
            row_sum[y, x] = total
            row_squares[y, x] = squares
    count = _F((2 * radius + 1) * (2 * radius + 1))
    epsilon2 = epsilon * epsilon
    for y in range(h):
        for x in range(w):
            total = _F(0.0)
            squares = _F(0.0)
            for d in range(-radius, radius + 1):
                yy = min(max(y + d, 0), h - 1)
                total += row_sum[yy, x]
                squares += row_squares[yy, x]
            mean = total / count
            variance = max(squares / count - mean * mean, _F(0.0))
            out[y, x] = (image[y, x] - mean) / _F(math.sqrt(variance + epsilon2))


@njit(cache=True, nogil=True)
def _linearise(flow, n0, n1, base_u, base_v, f1, inside, ix, iy, it, ixx, ixy, iyy, ixt, iyt):
    h, w = n0.shape
    max_x = _F(w - 1)
    max_y = _F(h - 1)
    for y in range(h):
        for x in range(w):
            u = flow[y, x, 0]
            v = flow[y, x, 1]
            sx = _F(x) + u
            sy = _F(y) + v
            base_u[y, x] = u
            base_v[y, x] = v
            f1[y, x] = sample_clamped(n1, sx, sy)
            inside[y, x] = _F(1.0) if sx >= _F(0.0) and sx <= max_x and sy >= _F(0.0) and sy <= max_y else _F(0.0)
    for y in range(h):
        for x in range(w):
            ax = difference_x(n0, y, x)
            ay = difference_y(n0, y, x)
            bx = difference_x(f1, y, x)
            by = difference_y(f1, y, x)
            ix[y, x] = _F(0.5) * (ax + bx)
            iy[y, x] = _F(0.5) * (ay + by)
            it[y, x] = f1[y, x] - n0[y, x]
            ixt[y, x] = bx - ax
            iyt[y, x] = by - ay
    for y in range(h):
        for x in range(w):
            ixx[y, x] = difference_x(ix, y, x)
            ixy[y, x] = difference_y(ix, y, x)
            iyy[y, x] = difference_y(iy, y, x)


@njit(cache=True, nogil=True)
def _systems(y0, y1, u, v, base_u, base_v, inside, ix, iy, it, ixx, ixy, iyy, ixt, iyt, alpha, gamma, delta,
             smooth, a12, c1, c2, inv11, inv22, wh, wv, stage):
    # stage 0: smoothness weights; stage 1: data terms, links and the inverted diagonals
    h, w = u.shape
    for y in range(y0, y1):
        for x in range(w):
            if stage == 0:
                ux = _F(0.0)
                vx = _F(0.0)
                uy = _F(0.0)
                vy = _F(0.0)
                if x + 1 < w:
                    ux = u[y, x + 1] - u[y, x]
                    vx = v[y, x + 1] - v[y, x]
                if y + 1 < h:
                    uy = u[y + 1, x] - u[y, x]
                    vy = v[y + 1, x] - v[y, x]
                smooth[y, x] = alpha / _F(math.sqrt(ux * ux + uy * uy + vx * vx + vy * vy + _EPS2))
                continue
            du = u[y, x] - base_u[y, x]
            dv = v[y, x] - base_v[y, x]
            d = ix[y, x] * du + iy[y, x] * dv + it[y, x]
            psi_i = inside[y, x] * delta / _F(math.sqrt(d * d + _EPS2))
            ex = ixx[y, x] * du + ixy[y, x] * dv + ixt[y, x]
            ey = ixy[y, x] * du + iyy[y, x] * dv + iyt[y, x]
            psi_g = inside[y, x] * gamma / _F(math.sqrt(ex * ex + ey * ey + _EPS2))
            p11 = psi_i * ix[y, x] * ix[y, x] + psi_g * (ixx[y, x] * ixx[y, x] + ixy[y, x] * ixy[y, x])
            p12 = psi_i * ix[y, x] * iy[y, x] + psi_g * (ixx[y, x] * ixy[y, x] + ixy[y, x] * iyy[y, x])
            p22 = psi_i * iy[y, x] * iy[y, x] + psi_g * (ixy[y, x] * ixy[y, x] + iyy[y, x] * iyy[y, x])
            b1 = psi_i * ix[y, x] * it[y, x] + psi_g * (ixx[y, x] * ixt[y, x] + ixy[y, x] * iyt[y, x])
            b2 = psi_i * iy[y, x] * it[y, x] + psi_g * (ixy[y, x] * ixt[y, x] + iyy[y, x] * iyt[y, x])
            a12[y, x] = p12
            c1[y, x] = b1 - p11 * base_u[y, x] - p12 * base_v[y, x]
            c2[y, x] = b2 - p12 * base_u[y, x] - p22 * base_v[y, x]
            right = _F(0.5) * (smooth[y, x] + smooth[y, x + 1]) if x + 1 < w else _F(0.0)
            down = _F(0.5) * (smooth[y, x] + smooth[y + 1, x]) if y + 1 < h else _F(0.0)
            wh[y, x] = right
            wv[y, x] = down
            sw = right + down
            if x > 0:
                sw += _F(0.5) * (smooth[y, x - 1] + smooth[y, x])
            if y > 0:
                sw += _F(0.5) * (smooth[y - 1, x] + smooth[y, x])
            inv11[y, x] = _F(1.0) / (p11 + sw)
            inv22[y, x] = _F(1.0) / (p22 + sw)


@njit(cache=True, nogil=True)
def _sor_rows(y0, y1, colour, omega, u, v, a12, c1, c2, inv11, inv22, wh, wv):
    h, w = u.shape
    for y in range(y0, y1):
        for x in range((y + colour) & 1, w, 2):
            su = _F(0.0)
            sv = _F(0.0)
            if x > 0:
                su += wh[y, x - 1] * u[y, x - 1]
                sv += wh[y, x - 1] * v[y, x - 1]
            if x + 1 < w:
                su += wh[y, x] * u[y, x + 1]
                sv += wh[y, x] * v[y, x + 1]
            if y > 0:
                su += wv[y - 1, x] * u[y - 1, x]
                sv += wv[y - 1, x] * v[y - 1, x]
            if y + 1 < h:
                su += wv[y, x] * u[y + 1, x]
                sv += wv[y, x] * v[y + 1, x]
            u[y, x] += omega * ((su - c1[y, x] - a12[y, x] * v[y, x]) * inv11[y, x] - u[y, x])
            v[y, x] += omega * ((sv - c2[y, x] - a12[y, x] * u[y, x]) * inv22[y, x] - v[y, x])


@njit(cache=True, nogil=True)
def _binomial_pass(plane, across):
    h, w = plane.shape
    for y in range(h):
        for x in range(w):
            across[y, x] = (plane[y, max(x - 1, 0)] + _F(2.0) * plane[y, x] + plane[y, min(x + 1, w - 1)]) * _F(0.25)
    for y in range(h):
        above, below = max(y - 1, 0), min(y + 1, h - 1)
        for x in range(w):
            plane[y, x] = (across[above, x] + _F(2.0) * across[y, x] + across[below, x]) * _F(0.25)


def _binomial_blur(plane, passes):
    out = np.array(plane, np.float32)  # a copy: the native kernel blurs its own copy of the frame
    across = np.empty_like(out)
    for _ in range(passes):
        _binomial_pass(out, across)
    return out


def refine_flow_level(i0, i1, flow, alpha, gamma, delta, fixed_point, sor, omega, radius, epsilon, presmooth,
                      workers):
    h, w = i0.shape
    if i1.shape != (h, w) or flow.shape != (h, w, 2):
        raise ValueError("refine_flow_level: i0, i1 and flow must have the same height and width")
    if (h < 2 or w < 2 or not alpha > 0 or not gamma >= 0 or not delta >= 0 or fixed_point < 0 or sor < 0
            or not 0 < omega < 2 or radius < 1 or not epsilon > 0 or presmooth < 0):
        raise ValueError("refine_flow_level: bad refinement settings for this image size")
    if presmooth > 0:  # the C++ Refinement::presmooth
        i0, i1 = _binomial_blur(i0, presmooth), _binomial_blur(i1, presmooth)
    alpha, gamma, delta, omega, epsilon = (_F(value) for value in (alpha, gamma, delta, omega, epsilon))
    (n0, n1, f1, base_u, base_v, inside, ix, iy, it, ixx, ixy, iyy, ixt, iyt, smooth, a12, c1, c2, inv11, inv22,
     wh, wv) = np.empty((22, h, w), np.float32)
    _normalise_locally(i0, radius, epsilon, n0, smooth, a12)
    _normalise_locally(i1, radius, epsilon, n1, smooth, a12)
    _linearise(flow, n0, n1, base_u, base_v, f1, inside, ix, iy, it, ixx, ixy, iyy, ixt, iyt)
    u, v = base_u.copy(), base_v.copy()
    for _ in range(fixed_point):
        for stage in (0, 1):
            for_rows(h, workers, lambda y0, y1, stage=stage: _systems(
                y0, y1, u, v, base_u, base_v, inside, ix, iy, it, ixx, ixy, iyy, ixt, iyt, alpha, gamma, delta,
                smooth, a12, c1, c2, inv11, inv22, wh, wv, stage))
        for _ in range(sor):
            for colour in (0, 1):
                for_rows(h, workers, lambda y0, y1, colour=colour: _sor_rows(
                    y0, y1, colour, omega, u, v, a12, c1, c2, inv11, inv22, wh, wv))
    flow[..., 0] = u
    flow[..., 1] = v


# --- pyramid.hpp ---------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _luma(image, scale, out):
    h, w, channels = image.shape
    for y in range(h):
        for x in range(w):
            if channels == 1:
                value = _F(image[y, x, 0])
            else:
                value = LUMA_R * _F(image[y, x, 0]) + LUMA_G * _F(image[y, x, 1]) + LUMA_B * _F(image[y, x, 2])
            out[y, x] = value * scale


def flow_luma(image, workers):
    if image.shape[2] != 1 and image.shape[2] < 3:
        raise ValueError("flow_luma: the image must have 1, 3 or 4 channels")
    top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
    out = np.empty(image.shape[:2], np.float32)
    _luma(image, _F(1.0) / _F(top), out)
    return out


@njit(cache=True, nogil=True)
def _halve(src, out):
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = (src[2 * y, 2 * x] + src[2 * y + 1, 2 * x] + src[2 * y, 2 * x + 1]
                         + src[2 * y + 1, 2 * x + 1]) * _F(0.25)


def halve_plane(plane, workers):
    if plane.shape[0] < 2 or plane.shape[1] < 2:
        raise ValueError("halve_plane: dst must be half the size of src")
    out = np.empty((plane.shape[0] // 2, plane.shape[1] // 2), np.float32)
    _halve(plane, out)
    return out


@njit(cache=True, nogil=True)
def _resize(src, out):
    sh, sw = src.shape[:2]
    h, w = out.shape[:2]
    ratio_x = _F(sw) / _F(w)
    ratio_y = _F(sh) / _F(h)
    scales = (_F(w) / _F(sw), _F(h) / _F(sh))
    for y in range(h):
        y0, y1, fy = clamped_taps((_F(y) + _F(0.5)) * ratio_y - _F(0.5), sh)  # pixel centres aligned
        for x in range(w):
            x0, x1, fx = clamped_taps((_F(x) + _F(0.5)) * ratio_x - _F(0.5), sw)
            for ch in range(2):
                out[y, x, ch] = bilinear(src[y0, x0, ch], src[y0, x1, ch], src[y1, x0, ch], src[y1, x1, ch], fx,
                                         fy) * scales[ch]


def resize_flow(flow, height, width, workers):
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise ValueError("resize_flow: flows must be (H, W, 2)")
    out = np.empty((height, width, 2), np.float32)
    _resize(flow, out)
    return out


# --- flow.hpp: the estimator ---------------------------------------------------------------------

_FILL_MARGIN = 5  # the C++ detail::kFillMargin
_FILL_DEPTH = 16  # the C++ detail::kFillDepth
_FILL_MEDIAN_SIDE = 17  # the C++ detail::kFillMedianSide


@njit(cache=True, nogil=True)
def _fill_near_seed_rows(y0, y1, ratio, near_seed):
    # a finite forward-backward ratio not below 1 within _FILL_MARGIN pixels of the row
    w = ratio.shape[1]
    for y in range(y0, y1):
        last = -_FILL_MARGIN - 1
        for x in range(w + _FILL_MARGIN):
            if x < w:
                v = ratio[y, x]
                if v >= _F(1.0) and math.isfinite(v):
                    last = x
            target = x - _FILL_MARGIN
            if target >= 0:
                near_seed[y, target] = x - last <= 2 * _FILL_MARGIN


@njit(cache=True, nogil=True)
def _fill_trusted_rows(y0, y1, ratio, near_seed, trusted):
    h, w = ratio.shape
    for y in range(y0, y1):
        lo = max(y - _FILL_MARGIN, 0)
        hi = min(y + _FILL_MARGIN, h - 1)
        for x in range(w):
            ok = ratio[y, x] < _F(1.0)
            yy = lo
            while ok and yy <= hi:
                ok = not near_seed[yy, x]
                yy += 1
            trusted[y, x] = ok


@njit(cache=True, nogil=True)
def _fill_columns(x0, x1, trusted, above, below):
    # the nearest trusted row at or above / at or below each pixel (-1: none)
    h = trusted.shape[0]
    for x in range(x0, x1):
        last = -1
        for y in range(h):
            if trusted[y, x]:
                last = y
            above[y, x] = last
        last = -1
        for y in range(h - 1, -1, -1):
            if trusted[y, x]:
                last = y
            below[y, x] = last


@njit(cache=True, nogil=True)
def _fill_side(luma, y, x, dy, dx):
    # the mean luma of _FILL_DEPTH pixels from (y, x) in direction (dy, dx), clamped to the frame
    h, w = luma.shape
    total = _F(0.0)
    for k in range(_FILL_DEPTH):
        total += luma[min(max(y + k * dy, 0), h - 1), min(max(x + k * dx, 0), w - 1)]
    return total / _F(_FILL_DEPTH)


@njit(cache=True, nogil=True)
def _fill_rows(y0, y1, luma, trusted, above, below, flow, filled):
    # the C++ detail::fill_from_consistent: an untrusted pixel takes the flow of the nearest
    # trusted one left, right, above or below whose side (mean luma of _FILL_DEPTH pixels
    # outwards) is more alike, distance 1/1530 a pixel; ties in that order
    w = trusted.shape[1]
    per_pixel = _F(1.0) / _F(1530.0)
    left = np.empty(w, np.int64)
    for y in range(y0, y1):
        last = -1
        for x in range(w):
            if trusted[y, x]:
                last = x
            left[x] = last
        right = -1
        for x in range(w - 1, -1, -1):
            if trusted[y, x]:
                right = x
                continue
            here = luma[y, x]
            best = _F(0.0)
            from_y = -1
            from_x = -1
            for k in range(4):
                if k == 0:
                    sy, sx, dy, dx, distance = y, left[x], 0, -1, x - left[x]
                elif k == 1:
                    sy, sx, dy, dx, distance = y, right, 0, 1, right - x
                elif k == 2:
                    sy, sx, dy, dx, distance = above[y, x], x, -1, 0, y - above[y, x]
                else:
                    sy, sx, dy, dx, distance = below[y, x], x, 1, 0, below[y, x] - y
                if sy < 0 or sx < 0:
                    continue
                cost = abs(_fill_side(luma, sy, sx, dy, dx) - here) + _F(distance) * per_pixel
                if from_y < 0 or cost < best:
                    best = cost
                    from_y = sy
                    from_x = sx
            if from_y < 0:
                continue
            flow[y, x, 0] = flow[from_y, from_x, 0]
            flow[y, x, 1] = flow[from_y, from_x, 1]
            filled[y, x] = True


@njit(cache=True, nogil=True)
def _fill_needed_columns(x0, x1, filled, needed):
    # the C++ fill's `needed`: a filled pixel within the median's reach in the same column
    h = filled.shape[0]
    reach = _FILL_MEDIAN_SIDE // 2
    for x in range(x0, x1):
        last = -reach - 1
        for y in range(h):
            if filled[y, x]:
                last = y
            needed[y, x] = y - last <= reach
        last = h + reach
        for y in range(h - 1, -1, -1):
            if filled[y, x]:
                last = y
            if last - y <= reach:
                needed[y, x] = True


@njit(cache=True, nogil=True)
def _fill_medians(y0, y1, where, source, dy, dx, out):
    # the C++ fill's median pass: where `where` holds, out[y, x] = the median of the
    # _FILL_MEDIAN_SIDE pixels of `source` along (dy, dx) centred on (y, x), clamped to the frame
    h, w = where.shape
    reach = _FILL_MEDIAN_SIDE // 2
    window = np.empty(_FILL_MEDIAN_SIDE, np.float32)
    for y in range(y0, y1):
        for x in range(w):
            if where[y, x]:
                for d in range(-reach, reach + 1):
                    window[d + reach] = source[min(max(y + d * dy, 0), h - 1), min(max(x + d * dx, 0), w - 1)]
                out[y, x] = np.sort(window)[reach] + _F(0.0)  # + 0: -0 and 0 give 0


def _fill_directional(luma, ratio, flow, workers):
    # the C++ fill's first step, in place; returns the pixels it wrote
    h, w = ratio.shape
    near_seed = np.empty((h, w), np.bool_)
    trusted = np.empty((h, w), np.bool_)
    above = np.empty((h, w), np.int64)
    below = np.empty((h, w), np.int64)
    for_rows(h, workers, lambda y0, y1: _fill_near_seed_rows(y0, y1, ratio, near_seed))
    for_rows(h, workers, lambda y0, y1: _fill_trusted_rows(y0, y1, ratio, near_seed, trusted))
    for_rows(w, workers, lambda x0, x1: _fill_columns(x0, x1, trusted, above, below))
    filled = np.zeros((h, w), np.bool_)
    for_rows(h, workers, lambda y0, y1: _fill_rows(y0, y1, luma, trusted, above, below, flow, filled))
    return filled


def _fill_from_consistent(luma, ratio, flow, workers):
    h, w = ratio.shape
    filled = _fill_directional(luma, ratio, flow, workers)
    # the C++ fill's last step: filled pixels take the median over the column of the medians
    # over the row, one component at a time
    needed = np.empty((h, w), np.bool_)
    for_rows(w, workers, lambda x0, x1: _fill_needed_columns(x0, x1, filled, needed))
    row_medians = np.zeros((h, w), np.float32)
    for component in (0, 1):
        plane = flow[..., component]  # a view: the column pass writes into the flow
        for_rows(h, workers, lambda y0, y1, p=plane: _fill_medians(y0, y1, needed, p, 0, 1, row_medians))
        for_rows(h, workers, lambda y0, y1, p=plane: _fill_medians(y0, y1, filled, row_medians, 1, 0, p))


def flow_from_luma(i0, i1, init, patch, stride, iterations, finest_level, propagation, alpha, gamma, delta,
                   fixed_point, sor, refine_levels, full_refine_iterations, fill_occlusions, presmooth, omega, radius,
                   epsilon, workers):
    if (i1.shape != i0.shape or patch < 2 or min(i0.shape) < patch or finest_level < 0 or refine_levels < 0
            or full_refine_iterations < 0 or presmooth < 0):
        raise ValueError("flow_from_luma: bad settings for this image size")
    pyramid = [(i0, i1)]
    while min(pyramid[-1][0].shape) // 2 >= 2 * patch:
        a, b = pyramid[-1]
        pyramid.append((halve_plane(a, workers), halve_plane(b, workers)))
    finest = min(finest_level, len(pyramid) - 1)
    top = len(pyramid) - 1
    ch, cw = pyramid[top][0].shape
    flow = np.zeros((ch, cw, 2), np.float32) if init is None else resize_flow(init, ch, cw, workers)
    for level in range(top, finest - 1, -1):
        a, b = pyramid[level]
        if flow.shape[:2] != a.shape:
            flow = resize_flow(flow, a.shape[0], a.shape[1], workers)
        patch_flow_level(a, b, flow, patch, stride, iterations, propagation, workers)
        # the C++ FlowSettings::refine_levels: only the finest levels are refined (0: all)
        if fixed_point > 0 and (refine_levels == 0 or level < finest + refine_levels):
            # the C++ FlowSettings::presmooth: the refinement at full resolution only
            refine_flow_level(a, b, flow, alpha, gamma, delta, fixed_point, sor, omega, radius, epsilon,
                              presmooth if level == 0 else 0, workers)
    if flow.shape[:2] != i0.shape:
        flow = resize_flow(flow, i0.shape[0], i0.shape[1], workers)
        if full_refine_iterations > 0:  # the C++ FlowSettings::full_refine_iterations
            refine_flow_level(i0, i1, flow, alpha, gamma, delta, full_refine_iterations, sor, omega, radius, epsilon,
                              presmooth, workers)
    if fill_occlusions:  # the C++ FlowSettings::fill_occlusions
        backward = flow_from_luma(i1, i0, None, patch, stride, iterations, finest_level, propagation, alpha, gamma,
                                  delta, fixed_point, sor, refine_levels, full_refine_iterations, False, presmooth,
                                  omega, radius, epsilon, workers)
        ratio = consistency_ratio(flow, backward, 0.01, 0.5, True, workers)
        luma = np.ascontiguousarray(i0)
        _fill_from_consistent(luma, ratio, flow, workers)
    return flow



def flow_from_frames(frame0, frame1, init, patch, stride, iterations, finest_level, propagation, alpha, gamma, delta,
                     fixed_point, sor, refine_levels, full_refine_iterations, fill_occlusions, presmooth, omega, radius,
                     epsilon, workers):
    # the C++ flow_from_frames keeps the luma planes in reused scratch memory; here they are arrays
    if frame1.shape != frame0.shape or frame1.dtype != frame0.dtype:
        raise ValueError("flow_from_frames: frame0 and frame1 must have the same shape and dtype")
    return flow_from_luma(flow_luma(frame0, workers), flow_luma(frame1, workers), init, patch, stride, iterations,
                          finest_level, propagation, alpha, gamma, delta, fixed_point, sor, refine_levels,
                          full_refine_iterations, fill_occlusions, presmooth, omega, radius, epsilon, workers)

# --- consistency.hpp: forward-backward check -----------------------------------------------------

@njit(cache=True, nogil=True)
def consistency_at(forward, back_u, back_v, y, x, alpha, beta, motion_boundaries):
    h, w = back_u.shape
    fu = forward[y, x, 0]
    fv = forward[y, x, 1]
    px = _F(x) + fu
    py = _F(y) + fv
    if not (px >= _F(0.0) and px <= _F(w - 1) and py >= _F(0.0) and py <= _F(h - 1)):
        return _F(np.inf)
    bu = sample_clamped(back_u, px, py)
    bv = sample_clamped(back_v, px, py)
    eu = fu + bu
    ev = fv + bv
    error = eu * eu + ev * ev
    tolerance = alpha * (fu * fu + fv * fv + bu * bu + bv * bv) + beta
    if motion_boundaries:
        xa, xb, sx = neighbours(x, w)
        ya, yb, sy = neighbours(y, h)
        gxu = (forward[y, xb, 0] - forward[y, xa, 0]) * sx
        gyu = (forward[yb, x, 0] - forward[ya, x, 0]) * sy
        gxv = (forward[y, xb, 1] - forward[y, xa, 1]) * sx
        gyv = (forward[yb, x, 1] - forward[ya, x, 1]) * sy
        if gxu * gxu + gyu * gyu + gxv * gxv + gyv * gyv > _F(0.01) * (fu * fu + fv * fv) + _F(0.002):
            return _F(np.inf)
    return error / max(tolerance, _F(1e-12))


@njit(cache=True, nogil=True)
def _consistency_rows(y0, y1, forward, back_u, back_v, alpha, beta, motion_boundaries, out):
    for y in range(y0, y1):
        for x in range(out.shape[1]):
            out[y, x] = consistency_at(forward, back_u, back_v, y, x, alpha, beta, motion_boundaries)


def consistency_ratio(forward, backward, alpha, beta, motion_boundaries, workers):
    if forward.shape != backward.shape or forward.ndim != 3 or forward.shape[2] != 2:
        raise ValueError("consistency_ratio: flows and out must have the same height and width")
    out = np.empty(forward.shape[:2], np.float32)
    back_u = np.ascontiguousarray(backward[..., 0])
    back_v = np.ascontiguousarray(backward[..., 1])
    alpha, beta = _F(alpha), _F(beta)
    for_rows(out.shape[0], workers, lambda y0, y1: _consistency_rows(y0, y1, forward, back_u, back_v, alpha, beta,
                                                                     bool(motion_boundaries), out))
    return out
