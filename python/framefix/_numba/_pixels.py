"""What every Numba kernel shares with pixel_traits.hpp: a float32 working value to a pixel."""

import numpy as np
from numba import njit

_ZERO = np.float32(0.0)


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
