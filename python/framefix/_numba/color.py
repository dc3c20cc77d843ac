"""Numba twin of cpp/include/framefix/color.hpp: same arguments as the framefix._core functions.

float32 throughout (np.float32 constants), operations in the C++ order, integer results through
np.rint after saturation: integer outputs match exactly; float outputs to within the last bit of
the libm pow/cbrt the two compilers call.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from framefix._numba._outputs import prepare_output
from framefix._numba._parallel import for_rows
from framefix._numba._pixels import to_pixel as _from_work

_jit = njit(cache=True, nogil=True)
_F = np.float32

_ZERO = _F(0.0)
_LAB_EPSILON = _F(216.0 / 24389.0)
_LAB_KAPPA = _F(24389.0 / 27.0)
_WHITE_X = _F(0.95047)
_WHITE_Z = _F(1.08883)


@_jit
def _histogram_rows(image, mask, has_mask, counts, y0, y1):
    height, width, channels = image.shape
    for y in range(y0, y1):
        for x in range(width):
            if has_mask and not mask[y, x]:
                continue
            for c in range(channels):
                counts[c, image[y, x, c]] += 1


def channel_histograms(image, mask, counts, workers):
    # Partial counts per stripe, summed in order: the same totals as the C++ kernel.
    if image.dtype.kind != "u":
        raise ValueError("histograms need a uint8 or uint16 image")
    counts = prepare_output(counts, (image.shape[2], np.iinfo(image.dtype).max + 1), np.int64, "counts")
    if not counts.flags.c_contiguous:
        raise ValueError("counts must be C-contiguous")
    height = image.shape[0]
    stripes = max(1, min(height, workers * 4)) if workers > 1 else 1
    bounds = [height * s // stripes for s in range(stripes + 1)]
    partial = np.zeros((stripes,) + counts.shape, np.int64)
    has_mask = mask is not None
    mask_array = mask if has_mask else np.zeros((1, 1), np.bool_)
    for_rows(stripes, workers, lambda s0, s1: [
        _histogram_rows(image, mask_array, has_mask, partial[s], bounds[s], bounds[s + 1]) for s in range(s0, s1)
    ])
    counts[...] = partial.sum(axis=0)
    return counts


_STRIPES = 64


@_jit
def _moments_stripe(image, mask, has_mask, y0, y1, out, zero):
    # zero is int64 for integer pixels (exact sums) or float64: every sum takes its type
    n = 0
    s0 = s1 = s2 = zero
    rr = rg = rb = gg = gb = bb = zero
    for y in range(y0, y1):
        for x in range(image.shape[1]):
            if has_mask and not mask[y, x]:
                continue
            r = zero + image[y, x, 0]
            g = zero + image[y, x, 1]
            b = zero + image[y, x, 2]
            n += 1
            s0 += r
            s1 += g
            s2 += b
            rr += r * r
            rg += r * g
            rb += r * b
            gg += g * g
            gb += g * b
            bb += b * b
    out[0] = n
    out[1], out[2], out[3] = s0, s1, s2
    out[4], out[5], out[6], out[7], out[8], out[9] = rr, rg, rb, gg, gb, bb


def channel_moments(image, mask, workers):
    # the C++ kernel's fixed stripes, summed in order: the same totals whatever the workers
    height = image.shape[0]
    stripes = min(_STRIPES, height)
    is_integer = image.dtype.kind == "u"
    partial = np.zeros((stripes, 10), np.int64 if is_integer else np.float64)
    has_mask = mask is not None
    mask_array = mask if has_mask else np.zeros((1, 1), np.bool_)
    zero = np.int64(0) if is_integer else np.float64(0)

    def run(s0, s1):
        for s in range(s0, s1):
            _moments_stripe(image, mask_array, has_mask, height * s // stripes, height * (s + 1) // stripes,
                            partial[s], zero)

    for_rows(stripes, workers, run)
    total = partial[0].copy()
    for s in range(1, stripes):
        total += partial[s]
    n, sums, p = float(total[0]), total[1:4].astype(np.float64), total[4:].astype(np.float64)
    products = np.array([[p[0], p[1], p[2]], [p[1], p[3], p[4]], [p[2], p[4], p[5]]])
    return n, sums, products


@_jit
def _lut_rows(image, lut, out, y0, y1):
    height, width, channels = image.shape
    for y in range(y0, y1):
        for x in range(width):
            for c in range(channels):
                out[y, x, c] = lut[c, image[y, x, c]]


def apply_lut(image, lut, out, workers):
    out = prepare_output(out, image.shape, image.dtype, "out")
    for_rows(image.shape[0], workers, lambda y0, y1: _lut_rows(image, lut, out, y0, y1))
    return out


@_jit
def _affine_rows(image, m, b, out, is_integer, max_value, y0, y1):
    for y in range(y0, y1):
        for x in range(image.shape[1]):
            r = _F(image[y, x, 0])
            g = _F(image[y, x, 1])
            bl = _F(image[y, x, 2])
            for c in range(3):
                out[y, x, c] = _from_work(m[c, 0] * r + m[c, 1] * g + m[c, 2] * bl + b[c], is_integer, max_value)


def _kind(dtype):
    is_integer = dtype.kind == "u"
    return is_integer, _F(np.iinfo(dtype).max if is_integer else 1.0)


def apply_affine3(image, matrix, offset, out, workers):
    out = prepare_output(out, image.shape, image.dtype, "out")
    is_integer, max_value = _kind(out.dtype)
    for_rows(image.shape[0], workers,
             lambda y0, y1: _affine_rows(image, matrix, offset, out, is_integer, max_value, y0, y1))
    return out


@_jit
def _srgb_to_linear(v):
    if v <= _F(0.04045):
        return v / _F(12.92)
    return ((v + _F(0.055)) / _F(1.055)) ** _F(2.4)


@_jit
def _linear_to_srgb(v):
    if v <= _F(0.0031308):
        return _F(12.92) * v
    return _F(1.055) * v ** (_F(1.0) / _F(2.4)) - _F(0.055)


@_jit
def _lab_f(t):
    if t > _LAB_EPSILON:
        return _F(np.cbrt(np.float64(t)))  # double, rounded once: as the C++ kernel
    return (_LAB_KAPPA * t + _F(16.0)) / _F(116.0)


@_jit
def _lab_f_inverse(f):
    cube = f * f * f
    if cube > _LAB_EPSILON:
        return cube
    return (_F(116.0) * f - _F(16.0)) / _LAB_KAPPA


@_jit
def _linear_to_lab(r, g, b, lab, y, x):
    fx = _lab_f((_F(0.4124564) * r + _F(0.3575761) * g + _F(0.1804375) * b) / _WHITE_X)
    fy = _lab_f(_F(0.2126729) * r + _F(0.7151522) * g + _F(0.0721750) * b)
    fz = _lab_f((_F(0.0193339) * r + _F(0.1191920) * g + _F(0.9503041) * b) / _WHITE_Z)
    lab[y, x, 0] = _F(116.0) * fy - _F(16.0)
    lab[y, x, 1] = _F(500.0) * (fx - fy)
    lab[y, x, 2] = _F(200.0) * (fy - fz)


@_jit
def _srgb_to_lab_rows_table(image, table, lab, y0, y1):
    # integer pixels: each code value decoded once, as the C++ kernel does
    for y in range(y0, y1):
        for x in range(image.shape[1]):
            _linear_to_lab(table[image[y, x, 0]], table[image[y, x, 1]], table[image[y, x, 2]], lab, y, x)


@_jit
def _srgb_to_lab_rows_float(image, lab, y0, y1):
    for y in range(y0, y1):
        for x in range(image.shape[1]):
            _linear_to_lab(_srgb_to_linear(image[y, x, 0]), _srgb_to_linear(image[y, x, 1]),
                           _srgb_to_linear(image[y, x, 2]), lab, y, x)


@_jit
def _decode_table(size, max_value):
    table = np.empty(size, np.float32)
    for v in range(size):
        table[v] = _srgb_to_linear(_F(v) / max_value)
    return table


def srgb_to_lab(image, lab, workers):
    lab = prepare_output(lab, image.shape, np.float32, "lab")
    is_integer, max_value = _kind(image.dtype)
    if is_integer:
        table = _decode_table(int(max_value) + 1, max_value)
        for_rows(image.shape[0], workers, lambda y0, y1: _srgb_to_lab_rows_table(image, table, lab, y0, y1))
    else:
        for_rows(image.shape[0], workers, lambda y0, y1: _srgb_to_lab_rows_float(image, lab, y0, y1))
    return lab


@_jit
def _lab_to_srgb_rows(lab, out, is_integer, max_value, y0, y1):
    for y in range(y0, y1):
        for x in range(lab.shape[1]):
            fy = (lab[y, x, 0] + _F(16.0)) / _F(116.0)
            fx = fy + lab[y, x, 1] / _F(500.0)
            fz = fy - lab[y, x, 2] / _F(200.0)
            big_x = _WHITE_X * _lab_f_inverse(fx)
            big_y = _lab_f_inverse(fy)
            big_z = _WHITE_Z * _lab_f_inverse(fz)
            r = _F(3.2404542) * big_x - _F(1.5371385) * big_y - _F(0.4985314) * big_z
            g = _F(-0.9692660) * big_x + _F(1.8760108) * big_y + _F(0.0415560) * big_z
            b = _F(0.0556434) * big_x - _F(0.2040259) * big_y + _F(1.0572252) * big_z
            out[y, x, 0] = _from_work(_linear_to_srgb(max(r, _ZERO)) * max_value, is_integer, max_value)
            out[y, x, 1] = _from_work(_linear_to_srgb(max(g, _ZERO)) * max_value, is_integer, max_value)
            out[y, x, 2] = _from_work(_linear_to_srgb(max(b, _ZERO)) * max_value, is_integer, max_value)


def lab_to_srgb(lab, out, workers):
    if out is None:
        raise ValueError("lab_to_srgb: out is needed: its dtype is the result's")
    out = prepare_output(out, lab.shape, out.dtype, "out")
    is_integer, max_value = _kind(out.dtype)
    for_rows(lab.shape[0], workers, lambda y0, y1: _lab_to_srgb_rows(lab, out, is_integer, max_value, y0, y1))
    return out


# --- float32 histogram matching: the C++ radix-sort kernels' algorithm --------------------------


@_jit
def _float_key(v):
    # float32 -> uint32 in float order, -0.0 folded onto +0.0 (equal values share a key)
    bits = np.uint32(np.array([v], np.float32).view(np.uint32)[0])
    if bits == np.uint32(0x80000000):
        bits = np.uint32(0)
    if bits & np.uint32(0x80000000):
        return ~bits
    return bits | np.uint32(0x80000000)


@_jit
def _key_float(key):
    if key & np.uint32(0x80000000):
        bits = key & np.uint32(0x7FFFFFFF)
    else:
        bits = ~key
    return np.array([bits], np.uint32).view(np.float32)[0]


@_jit
def _radix_sort_by_key(items, scratch):
    # LSD radix sort of uint64 items by their high 32 bits, 4 passes of 8 bits, constant digits skipped
    n = items.shape[0]
    counts = np.zeros((4, 256), np.int64)
    for i in range(n):
        key = items[i] >> np.uint64(32)
        for p in range(4):
            counts[p, (key >> np.uint64(8 * p)) & np.uint64(0xFF)] += 1
    source, target = items, scratch
    for p in range(4):
        total = 0
        single = False
        for b in range(256):
            here = counts[p, b]
            if here == n:
                single = True
            counts[p, b] = total
            total += here
        if single:
            continue
        shift = np.uint64(32 + 8 * p)
        for i in range(n):
            digit = (source[i] >> shift) & np.uint64(0xFF)
            target[counts[p, digit]] = source[i]
            counts[p, digit] += 1
        source, target = target, source
    if source is not items:
        items[:] = source


@_jit
def _sorted_values(image, channel, mask, has_mask):
    height, width = image.shape[0], image.shape[1]
    items = np.empty(height * width, np.uint64)
    n = 0
    for y in range(height):
        for x in range(width):
            if not has_mask or mask[y, x]:
                items[n] = np.uint64(_float_key(image[y, x, channel])) << np.uint64(32)
                n += 1
    items = items[:n].copy()
    _radix_sort_by_key(items, np.empty(n, np.uint64))
    out = np.empty(n, np.float32)
    for i in range(n):
        out[i] = _key_float(np.uint32(items[i] >> np.uint64(32)))
    return out


def sorted_channel_values(image, channel, mask):
    has_mask = mask is not None
    return _sorted_values(image, channel, mask if has_mask else np.zeros((1, 1), np.bool_), has_mask)


@_jit
def _match_channel(image, channel, mask, has_mask, xp, fp, strength, out, items, scratch):
    height, width, channels = image.shape
    n = height * width
    selected_bit = np.uint64(1) << np.uint64(31)
    selected = 0
    i = 0
    for y in range(height):
        for x in range(width):
            chosen = (not has_mask) or mask[y, x]
            item = (np.uint64(_float_key(image[y, x, channel])) << np.uint64(32)) | np.uint64(i)
            if chosen:
                item |= selected_bit
                selected += 1
            items[i] = item
            i += 1
    _radix_sort_by_key(items, scratch)
    flat = out.reshape(-1)
    cumulative = 0
    j = 0
    i = 0
    while i < n:
        key = items[i] >> np.uint64(32)
        k = i
        while k < n and (items[k] >> np.uint64(32)) == key:
            if items[k] & selected_bit:
                cumulative += 1
            k += 1
        value = np.float64(_key_float(np.uint32(key)))
        q = cumulative / selected
        if q <= xp[0]:
            mapped = fp[0]
        elif q >= xp[xp.shape[0] - 1]:
            mapped = fp[fp.shape[0] - 1]
        else:
            while xp[j + 1] <= q:
                j += 1
            slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
            mapped = slope * (q - xp[j]) + fp[j]
        result = np.float32((1.0 - strength) * value + strength * mapped)
        while i < k:
            flat[np.int64(items[i] & (selected_bit - np.uint64(1))) * channels + channel] = result
            i += 1


def match_float_channels(image, mask, ref_quantiles, ref_values, strength, out):
    # the C++ kernel's guards
    if image.shape[0] * image.shape[1] >= 1 << 31:
        raise ValueError("match_float_channels: image too large")
    if len(ref_quantiles) != image.shape[2] or any(len(q) < 1 for q in ref_quantiles):
        raise ValueError("match_float_channels: one non-empty reference curve per channel needed")
    if mask is not None and not mask.any():
        raise ValueError("match_float_channels: no pixel selected")
    out = prepare_output(out, image.shape, np.float32, "out")
    if not out.flags.c_contiguous:  # the kernel scatters into a packed (H, W, C) block
        raise ValueError("out must be C-contiguous")
    has_mask = mask is not None
    mask_array = mask if has_mask else np.zeros((1, 1), np.bool_)
    n = image.shape[0] * image.shape[1]
    items, scratch = np.empty(n, np.uint64), np.empty(n, np.uint64)
    for channel in range(image.shape[2]):
        _match_channel(image, channel, mask_array, has_mask, ref_quantiles[channel], ref_values[channel],
                       float(strength), out, items, scratch)
    return out
