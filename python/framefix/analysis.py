"""Per-frame statistics, the raw material of flicker analysis: means, spreads, a luma histogram
and a coarse grid of tile means, all from one pass over the frame."""

from __future__ import annotations

import dataclasses
import os
import warnings

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
    # (T,): 100 x RMS of the temporal inconsistency map of frame t (luma residual after the
    # motion and the global flicker are removed); NaN at cuts and frame 0
    inconsistency: np.ndarray | None = None
    # (T, tile rows, tile columns): median inconsistency residual of each tile over the tile's
    # mean luma: what brightens or darkens there beyond motion and global flicker; NaN as above
    # and for tiles with too few consistent pixels
    tile_residuals: np.ndarray | None = None

    def _per_shot(self, series: np.ndarray | None, summarise) -> list:
        if series is None:
            return [None] * len(self.flicker.shots)
        values = []
        for shot in self.flicker.shots:
            part = series[shot.start:shot.end]
            values.append(summarise(part))
        return values

    def shot_warping_errors(self) -> list:
        """Mean warping error of each shot (None without flow or without a pair)."""
        def mean(part):
            part = part[np.isfinite(part)]
            return float(part.mean()) if part.size else None
        return self._per_shot(self.warping_error, mean)

    def shot_regional_flicker(self) -> list:
        """Per shot, ``(index, (tile row, tile column))`` of the tile that flickers most on its own,
        or None without flow or pairs. The index is ``100 x sqrt(median over the shot's pairs of
        r^2)`` for r the tile residual (percent of the tile's brightness): the typical size, not
        swayed by the few pairs where the flow fails (fast motion, blur); about 1 on clean
        footage, above 2 visible."""
        def worst_tile(part):
            measured = np.isfinite(part)
            if not measured.any():
                return None
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # tiles never measured: NaN
                index = 100 * np.sqrt(np.nanmedian(part**2, axis=0))
            index = np.where(np.isfinite(index), index, -1)
            row, column = np.unravel_index(int(np.argmax(index)), index.shape)
            return float(index[row, column]), (int(row), int(column))
        return self._per_shot(self.tile_residuals, worst_tile)


_DARK = 0.05  # added to a tile's mean luma before dividing: flicker in the dark is judged absolutely
_HEAT_FULL_SCALE = 0.06  # a luma residual this large (6% of full scale) is drawn fully hot


def _render_heat(frame: np.ndarray, residual: np.ndarray | None, gray: np.ndarray | None = None) -> np.ndarray:
    """One frame of the heat-map video: the frame dimmed to gray, with the temporal
    inconsistency drawn over it, more opaque as it grows, from red to yellow and white (6% of
    full scale or more); pixels the forward-backward check rejected are tinted blue; without a
    residual (first frame, cuts) the dimmed frame alone. uint8 RGB. ``gray``: the frame's luma in
    0..1 if already at hand."""
    if gray is None:
        gray = _backend.implementation().flow_luma(_validate.frame("analyze", "frame", frame), 1)
    out = np.repeat(np.clip(gray * np.float32(0.45), 0, 1)[..., None], 3, axis=2)
    if residual is not None:
        step = -(-gray.shape[0] // residual.shape[0])  # measured on every step-th row and column
        if step > 1:
            residual = np.repeat(np.repeat(residual, step, axis=0), step, axis=1)[:gray.shape[0], :gray.shape[1]]
        unmeasured = ~np.isfinite(residual)
        heat = np.clip(np.abs(np.where(unmeasured, 0, residual)) / np.float32(_HEAT_FULL_SCALE), 0, 1)
        colour = np.stack([np.clip(3 * heat, 0, 1), np.clip(3 * heat - 1, 0, 1), np.clip(3 * heat - 2, 0, 1)], axis=-1)
        out += heat[..., None] * (colour - out)
        out[unmeasured] *= np.array([0.6, 0.6, 1.0], np.float32)
    return np.rint(out * 255).astype(np.uint8)


def analyze_clip(path, *, tiles=(8, 8), fps=None, workers=None, progress=None, flow: bool = False,
                 flow_preset: str = "fast", heatmap: str | os.PathLike | None = None,
                 overwrite: bool = False) -> ClipAnalysis:
    """Statistics of every frame (frames are streamed; about 1.6 KB of statistics is kept per
    frame), then shots and flicker measures.

    With ``flow`` (or ``heatmap``), every consecutive pair is also compared along the motion
    (flows from :func:`framefix.estimate_flow` with ``flow_preset``): the warping error and the
    temporal inconsistency map (as :func:`framefix.warping_error` and
    :func:`framefix.temporal_inconsistency`, measured on every other row and column: the same
    means from a quarter of the pixels), the map summarised per frame and per tile (regional
    flicker); pairs across cuts are left out. ``heatmap`` names a video to write the maps into
    (frame for frame with the clip; written beside and renamed when complete, an existing file
    replaced only with ``overwrite``)."""
    from framefix.flow import _check_size, _compare_pair, _settings
    from framefix.io import VideoWriter, open_clip
    from framefix.pipeline import _check_paths, _give_default_permissions, _Prefetch, _remove, _temporary_target

    flow = flow or heatmap is not None
    if flow:
        settings = _settings("analyze", flow_preset, {})  # checked now, not at the second frame
    if heatmap is not None:
        heatmap = os.fspath(heatmap)
        _check_paths(os.fspath(path), heatmap, overwrite)  # as every output: not the input, no silent replace
    statistics, errors, inconsistency, tile_residuals = [], [], [], []
    previous = previous_luma = None
    writer = temporary = frames = None
    finished = False
    with open_clip(path, fps=fps) as clip:
        info = clip.info
        grid = (min(tiles[0], info.height), min(tiles[1], info.width))  # tiny frames: fewer tiles
        if flow:
            _check_size("analyze", info.height, info.width, settings)
        try:
            if heatmap is not None:
                temporary = _temporary_target(heatmap, False)
                # an 8-bit picture, tagged as what it is (not as the source, which may be HDR)
                bt709 = {"primaries": "bt709", "transfer": "bt709", "matrix": "bt709", "range": "tv"}
                heat_info = dataclasses.replace(info, dtype="uint8", bit_depth=8, pix_fmt="yuv420p", is_rgb=False,
                                                kind="video", audio=(), color=bt709)
                writer = VideoWriter(temporary, heat_info, codec="libx264", crf=20, preset="veryfast", name=heatmap)
            frames = _Prefetch(iter(clip), depth=4)  # decoding overlaps the analysis
            for index, frame in enumerate(frames, 1):
                stats = frame_statistics(frame, tiles=grid, workers=workers)
                # the histogram is not needed later: keep means and tile means only
                statistics.append(dataclasses.replace(stats, luma_histogram=np.zeros(0, np.int64)))
                residual = None
                if flow:
                    error, tiles_left, luma = np.nan, np.full(grid, np.nan), None
                    if previous is not None:
                        # every other row and column: the same means from a quarter of the pixels
                        error, _, residual, luma = _compare_pair("analyze", previous, frame, flow_preset, workers,
                                                                 residual=True, prev_luma=previous_luma, step=2)
                        tiles_left = _tile_residuals(residual, luma[::2, ::2], grid)
                    errors.append(error)
                    inconsistency.append(np.nan if residual is None or not np.isfinite(residual).any()
                                         else float(100 * np.sqrt(np.nanmean(residual.astype(np.float64) ** 2))))
                    tile_residuals.append(tiles_left)
                    previous, previous_luma = frame, luma
                if writer is not None:
                    writer.write(_render_heat(frame, residual, luma), None)  # a heat map implies flow
                if progress is not None:
                    progress(index, info.frame_count)
            finished = True
        finally:
            if frames is not None:
                frames.close()
            if temporary is not None:
                try:
                    if writer is not None:
                        writer.close(flush=finished)
                    if finished:
                        _give_default_permissions(temporary, False)
                        os.replace(temporary, heatmap)
                finally:
                    _remove(temporary)
    transitions = detect_transitions(statistics)
    if not flow:
        return ClipAnalysis(info=info, transitions=transitions, flicker=measure_flicker(statistics, transitions))
    warping, per_frame, per_tile = (np.array(values, np.float64) for values in (errors, inconsistency, tile_residuals))
    for series in (warping, per_frame, per_tile):
        series[transitions.cuts] = np.nan  # a pair across a cut is not a temporal inconsistency
    return ClipAnalysis(info=info, transitions=transitions, flicker=measure_flicker(statistics, transitions),
                        warping_error=warping, inconsistency=per_frame, tile_residuals=per_tile)


def _tile_residuals(residual: np.ndarray, luma: np.ndarray, grid) -> np.ndarray:
    """Median residual of each tile (robust to the sparse large residuals of flow errors at
    edges and highlights; a tile that brightens as a whole moves its median) over the tile's mean
    luma + 0.05 (flicker in near-black tiles is judged absolutely, as the eye does); NaN for
    tiles with under a quarter of consistent pixels."""
    h, w = residual.shape
    row_edges = (np.arange(grid[0] + 1) * h) // grid[0]
    column_edges = (np.arange(grid[1] + 1) * w) // grid[1]
    out = np.full(grid, np.nan)
    for row in range(grid[0]):
        for column in range(grid[1]):
            rows = slice(row_edges[row], row_edges[row + 1])
            columns = slice(column_edges[column], column_edges[column + 1])
            tile = residual[rows, columns]
            measured = tile[np.isfinite(tile)]
            if measured.size and measured.size * 4 >= tile.size:
                out[row, column] = float(np.median(measured)) / (float(luma[rows, columns].mean()) + _DARK)
    return out


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
             "worst_frames": s.worst_frames, "warping_error": e,
             "regional_flicker_index": None if r is None else r[0],
             "regional_flicker_tile": None if r is None else list(r[1])}
            for s, e, r in zip(flicker.shots, analysis.shot_warping_errors(), analysis.shot_regional_flicker(),
                               strict=True)
        ],
        "cuts": transitions.cuts,
        "flashes": [list(f) for f in transitions.flashes],
        "fades": [{"start": a, "end": b, "direction": d} for a, b, d in transitions.fades],
        "frames": {
            "luma": flicker.luma.tolist(),
            "luma_residual": flicker.residual.tolist(),
            "white_balance_residual": flicker.chroma_residual.tolist(),
            "cut_score": transitions.scores.tolist(),
            "warping_error": _series(analysis.warping_error),
            "inconsistency": _series(analysis.inconsistency),
        },
    }


def _series(values: np.ndarray | None) -> list | None:
    return None if values is None else [None if not np.isfinite(v) else float(v) for v in values]


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:05.2f}"


def report_text(analysis: ClipAnalysis) -> str:
    """A terminal summary: one line per shot, then the transitions."""
    info, flicker, transitions = analysis.info, analysis.flicker, analysis.transitions
    fps = float(info.fps)
    shot_errors = analysis.shot_warping_errors()
    regional = analysis.shot_regional_flicker()
    with_flow = analysis.warping_error is not None
    lines = [
        f"{info.path}: {len(flicker.luma)} frames at {fps:g} fps, {len(flicker.shots)} shot(s), "
        f"flicker index {flicker.flicker_index:.2f} (clean footage ~1 or less; visible flicker > 2)",
        f"  {'shot':<5}{'frames':<13}{'time':<19}{'flicker':>8}{'white bal.':>11}"
        + (f"{'E_warp x1000':>13}{'regional (tile)':>18}" if with_flow else "") + f"  {'kind':<42}worst frames",
    ]
    for number, (shot, error, local) in enumerate(zip(flicker.shots, shot_errors, regional, strict=True), 1):
        worst = ", ".join(f"{t} ({_clock(t / fps)})" for t in shot.worst_frames[:3])
        period = f", period {shot.period:.1f} frames" if shot.period and shot.kind != "none" else ""
        lines.append(
            f"  {number:<5}{f'{shot.start}-{shot.end - 1}':<13}"
            f"{f'{_clock(shot.start / fps)}-{_clock(shot.end / fps)}':<19}{shot.flicker_index:>8.2f}"
            f"{shot.white_balance_index:>11.2f}"
            + ((f"{1000 * error:>13.3f}" if error is not None else f"{'-':>13}") if with_flow else "")
            + ((f"{f'{local[0]:.2f} ({local[1][0]},{local[1][1]})':>18}" if local is not None else f"{'-':>18}")
               if with_flow else "")
            + f"  {shot.kind + period:<42}{worst}"
        )
    if with_flow:
        lines.append("  regional: the tile (row, column of the grid) that flickers most on its own, beyond motion "
                     "and global flicker (index as above)")
    lines.append("  cuts at frames: " + (", ".join(map(str, transitions.cuts)) or "none"))
    if transitions.flashes:
        lines.append("  flashes (not cuts): " + ", ".join(f"{a}-{b - 1}" for a, b in transitions.flashes))
    if transitions.fades:
        lines.append("  fades: " + ", ".join(f"{d} {a}-{b - 1}" for a, b, d in transitions.fades))
    return "\n".join(lines)


def plot_report(analysis: ClipAnalysis, path) -> None:
    """A PNG: luma trace, flicker residual, cut score and (with flow) the warping error over
    time, shot boundaries marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'framefix[plot]'") from None
    flicker, transitions = analysis.flicker, analysis.transitions
    t = np.arange(len(flicker.luma))
    with_flow = analysis.warping_error is not None
    figure, axes = plt.subplots(4 if with_flow else 3, 1, figsize=(10, 9 if with_flow else 7), sharex=True)
    axes[0].plot(t, flicker.luma, color="black")
    axes[0].set_ylabel("mean luma")
    axes[1].plot(t, 100 * flicker.residual, color="tab:red", label="luma")
    axes[1].plot(t, 100 * flicker.chroma_residual[:, 0], color="tab:orange", lw=0.8, label="R/G")
    axes[1].plot(t, 100 * flicker.chroma_residual[:, 1], color="tab:blue", lw=0.8, label="B/G")
    axes[1].set_ylabel("flicker residual (%)")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(t, transitions.scores, color="tab:green")
    axes[2].set_ylabel("cut score")
    if with_flow:
        axes[3].plot(t, 1000 * analysis.warping_error, color="tab:purple")
        axes[3].set_ylabel("E_warp x 1000")
    axes[-1].set_xlabel("frame")
    for axis in axes:
        for cut in transitions.cuts:
            axis.axvline(cut, color="gray", ls="--", lw=0.8)
    figure.suptitle(f"{os.path.basename(analysis.info.path)}: flicker index {flicker.flicker_index:.2f}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
