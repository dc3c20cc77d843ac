"""Backward warping of frames by a dense flow (``warp``) or by absolute coordinate maps (``remap``)."""

from __future__ import annotations

import numpy as np

from framefix import _backend, _validate

__all__ = ["BORDERS", "INTERPOLATIONS", "MAX_SIDE", "remap", "warp"]

# The position of each name is the code the backends receive (cpp/include/framefix/warp.hpp,
# border.hpp and python/framefix/_numba/warp.py use the same numbers).
INTERPOLATIONS = ("nearest", "linear", "cubic")
BORDERS = ("constant", "edge", "reflect", "symmetric", "wrap")
MAX_SIDE = 1 << 30  # longest image side warped: the kernels' sample indices are 32-bit

_SHARED_DOC = """
    interpolation : {'linear', 'nearest', 'cubic'}
        ``linear`` is bilinear; ``nearest`` takes the pixel whose centre is closest (a point
        exactly half-way goes to the larger index); ``cubic`` is Keys' cubic convolution with
        a = -0.5 (Catmull-Rom: interpolating, exact on quadratics). OpenCV's INTER_CUBIC uses
        a = -0.75 and so gives slightly sharper, different values.
    border : {'edge', 'constant', 'reflect', 'symmetric', 'wrap'}
        How taps outside the image read, with numpy.pad's names, applied to each interpolation
        tap separately (as OpenCV does): ``edge`` repeats the last pixel (OpenCV
        BORDER_REPLICATE), ``constant`` reads ``cval``, ``reflect`` mirrors about the edge
        pixel (BORDER_REFLECT_101), ``symmetric`` mirrors including it (BORDER_REFLECT),
        ``wrap`` tiles (BORDER_WRAP).
    cval : float
        Value for ``constant`` taps and for pixels whose sample point is NaN or infinite, in the
        image's code values (0..255 for uint8); rounded and saturated for integer images.
    out : ndarray, optional
        Where to write the result: the output's shape and exactly the image's dtype, writeable,
        any strides, not overlapping an input. Written in place, never copied.
    return_mask : bool
        Also return a bool ``(H, W)`` mask, True where the sample point lies inside the image:
        ``0 <= x <= width - 1`` and ``0 <= y <= height - 1`` (pixel centres), so False marks
        pixels made up by the border rule or coming from a non-finite flow.
    workers : int, optional
        Threads to use; None: the library default (:func:`framefix.set_workers`, 1 unless
        changed), -1: all cores. The kernel releases the GIL.

    Returns
    -------
    warped : ndarray
        Same dtype as ``image``; integer results are rounded to nearest and saturated, float32
        results are not clipped (cubic may overshoot 0..1).
    mask : ndarray of bool
        Only with ``return_mask=True``.

    Raises
    ------
    TypeError
        An image that is not uint8, uint16 or float32 (convert it, e.g. ``.astype(np.float32)``),
        or coordinates that are not float32.
    ValueError
        Shapes that do not fit together, empty images, unknown interpolation or border names,
        an unusable ``out``, a non-finite ``cval``.
"""


def warp(
    image: np.ndarray,
    flow: np.ndarray,
    *,
    interpolation: str = "linear",
    border: str = "edge",
    cval: float = 0,
    out: np.ndarray | None = None,
    return_mask: bool = False,
    workers: int | None = None,
):
    return _run("warp", image, (flow,), interpolation, border, cval, out, return_mask, workers)


def remap(
    image: np.ndarray,
    map_x: np.ndarray,
    map_y: np.ndarray,
    *,
    interpolation: str = "linear",
    border: str = "edge",
    cval: float = 0,
    out: np.ndarray | None = None,
    return_mask: bool = False,
    workers: int | None = None,
):
    return _run("remap", image, (map_x, map_y), interpolation, border, cval, out, return_mask, workers)


warp.__doc__ = (
    """Warp a frame backwards along a dense flow: ``out[y, x] = image[y + dy, x + dx]``.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` with C in 1, 3, 4; uint8, uint16 or float32; any strides.
    flow : ndarray
        ``(H, W, 2)`` float32, ``flow[..., 0] = dx`` and ``flow[..., 1] = dy`` in pixels. A flow
        from frame A to frame B (``A[y, x] ~ B[y + dy, x + dx]``) warps B onto A. Zero flow gives
        exactly the image; an integer flow gives exactly a shift.
"""
    + _SHARED_DOC
    + """
    Examples
    --------
    >>> import numpy as np, framefix
    >>> image = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> flow = np.zeros((3, 4, 2), np.float32)
    >>> flow[..., 0] = 1  # read one pixel to the right
    >>> framefix.warp(image, flow)[0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    >>> warped, valid = framefix.warp(image, flow, border="constant", cval=-1, return_mask=True)
    >>> warped[0].tolist(), valid[0].tolist()
    ([1.0, 2.0, 3.0, -1.0], [True, True, True, False])
"""
)

remap.__doc__ = (
    """Sample a frame at absolute coordinates: ``out[y, x] = image[map_y[y, x], map_x[y, x]]``.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` with C in 1, 3, 4; uint8, uint16 or float32; any strides.
    map_x, map_y : ndarray
        ``(Ho, Wo)`` float32 coordinates in pixels (integers are pixel centres); the output is
        ``(Ho, Wo)`` plus the image's channel axis, as with ``cv2.remap``.
"""
    + _SHARED_DOC
    + """
    Examples
    --------
    >>> import numpy as np, framefix
    >>> image = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> map_x = np.array([[0.5, 3.0]], np.float32)
    >>> map_y = np.array([[0.0, 2.0]], np.float32)
    >>> framefix.remap(image, map_x, map_y).tolist()  # between two pixels, and a corner
    [[0.5, 11.0]]
"""
)


def _run(func, image, coordinates, interpolation, border, cval, out, return_mask, workers):
    image = _validate.as_array(func, "image", image)
    frame = _validate.frame(func, "image", image)
    if max(frame.shape[:2]) > MAX_SIDE:
        raise ValueError(f"{func}: image sides must be at most {MAX_SIDE} (2^30) pixels, got shape {image.shape}")
    if func == "warp":
        coordinates = (_validate.flow(func, coordinates[0], frame.shape[:2]),)
        out_height_width = frame.shape[:2]
    else:
        coordinates = _validate.coordinate_maps(func, *coordinates)
        out_height_width = coordinates[0].shape
    interpolation_code = _validate.choice(func, "interpolation", interpolation, INTERPOLATIONS)
    border_code = _validate.choice(func, "border", border, BORDERS)
    fill = _validate.fill_value(func, cval, frame.dtype)
    workers = _backend.resolve_workers(workers, func)
    out_shape = tuple(out_height_width) + image.shape[2:]
    result, out_view = _validate.output(func, out, out_shape, frame.dtype, (frame, *coordinates))
    mask = np.empty(out_height_width, dtype=bool) if return_mask else None

    kernel = getattr(_backend.implementation(), func)
    kernel(frame, *coordinates, out_view, mask, interpolation_code, border_code, fill, workers)
    return (result, mask) if return_mask else result
