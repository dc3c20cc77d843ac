"""Flicker measures from per-frame statistics: the robust trend of a shot's log luma and white
balance, the residual around it, the frames left out (flashes, fades, black) and the per-shot
indices (:func:`measure_flicker`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from framefix import _validate
from framefix.shots import Transitions, _check_finite_statistics, check_transitions, detect_transitions
from framefix.stats import _statistics_list

__all__ = ["FlickerReport", "ShotFlicker", "excluded_frames", "measure_flicker"]

_LOG_EPSILON = 0.01  # keeps the logarithm of near-black frames from exploding


def _smooth(trace: np.ndarray, window: int) -> np.ndarray:
    """Zero-phase robust trend: a centred running median (blind to flashes and spikes), then a
    centred 3-frame mean; the trace is mirrored at both ends so the first and last frames get a
    full window too."""
    n = trace.size
    half = min(window // 2, n - 1)
    padded = np.pad(trace, half + 1, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    median = np.median(windows, axis=1)  # median[i] is centred on padded[i + half]
    trend = (median[:-2] + median[1:-1] + median[2:]) / 3
    return trend[:n]


def _residual(trace: np.ndarray, window: int, skip: np.ndarray) -> np.ndarray:
    """trace - trend, the trend fitted with the ``skip`` frames (flashes, fades, black) bridged
    by straight lines, so an intended change does not bend it for the frames around."""
    if trace.shape[0] < 3:
        return np.zeros_like(trace)
    if trace.ndim == 2:
        return np.stack([_residual(trace[:, i], window, skip) for i in range(trace.shape[1])], axis=1)
    kept = np.flatnonzero(~skip)
    if kept.size == 0:
        return np.zeros_like(trace)
    bridged = np.interp(np.arange(trace.size), kept, trace[kept])
    return trace - _smooth(bridged, window)


def _dominant_period(residual: np.ndarray) -> float | None:
    """Period (frames) of the strongest frequency of a residual, or None if too short or flat."""
    if residual.size < 8 or np.sqrt(np.mean(residual**2)) < 1e-9:
        return None
    power = np.abs(np.fft.rfft(residual - residual.mean())) ** 2
    frequencies = np.fft.rfftfreq(residual.size)
    k = 1 + int(np.argmax(power[1:]))
    return float(1 / frequencies[k])


def _index(residual: np.ndarray) -> float:
    return float(100 * np.sqrt(np.mean(residual**2))) if residual.size else 0.0


@dataclasses.dataclass(frozen=True)
class ShotFlicker:
    """Flicker of one shot ``[start, end)``; indices are in percent (see :func:`measure_flicker`)."""

    start: int
    end: int
    flicker_index: float      # luma
    white_balance_index: float
    period: float | None      # frames, of the strongest luma flicker component (None without flicker)
    kind: str                 # "none", "exposure", "white balance" or "exposure+white balance"
    worst_frames: list        # frame indices with the largest luma deviation, worst first


@dataclasses.dataclass(frozen=True)
class FlickerReport:
    """Per-frame traces and per-shot measures of a clip (see :func:`measure_flicker`)."""

    luma: np.ndarray              # (T,) mean luma, 0..1
    channel_means: np.ndarray     # (T, C)
    residual: np.ndarray          # (T,) luma residual, log units (0.01 ~ 1% brightness)
    chroma_residual: np.ndarray   # (T, 2) log(R/G), log(B/G) residuals (zeros for gray clips)
    shots: list                   # ShotFlicker per shot
    flicker_index: float          # clip: frame-weighted RMS of the shots' luma residuals, percent


def measure_flicker(statistics, transitions: Transitions | None = None, *, window: int = 9,
                    threshold: float = 2.0, black: float = 0.03) -> FlickerReport:
    """Flicker per frame and per shot from per-frame statistics.

    Brightness flicker is multiplicative, so traces are taken in log units: ``x_t = ln(L_t +
    0.01)`` for the mean luma ``L_t``. Each shot's trace is detrended with a zero-phase robust
    smoother (centred running median over ``window`` frames, then a 3-frame mean) that keeps
    intended, slow changes (a fade, a light turning on) out of the residual ``r_t``. The
    **flicker index** is ``100 * RMS(r)``: roughly the typical frame-to-frame brightness error in
    percent, dimensionless and comparable across clips, sizes and bit depths (a clean clip scores
    around 1 or less, visible flicker a few units). Frames of detected flashes are left out of it.
    The same on ``ln(R/G)`` and ``ln(B/G)`` gives the **white-balance index**. A shot's ``kind``
    names the measures at or above ``threshold``. (Regional flicker cannot be told from motion
    with frame statistics alone: it comes with the flow-compensated measures.)

    Parameters
    ----------
    statistics : sequence of FrameStatistics
        One per frame (:func:`framefix.frame_statistics`), one channel count and tile grid.
    transitions : Transitions, optional
        The clip's shots, flashes and fades; found with :func:`framefix.detect_transitions`
        (with ``black``) when not given.
    window : int
        Frames in the running median of the trend (>= 3).
    threshold : float
        Index (percent) from which a shot's flicker is named in its ``kind``.
    black : float
        Luma (0..1) below which a frame is left out (see :func:`excluded_frames`).

    Returns
    -------
    FlickerReport
        Per-frame luma and residuals, per-shot indices and the clip's flicker index.

    Raises
    ------
    ValueError
        A parameter out of its range (NaN included), or ``transitions`` whose shots do not
        cover exactly these frames or whose flashes or fades lie outside them.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> rng = np.random.default_rng(0)
    >>> base = rng.integers(40, 200, (32, 32, 3)).astype(np.float32)
    >>> clip = [np.clip(base * (1 + 0.05 * (-1) ** t), 0, 255).astype(np.uint8) for t in range(24)]
    >>> report = framefix.measure_flicker([framefix.frame_statistics(f) for f in clip])
    >>> report.flicker_index > 2, report.shots[0].kind
    (True, 'exposure')
    """
    func = "measure_flicker"
    stats = _statistics_list(func, statistics)
    window = _validate.integer(func, "window", window, low=3)
    threshold = _validate.real(func, "threshold", threshold, low=0)
    black = _validate.real(func, "black", black, low=0, high=1)
    transitions = _transitions(func, stats, transitions, black)
    luma = np.maximum([s.luma for s in stats], 0.0)  # float frames may sit below black
    means = np.maximum([s.mean for s in stats], 0.0)
    if means.shape[1] >= 3:
        chroma = np.log(means[:, [0, 2]] + _LOG_EPSILON) - np.log(means[:, [1]] + _LOG_EPSILON)
    else:
        chroma = np.zeros((len(stats), 2))
    x = np.log(luma + _LOG_EPSILON)
    excluded = _excluded(luma, transitions, black)
    residual = np.zeros_like(x)
    chroma_residual = np.zeros_like(chroma)
    shots = []
    for start, end in transitions.shots:
        part = slice(start, end)
        residual[part] = _residual(x[part], window, excluded[part])
        chroma_residual[part] = _residual(chroma[part], window, excluded[part])
        counted = ~excluded[part]
        luma_index = _index(residual[part][counted])
        wb_index = _index(chroma_residual[part][counted])
        kinds = [name for name, value in (("exposure", luma_index), ("white balance", wb_index)) if value >= threshold]
        deviation = np.where(counted, np.abs(residual[part]), -1.0)
        order = np.argsort(-deviation, kind="stable")[:min(5, int(counted.sum()))]
        period = _dominant_period(np.where(counted, residual[part], 0.0)) if kinds else None  # time base kept
        shots.append(ShotFlicker(start=start, end=end, flicker_index=luma_index, white_balance_index=wb_index,
                                 period=period, kind="+".join(kinds) or "none",
                                 worst_frames=[int(start + i) for i in order]))
    counted = ~excluded
    return FlickerReport(luma=luma, channel_means=means, residual=residual, chroma_residual=chroma_residual,
                         shots=shots, flicker_index=_index(residual[counted]))


def excluded_frames(statistics, transitions: Transitions | None = None, *, black: float = 0.03) -> np.ndarray:
    """Which frames flicker measures leave out: isolated flashes, fades and frames below black.

    A flash (a camera flash, lightning) is an intended, isolated event, so its frames are left
    out, unless flashes recur (another within 30 frames, as with time-lapse exposure errors): then
    they are flicker and count. Fades and frames darker than ``black`` are intended changes. The
    trend of :func:`measure_flicker` is bridged over these frames; deflicker leaves them alone.

    Parameters
    ----------
    statistics : sequence of FrameStatistics
        One per frame (:func:`framefix.frame_statistics`).
    transitions : Transitions, optional
        The clip's flashes and fades; found with :func:`framefix.detect_transitions` (with
        ``black``) when not given.
    black : float
        Mean luma (0..1) below which a frame counts as black.

    Returns
    -------
    ndarray
        ``(T,)`` bool, True for the frames left out.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> clip = [np.full((8, 8, 3), v, np.uint8) for v in (120, 120, 2, 2, 120, 120)]
    >>> framefix.excluded_frames([framefix.frame_statistics(f, tiles=(2, 2)) for f in clip]).tolist()
    [False, False, True, True, False, False]
    """
    func = "excluded_frames"
    stats = _statistics_list(func, statistics)
    black = _validate.real(func, "black", black, low=0, high=1)
    transitions = _transitions(func, stats, transitions, black)
    return _excluded(np.maximum([s.luma for s in stats], 0.0), transitions, black)


def _transitions(func: str, stats: list, transitions, black: float) -> Transitions:
    # given ones come from elsewhere (another clip, hand edits): they must fit these frames
    if transitions is None:
        return detect_transitions(stats, black=black)
    _check_finite_statistics(func, stats)
    return check_transitions(func, transitions, len(stats))


def _excluded(luma: np.ndarray, transitions: Transitions, black: float) -> np.ndarray:
    # Left out of the indices: isolated flashes (a camera flash, lightning) and fades and frames
    # below black (intended changes). Flashes that recur (one every 30 frames or more often, as in
    # time-lapse exposure errors) are flicker and stay in.
    excluded = np.zeros(len(luma), bool)
    for start, end in transitions.flashes:
        recurring = sum(1 for a, _ in transitions.flashes if abs(a - start) <= 30) > 1
        if not recurring:
            excluded[start:end] = True
    for start, end, _ in transitions.fades:
        excluded[start:end] = True
    excluded |= luma < black
    return excluded
