"""The out= convention of every kernel, as src/bindings/common.hpp's prepare_output has it for the
compiled ones: None gets a new C-contiguous array; an array is written in place, so it must
already have exactly the dtype and shape (nothing is converted) and be writeable. The kernel
returns the array either way."""

import numpy as np


def prepare_output(out, shape, dtype, name):
    shape, dtype = tuple(shape), np.dtype(dtype)
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or None, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"{name} must be {shape} {dtype}, got {out.shape} {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out
