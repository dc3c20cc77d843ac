"""Where a clip changes: hard cuts, flashes and fades, from per-frame statistics
(:func:`framefix.frame_statistics`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from framefix import _validate
from framefix.stats import FrameStatistics, _statistics_list

__all__ = ["Transitions", "detect_transitions"]


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
    ratio : float
        How many times the local average change a cut must stand out by (> 1).
    min_score : float
        The smallest change (0..1) that can be a cut.
    window : int
        Frames on each side that make the local average.
    black : float
        Luma (0..1) below which a frame counts as black.

    Returns
    -------
    Transitions
        Shots, cuts, flashes, fades and the per-frame change scores.

    Raises
    ------
    TypeError, ValueError
        A parameter of the wrong type or out of its range (NaN included), or statistics holding
        NaN or infinite values.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> rng = np.random.default_rng(0)
    >>> a, b = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    >>> clip = [a] * 5 + [b] * 5
    >>> framefix.detect_transitions([framefix.frame_statistics(f) for f in clip]).shots
    [(0, 5), (5, 10)]
    """
    func = "detect_transitions"
    stats = _statistics_list(func, statistics)
    ratio = _validate.real(func, "ratio", ratio, low=1, low_open=True)
    min_score = _validate.real(func, "min_score", min_score, low=0)
    window = _validate.integer(func, "window", window, low=1)
    black = _validate.real(func, "black", black, low=0, high=1)
    _check_finite_statistics(func, stats)
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


def _check_finite_statistics(func: str, stats: list) -> None:
    """frame_statistics only gives finite numbers; hand-made ones with NaN would pass every
    threshold comparison unnoticed."""
    for t, s in enumerate(stats):
        if not all(np.isfinite(a).all() for a in (s.mean, s.std, s.tile_means)):
            raise ValueError(f"{func}: statistics[{t}] holds NaN or infinite values")


def check_transitions(func: str, transitions, frames: int) -> Transitions:
    """Transitions that describe a clip of ``frames`` frames: shots ``[start, end)`` in order,
    covering it exactly, and flashes and fades inside it."""
    if not isinstance(transitions, Transitions):
        raise TypeError(f"{func}: transitions must be Transitions (from detect_transitions), got "
                        f"{type(transitions).__name__}")

    def span(item, length: int, what: str) -> tuple[int, int]:
        if not (isinstance(item, (tuple, list)) and len(item) == length
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in item[:2])):
            raise ValueError(f"{func}: transitions.{what} must hold ({'start, end' if length == 2 else 'start, end, kind'})"
                             f" tuples of ints, got {item!r:.80}")
        start, end = int(item[0]), int(item[1])
        if not 0 <= start < end <= frames:
            raise ValueError(f"{func}: transitions.{what} must lie within the clip's {frames} frames "
                             f"(0 <= start < end <= {frames}), got {item!r:.80}")
        return start, end

    if np.shape(transitions.scores) != (frames,):
        raise ValueError(f"{func}: transitions cover {np.size(transitions.scores)} frames, the statistics {frames}")
    expected = 0
    for shot in transitions.shots:
        start, end = span(shot, 2, "shots")
        if start != expected:
            raise ValueError(f"{func}: transitions.shots must cover the clip in order without gaps, got {shot!r} "
                             f"where a shot starting at {expected} was due")
        expected = end
    if expected != frames:
        raise ValueError(f"{func}: transitions.shots must cover the clip's {frames} frames, they end at {expected}")
    for flash in transitions.flashes:
        span(flash, 2, "flashes")
    for fade in transitions.fades:
        span(fade, 3, "fades")
    return transitions
