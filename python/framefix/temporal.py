"""Temporal measures: a frame pair compared along the motion between them.

The previous frame is carried onto the next along the estimated flow (bilinear, not rounded),
occlusions are masked by the forward-backward check, and what is left is measured: the warping
error E_warp of Lai et al. (ECCV 2018) and the temporal inconsistency map (the luma residual once
motion and the global flicker are removed). One kernel does the pass: ``compare_along_flow``
(C++ and its Numba twin).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from framefix import _backend
from framefix.flow import FLICKER_ROBUST, _check_size, _checked_frame, _flow_pair, _settings

__all__ = ["WarpingResult", "temporal_inconsistency", "warping_error"]

# the forward-backward check's tolerances (flow_consistency's defaults): relative, absolute (px^2)
_ALPHA, _BETA = 0.01, 0.5


@dataclasses.dataclass(frozen=True)
class WarpingResult:
    """The warping error of a frame pair (see :func:`warping_error`).

    Attributes
    ----------
    error : float
        Mean squared difference in 0..1 units over the consistent pixels and channels; NaN when
        no pixel survives the check.
    valid : ndarray
        ``(H, W)`` bool: the pixels measured (True = consistent).
    """

    error: float
    valid: np.ndarray


@dataclasses.dataclass(frozen=True)
class PairComparison:
    """Everything one comparison of a pair along the motion gives (see ``_compare_pair``).

    Attributes
    ----------
    error : float
        The warping error (NaN when no pixel is consistent).
    valid : ndarray
        bool consistency mask, on every ``step``-th row and column.
    residual : ndarray or None
        float32 temporal inconsistency map (NaN where not consistent), same size as ``valid``;
        None unless asked for.
    next_luma : ndarray
        ``next``'s full-size luma (0..1 float32), for the following pair of a clip to reuse as
        ``prev_luma``.
    """

    error: float
    valid: np.ndarray
    residual: np.ndarray | None
    next_luma: np.ndarray


def _compare_pair(func: str, prev, next, preset: str, workers, residual: bool, prev_luma=None,
                 step: int = 1) -> PairComparison:
    """Both flows, the consistency mask, the warping error and (with ``residual``) the
    inconsistency map of a pair, with ``next``'s luma, which the following pair of a clip passes
    back as ``prev_luma``.

    Parameters
    ----------
    func : str
        The public function's name, for messages.
    prev, next : ndarray
        Frames of the same shape and dtype.
    preset : str
        Flow preset (:data:`framefix.flow.PRESETS`).
    workers : int or None
        Threads; with two or more, the two flows are estimated side by side.
    residual : bool
        Also compute the temporal inconsistency map.
    prev_luma : ndarray, optional
        ``prev``'s luma from the previous comparison.
    step : int
        Measure on every ``step``-th row and column only (the mask and map that size).

    Returns
    -------
    PairComparison
    """
    a, b = _checked_frame(func, "prev", prev), _checked_frame(func, "next", next)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"{func}: prev and next must have the same shape and dtype, got {a.shape} {a.dtype} and "
                         f"{b.shape} {b.dtype}")
    settings = _settings(func, preset, FLICKER_ROBUST)
    _check_size(func, a.shape[0], a.shape[1], settings)
    workers = _backend.resolve_workers(workers, func)
    kernels = _backend.implementation()
    luma_prev = kernels.flow_luma(a, workers) if prev_luma is None else prev_luma
    luma_next = kernels.flow_luma(b, workers)
    forward, backward = _flow_pair(luma_prev, luma_next, settings, workers)  # backward: next[y, x] ~ prev[y + dy, x + dx]
    # one pass: the forward-backward check (as flow_consistency's defaults), prev's colours and
    # luma carried along the motion (bilinear, not rounded), the squared differences
    total, count, carried, valid = kernels.compare_along_flow(a, b, luma_prev, backward, forward, _ALPHA, _BETA, step,
                                                              workers)
    top = float(np.iinfo(a.dtype).max) if a.dtype.kind == "u" else 1.0
    error = total / (count * a.shape[2] * top * top) if count else float("nan")
    if not residual:
        return PairComparison(error=error, valid=valid, residual=None, next_luma=luma_next)
    return PairComparison(error=error, valid=valid, residual=_without_global_flicker(luma_next[::step, ::step],
                                                                                      carried, valid, step),
                          next_luma=luma_next)


def _without_global_flicker(luma_here: np.ndarray, carried: np.ndarray, valid: np.ndarray, step: int) -> np.ndarray:
    """``luma_here - (gain * carried + offset)`` for the gain and offset that fit the consistent
    pixels best (least squares, on every other row and column of them at least: plenty for two
    numbers); NaN where not consistent."""
    thin = 2 if step == 1 else 1
    gain, offset = 1.0, 0.0
    sample = valid[::thin, ::thin]
    if np.count_nonzero(sample) >= 2:
        x = carried[::thin, ::thin][sample].astype(np.float64)
        y = luma_here[::thin, ::thin][sample].astype(np.float64)
        spread = x.var()
        if spread > 1e-12:
            gain = float(np.mean((x - x.mean()) * (y - y.mean())) / spread)
        offset = float(y.mean() - gain * x.mean())
    left = luma_here - (np.float32(gain) * carried + np.float32(offset))
    left[~valid] = np.nan
    return left


def warping_error(prev, next, *, preset: str = "fast", workers=None) -> WarpingResult:
    """Temporal warping error (Lai et al., ECCV 2018) of a frame pair, and where it was measured.

    ``prev`` is warped onto ``next`` with the flow from ``next`` back to ``prev`` (bilinear, not
    rounded to integers); pixels that the forward-backward check (:func:`flow_consistency`'s
    defaults) marks as occluded, on a motion boundary or leaving the frame are masked out; the
    error is the mean squared difference over the remaining pixels and channels, in 0..1 units
    (so comparable across bit depths).

    Parameters
    ----------
    prev, next : ndarray
        Frames of the same shape and dtype (uint8, uint16 or float32, gray or color), each side
        at least 16 pixels.
    preset : str
        Preset of the flows (:func:`framefix.estimate_flow`), with the patches of
        :data:`framefix.flow.FLICKER_ROBUST`.
    workers : int, optional
        Threads; with two or more, the two flows are estimated side by side.

    Returns
    -------
    WarpingResult
        ``error`` (NaN when no pixel survives the check) and the bool ``(H, W)`` mask ``valid``.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> result = framefix.warping_error(frame, frame)
    >>> result.error < 1e-6, result.valid.shape
    (True, (48, 64))
    """
    comparison = _compare_pair("warping_error", prev, next, preset, workers, residual=False)
    return WarpingResult(error=comparison.error, valid=comparison.valid)


def temporal_inconsistency(prev, next, *, preset: str = "fast", workers=None) -> np.ndarray:
    """Where and how much ``next`` departs from ``prev`` carried along the motion: the per-pixel
    temporal inconsistency map.

    ``prev`` is warped onto ``next`` as in :func:`warping_error`; the global flicker (a gain and
    offset of the luma, fitted over the consistent pixels) is removed; what is left is the luma
    residual of every pixel, in 0..1 units: positive where ``next`` is brighter than the motion
    explains. Shimmer, boiling textures and local flicker show here; a uniform exposure change
    does not.

    Parameters
    ----------
    prev, next : ndarray
        Frames of the same shape and dtype (uint8, uint16 or float32, gray or color), each side
        at least 16 pixels.
    preset : str
        Preset of the flows (:func:`framefix.estimate_flow`), with the patches of
        :data:`framefix.flow.FLICKER_ROBUST`.
    workers : int, optional
        Threads; with two or more, the two flows are estimated side by side.

    Returns
    -------
    ndarray
        ``(H, W)`` float32; NaN where the forward-backward check rejects the pixel (occlusions,
        motion boundaries, motion leaving the frame).

    Examples
    --------
    >>> import numpy as np, framefix
    >>> frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> brighter = np.clip(frame * 1.1, 0, 255).astype(np.uint8)  # a global change: removed
    >>> bool(np.nanmedian(np.abs(framefix.temporal_inconsistency(frame, brighter))) < 0.01)
    True
    """
    return _compare_pair("temporal_inconsistency", prev, next, preset, workers, residual=True).residual
