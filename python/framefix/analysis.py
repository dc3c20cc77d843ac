"""The clip driver of ``framefix analyze``: every frame's statistics (streamed), the shots and
flicker measures, and with flow the per-pair temporal measures, per-tile regional flicker and the
heat-map video.

The measures themselves live in their own modules: :mod:`framefix.stats` (per-frame statistics),
:mod:`framefix.shots` (cuts, flashes, fades), :mod:`framefix.flicker` (flicker indices),
:mod:`framefix.temporal` (warping error, inconsistency map); :mod:`framefix.report` turns a
:class:`ClipAnalysis` into text, JSON and a plot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings

import numpy as np

from framefix import _backend, _validate
from framefix.flicker import FlickerReport, measure_flicker
from framefix.shots import Transitions, detect_transitions
from framefix.stats import frame_statistics

__all__ = ["ClipAnalysis", "analyze_clip"]


@dataclasses.dataclass(frozen=True)
class ClipAnalysis:
    """What :func:`analyze_clip` found; :mod:`framefix.report` writes it as text, JSON or a plot."""

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
    # every frame's FrameStatistics (luma histograms as uint32 counts), for later passes (tone
    # curves, deflicker) that need no second decode
    statistics: list | None = None
    # (T, 3): every frame's mean CIELAB color (sampled on a grid of about 65 000 pixels); None
    # for frames without three color channels
    lab_means: np.ndarray | None = None

    def shot_colors(self):
        """Each shot's look and its distance to the clip's reference shot.

        The reference shot is the one whose colors are most central
        (:func:`framefix.conform.choose_hero`, the hero ``framefix conform`` picks by default);
        distances are :class:`framefix.ColorDistance` between mean CIELAB colors.

        Returns
        -------
        (int, list of ColorDistance) or None
            The reference shot's index (from 0) and, per shot, its distance to it; None for
            clips without color.
        """
        from framefix.color import ColorDistance
        from framefix.conform import choose_hero

        if self.lab_means is None:
            return None
        shots = [(shot.start, shot.end) for shot in self.flicker.shots]
        labs = np.array([self.lab_means[start:end].mean(axis=0) for start, end in shots])
        reference = choose_hero(labs, [end - start for start, end in shots])
        return reference, [ColorDistance.between(lab, labs[reference]) for lab in labs]

    def _per_shot(self, series: np.ndarray | None, summarise, shots=None) -> list:
        ranges = [(shot.start, shot.end) for shot in self.flicker.shots] if shots is None else list(shots)
        if series is None:
            return [None] * len(ranges)
        values = []
        for start, end in ranges:
            part = series[start:end]
            values.append(summarise(part))
        return values

    def shot_warping_errors(self, shots=None) -> list:
        """Mean warping error of each shot.

        Parameters
        ----------
        shots : sequence of (start, end), optional
            Frame ranges to summarise instead of the shots this analysis found (another
            clip's shots, to compare a repaired clip with its input shot for shot).

        Returns
        -------
        list
            Per shot a float, or None without flow or without a measured pair.
        """
        def mean(part):
            part = part[np.isfinite(part)]
            return float(part.mean()) if part.size else None
        return self._per_shot(self.warping_error, mean, shots)

    def shot_regional_flicker(self, shots=None) -> list:
        """Per shot, ``(index, (tile row, tile column))`` of the tile that flickers most on its own,
        or None without flow or pairs. The index is ``100 x sqrt(median over the shot's pairs of
        r^2)`` for r the tile residual (percent of the tile's brightness): the typical size, not
        swayed by the few pairs where the flow fails (fast motion, blur); about 1 on clean
        footage, above 2 visible.

        Parameters
        ----------
        shots : sequence of (start, end), optional
            As for :meth:`shot_warping_errors`.

        Returns
        -------
        list
            Per shot ``(index, (row, column))``, or None.
        """
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
        return self._per_shot(self.tile_residuals, worst_tile, shots)


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
    """Statistics of every frame (frames are streamed; about 2.6 KB of statistics is kept per
    frame, luma histograms included), then shots and flicker measures.

    With ``flow`` (or ``heatmap``), every consecutive pair is also compared along the motion
    (flows from :func:`framefix.estimate_flow` with ``flow_preset``): the warping error and the
    temporal inconsistency map (as :func:`framefix.warping_error` and
    :func:`framefix.temporal_inconsistency`, measured on every other row and column: the same
    means from a quarter of the pixels), the map summarised per frame and per tile (regional
    flicker); pairs across cuts are left out.

    Parameters
    ----------
    path : path-like
        A clip :func:`framefix.open_clip` reads.
    tiles : (int, int)
        Rows and columns of the statistics' tile grid (fewer on frames smaller than that).
    fps : rational, optional
        Frame rate of an image sequence.
    workers : int, optional
        Threads for the kernels.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)`` after every frame.
    flow : bool
        Also compare every pair along the motion (slower: two flows a frame).
    flow_preset : str
        Preset of those flows (:data:`framefix.flow.PRESETS`), with the patches of
        :data:`framefix.flow.FLICKER_ROBUST`.
    heatmap : path-like, optional
        A video to write the inconsistency maps into, frame for frame with the clip (implies
        ``flow``); written through :func:`framefix.outputs.atomic_output`.
    overwrite : bool
        Replace an existing ``heatmap``.

    Returns
    -------
    ClipAnalysis
        The clip's description, statistics, transitions and flicker report, and with flow the
        per-frame and per-tile temporal measures.

    Examples
    --------
    >>> analysis = analyze_clip("clip.mp4", flow=True)  # doctest: +SKIP
    >>> print(framefix.report.report_text(analysis))  # doctest: +SKIP
    """
    from framefix.flow import FLICKER_ROBUST, _check_size, _settings
    from framefix.io import VideoWriter, open_clip
    from framefix.outputs import atomic_output
    from framefix.pipeline import _Prefetch
    from framefix.temporal import _compare_pair

    flow = flow or heatmap is not None
    if flow:
        settings = _settings("analyze", flow_preset, FLICKER_ROBUST)  # checked now, not at the second frame
    from framefix.color import sample_factor

    statistics, errors, inconsistency, tile_residuals, lab_means = [], [], [], [], []
    previous = previous_luma = None
    with contextlib.ExitStack() as stack:
        # as every output: not the input, no silent replace, a unique temporary renamed at the end
        temporary = None if heatmap is None else stack.enter_context(
            atomic_output(heatmap, overwrite=overwrite, inputs=[path]))
        clip = stack.enter_context(open_clip(path, fps=fps))
        info = clip.info
        grid = (min(tiles[0], info.height), min(tiles[1], info.width))  # tiny frames: fewer tiles
        if flow:
            _check_size("analyze", info.height, info.width, settings)
        writer = frames = None
        finished = False
        try:
            if temporary is not None:
                # an 8-bit picture, tagged as what it is (not as the source, which may be HDR)
                bt709 = {"primaries": "bt709", "transfer": "bt709", "matrix": "bt709", "range": "tv"}
                heat_info = dataclasses.replace(info, dtype="uint8", bit_depth=8, pix_fmt="yuv420p", is_rgb=False,
                                                kind="video", audio=(), color=bt709)
                writer = VideoWriter(temporary, heat_info, codec="libx264", crf=20, preset="veryfast",
                                     name=os.fspath(heatmap))
            frames = _Prefetch(iter(clip), depth=4)  # decoding overlaps the analysis
            for index, frame in enumerate(frames, 1):
                statistics.append(frame_statistics(frame, tiles=grid, luma_histogram=False, workers=workers))
                if frame.ndim == 3 and frame.shape[2] >= 3:
                    step = sample_factor(*frame.shape[:2])
                    lab = _backend.implementation().srgb_to_lab(np.ascontiguousarray(frame[::step, ::step, :3]), None,
                                                                 _backend.resolve_workers(workers, "analyze"))
                    lab_means.append(lab.reshape(-1, 3).mean(axis=0, dtype=np.float64))
                residual = None
                if flow:
                    error, tiles_left, luma = np.nan, np.full(grid, np.nan), None
                    if previous is not None:
                        # every other row and column: the same means from a quarter of the pixels
                        pair = _compare_pair("analyze", previous, frame, flow_preset, workers, residual=True,
                                             prev_luma=previous_luma, step=2)
                        error, residual, luma = pair.error, pair.residual, pair.next_luma
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
            if writer is not None:
                writer.close(flush=finished)
    transitions = detect_transitions(statistics)
    flicker = measure_flicker(statistics, transitions)
    labs = np.array(lab_means) if lab_means and len(lab_means) == len(statistics) else None
    if not flow:
        return ClipAnalysis(info=info, transitions=transitions, flicker=flicker, statistics=statistics, lab_means=labs)
    warping, per_frame, per_tile = (np.array(values, np.float64) for values in (errors, inconsistency, tile_residuals))
    for series in (warping, per_frame, per_tile):
        series[transitions.cuts] = np.nan  # a pair across a cut is not a temporal inconsistency
    return ClipAnalysis(info=info, transitions=transitions, flicker=flicker, warping_error=warping,
                        inconsistency=per_frame, tile_residuals=per_tile, statistics=statistics, lab_means=labs)


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
