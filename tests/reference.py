"""Slow, obviously correct NumPy oracles for the kernels (float64 arithmetic, vectorised taps).

Coordinates are formed in float32 exactly as the kernels form them (x + dx in float32), so the
sample points are identical; the interpolation itself is done in float64.
"""

import numpy as np

MAX_COORDINATE = 2.0**30


def border_index(i, n, border):
    """Index each tap reads along an axis of n pixels; -1 means cval (numpy.pad semantics)."""
    i = np.asarray(i, dtype=np.int64)
    inside = (i >= 0) & (i < n)
    if border == "constant":
        out = np.where(inside, i, -1)
    elif border == "edge":
        out = np.clip(i, 0, n - 1)
    elif border == "reflect":
        if n == 1:
            out = np.zeros_like(i)
        else:
            m = np.mod(i, 2 * n - 2)
            out = np.where(m < n, m, 2 * n - 2 - m)
    elif border == "symmetric":
        m = np.mod(i, 2 * n)
        out = np.where(m < n, m, 2 * n - 1 - m)
    elif border == "wrap":
        out = np.mod(i, n)
    else:
        raise ValueError(border)
    return np.where(inside, i, out)


def _cubic_weights(t):
    a = -0.5
    d = [1 + t, t, 1 - t, 2 - t]  # distances to the 4 taps

    def keys(s):
        return np.where(
            s <= 1,
            (a + 2) * s**3 - (a + 3) * s**2 + 1,
            np.where(s < 2, a * s**3 - 5 * a * s**2 + 8 * a * s - 4 * a, 0.0),
        )

    return [keys(s) for s in d]


def remap_reference(image, map_x, map_y, interpolation="linear", border="edge", cval=0.0):
    """(out, mask) for out[y, x] = image[map_y[y, x], map_x[y, x]]; maps must be float32."""
    squeeze = image.ndim == 2
    img = image[:, :, None] if squeeze else image
    h, w, c = img.shape
    data = img.astype(np.float64)
    sx = np.asarray(map_x, np.float32)
    sy = np.asarray(map_y, np.float32)
    finite = np.isfinite(sx) & np.isfinite(sy)
    mask = finite & (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    sx = np.where(finite, np.clip(sx, -MAX_COORDINATE, MAX_COORDINATE), 0).astype(np.float64)
    sy = np.where(finite, np.clip(sy, -MAX_COORDINATE, MAX_COORDINATE), 0).astype(np.float64)
    if image.dtype.kind == "u":
        cval = float(np.clip(np.rint(cval), 0, np.iinfo(image.dtype).max))

    if interpolation == "nearest":
        xs = [np.floor(np.float32(sx) + np.float32(0.5)).astype(np.int64)]
        ys = [np.floor(np.float32(sy) + np.float32(0.5)).astype(np.int64)]
        wx = [np.ones_like(sx)]
        wy = [np.ones_like(sy)]
    else:
        x0 = np.floor(sx).astype(np.int64)
        y0 = np.floor(sy).astype(np.int64)
        tx, ty = sx - x0, sy - y0
        if interpolation == "linear":
            xs, ys = [x0, x0 + 1], [y0, y0 + 1]
            wx, wy = [1 - tx, tx], [1 - ty, ty]
        elif interpolation == "cubic":
            xs = [x0 - 1, x0, x0 + 1, x0 + 2]
            ys = [y0 - 1, y0, y0 + 1, y0 + 2]
            wx, wy = _cubic_weights(tx), _cubic_weights(ty)
        else:
            raise ValueError(interpolation)

    out = np.zeros(sx.shape + (c,), np.float64)
    for yi, wyi in zip(ys, wy, strict=True):
        by = border_index(yi, h, border)
        for xi, wxi in zip(xs, wx, strict=True):
            bx = border_index(xi, w, border)
            outside = (by < 0) | (bx < 0)
            taps = data[np.maximum(by, 0), np.maximum(bx, 0)]
            taps[outside] = cval
            out += (wyi * wxi)[..., None] * taps
    out[~finite] = cval
    if image.dtype.kind == "u":
        out = np.clip(np.rint(out), 0, np.iinfo(image.dtype).max)
    out = out.astype(image.dtype)
    return (out[..., 0] if squeeze else out), mask


def warp_reference(image, flow, interpolation="linear", border="edge", cval=0.0):
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    map_x = xs.astype(np.float32) + flow[..., 0]
    map_y = ys.astype(np.float32) + flow[..., 1]
    return remap_reference(image, map_x, map_y, interpolation, border, cval)


def match_histograms_reference(image, reference, mask=None, reference_mask=None):
    """scikit-image's CDF matching, per channel, with masks, as float64 (unrounded).

    A value's quantile is the fraction of selected image pixels at or below it; its mapping is
    the reference value at that quantile, linear between the reference's distinct values.
    """
    img = image[..., None] if image.ndim == 2 else image
    ref = reference[..., None] if reference.ndim == 2 else reference
    top = lambda a: float(np.iinfo(a.dtype).max) if a.dtype.kind == "u" else 1.0
    scale = top(img) / top(ref)
    out = np.empty(img.shape, np.float64)
    for c in range(img.shape[-1]):
        source = img[..., c][mask] if mask is not None else img[..., c].ravel()
        target = ref[..., c][reference_mask] if reference_mask is not None else ref[..., c].ravel()
        ref_values, ref_counts = np.unique(target, return_counts=True)
        ref_quantiles = np.cumsum(ref_counts) / target.size
        source_sorted = np.sort(source.astype(np.float64))
        quantiles = np.searchsorted(source_sorted, img[..., c].astype(np.float64), side="right") / source.size
        out[..., c] = np.interp(quantiles, ref_quantiles, ref_values.astype(np.float64) * scale)
    return out[..., 0] if image.ndim == 2 else out


def flow_consistency_reference(forward, backward, alpha=0.01, beta=0.5, motion_boundaries=True):
    """The forward-backward check, literally, in float64: the error over the tolerance per pixel
    (+inf where the match leaves the frame or on motion boundaries)."""
    h, w = forward.shape[:2]
    ratio = np.full((h, w), np.inf)
    fu, fv = forward[..., 0].astype(np.float64), forward[..., 1].astype(np.float64)
    gy_u, gx_u = np.gradient(fu)
    gy_v, gx_v = np.gradient(fv)
    for y in range(h):
        for x in range(w):
            px, py = x + fu[y, x], y + fv[y, x]
            if not (0 <= px <= w - 1 and 0 <= py <= h - 1):
                continue
            x0, y0 = int(px), int(py)
            x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
            tx, ty = px - x0, py - y0
            b = ((1 - ty) * ((1 - tx) * backward[y0, x0] + tx * backward[y0, x1])
                 + ty * ((1 - tx) * backward[y1, x0] + tx * backward[y1, x1])).astype(np.float64)
            error = (fu[y, x] + b[0]) ** 2 + (fv[y, x] + b[1]) ** 2
            tolerance = alpha * (fu[y, x] ** 2 + fv[y, x] ** 2 + b[0] ** 2 + b[1] ** 2) + beta
            boundary = gx_u[y, x] ** 2 + gy_u[y, x] ** 2 + gx_v[y, x] ** 2 + gy_v[y, x] ** 2 > (
                0.01 * (fu[y, x] ** 2 + fv[y, x] ** 2) + 0.002)
            if not (motion_boundaries and boundary):
                ratio[y, x] = error / max(tolerance, 1e-12)
    return ratio


def shrink_area_reference(image, factor):
    """Block means in 0..1 units (float64): the slow, obvious shrink."""
    image = np.asarray(image)
    top = float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[:h * factor, :w * factor].astype(np.float64).reshape(h, factor, w, factor, -1)
    return blocks.mean(axis=(1, 3)) / top


def tone_curve_reference(values, xs, ys):
    """The deflicker tone curve in float64: linear between knots, a gain through black below the
    first knot, the last knot's gain above the last."""
    values = np.asarray(values, np.float64)
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    out = np.interp(values, xs, ys)
    low, high = values <= xs[0], values >= xs[-1]
    out[low] = values[low] * (ys[0] / xs[0])
    out[high] = ys[-1] + (values[high] - xs[-1]) * (ys[-1] / xs[-1])
    return out


def gain_field_reference(image, gains):
    """image x gains bilinearly interpolated from cell centres (held beyond the outer ones), float64."""
    image = np.asarray(image, np.float64)
    h, w = image.shape[:2]
    gh, gw = gains.shape[:2]
    gy = np.clip((np.arange(h) + 0.5) * gh / h - 0.5, 0, gh - 1)
    gx = np.clip((np.arange(w) + 0.5) * gw / w - 0.5, 0, gw - 1)
    rows = np.array([np.interp(gx, np.arange(gw), gains[r, :, c]) for r in range(gh) for c in range(gains.shape[2])])
    rows = rows.reshape(gh, gains.shape[2], w)
    field = np.stack([np.array([np.interp(gy, np.arange(gh), rows[:, c, x]) for x in range(w)]).T
                      for c in range(gains.shape[2])], axis=-1)
    return image * field
