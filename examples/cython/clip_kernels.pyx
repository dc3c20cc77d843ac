# cython: language_level=3, boundscheck=False, wraparound=False
"""A Cython consumer of framefix's C ABI: whole clips through framefix kernels in one call each,
with the GIL released for the whole loop over frames (no Python between frames).

Build it in this folder with ``python setup.py build_ext --inplace`` (framefix installed, Cython
and a C compiler at hand), then ``python -c "import clip_kernels"``. Nothing is linked against
framefix: ``cimport`` reads ``framefix/cython_kernels.pxd`` from the installed package and the
functions are looked up in ``framefix.cython_kernels`` when this module is imported.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t
from framefix.cython_kernels cimport FRAMEFIX_OK, apply_tone_curves_u8, frame_sums_u8, warp_u8

from framefix.cython_kernels import Status  # the codes' names, for messages


def warp_clip(const uint8_t[:, :, :, :] clip, const float[:, :, :, ::1] flows, *, int workers=1):
    """Linear warp with edge border of every frame of a (T, H, W, C) uint8 clip by its own
    (H, W, 2) flow from a (T, H, W, 2) float32 stack; returns a new uint8 clip."""
    if flows.shape[0] != clip.shape[0] or flows.shape[1] != clip.shape[1] or flows.shape[2] != clip.shape[2]:
        raise ValueError("warp_clip: flows must be (T, H, W, 2) for a (T, H, W, C) clip")
    out_array = np.empty((clip.shape[0], clip.shape[1], clip.shape[2], clip.shape[3]), np.uint8)
    cdef uint8_t[:, :, :, ::1] out = out_array
    cdef Py_ssize_t t, frames = clip.shape[0]
    cdef int status = FRAMEFIX_OK
    with nogil:
        for t in range(frames):
            # memoryview strides are bytes; uint8 elements are one byte each
            status = warp_u8(&clip[t, 0, 0, 0], clip.shape[1], clip.shape[2], clip.shape[3],
                             clip.strides[1], clip.strides[2], clip.strides[3],
                             &flows[t, 0, 0, 0], flows.strides[1] // 4, flows.strides[2] // 4, 1,
                             &out[t, 0, 0, 0], out.shape[1], out.shape[2], out.strides[1], out.strides[2], 1,
                             NULL, 0, 0, 1, 1, 0.0, workers)  # linear, edge
            if status != FRAMEFIX_OK:
                break
    if status != FRAMEFIX_OK:
        raise RuntimeError(f"warp_u8 failed on frame {t}: {Status(status).name}")
    return out_array


def mean_levels(const uint8_t[:, :, :, :] clip, *, int workers=1):
    """Mean of each channel of each frame of a (T, H, W, C) uint8 clip, (T, C) float64."""
    cdef Py_ssize_t t, c, frames = clip.shape[0], channels = clip.shape[3]
    if channels > 4:
        raise ValueError("mean_levels: at most 4 channels")
    means_array = np.empty((frames, channels), np.float64)
    cdef double[:, ::1] means = means_array
    cdef double sums[4]
    cdef double squares[4]
    cdef double tile_sum[4]
    cdef int64_t tile_count
    cdef int status = FRAMEFIX_OK
    cdef double pixels = <double>(clip.shape[1] * clip.shape[2])
    with nogil:
        for t in range(frames):
            status = frame_sums_u8(&clip[t, 0, 0, 0], clip.shape[1], clip.shape[2], channels,
                                   clip.strides[1], clip.strides[2], clip.strides[3], 1, 1,
                                   sums, squares, NULL, tile_sum, &tile_count, workers)
            if status != FRAMEFIX_OK:
                break
            for c in range(channels):
                means[t, c] = sums[c] / pixels
    if status != FRAMEFIX_OK:
        raise RuntimeError(f"frame_sums_u8 failed on frame {t}: {Status(status).name}")
    return means_array


def tone_clip(const uint8_t[:, :, :, :] clip, const float[:, ::1] knots_x, const float[:, ::1] knots_y, *,
              int workers=1):
    """The same per-channel tone curves (framefix's deflicker correction) applied to every frame
    of a (T, H, W, C) uint8 clip; knots (curves, K) float32 in 0..1 units."""
    if knots_x.shape[0] != knots_y.shape[0] or knots_x.shape[1] != knots_y.shape[1]:
        raise ValueError("tone_clip: knots_x and knots_y must have the same shape")
    out_array = np.empty((clip.shape[0], clip.shape[1], clip.shape[2], clip.shape[3]), np.uint8)
    cdef uint8_t[:, :, :, ::1] out = out_array
    cdef Py_ssize_t t, frames = clip.shape[0]
    cdef int status = FRAMEFIX_OK
    with nogil:
        for t in range(frames):
            status = apply_tone_curves_u8(&clip[t, 0, 0, 0], clip.shape[1], clip.shape[2], clip.shape[3],
                                          clip.strides[1], clip.strides[2], clip.strides[3],
                                          &knots_x[0, 0], &knots_y[0, 0], knots_x.shape[0], knots_x.shape[1],
                                          &out[t, 0, 0, 0], out.strides[1], out.strides[2], 1, workers)
            if status != FRAMEFIX_OK:
                break
    if status != FRAMEFIX_OK:
        raise RuntimeError(f"apply_tone_curves_u8 failed on frame {t}: {Status(status).name}")
    return out_array
