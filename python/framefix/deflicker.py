"""Deflicker: make a clip temporally consistent in brightness and color without touching its motion.

Two stages, both per shot (never across a cut), both zero-phase (a frame's correction depends
equally on the frames before and after it: nothing is anticipated, nothing lags):

**Global** (always on). Every frame is shrunk (long side about 256 pixels) and compared with the
previous one along the motion: optical flow both ways, a forward-backward check, and the
quantiles of each channel over the pixels both frames show (not clipped) give a monotone curve
from one frame's tones to the other's. A subject walking through or an object entering is not
seen by both frames, so it does not count: only what the two frames share says how the tones
changed. Chaining these curves gives, for every level of the current frame, the value the same
surface has in each neighbour within ``window`` frames; a robust average of those values
(Tukey's biweight about a median, with a Theil-Sen slope where the window is cut short by the
shot's ends so a fade keeps its ramp) is the level the frame should have. The per-channel tone
curve from the frame's levels to those targets removes exposure, gamma/contrast and
white-balance flicker together; a change that persists (a light switched on) is followed, and a
one- or two-frame flash is brought to its neighbours without pulling them (``keep_flashes``
leaves detected flashes alone).

**Local** (``mode="local"``, or ``"auto"``). Flicker that differs across the picture (regional
shimmer, "boiling" brightness) is measured on the globally corrected frames: each frame is
compared with its neighbour along the motion on confident pixels, per cell of a coarse grid and
per channel, as a log-gain; chained along time these give each cell's brightness trajectory, a
robust zero-phase trend of which is its intended course; the difference, smoothed across the
grid, is applied as a smooth gain field. Only gains are applied, never pixels of other frames:
moving things stay sharp, nothing ghosts. ``auto`` applies the field only where it exceeds what
motion-estimation noise explains.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Sequence

import numpy as np

from framefix import _backend, _validate
from framefix.pipeline import Operation, Position

__all__ = ["MODES", "Deflicker", "LocalDeflicker", "deflicker", "deflicker_operations"]

MODES = ("auto", "global", "local")
DEFAULT_WINDOW = 15
ANALYSIS_SIDE = 256          # long side of the shrunk frames the temporal analysis works on
LEVELS = np.linspace(0.01, 0.99, 33)  # quantile levels of the tone curves
_CLIP_LOW, _CLIP_HIGH = 2 / 255, 253 / 255  # values this close to the ends may be clipped: no evidence
_MIN_SHARED = 0.05           # fewer pixels seen by both frames than this fraction: no comparison
_TUKEY = 0.094               # biweight cut-off (0..1 units): farther from the consensus counts for nothing
#                              (a light switched on, a flash: not flicker, not evidence)
_TUKEY_LOG_GAIN = 0.3        # the same for the local stage's log-gains (a flash is ~0.3 and more)
_NOISE = 0.004               # level changes below this (0..1 units) are estimation noise, not flicker
_MAX_GAIN = 4.0              # a tone curve moves no level by more than this factor
_FLOW_PRESET = "fast"  # with framefix.flow.FLICKER_ROBUST's patches


def _shrink_factor(height: int, width: int, side: int = ANALYSIS_SIDE) -> int:
    return max(1, math.ceil(max(height, width) / side))


def _shrunk_colours(frame: np.ndarray, workers: int) -> np.ndarray:
    """The frame's colour channels (alpha left out) as block means, long side about
    ``ANALYSIS_SIDE``, then a 3x3 binomial blur, float32 0..1 units: what both stages analyse.

    The blur is what keeps the comparisons unbiased: a neighbour brought along the motion is
    resampled bilinearly, which softens it, so fine texture, noise and GIF dithering would read
    as lower contrast in the neighbour than in the frame, and chained over the window the tone
    curves would flatten the picture. Softened alike beforehand, both sides lose the same."""
    frame = _validate.frame("deflicker", "frame", frame)
    colours = frame[..., :3] if frame.shape[2] == 4 else frame
    factor = _shrink_factor(*frame.shape[:2])
    out = np.empty((frame.shape[0] // factor, frame.shape[1] // factor, colours.shape[2]), np.float32)
    _backend.implementation().shrink_area(colours, factor, out, workers)
    return _binomial_blur(out)


def _binomial_blur(image: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur of an (H, W, C) image or grid, edges repeated."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = (padded[:-2] + 2 * padded[1:-1] + padded[2:]) * image.dtype.type(0.25)
    return (rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]) * image.dtype.type(0.25)


_QUANTILE_BINS = 4096


def _quantiles(values: np.ndarray) -> np.ndarray:
    """``LEVELS`` quantiles of ``values`` (1-D) from a fine histogram: within 1/4096 of the range
    of np.quantile's, several times faster (a full partition per level set is most of the global
    stage's analysis time)."""
    low, high = min(0.0, float(values.min())), max(1.0, float(values.max()))  # float frames may leave 0..1
    scale = _QUANTILE_BINS / (high - low)
    bins = np.minimum(((values - low) * scale).astype(np.intp), _QUANTILE_BINS - 1)
    cumulative = np.concatenate([[0.0], np.cumsum(np.bincount(bins, minlength=_QUANTILE_BINS))]) / values.size
    return np.interp(LEVELS, cumulative, low + np.arange(_QUANTILE_BINS + 1) / scale).astype(np.float32)


def _monotone(knots: np.ndarray) -> np.ndarray:
    """Strictly increasing along the last axis (ties nudged apart by 1e-6 per knot)."""
    bumped = knots + np.arange(knots.shape[-1]) * np.float32(1e-6)
    return np.maximum.accumulate(bumped, axis=-1)


def _map_levels(values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per channel, the monotone map src -> dst at ``values`` ((C, K) each), extended beyond the
    knots as the kernels' tone curve is (a gain through black below, the last gain above)."""
    out = np.empty_like(values)
    for c in range(values.shape[0]):
        s, d, v = src[c], dst[c], values[c]
        y = np.interp(v, s, d)
        low, high = v < s[0], v > s[-1]
        y[low] = v[low] * (d[0] / max(s[0], 1e-6))
        y[high] = d[-1] + (v[high] - s[-1]) * (d[-1] / max(s[-1], 1e-6))
        out[c] = y
    return out


def _flow_pair(current: np.ndarray, previous: np.ndarray, workers: int):
    """Flows current -> previous and back, and where they agree; None when the frames are too
    small for the estimator (then the frames are compared pixel for pixel)."""
    from framefix.flow import FLICKER_ROBUST, MIN_SIDE, _flow_pair as flow_both_ways, _settings
    from framefix.flow import flow_consistency

    h, w = current.shape[:2]
    settings = _settings("deflicker", _FLOW_PRESET, FLICKER_ROBUST)
    if min(h, w) < max(MIN_SIDE, settings["patch"]):
        return None
    kernels = _backend.implementation()
    forward, backward = flow_both_ways(kernels.flow_luma(current, workers), kernels.flow_luma(previous, workers),
                                       settings, workers)
    return forward, flow_consistency(forward, backward, workers=workers)


def _pair_curve(current: np.ndarray, previous: np.ndarray, workers: int):
    """(a, b), each (C, K): level a of ``current`` shows what level b of ``previous`` showed, from
    the pixels both frames see (forward-backward consistent, not clipped in either); None when
    they share too little."""
    from framefix.warp import warp

    pair = _flow_pair(current, previous, workers)
    if pair is None:
        carried, shared = previous, np.ones(current.shape[:2], bool)
    else:
        flow, shared = pair
        carried = warp(previous, flow, workers=workers)
    channels = current.shape[2]
    a = np.empty((channels, LEVELS.size), np.float32)
    b = np.empty_like(a)
    for c in range(channels):
        here, there = current[..., c], carried[..., c]
        valid = shared & (here > _CLIP_LOW) & (here < _CLIP_HIGH) & (there > _CLIP_LOW) & (there < _CLIP_HIGH)
        if valid.mean() < _MIN_SHARED:
            return None
        a[c] = _quantiles(here[valid])
        b[c] = _quantiles(there[valid])
    return _monotone(a), _monotone(b)


def _robust_level(values: np.ndarray, offsets: np.ndarray, window: int, cutoff: float = _TUKEY) -> np.ndarray:
    """The consensus of ``values`` (S, C, K) seen at frame ``offsets`` (S,) from the frame being
    corrected: Tukey's biweight about the median, with Gaussian weights in time. Where the
    window is lopsided (a shot's ends) a Theil-Sen slope is taken out first, but only where it
    explains the values (halves their spread: a fade's ramp), never to chase noise."""
    level = values
    if offsets.size > 2 and offsets.min() + offsets.max() != 0:
        i, j = np.triu_indices(offsets.size, 1)
        slope = np.median((values[j] - values[i]) / (offsets[j] - offsets[i])[:, None, None], axis=0)
        tilted = values - slope * offsets[:, None, None]
        spread_flat = np.median(np.abs(values - np.median(values, axis=0)), axis=0)
        spread_tilted = np.median(np.abs(tilted - np.median(tilted, axis=0)), axis=0)
        level = np.where(spread_tilted < 0.5 * spread_flat, tilted, values)
    centre = np.median(level, axis=0)
    closeness = np.exp(-0.5 * (offsets / (window / 2)) ** 2)[:, None, None]
    for _ in range(3):
        r = (level - centre) / cutoff
        weights = np.where(np.abs(r) < 1, (1 - r * r) ** 2, 0.0) * closeness
        total = weights.sum(axis=0)
        centre = np.where(total > 0, (weights * level).sum(axis=0) / np.maximum(total, 1e-12), centre)
    return centre


class _FlashFrames:
    """Membership of the frames inside flash ranges ``(start, end)``. A list is read again on
    every question, so one a :class:`framefix.TransitionTracker` is still filling can be handed
    over before the clip streams (its ranges are final for every frame the pipeline delivers)."""

    def __init__(self, flashes):
        self._ranges = flashes if isinstance(flashes, list) else list(flashes)
        self._read, self._frames = 0, set()

    def __contains__(self, index: int) -> bool:
        while self._read < len(self._ranges):
            start, end = self._ranges[self._read]
            self._frames.update(range(int(start), int(end)))
            self._read += 1
        return index in self._frames


class _ShotMemory:
    """What the global stage knows about the frames of the current shot, by frame index."""

    def __init__(self):
        self.small: dict[int, np.ndarray] = {}
        self.levels: dict[int, np.ndarray] = {}
        self.curves: dict[int, tuple | None] = {}  # index -> curve from it to index - 1

    def forget_before(self, first: int) -> None:
        for table in (self.small, self.levels, self.curves):
            for key in [k for k in table if k < first]:
                del table[key]


class Deflicker(Operation):
    """The global stage as a pipeline operation (see the module docstring).

    Parameters
    ----------
    window : int
        Frames (odd counts centre exactly) whose tones a frame is brought to; at least 3.
    strength : float
        0 leaves frames alone, 1 applies the full correction, in between blends the tone curves.
    flashes : sequence of (start, end)
        Frame ranges of one- or two-frame flashes (``Transitions.flashes``, or the live
        ``TransitionTracker.flashes`` of a single-pass run): never used as evidence for their
        neighbours; corrected like any frame unless ``keep_flashes``.
    keep_flashes : bool
        Leave the flash frames as they are.
    workers : int, optional
        Threads for the kernels.
    """

    def __init__(self, *, window: int = DEFAULT_WINDOW, strength: float = 1.0, flashes: Sequence = (),
                 keep_flashes: bool = False, workers: int | None = None):
        self.window = _check_window("Deflicker", window)
        self.strength = _check_strength("Deflicker", strength)
        self.past = self.future = self.window // 2
        self.flash_frames = _FlashFrames(flashes)
        self.keep_flashes = bool(keep_flashes)
        self.workers = _backend.resolve_workers(workers, "Deflicker")
        self._memory = _ShotMemory()

    def reset(self) -> None:
        self._memory = _ShotMemory()

    def _learn(self, window: Sequence[np.ndarray], position: Position) -> None:
        memory = self._memory
        first = position.index - position.current
        memory.forget_before(first - 1)
        for offset, frame in enumerate(window):
            index = first + offset
            if index not in memory.small:
                small = memory.small[index] = _shrunk_colours(frame, self.workers)
                memory.levels[index] = _monotone(np.stack([_quantiles(small[..., c].ravel())
                                                           for c in range(small.shape[2])]))
            if index not in memory.curves and index > position.shot_start and index - 1 in memory.small:
                memory.curves[index] = _pair_curve(memory.small[index], memory.small[index - 1], self.workers)

    def target(self, window: Sequence[np.ndarray], position: Position) -> tuple[np.ndarray, np.ndarray]:
        """(levels, targets), each (C, K) in 0..1 units: where the frame's quantile levels should go."""
        self._learn(window, position)
        memory, index = self._memory, position.index
        first, last = index - position.current, index - position.current + len(window) - 1
        levels = memory.levels[index]
        offsets, seen = [], []
        if index not in self.flash_frames:
            offsets.append(0)
            seen.append(levels)
        value = levels
        for neighbour in range(index - 1, first - 1, -1):  # back in time: curve of neighbour + 1
            curve = memory.curves.get(neighbour + 1)
            if curve is not None:
                value = _map_levels(value, curve[0], curve[1])
            if neighbour not in self.flash_frames:
                offsets.append(neighbour - index)
                seen.append(value)
        value = levels
        for neighbour in range(index + 1, last + 1):  # forward: inverse of the neighbour's curve
            curve = memory.curves.get(neighbour)
            if curve is not None:
                value = _map_levels(value, curve[1], curve[0])
            if neighbour not in self.flash_frames:
                offsets.append(neighbour - index)
                seen.append(value)
        if not seen:
            return levels, levels
        goal = _robust_level(np.stack(seen), np.array(offsets, np.float64), self.window)
        change = _shrink_noise(goal - levels, _NOISE)
        goal = levels + self.strength * change
        goal = np.clip(goal, levels / _MAX_GAIN, levels * _MAX_GAIN + 1e-3)
        return levels, _monotone(goal.astype(np.float32))

    def process(self, window: Sequence[np.ndarray], position: Position) -> np.ndarray:
        frame = window[position.current]
        if self.keep_flashes and position.index in self.flash_frames:
            self._learn(window, position)
            return frame
        levels, goal = self.target(window, position)
        if not (levels[:, -1] > 0).all():  # a float frame with no tone above black: no curve to fit
            return frame
        frame3 = _validate.frame("deflicker", "frame", frame)
        out = np.empty(frame3.shape, frame3.dtype)
        _backend.implementation().apply_tone_curves(frame3, np.ascontiguousarray(levels, np.float32),
                                                    np.ascontiguousarray(goal, np.float32), out, self.workers)
        return out.reshape(frame.shape)


def _shrink_noise(change: np.ndarray, noise: float) -> np.ndarray:
    """``change`` with what estimation noise explains taken out (the non-negative garrote):
    changes within ``noise`` are dropped, larger ones kept nearly whole (less ``noise^2 / change``),
    so clean footage is left alone without leaving a fixed part of every real correction undone."""
    magnitude = np.abs(change)
    return np.where(magnitude > noise, change * (1 - (noise / np.maximum(magnitude, 1e-12)) ** 2), 0.0)


def _check_window(func: str, window) -> int:
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 3:
        raise ValueError(f"{func}: window must be an int >= 3 (frames), got {window!r}")
    return int(window)


def _check_strength(func: str, strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not 0 <= strength <= 1:
        raise ValueError(f"{func}: strength must be a number in [0, 1], got {strength!r}")
    return float(strength)


def deflicker_operations(*, mode: str = "auto", window: int = DEFAULT_WINDOW, strength: float = 1.0,
                         flashes: Sequence = (), keep_flashes: bool = False, workers=None) -> list[Operation]:
    """The pipeline operations of a deflicker run: the global stage, then (``local``/``auto``)
    the local one. Run them with the clip's cuts (:func:`framefix.apply_operations`)."""
    _validate.choice("deflicker", "mode", mode, MODES)
    operations: list[Operation] = [Deflicker(window=window, strength=strength, flashes=flashes,
                                             keep_flashes=keep_flashes, workers=workers)]
    if mode != "global":
        operations.append(LocalDeflicker(window=window, strength=strength, gate=mode == "auto", flashes=flashes,
                                         keep_flashes=keep_flashes, workers=workers))
    return operations


# --- local stage ------------------------------------------------------------------------------------

_CELL_SIDE = 16          # cells of the gain grid on the shrunk frames (pixels)
_MIN_CELL_SHARE = 0.25   # a cell needs this share of confident pixels to be measured
_GATE = 0.01             # auto: log-gain corrections below this (1%) are motion-estimation noise


class LocalDeflicker(Operation):
    """The local stage as a pipeline operation: a smooth, zero-phase gain field per frame that
    removes regional flicker left after the global stage (see the module docstring).

    Parameters
    ----------
    window, strength, flashes, keep_flashes, workers
        As for :class:`Deflicker`.
    gate : bool
        Apply only the part of the field beyond what motion-estimation noise explains (``auto``).
    """

    def __init__(self, *, window: int = DEFAULT_WINDOW, strength: float = 1.0, gate: bool = False,
                 flashes: Sequence = (), keep_flashes: bool = False, workers: int | None = None):
        self.window = _check_window("LocalDeflicker", window)
        self.strength = _check_strength("LocalDeflicker", strength)
        self.past = self.future = self.window // 2
        self.gate = bool(gate)
        self.flash_frames = _FlashFrames(flashes)
        self.keep_flashes = bool(keep_flashes)
        self.workers = _backend.resolve_workers(workers, "LocalDeflicker")
        self.reset()

    def reset(self) -> None:
        self._small: dict[int, np.ndarray] = {}
        self._steps: dict[int, np.ndarray | None] = {}  # index -> log-gain change from index - 1 per cell

    def _grid(self, small: np.ndarray) -> tuple[int, int]:
        return max(1, round(small.shape[0] / _CELL_SIDE)), max(1, round(small.shape[1] / _CELL_SIDE))

    def _step(self, current: np.ndarray, previous: np.ndarray) -> np.ndarray | None:
        """Per cell and channel, the median log-ratio of current to previous along the motion on
        confident, unclipped pixels (NaN where too few)."""
        from framefix.warp import warp

        pair = _flow_pair(current, previous, self.workers)
        if pair is None:
            carried, shared = previous, np.ones(current.shape[:2], bool)
        else:
            flow, shared = pair
            carried = warp(previous, flow, workers=self.workers)
        usable = shared & (current.min(axis=2) > _CLIP_LOW) & (current.max(axis=2) < _CLIP_HIGH) \
            & (carried.min(axis=2) > _CLIP_LOW) & (carried.max(axis=2) < _CLIP_HIGH)
        # only usable pixels count, all above _CLIP_LOW; the floor keeps the rest (float frames may
        # go below 0) out of the logarithm's domain errors
        floor = np.float32(_CLIP_LOW)
        offset = np.float32(0.02)
        ratio = np.log(np.maximum(current, floor) + offset) - np.log(np.maximum(carried, floor) + offset)
        rows, columns = self._grid(current)
        h, w = current.shape[:2]
        out = np.full((rows, columns, current.shape[2]), np.nan)
        row_edges = np.arange(rows + 1) * h // rows
        column_edges = np.arange(columns + 1) * w // columns
        for r in range(rows):
            for q in range(columns):
                cell = (slice(row_edges[r], row_edges[r + 1]), slice(column_edges[q], column_edges[q + 1]))
                mask = usable[cell]
                if mask.mean() >= _MIN_CELL_SHARE:
                    out[r, q] = np.median(ratio[cell][mask], axis=0)
        return out

    def _learn(self, window: Sequence[np.ndarray], position: Position) -> None:
        first = position.index - position.current
        for table in (self._small, self._steps):
            for key in [k for k in table if k < first - 1]:
                del table[key]
        for offset, frame in enumerate(window):
            index = first + offset
            if index not in self._small:
                self._small[index] = _shrunk_colours(frame, self.workers)
            if index not in self._steps and index > position.shot_start and index - 1 in self._small:
                self._steps[index] = self._step(self._small[index], self._small[index - 1])

    def field(self, window: Sequence[np.ndarray], position: Position) -> np.ndarray:
        """The log-gain correction per cell and channel ((rows, columns, C)) for the frame."""
        self._learn(window, position)
        index = position.index
        first, last = index - position.current, index - position.current + len(window) - 1
        small = self._small[index]
        rows, columns = self._grid(small)
        channels = small.shape[2]
        # brightness of each cell relative to this frame, along the motion, at every neighbour
        offsets, seen = [], []
        if index not in self.flash_frames:
            offsets.append(0)
            seen.append(np.zeros((rows, columns, channels)))
        level = np.zeros((rows, columns, channels))
        for neighbour in range(index - 1, first - 1, -1):
            step = self._steps.get(neighbour + 1)
            level = level - np.nan_to_num(step if step is not None else 0.0)
            if neighbour not in self.flash_frames:
                offsets.append(neighbour - index)
                seen.append(level.copy())
        level = np.zeros((rows, columns, channels))
        for neighbour in range(index + 1, last + 1):
            step = self._steps.get(neighbour)
            level = level + np.nan_to_num(step if step is not None else 0.0)
            if neighbour not in self.flash_frames:
                offsets.append(neighbour - index)
                seen.append(level.copy())
        if len(seen) < 2:
            return np.zeros((rows, columns, channels))
        values = np.stack(seen).reshape(len(seen), rows * columns, channels)
        goal = _robust_level(values, np.array(offsets, np.float64), self.window,
                             _TUKEY_LOG_GAIN).reshape(rows, columns, channels)
        # smooth across the grid: a field, not per-cell noise
        goal = _binomial_blur(goal)
        if self.gate:
            goal = _shrink_noise(goal, _GATE)
        return np.clip(self.strength * goal, -0.7, 0.7)

    def process(self, window: Sequence[np.ndarray], position: Position) -> np.ndarray:
        frame = window[position.current]
        if self.keep_flashes and position.index in self.flash_frames:
            self._learn(window, position)
            return frame
        log_gain = self.field(window, position)
        if not np.any(log_gain):
            return frame
        frame3 = _validate.frame("deflicker", "frame", frame)
        colours = 3 if frame3.shape[2] == 4 else frame3.shape[2]
        out = np.empty(frame3.shape, frame3.dtype)
        _backend.implementation().apply_gain_field(frame3, np.ascontiguousarray(np.exp(log_gain), np.float32),
                                                   colours, out, self.workers)
        return out.reshape(frame.shape)


# --- whole clips in memory -------------------------------------------------------------------------


def _check_clip(func: str, frames) -> np.ndarray:
    clip = _validate.as_array(func, "frames", frames)
    if clip.ndim not in (3, 4) or clip.shape[0] < 1 or (clip.ndim == 4 and clip.shape[3] not in (1, 3, 4)):
        raise ValueError(f"{func}: frames must be a clip (T, H, W) or (T, H, W, C) with C in 1, 3, 4, "
                         f"got shape {clip.shape}")
    _validate.frame(func, "frames[0]", clip[0])  # dtype and size rules of every frame
    _validate.moderate_floats(func, "frames", clip)  # shrinking, blurring and statistics sum them in float32
    return clip


def deflicker(frames, *, mode: str = "auto", window: int | None = None, strength: float = 1.0, shots=None,
              keep_flashes: bool = False, workers: int | None = None) -> np.ndarray:
    """Remove flicker from a clip held in memory.

    Parameters
    ----------
    frames : ndarray
        ``(T, H, W)`` or ``(T, H, W, C)``, C in 1, 3, 4 (alpha passed through); uint8, uint16 or
        float32 (finite, within +-1e6).
    mode : {'auto', 'global', 'local'}
        ``global``: per-frame tone curves (exposure, contrast, white balance); ``local``: also a
        smooth gain field for regional flicker; ``auto``: the local field only where it exceeds
        motion-estimation noise.
    window : int, optional
        Frames a frame is compared with (default 15); clips or shots shorter than the window use
        what they have.
    strength : float
        0..1, how much of the correction is applied.
    shots : sequence of (start, end), optional
        The clip's shots; found from frame statistics when not given (cuts, and flashes, which are
        never evidence for their neighbours).
    keep_flashes : bool
        Leave detected flashes as they are instead of evening them out.
    workers : int, optional
        Threads for the kernels; results do not depend on them.

    Returns
    -------
    ndarray
        The corrected clip, same shape and dtype.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.uniform(0.2, 0.8, (1, 48, 64, 3)).astype(np.float32)
    >>> gains = (1 + 0.1 * rng.standard_normal(12)).astype(np.float32)[:, None, None, None]
    >>> fixed = framefix.deflicker(scene * gains, mode="global")
    >>> bool(fixed.mean(axis=(1, 2, 3)).std() < (scene * gains).mean(axis=(1, 2, 3)).std() / 3)
    True
    """
    func = "deflicker"
    clip = _check_clip(func, frames)
    _validate.choice(func, "mode", mode, MODES)
    window = DEFAULT_WINDOW if window is None else _check_window(func, window)
    _check_strength(func, strength)
    workers = _backend.resolve_workers(workers, func)
    from framefix.shots import cuts_of_shots, detect_transitions
    from framefix.stats import frame_statistics

    statistics = [frame_statistics(frame, tiles=(min(8, clip.shape[1]), min(8, clip.shape[2])), luma_histogram=False,
                                   workers=workers)
                  for frame in clip]
    transitions = detect_transitions(statistics)
    cuts = transitions.cuts if shots is None else cuts_of_shots(func, shots, clip.shape[0])
    operations = deflicker_operations(mode=mode, window=window, strength=strength, flashes=transitions.flashes,
                                      keep_flashes=keep_flashes, workers=workers)
    from framefix.pipeline import apply_operations

    out = np.empty_like(clip)
    for t, frame in enumerate(apply_operations(iter(clip), operations, cuts=cuts)):
        out[t] = frame
    return out


@dataclasses.dataclass(frozen=True)
class DeflickerRun:
    """What :func:`deflicker_clip` did: the source's description, its transitions and the
    per-frame statistics before and after (for the report)."""

    info: object
    transitions: object
    before: list
    after: list
    mode: str
    window: int
    strength: float


class _Measure(Operation):
    """Records the statistics of every frame that passes (the output side of the report)."""

    def __init__(self, workers: int):
        self.workers, self.statistics = workers, []

    def process(self, window, position):
        from framefix.stats import frame_statistics

        frame = window[position.current]
        grid = (min(8, frame.shape[0]), min(8, frame.shape[1]))
        self.statistics.append(frame_statistics(frame, tiles=grid, luma_histogram=False, workers=self.workers))
        return frame


def deflicker_clip(source, target, *, mode: str = "auto", window: int | None = None, strength: float = 1.0,
                   keep_flashes: bool = False, workers=None, fps=None, progress=None,
                   **write_options) -> DeflickerRun:
    """Deflicker a clip file (or image folder) into ``target`` in one pass: the frames stream
    through cut and flash detection (:class:`framefix.TransitionTracker`, a few frames ahead)
    and the correction (flat memory, bounded look-ahead) and are written safely (see
    :func:`framefix.process_clip` for ``write_options``: codec, crf, preset, image_format,
    overwrite). Audio and metadata are kept.

    Returns
    -------
    DeflickerRun
    """
    from framefix.pipeline import process_clip
    from framefix.shots import TransitionTracker

    func = "deflicker"
    _validate.choice(func, "mode", mode, MODES)
    window = DEFAULT_WINDOW if window is None else _check_window(func, window)
    _check_strength(func, strength)
    workers = _backend.resolve_workers(workers, func)
    # one pass: the tracker finds cuts and flashes a few frames ahead of the correction
    tracker = TransitionTracker(workers=workers, keep_statistics=True)
    measure = _Measure(workers)
    operations = deflicker_operations(mode=mode, window=window, strength=strength, flashes=tracker.flashes,
                                      keep_flashes=keep_flashes, workers=workers) + [measure]
    info = process_clip(source, target, operations, fps=fps, cuts=tracker, progress=progress, **write_options)
    return DeflickerRun(info=info, transitions=tracker.finish(), before=tracker.statistics,
                        after=measure.statistics, mode=mode, window=window, strength=strength)
