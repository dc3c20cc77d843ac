"""Input checks shared by the public functions. Every message names the function, the argument,
what was expected and what came, e.g. ``warp: flow must be (H, W, 2) float32, got (480, 640) float64``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
_CHANNEL_COUNTS = (1, 3, 4)
_FLOAT32_MAX = FLOAT32_MAX = float(np.finfo(np.float32).max)


def _describe(a: np.ndarray) -> str:
    return f"{a.shape} {a.dtype}"


def as_array(func: str, name: str, value: object) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{func}: {name} must be a plain array, got a masked array; use {name}.filled(...)")
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{func}: {name} must be an array, got {type(value).__name__}") from exc


def _strided_in_items(a: np.ndarray) -> bool:
    """Kernels index in elements: strides must be whole items and the data aligned for its type."""
    return a.flags.aligned and all(s % a.itemsize == 0 for s in a.strides)


def _usable_input(a: np.ndarray) -> np.ndarray:
    # rare (packed records, byte buffers at odd offsets): an aligned copy of an input, never of out
    return a if _strided_in_items(a) else np.array(a, order="C", copy=True)


# Largest |value| of a float frame (nominally 0..1) the analyses take: they square, raise to powers
# (the sRGB curve's 2.4) and sum such values over windows in float32, which overflows far beyond
# this and turns finite input into inf or NaN.
MAX_FLOAT_VALUE = 1e6


def moderate_floats(func: str, name: str, a: np.ndarray) -> None:
    """Float pixels must be finite and within +-``MAX_FLOAT_VALUE``; integer pixels always are."""
    if a.dtype.kind != "f" or a.size == 0:
        return
    if not np.isfinite(a).all():
        raise ValueError(f"{func}: {name} contains NaN or infinite values")
    largest = float(np.abs(a).max())
    if largest > MAX_FLOAT_VALUE:
        raise ValueError(f"{func}: {name} must hold values within +-{MAX_FLOAT_VALUE:g} (float frames are "
                         f"nominally 0..1), got {largest:g}")


def frame(func: str, name: str, value: object) -> np.ndarray:
    """A frame as an (H, W, C) view of the caller's data (2-D frames get C = 1)."""
    a = as_array(func, name, value)
    if a.dtype not in PIXEL_DTYPES:
        hint = ".astype(np.float32) (float frames are nominally 0..1)"
        if a.dtype.kind in "iub" and a.dtype.itemsize <= 2:
            # 16-bit kinds (signed, or unsigned in the other byte order) keep their precision in uint16
            hint = ".astype(np.uint16)" if a.dtype.kind == "i" or a.dtype.itemsize == 2 else ".astype(np.uint8)"
        raise TypeError(
            f"{func}: {name} must be uint8, uint16 or float32, got {a.dtype}; convert it with {name}{hint}"
        )
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in _CHANNEL_COUNTS):
        raise ValueError(f"{func}: {name} must be (H, W) or (H, W, C) with C in 1, 3, 4, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{func}: {name} must not be empty, got shape {a.shape}")
    if a.ndim == 2:
        a = a[:, :, np.newaxis]
    return _usable_input(a)


def flow(func: str, value: object, height_width: tuple[int, int]) -> np.ndarray:
    """An (H, W, 2) float32 flow matching the frame's height and width."""
    a = as_array(func, "flow", value)
    if a.dtype != np.float32 or a.ndim != 3 or a.shape[2] != 2:
        error = TypeError if a.dtype != np.float32 and a.ndim == 3 and a.shape[2] == 2 else ValueError
        raise error(f"{func}: flow must be (H, W, 2) float32, got {_describe(a)}")
    if a.shape[:2] != tuple(height_width):
        raise ValueError(
            f"{func}: flow must match the image's height and width {tuple(height_width)}, got {_describe(a)}"
        )
    return _usable_input(a)


def coordinate_maps(func: str, map_x: object, map_y: object) -> tuple[np.ndarray, np.ndarray]:
    """Two (H, W) float32 maps of the same, non-empty shape."""
    maps = []
    for name, value in (("map_x", map_x), ("map_y", map_y)):
        a = as_array(func, name, value)
        if a.dtype != np.float32 or a.ndim != 2:
            error = TypeError if a.dtype != np.float32 and a.ndim == 2 else ValueError
            raise error(f"{func}: {name} must be (H, W) float32, got {_describe(a)}")
        if a.size == 0:
            raise ValueError(f"{func}: {name} must not be empty, got shape {a.shape}")
        maps.append(_usable_input(a))
    if maps[0].shape != maps[1].shape:
        raise ValueError(
            f"{func}: map_x and map_y must have the same shape, got {maps[0].shape} and {maps[1].shape}"
        )
    return maps[0], maps[1]


def choice(func: str, name: str, value: object, choices: Sequence[str]) -> int:
    """Position of ``value`` in ``choices``: the code both backends receive."""
    if isinstance(value, str) and value in choices:
        return choices.index(value)
    listed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{func}: {name} must be one of {listed}, got {value!r}")


def fill_value(func: str, value: object, dtype: np.dtype) -> np.float32:
    """``cval`` in the image's code values: rounded and saturated for integer frames."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: cval must be a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:  # integers beyond float range
        v = math.inf
    if not (math.isfinite(v) and abs(v) <= _FLOAT32_MAX):
        raise ValueError(f"{func}: cval must be finite in float32, got {value!r}; use return_mask=True to flag samples")
    if dtype.kind == "u":
        v = min(max(float(np.rint(v)), 0.0), float(np.iinfo(dtype).max))
    return np.float32(v)


def output(
    func: str, out: object, shape: tuple[int, ...], dtype: np.dtype, inputs: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(array to return, its (H, W, C) view) for ``out``: a new array when None, else the caller's,
    used in place (never a copy, so it must be writeable, exactly typed and not overlap an input)."""
    if out is None:
        result = np.empty(shape, dtype)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{func}: out must be a numpy array or None, got {type(out).__name__}")
        if out.shape != tuple(shape) or out.dtype != dtype:
            raise ValueError(f"{func}: out must be {tuple(shape)} {dtype}, got {_describe(out)}")
        if not out.flags.writeable:
            raise ValueError(f"{func}: out must be writeable, got a read-only array")
        if not _strided_in_items(out):
            raise ValueError(
                f"{func}: out must be aligned with strides that are multiples of its item size, got {out.strides}"
            )
        # Catches views of the same array; two separate mappings of one file cannot be told apart.
        for a in inputs:
            if np.may_share_memory(out, a):
                raise ValueError(f"{func}: out must not overlap an input array")
        result = out
    return result, (result if result.ndim == 3 else result[:, :, np.newaxis])


def real(func: str, name: str, value: object, *, low: float | None = None, high: float | None = None,
         low_open: bool = False) -> float:
    """A finite real number in [low, high] (``low_open``: above low), as a float; NaN never passes,
    so a comparison chain cannot let it through."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: {name} must be a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:  # integers beyond float range
        v = math.inf
    above = low is None or (v > low if low_open else v >= low)
    if not (math.isfinite(v) and above and (high is None or v <= high)):
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"<= {high:g}")
        wanted = " and ".join(bounds)
        raise ValueError(f"{func}: {name} must be a finite number{' ' + wanted if wanted else ''}, got {value!r}")
    return v


def integer(func: str, name: str, value: object, *, low: int) -> int:
    """An int (not bool) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{func}: {name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{func}: {name} must be an int >= {low}, got {value!r}")
    return int(value)
