"""Tools around dense optical flow: Middlebury .flo files, the Middlebury color coding, and the
forward-backward consistency check that finds occlusions.

Flows are ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels, from frame A to frame B:
``A[y, x] ~ B[y + dy, x + dx]``.
"""

from __future__ import annotations

import os

import numpy as np

from framefix import _validate
from framefix.warp import warp

__all__ = ["flow_consistency", "flow_to_color", "read_flo", "write_flo"]

_FLO_MAGIC = np.float32(202021.25)  # the bytes "PIEH" read as a little-endian float32
_FLO_MAX_SIDE = 1 << 20


def _check_flow(func: str, name: str, flow) -> np.ndarray:
    a = _validate.as_array(func, name, flow)
    if a.dtype != np.float32 or a.ndim != 3 or a.shape[2] != 2:
        error = TypeError if a.ndim == 3 and a.shape[2:] == (2,) else ValueError
        raise error(f"{func}: {name} must be (H, W, 2) float32, got {a.shape} {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{func}: {name} must not be empty, got shape {a.shape}")
    return a


def write_flo(path: str | os.PathLike, flow) -> None:
    """Write a flow as a Middlebury ``.flo`` file (little-endian float32, "PIEH" header)."""
    flow = _check_flow("write_flo", "flow", flow)
    height, width = flow.shape[:2]
    with open(os.fspath(path), "wb") as f:
        f.write(_FLO_MAGIC.astype("<f4").tobytes())
        f.write(np.array([width, height], "<i4").tobytes())
        f.write(np.ascontiguousarray(flow, "<f4").tobytes())


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file into an ``(H, W, 2)`` float32 flow.

    Raises
    ------
    ValueError
        Not a .flo file (wrong magic number), an impossible size, or a file shorter or longer
        than its header says (truncated or corrupt).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12:
            raise ValueError(f"read_flo: {path}: too short for a .flo header ({len(header)} bytes)")
        if np.frombuffer(header[:4], "<f4")[0] != _FLO_MAGIC:
            raise ValueError(f"read_flo: {path}: not a .flo file (bad magic number)")
        width, height = (int(v) for v in np.frombuffer(header[4:], "<i4"))
        if not (0 < width <= _FLO_MAX_SIDE and 0 < height <= _FLO_MAX_SIDE):
            raise ValueError(f"read_flo: {path}: impossible size {width}x{height}")
        expected = width * height * 2 * 4
        data = f.read(expected + 1)
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"read_flo: {path}: {state} ({len(data)} data bytes, {width}x{height} needs {expected})")
    return np.frombuffer(data, "<f4").astype(np.float32).reshape(height, width, 2)


def _color_wheel() -> np.ndarray:
    # Baker et al.'s Middlebury wheel: hue segments red-yellow, yellow-green, green-cyan,
    # cyan-blue, blue-magenta, magenta-red, with more steps where the eye tells hues apart best.
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)), (4, (0, 255, 0), (0, 255, 255)),
                (11, (0, 255, 255), (0, 0, 255)), (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    colors = []
    for steps, start, end in segments:
        t = np.arange(steps)[:, None] / steps
        colors.append((1 - t) * np.array(start) + t * np.array(end))
    return np.concatenate(colors) / 255.0  # (55, 3)


def flow_to_color(flow, *, max_magnitude: float | None = None) -> np.ndarray:
    """The Middlebury color coding of a flow: hue is the direction, saturation the magnitude.

    Parameters
    ----------
    flow : ndarray
        ``(H, W, 2)`` float32.
    max_magnitude : float, optional
        The magnitude shown fully saturated; default: the flow's largest finite magnitude. Longer
        vectors are drawn darker. Non-finite vectors are black.

    Returns
    -------
    ndarray
        ``(H, W, 3)`` uint8 RGB; zero motion is white.
    """
    flow = _check_flow("flow_to_color", "flow", flow)
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    finite = np.isfinite(u) & np.isfinite(v)
    u, v = np.where(finite, u, 0), np.where(finite, v, 0)
    radius = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(radius.max()) if radius.size else 0.0
    elif not (np.isfinite(max_magnitude) and max_magnitude > 0):
        raise ValueError(f"flow_to_color: max_magnitude must be positive and finite, got {max_magnitude!r}")
    scale = max(max_magnitude, np.finfo(np.float64).eps)
    radius, u, v = radius / scale, u / scale, v / scale
    wheel = _color_wheel()
    angle = np.arctan2(-v, -u) / np.pi  # -1..1
    position = (angle + 1) / 2 * (len(wheel) - 1)
    below = np.floor(position).astype(np.int64)
    above = (below + 1) % len(wheel)
    t = (position - below)[..., None]
    color = (1 - t) * wheel[below] + t * wheel[above]
    inside = (radius <= 1)[..., None]
    color = np.where(inside, 1 - radius[..., None] * (1 - color), color * 0.75)
    color[~finite] = 0
    return np.rint(np.clip(color, 0, 1) * 255).astype(np.uint8)


def flow_consistency(forward, backward, *, alpha: float = 0.01, beta: float = 0.5, motion_boundaries: bool = True,
                     soft: bool = False, workers: int | None = None) -> np.ndarray:
    """Where a forward flow is confirmed by the backward flow (Sundaram, Brox & Keutzer 2010).

    A pixel x is consistent when ``|f(x) + b(x + f(x))|^2 < alpha (|f|^2 + |b(x + f)|^2) + beta``:
    going forward then back returns near the start, with a tolerance that grows with the motion.
    It is not when x + f(x) leaves the frame, and, with ``motion_boundaries``, where the forward
    flow changes abruptly (``|grad u|^2 + |grad v|^2 > 0.01 |f|^2 + 0.002``), since flows there
    are unreliable.

    Parameters
    ----------
    forward, backward : ndarray
        ``(H, W, 2)`` float32 flows from A to B and from B to A.
    alpha, beta : float
        Relative and absolute (pixels squared) tolerances.
    soft : bool
        Return a confidence in 0..1 (float32) instead of a bool mask:
        ``exp(-error / tolerance)``, 0 outside the frame and on motion boundaries.

    Returns
    -------
    ndarray
        ``(H, W)`` bool (True = consistent), or float32 confidence with ``soft``.
    """
    func = "flow_consistency"
    forward = _check_flow(func, "forward", forward)
    backward = _check_flow(func, "backward", backward)
    if forward.shape != backward.shape:
        raise ValueError(f"{func}: forward and backward must have the same shape, got {forward.shape} and {backward.shape}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{func}: {name} must be a finite number >= 0, got {value!r}")
    # the backward flow where each forward vector lands, one component at a time
    back_u, inside = warp(np.ascontiguousarray(backward[..., 0]), forward, border="edge", return_mask=True,
                          workers=workers)
    back_v = warp(np.ascontiguousarray(backward[..., 1]), forward, border="edge", workers=workers)
    fu, fv = forward[..., 0].astype(np.float64), forward[..., 1].astype(np.float64)
    bu, bv = back_u.astype(np.float64), back_v.astype(np.float64)
    error = (fu + bu) ** 2 + (fv + bv) ** 2
    tolerance = alpha * (fu**2 + fv**2 + bu**2 + bv**2) + beta
    valid = inside & np.isfinite(error)
    if motion_boundaries:
        gy_u, gx_u = np.gradient(fu)
        gy_v, gx_v = np.gradient(fv)
        valid &= gx_u**2 + gy_u**2 + gx_v**2 + gy_v**2 <= 0.01 * (fu**2 + fv**2) + 0.002
    if soft:
        with np.errstate(over="ignore", invalid="ignore"):
            confidence = np.exp(-error / np.maximum(tolerance, 1e-12))
        return np.where(valid, confidence, 0).astype(np.float32)
    return valid & (error < tolerance)
