"""A Numba consumer of framefix's C ABI: framefix kernels called from nopython code, GIL released.

Run ``python numba_kernels.py`` (framefix installed; no compiler needed: the kernels' addresses
come from the compiled module ``framefix.cython_kernels`` through
``numba.extending.get_cython_function_address``). The functions here take whole clips, so a
Numba pipeline calls framefix once per frame without going back through Python.
"""

import ctypes

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address

from framefix.cython_kernels import Status

_ssize = ctypes.c_ssize_t
_pointer = ctypes.c_void_p  # Numba passes array.ctypes.data (an address) or 0 (NULL) for these

# the signature declared in framefix/cython_kernels.pxd, as ctypes types
warp_u8 = ctypes.CFUNCTYPE(
    ctypes.c_int,
    _pointer, _ssize, _ssize, _ssize, _ssize, _ssize, _ssize,  # image, height, width, channels, strides
    _pointer, _ssize, _ssize, _ssize,                          # flow and its strides
    _pointer, _ssize, _ssize, _ssize, _ssize, _ssize,          # out, out_height, out_width, strides
    _pointer, _ssize, _ssize,                                  # mask (NULL here) and its strides
    ctypes.c_int, ctypes.c_int, ctypes.c_float, _ssize,       # interpolation, border, cval, workers
)(get_cython_function_address("framefix.cython_kernels", "warp_u8"))

OK = int(Status.FRAMEFIX_OK)
LINEAR, EDGE = 1, 1  # framefix.warp.INTERPOLATIONS.index("linear"), BORDERS.index("edge")


@njit(nogil=True)
def warp_clip(clip, flows, workers):
    """Linear warp with edge border of each frame of a (T, H, W, C) uint8 clip by its (H, W, 2)
    flow from a (T, H, W, 2) float32 stack (any strides); returns (new clip, status), status 0
    when every frame succeeded, else the first failure's code."""
    frames, height, width, channels = clip.shape
    out = np.empty((frames, height, width, channels), np.uint8)
    s = clip.strides  # bytes; uint8 elements are one byte
    f = flows.strides[1] // 4, flows.strides[2] // 4, flows.strides[3] // 4  # float32: four bytes
    for t in range(frames):
        status = warp_u8(clip[t].ctypes.data, height, width, channels, s[1], s[2], s[3],
                         flows[t].ctypes.data, f[0], f[1], f[2],
                         out[t].ctypes.data, height, width, width * channels, channels, 1,
                         0, 0, 0, LINEAR, EDGE, 0.0, workers)
        if status != OK:
            return out, status
    return out, OK


if __name__ == "__main__":
    import framefix

    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    flows = rng.normal(0, 3, (4, 48, 64, 2)).astype(np.float32)
    warped, status = warp_clip(clip[:, ::-1], flows, 1)  # a strided view: read in place
    assert status == OK, Status(status).name
    expected = np.stack([framefix.warp(f, v, interpolation="linear", border="edge")
                         for f, v in zip(clip[:, ::-1], flows)])
    print("warp_clip equals framefix.warp frame by frame:", bool(np.array_equal(warped, expected)))
