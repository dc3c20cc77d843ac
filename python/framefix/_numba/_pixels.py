"""What every Numba kernel shares with pixel_traits.hpp: a float32 working value to a pixel, and the
Rec. 709 luma weights."""

import numpy as np
from numba import njit

_ZERO = np.float32(0.0)

# Rec. 709 luma weights as the kernels use them (float32; framefix.stats.LUMA_WEIGHTS in the public
# API, the same numbers: tests/test_backend.py checks it)
LUMA_R, LUMA_G, LUMA_B = np.float32(0.2126), np.float32(0.7152), np.float32(0.0722)


@njit(cache=True, nogil=True)
def to_pixel(v, is_integer, max_value):
    """Integers: saturated, then rounded to nearest even (np.rint, as std::lrint); floats: as is."""
    if is_integer:
        if v < _ZERO:
            v = _ZERO
        elif v > max_value:
            v = max_value
        return np.rint(v)
    return v
