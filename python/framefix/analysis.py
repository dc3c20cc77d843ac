"""Per-frame statistics, the raw material of flicker analysis: means, spreads, a luma histogram
and a coarse grid of tile means, all from one pass over the frame."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from framefix import _backend, _validate

__all__ = [
    "FlickerReport",
    "FrameStatistics",
    "ShotFlicker",
    "Transitions",
    "detect_transitions",
    "frame_statistics",
    "measure_flicker",
    "analyze_clip",
]


@dataclasses.dataclass(frozen=True)
class FrameStatistics:
    """Statistics of one frame, in 0..1 units whatever its dtype (code value / maximum).

    ``mean`` and ``std`` are per channel; ``luma_histogram`` counts pixels in 256 even bins of
    Rec. 709 luma (the channel itself for gray frames) over the nominal range, values beyond it in
    the end bins; ``tile_means`` is ``(tiles_y, tiles_x, C)``.
    """

    mean: np.ndarray
    std: np.ndarray
    luma_histogram: np.ndarray
    tile_means: np.ndarray

    @property
    def luma(self) -> float:
        """Rec. 709 luma of the mean color (the mean for gray frames)."""
        if self.mean.size >= 3:
            return float(0.2126 * self.mean[0] + 0.7152 * self.mean[1] + 0.0722 * self.mean[2])
        return float(self.mean[0])


def frame_statistics(frame, *, tiles=(8, 8), workers=None) -> FrameStatistics:
    """Per-channel mean and standard deviation, a luma histogram and tile means, in one pass.

    Parameters
    ----------
    frame : ndarray
        ``(H, W)`` or ``(H, W, C)``, C in 1, 3, 4; uint8, uint16 or float32 (finite).
    tiles : (int, int)
        Rows and columns of the tile grid (at most the frame's height and width); tiles split the
        frame as evenly as whole pixels allow.
    workers : int, optional
        Threads (the result does not depend on them).
    """
    func = "frame_statistics"
    frame = _validate.frame(func, "frame", _validate.as_array(func, "frame", frame))
    if frame.dtype.kind == "f" and not np.isfinite(frame).all():
        raise ValueError(f"{func}: frame contains NaN or infinite values")
    if (not isinstance(tiles, (tuple, list)) or len(tiles) != 2
            or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in tiles)):
        raise TypeError(f"{func}: tiles must be a pair of ints (rows, columns), got {tiles!r}")
    tiles_y, tiles_x = (int(t) for t in tiles)
    if not (1 <= tiles_y <= frame.shape[0] and 1 <= tiles_x <= frame.shape[1]):
        raise ValueError(f"{func}: tiles must be 1..{frame.shape[0]} rows and 1..{frame.shape[1]} columns, "
                         f"got {tiles_y}x{tiles_x}")
    workers = _backend.resolve_workers(workers, func)
    sums, squares, histogram, tile_sums, tile_counts = _backend.implementation().frame_sums(
        frame, tiles_y, tiles_x, workers)
    top = float(np.iinfo(frame.dtype).max) if frame.dtype.kind == "u" else 1.0
    count = frame.shape[0] * frame.shape[1]
    mean = sums / count
    variance = np.maximum(squares / count - mean * mean, 0.0)  # sums are exact for integer frames
    return FrameStatistics(
        mean=mean / top,
        std=np.sqrt(variance) / top,
        luma_histogram=histogram,
        tile_means=tile_sums / tile_counts[..., None] / top,
    )


# --- shot boundaries --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Transitions:
    """Where a clip changes: ``shots`` as ``[start, end)`` frame ranges split at hard cuts,
    ``cuts`` (first frames of new shots), ``flashes`` (one- or two-frame excursions that come back:
    ``[start, end)``), ``fades`` (``(start, end, "in" | "out")``: gradual changes to or from black)
    and the per-frame change ``scores`` (``scores[t]`` compares frame t with t - 1)."""

    shots: list
    cuts: list
    flashes: list
    fades: list
    scores: np.ndarray


_FLAT = 0.01  # centred tile-pattern norm below which a channel has no structure (grain, a flat color)


def _layout(stats: FrameStatistics) -> np.ndarray | None:
    """Each color channel's tile means, centred and scaled to unit length: the picture's
    arrangement, blind to gain and offset changes (exposure and white-balance flicker, fades,
    quantisation of dark frames). Channels without structure (flat, clipped, an opaque alpha) are
    zero and left out of comparisons; None when no channel has structure."""
    channels = min(stats.tile_means.shape[-1], 3)  # alpha says nothing about cuts
    tiles = stats.tile_means[..., :channels].reshape(-1, channels).T  # (C, tiles)
    centred = tiles - tiles.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    structured = norms[:, 0] >= _FLAT
    if not structured.any():
        return None
    return np.where(structured[:, None], centred / np.maximum(norms, _FLAT), 0.0)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """(1 - correlation) / 2 of the tile patterns, averaged over the channels structured in both
    frames (1 when they share none): 0 alike, 1 opposite."""
    both = np.any(a != 0, axis=1) & np.any(b != 0, axis=1)
    if not both.any():
        return 1.0
    return float(np.mean((1.0 - np.sum(a[both] * b[both], axis=1)) / 2.0))


def _statistics_list(func: str, statistics) -> list:
    stats = list(statistics)
    if not stats:
        raise ValueError(f"{func}: no frames")
    if not all(isinstance(s, FrameStatistics) for s in stats):
        raise TypeError(f"{func}: statistics must be FrameStatistics (from frame_statistics), one per frame")
    channels = {s.mean.shape for s in stats}
    grids = {s.tile_means.shape for s in stats}
    if len(channels) > 1 or len(grids) > 1:
        raise ValueError(f"{func}: every frame's statistics must have the same channels and tile grid")
    return stats


def detect_transitions(statistics, *, ratio: float = 3.0, min_score: float = 0.1, window: int = 5,
                       black: float = 0.03) -> Transitions:
    """Hard cuts, flashes and fades from per-frame statistics.

    The change between two frames is ``(1 - r) / 2`` for ``r`` the correlation of their tile
    means (per channel, averaged): 0 for the same picture under any gain or offset (so exposure
    and white-balance flicker and fades never look like cuts), about 0.5 for unrelated pictures.
    A frame starts a new shot when its change from the previous frame is at least ``min_score``
    and ``ratio`` times the average change of the ``window`` frames on each side (an adaptive
    threshold, so fast motion does not cut). It is a flash instead when the frame one or two later
    looks like the frame before it again; a luma jump of more than 30% (and three times the local
    frame-to-frame variation) that comes back within 10% one or two frames later is a flash too.
    Frames darker than ``black`` (luma, 0..1) or of one flat color are skipped: the last frame
    before and the first after them are compared, so a cut hidden in black is still found. A fade
    is a run of at least 4 frames whose luma moves monotonically to or from below ``black``;
    fades are reported, never cut.

    Parameters
    ----------
    statistics : sequence of FrameStatistics
        One per frame, e.g. ``[frame_statistics(f) for f in clip]``.
    """
    stats = _statistics_list("detect_transitions", statistics)
    if not (ratio > 1 and min_score >= 0 and isinstance(window, int) and window >= 1):
        raise ValueError("detect_transitions: ratio must be > 1, min_score >= 0 and window an int >= 1")
    n = len(stats)
    luma = np.array([s.luma for s in stats])
    layouts = [None if luma[t] < black else _layout(stats[t]) for t in range(n)]
    usable = np.array([layout is not None for layout in layouts])
    scores = np.zeros(n)
    gaps = np.ones(n)  # frames between t and the frame it was compared with
    last = None  # the latest frame with a layout
    for t in range(n):
        if usable[t]:
            if last is not None:
                scores[t] = _distance(layouts[t], layouts[last])
                gaps[t] = t - last
            last = t
    compared = usable & (np.arange(n) > 0)
    luma_steps = np.abs(np.diff(luma, prepend=luma[0]))

    def comes_back(t: int) -> int | None:
        # frame t+k looks like frame t-1 again (k = 1, 2): t..t+k-1 was an excursion
        if not usable[t - 1]:
            return None
        local = np.mean(scores[max(1, t - window):t]) if t > 1 else 0.0
        for k in (1, 2):
            if t + k < n and usable[t + k] and abs(luma[t + k] - luma[t - 1]) <= 0.1 * luma[t - 1] \
                    and _distance(layouts[t + k], layouts[t - 1]) <= max(min_score, 2 * local):
                return k
        return None

    cuts, flashes = [], []
    t = 1
    while t < n:
        around = np.r_[max(1, t - window):t, t + 1:min(n, t + 1 + window)]
        around = around[compared[around] & (gaps[around] == 1)] if around.size else around
        local = float(np.mean(scores[around])) if around.size else 0.0
        step_level = float(np.median(np.concatenate([luma_steps[max(1, t - window):t],
                                                     luma_steps[t + 1:t + 1 + window]]))) if n > 2 else 0.0
        # across skipped dark frames motion has had gaps[t] frames to add up, but never enough
        # to look like unrelated pictures (0.5)
        cut_like = scores[t] >= min_score and scores[t] >= min(ratio * local * gaps[t], 0.25)
        jump = luma_steps[t] > 0.3 * luma[t - 1] and luma_steps[t] > 3 * step_level
        if cut_like or jump:
            back = comes_back(t)
            if back is not None:
                flashes.append((t, t + back))
                t += back + 1
                continue
            if cut_like:
                cuts.append(t)
        t += 1
    bounds = [0, *cuts, n]
    shots = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    return Transitions(shots=shots, cuts=cuts, flashes=flashes, fades=_fades(list(luma), black), scores=scores)


def _fades(luma: list[float], black: float, min_length: int = 4) -> list:
    """Runs into (out of) black in which every step darkens (brightens) by at least 3%, or
    repeats the previous frame (pulled-down footage); a slow drift before a cut to black is not
    a fade."""
    def falls(a: float, b: float) -> bool:  # from a to b is a fade step
        return a > b * 1.03 + 1e-4 or a == b

    fades = []
    n = len(luma)
    for t in range(n):
        if luma[t] >= black:
            continue
        if t > 0 and luma[t - 1] >= black:  # reached black: walk back while it kept falling
            start = t
            while start > 0 and falls(luma[start - 1], luma[start]):
                start -= 1
            while start < t and luma[start] == luma[start + 1]:
                start += 1
            if t - start + 1 >= min_length:
                fades.append((start, t + 1, "out"))
        if t + 1 < n and luma[t + 1] >= black:  # leaves black: walk on while it keeps rising
            end = t + 1
            while end + 1 < n and falls(luma[end + 1], luma[end]):
                end += 1
            while end > t + 1 and luma[end] == luma[end - 1]:
                end -= 1
            if end - t + 1 >= min_length:
                fades.append((t, end + 1, "in"))
    return fades


# --- flicker measures ------------------------------------------------------------------------------

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
    """
    stats = _statistics_list("measure_flicker", statistics)
    if not (isinstance(window, int) and window >= 3):
        raise ValueError(f"measure_flicker: window must be an int >= 3, got {window!r}")
    transitions = transitions or detect_transitions(stats, black=black)
    luma = np.maximum([s.luma for s in stats], 0.0)  # float frames may sit below black
    means = np.maximum([s.mean for s in stats], 0.0)
    if means.shape[1] >= 3:
        chroma = np.log(means[:, [0, 2]] + _LOG_EPSILON) - np.log(means[:, [1]] + _LOG_EPSILON)
    else:
        chroma = np.zeros((len(stats), 2))
    x = np.log(luma + _LOG_EPSILON)
    # Left out of the indices: isolated flashes (a camera flash, lightning) and fades and frames
    # below black (intended changes). Flashes that recur (one every 30 frames or more often, as in
    # time-lapse exposure errors) are flicker and stay in.
    excluded = np.zeros(len(stats), bool)
    for start, end in transitions.flashes:
        recurring = sum(1 for a, _ in transitions.flashes if abs(a - start) <= 30) > 1
        if not recurring:
            excluded[start:end] = True
    for start, end, _ in transitions.fades:
        excluded[start:end] = True
    excluded |= luma < black
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


# --- whole clips ----------------------------------------------------------------------------------

REPORT_FORMAT, REPORT_VERSION = "framefix.analysis", 1


@dataclasses.dataclass(frozen=True)
class ClipAnalysis:
    info: object               # framefix.ClipInfo
    transitions: Transitions
    flicker: FlickerReport
    warping_error: np.ndarray | None = None  # (T,): frame t against t - 1; NaN at cuts and frame 0

    def shot_warping_errors(self) -> list:
        """Mean warping error of each shot (None without flow or without a pair)."""
        if self.warping_error is None:
            return [None] * len(self.flicker.shots)
        values = []
        for shot in self.flicker.shots:
            part = self.warping_error[shot.start:shot.end]
            part = part[np.isfinite(part)]
            values.append(float(part.mean()) if part.size else None)
        return values


def analyze_clip(path, *, tiles=(8, 8), fps=None, workers=None, progress=None, flow: bool = False,
                 flow_preset: str = "fast") -> ClipAnalysis:
    """Statistics of every frame (frames are streamed; about 1.6 KB of statistics is kept per
    frame), then shots and flicker measures; with ``flow``, also the warping error of every
    consecutive pair (:func:`framefix.warping_error`, ``flow_preset``), NaN across cuts."""
    from framefix.flow import warping_error
    from framefix.io import open_clip

    statistics, errors = [], []
    previous = None
    with open_clip(path, fps=fps) as clip:
        grid = (min(tiles[0], clip.info.height), min(tiles[1], clip.info.width))  # tiny frames: fewer tiles
        for index, frame in enumerate(clip, 1):
            stats = frame_statistics(frame, tiles=grid, workers=workers)
            # the histogram is not needed later: keep means and tile means only
            statistics.append(dataclasses.replace(stats, luma_histogram=np.zeros(0, np.int64)))
            if flow:
                errors.append(np.nan if previous is None else warping_error(previous, frame, preset=flow_preset,
                                                                            workers=workers)[0])
                previous = frame
            if progress is not None:
                progress(index, clip.info.frame_count)
        info = clip.info
    transitions = detect_transitions(statistics)
    warping = None
    if flow:
        warping = np.array(errors, np.float64)
        warping[transitions.cuts] = np.nan  # a pair across a cut is not a temporal inconsistency
    return ClipAnalysis(info=info, transitions=transitions, flicker=measure_flicker(statistics, transitions),
                        warping_error=warping)


def report_dict(analysis: ClipAnalysis) -> dict:
    """The JSON report: versioned; shots are ``[start, end)`` frame ranges; indices in percent."""
    flicker, transitions = analysis.flicker, analysis.transitions
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "clip": analysis.info.to_dict(),
        "flicker_index": flicker.flicker_index,
        "shots": [
            {"start": s.start, "end": s.end, "flicker_index": s.flicker_index,
             "white_balance_index": s.white_balance_index, "period_frames": s.period, "kind": s.kind,
             "worst_frames": s.worst_frames, "warping_error": e}
            for s, e in zip(flicker.shots, analysis.shot_warping_errors(), strict=True)
        ],
        "cuts": transitions.cuts,
        "flashes": [list(f) for f in transitions.flashes],
        "fades": [{"start": a, "end": b, "direction": d} for a, b, d in transitions.fades],
        "frames": {
            "luma": flicker.luma.tolist(),
            "luma_residual": flicker.residual.tolist(),
            "white_balance_residual": flicker.chroma_residual.tolist(),
            "cut_score": transitions.scores.tolist(),
            "warping_error": None if analysis.warping_error is None else
            [None if not np.isfinite(e) else float(e) for e in analysis.warping_error],
        },
    }


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:05.2f}"


def report_text(analysis: ClipAnalysis) -> str:
    """A terminal summary: one line per shot, then the transitions."""
    info, flicker, transitions = analysis.info, analysis.flicker, analysis.transitions
    fps = float(info.fps)
    shot_errors = analysis.shot_warping_errors()
    with_flow = analysis.warping_error is not None
    lines = [
        f"{info.path}: {len(flicker.luma)} frames at {fps:g} fps, {len(flicker.shots)} shot(s), "
        f"flicker index {flicker.flicker_index:.2f} (clean footage ~1 or less; visible flicker > 2)",
        f"  {'shot':<5}{'frames':<13}{'time':<19}{'flicker':>8}{'white bal.':>11}"
        + (f"{'E_warp x1000':>13}" if with_flow else "") + f"  {'kind':<42}worst frames",
    ]
    for number, (shot, error) in enumerate(zip(flicker.shots, shot_errors, strict=True), 1):
        worst = ", ".join(f"{t} ({_clock(t / fps)})" for t in shot.worst_frames[:3])
        period = f", period {shot.period:.1f} frames" if shot.period and shot.kind != "none" else ""
        lines.append(
            f"  {number:<5}{f'{shot.start}-{shot.end - 1}':<13}"
            f"{f'{_clock(shot.start / fps)}-{_clock(shot.end / fps)}':<19}{shot.flicker_index:>8.2f}"
            f"{shot.white_balance_index:>11.2f}"
            + ((f"{1000 * error:>13.3f}" if error is not None else f"{'-':>13}") if with_flow else "")
            + f"  {shot.kind + period:<42}{worst}"
        )
    lines.append("  cuts at frames: " + (", ".join(map(str, transitions.cuts)) or "none"))
    if transitions.flashes:
        lines.append("  flashes (not cuts): " + ", ".join(f"{a}-{b - 1}" for a, b in transitions.flashes))
    if transitions.fades:
        lines.append("  fades: " + ", ".join(f"{d} {a}-{b - 1}" for a, b, d in transitions.fades))
    return "\n".join(lines)


def plot_report(analysis: ClipAnalysis, path) -> None:
    """A PNG: luma trace, flicker residual and cut score over time, shot boundaries marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'framefix[plot]'") from None
    flicker, transitions = analysis.flicker, analysis.transitions
    t = np.arange(len(flicker.luma))
    figure, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    axes[0].plot(t, flicker.luma, color="black")
    axes[0].set_ylabel("mean luma")
    axes[1].plot(t, 100 * flicker.residual, color="tab:red", label="luma")
    axes[1].plot(t, 100 * flicker.chroma_residual[:, 0], color="tab:orange", lw=0.8, label="R/G")
    axes[1].plot(t, 100 * flicker.chroma_residual[:, 1], color="tab:blue", lw=0.8, label="B/G")
    axes[1].set_ylabel("flicker residual (%)")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(t, transitions.scores, color="tab:green")
    axes[2].set_ylabel("cut score")
    axes[2].set_xlabel("frame")
    for axis in axes:
        for cut in transitions.cuts:
            axis.axvline(cut, color="gray", ls="--", lw=0.8)
    figure.suptitle(f"{os.path.basename(analysis.info.path)}: flicker index {flicker.flicker_index:.2f}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
