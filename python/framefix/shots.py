"""Where a clip changes: hard cuts, flashes and fades, from per-frame statistics
(:func:`framefix.frame_statistics`)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from framefix import _backend, _validate
from framefix.stats import FrameStatistics, _statistics_list, frame_statistics

__all__ = ["TransitionTracker", "Transitions", "detect_transitions", "read_shots"]


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


_REPEATED = 0.05  # a change of look (x 100) below this is a repeated frame, not a steady picture
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


def _look(stats: FrameStatistics) -> np.ndarray:
    """100 x the mean and the spread of each color channel: what a grade or an exposure change
    moves (gain, offset, gamma, white balance, saturation), little changed by motion."""
    channels = min(stats.mean.size, 3)
    return 100.0 * np.concatenate([stats.mean[:channels], stats.std[:channels]])


def detect_transitions(statistics, *, ratio: float = 3.0, min_score: float = 0.1, window: int = 5,
                       black: float = 0.03, min_step: float | None = 2.0) -> Transitions:
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

    A frame also starts a new shot when the picture stays but its look steps and stays there
    (two generations of one scene: a gain, white-balance, offset, gamma or saturation step). The
    look is each channel's mean and spread (x 100, 0..1 units); its change from the previous
    frame must be at least ``min_step`` and ``ratio`` times the average change of the ``window``
    frames on each side (so motion, flicker and fades, which change it every frame, do not
    count); the ``max(window, 2)`` frames after it must stay nearer the new look than the old one
    (a flash or flicker comes back), and the frames before it, up to twice that many and back to
    the last change of picture, nearer the old one (flicker alternating between two looks is not
    a step; only its first switch is cut when each look lasts longer than the frames looked ahead). A step in the last
    two frames of a clip cannot be told from a flash and is not cut. A lighting change that is a
    pure global step (a light switched on, and it stays) looks the same and is cut too.
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
    min_step : float or None
        The smallest persistent step of the look (per-channel mean and spread, x 100) that is a
        cut; None finds only changes of picture.

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
    tracker = TransitionTracker(ratio=ratio, min_score=min_score, window=window, black=black, min_step=min_step,
                                func=func)
    _check_finite_statistics(func, stats)
    for s in stats:
        tracker.add(s)
    return tracker.finish()


class TransitionTracker:
    """:func:`detect_transitions` while a clip streams past: statistics go in one frame at a
    time, and the decision on frame ``t`` (cut, flash or neither) is final as soon as the
    ``max(window, 2)`` frames after it are in. So a single pass over a clip can find its cuts and
    flashes and correct it at the same time, with a bounded delay. The result equals
    :func:`detect_transitions` on the whole list (it is the same code).

    ``decided`` frames (from the first) have their final decisions; ``cuts`` and ``flashes``
    grow as decisions are made (lists, the same objects throughout, so a consumer may hold
    them; ``cut_set`` holds the cuts too). ``ratio``, ``min_score``, ``window``, ``black`` and
    ``min_step`` are as for :func:`detect_transitions`; ``workers`` are the threads :meth:`add_frame` gives
    :func:`framefix.frame_statistics`, and with ``keep_statistics`` every frame's statistics
    are kept in ``statistics`` (a report may need them later; without it memory stays flat).

    Examples
    --------
    >>> import numpy as np, framefix
    >>> rng = np.random.default_rng(0)
    >>> a, b = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    >>> tracker = framefix.TransitionTracker()
    >>> for frame in [a] * 5 + [b] * 10:
    ...     tracker.add(framefix.frame_statistics(frame))
    >>> tracker.decided, tracker.cuts
    (10, [5])
    >>> tracker.finish().shots
    [(0, 5), (5, 15)]
    """

    def __init__(self, *, ratio: float = 3.0, min_score: float = 0.1, window: int = 5, black: float = 0.03,
                 min_step: float | None = 2.0, workers: int | None = None, keep_statistics: bool = False,
                 func: str = "TransitionTracker"):
        self._func = func
        self.ratio = _validate.real(func, "ratio", ratio, low=1, low_open=True)
        self.min_score = _validate.real(func, "min_score", min_score, low=0)
        self.window = _validate.integer(func, "window", window, low=1)
        self.black = _validate.real(func, "black", black, low=0, high=1)
        self.min_step = None if min_step is None else _validate.real(func, "min_step", min_step, low=0, low_open=True)
        self.workers = _backend.resolve_workers(workers, func)
        self.statistics: list[FrameStatistics] | None = [] if keep_statistics else None
        self.cuts: list[int] = []
        self.cut_set: set[int] = set()
        self.flashes: list[tuple[int, int]] = []
        self.decided = 0
        self._next = 1             # the next frame a decision is due on (frame 0 never cuts)
        self._luma: list[float] = []
        self._looks: list[np.ndarray] = []
        self._look_cuts: set[int] = set()  # cuts found as steps of look, the picture carrying on
        self._layouts: dict[int, np.ndarray | None] = {}  # only the frames decisions still look at
        self._usable: list[bool] = []
        self._scores: list[float] = []
        self._gaps: list[int] = []  # frames between t and the frame it was compared with
        self._last: int | None = None  # the latest frame with a layout
        self._finished: Transitions | None = None

    @property
    def frames(self) -> int:
        """How many frames have been added."""
        return len(self._luma)

    def add_frame(self, frame) -> None:
        """Take the next frame: its statistics on an 8x8 tile grid (fewer tiles for frames
        smaller than that), without the luma histogram nothing here needs."""
        shape = np.shape(frame)
        grid = (min(8, shape[0]), min(8, shape[1])) if len(shape) >= 2 else (8, 8)
        self.add(frame_statistics(frame, tiles=grid, luma_histogram=False, workers=self.workers))

    def add(self, statistics: FrameStatistics) -> None:
        """Take the next frame's statistics (from :func:`framefix.frame_statistics`)."""
        if self._finished is not None:
            raise ValueError(f"{self._func}: add after finish")
        if not isinstance(statistics, FrameStatistics):
            raise TypeError(f"{self._func}: statistics must be FrameStatistics (from frame_statistics), got "
                            f"{type(statistics).__name__}")
        t = len(self._luma)
        if t and (statistics.mean.shape != self._shape[0] or statistics.tile_means.shape != self._shape[1]):
            raise ValueError(f"{self._func}: every frame's statistics must have the same channels and tile grid")
        self._shape = (statistics.mean.shape, statistics.tile_means.shape)
        _check_finite_statistics(self._func, [statistics], first=t)
        luma = statistics.luma
        layout = None if luma < self.black else _layout(statistics)
        self._luma.append(luma)
        self._looks.append(_look(statistics))
        if self.statistics is not None:
            self.statistics.append(statistics)
        self._layouts[t] = layout
        self._usable.append(layout is not None)
        score, gap = 0.0, 1
        if layout is not None:
            if self._last is not None:
                score, gap = _distance(layout, self._layouts[self._last]), t - self._last
            self._last = t
        self._scores.append(score)
        self._gaps.append(gap)
        if t == 0:
            self.decided = 1
        self._decide(final=False)

    def finish(self) -> Transitions:
        """Decide on the last frames and return the clip's :class:`Transitions` (fades too)."""
        if self._finished is None:
            if not self._luma:
                raise ValueError(f"{self._func}: no frames")
            self._decide(final=True)
            bounds = [0, *self.cuts, len(self._luma)]
            shots = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
            self._finished = Transitions(shots=shots, cuts=list(self.cuts), flashes=list(self.flashes),
                                         fades=_fades(self._luma, self.black), scores=np.array(self._scores))
        return self._finished

    def _decide(self, final: bool) -> None:
        # a decision on t looks at most max(window, 2) frames ahead; with fewer in, it waits
        n = len(self._luma)
        reach = max(self.window, 2)
        while self._next < n and (final or self._next + reach < n):
            t = self._next
            self._next = t + 1 + self._excursion(t, n)
            self.decided = self._next
            keep = min(self._next - 1, self._last if self._last is not None else self._next)
            for index in [i for i in self._layouts if i < keep]:
                del self._layouts[index]
        if final:
            self.decided = n

    def _excursion(self, t: int, n: int) -> int:
        """Decide on frame t: record a cut or a flash starting there; the flash's extra frames."""
        window, luma, scores, usable = self.window, self._luma, self._scores, self._usable
        around = [i for i in (*range(max(1, t - window), t), *range(t + 1, min(n, t + 1 + window)))
                  if usable[i] and self._gaps[i] == 1]
        local = float(np.mean([scores[i] for i in around])) if around else 0.0
        steps = [abs(luma[i] - luma[i - 1]) for i in (*range(max(1, t - window), t), *range(t + 1, min(n, t + 1 + window)))]
        step_level = float(np.median(steps)) if n > 2 and steps else 0.0
        step = abs(luma[t] - luma[t - 1])
        # across skipped dark frames motion has had gaps[t] frames to add up, but never enough
        # to look like unrelated pictures (0.5)
        cut_like = scores[t] >= self.min_score and scores[t] >= min(self.ratio * local * self._gaps[t], 0.25)
        jump = step > 0.3 * luma[t - 1] and step > 3 * step_level
        if self._look_steps(t, n):  # before the flash test: a white-balance step keeps the luma and the picture
            self.cuts.append(t)
            self.cut_set.add(t)
            return 0
        if not (cut_like or jump):
            return 0
        back = self._comes_back(t, n)
        if back is not None:
            self.flashes.append((t, t + back))
            return back
        if cut_like:
            self.cuts.append(t)
            self.cut_set.add(t)
        return 0

    def _look_steps(self, t: int, n: int) -> bool:
        """The look steps at t and stays: see :func:`detect_transitions`."""
        usable, looks = self._usable, self._looks
        if self.min_step is None or not (usable[t] and usable[t - 1]):
            return False
        step = looks[t] - looks[t - 1]
        size = float(np.linalg.norm(step))
        if size < self.min_step:
            return False
        around = [i for i in (*range(max(1, t - self.window), t), *range(t + 1, min(n, t + 1 + self.window)))
                  if usable[i] and usable[i - 1]]
        changes = [float(np.linalg.norm(looks[i] - looks[i - 1])) for i in around]
        # a repeated frame (pulled-down or held footage) is no evidence of a steady look
        changes = [c for c in changes if c >= _REPEATED]
        if size < self.ratio * (float(np.mean(changes)) if changes else 0.0):
            return False

        def along(i: int) -> float:  # 0 at the old look, 1 at the new one
            return float((looks[i] - looks[t - 1]) @ step) / (size * size)

        reach = max(self.window, 2)
        ahead = range(t + 1, min(n, t + 1 + reach))
        if len(ahead) < 2 or any(along(i) < 0.5 for i in ahead):
            return False
        if t - 2 < (self.cuts[-1] if self.cuts else 0):  # the old look seen twice at least: one frame is no shot
            return False
        # back to a look of the same picture seen just before (across steps, not changes of picture): flicker
        picture_start = max((c for c in self.cuts if c not in self._look_cuts), default=0)
        flashed = {i for start, end in self.flashes for i in range(start, end)}
        before = [i for i in range(max(picture_start, t - 1 - 2 * reach), t - 1) if usable[i] and i not in flashed]
        if any(along(i) >= 0.5 for i in before):
            return False
        self._look_cuts.add(t)
        return True

    def _comes_back(self, t: int, n: int) -> int | None:
        # frame t+k looks like frame t-1 again (k = 1, 2): t..t+k-1 was an excursion
        luma, usable = self._luma, self._usable
        if not usable[t - 1]:
            return None
        local = float(np.mean(self._scores[max(1, t - self.window):t])) if t > 1 else 0.0
        for k in (1, 2):
            if t + k < n and usable[t + k] and abs(luma[t + k] - luma[t - 1]) <= 0.1 * luma[t - 1] \
                    and _distance(self._layouts[t + k], self._layouts[t - 1]) <= max(self.min_score, 2 * local):
                return k
        return None


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


def _check_finite_statistics(func: str, stats: list, first: int = 0) -> None:
    """frame_statistics only gives finite numbers; hand-made ones with NaN would pass every
    threshold comparison unnoticed."""
    for t, s in enumerate(stats, first):
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


def read_shots(path) -> list[tuple[int, int]]:
    """The shots listed in a JSON file: the report of ``framefix analyze --json`` or the shot list
    ``framefix conform --cube-dir`` writes (any object whose ``shots`` are objects with integer
    ``start`` and ``end``: ``[start, end)`` frame ranges).

    Parameters
    ----------
    path : path-like
        The JSON file.

    Returns
    -------
    list of (int, int)
        The ranges, in the file's order (whether they cover a clip is for the caller to check).

    Raises
    ------
    ValueError
        The file is not JSON, or holds no such list.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not a JSON shot list ({type(exc).__name__})") from None
    shots = data.get("shots") if isinstance(data, dict) else None
    if not isinstance(shots, list) or not shots:
        raise ValueError(f"{path}: no \"shots\" list; expected the JSON of framefix analyze --json")
    ranges = []
    for number, shot in enumerate(shots, 1):
        bounds = [shot.get(key) if isinstance(shot, dict) else None for key in ("start", "end")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in bounds):
            raise ValueError(f"{path}: shot {number} must have integer start and end frames, got {str(shot)[:60]}")
        ranges.append((bounds[0], bounds[1]))
    return ranges


def cuts_of_shots(func: str, shots, count: int) -> list[int]:
    """Shots ``[(start, end), ...]`` a caller gave for a clip of ``count`` frames, checked to cover
    it in order (errors name ``func``), as the cuts between them."""
    try:
        pairs = [(int(a), int(b)) for a, b in shots]
    except (TypeError, ValueError):
        raise ValueError(f"{func}: shots must be (start, end) frame ranges, got {shots!r}") from None
    if not pairs or pairs[0][0] != 0 or pairs[-1][1] != count or any(
            a >= b for a, b in pairs) or any(pairs[i][1] != pairs[i + 1][0] for i in range(len(pairs) - 1)):
        raise ValueError(f"{func}: shots must be consecutive [start, end) ranges from 0 to the clip's {count} frames, "
                         f"got {pairs}")
    return [a for a, _ in pairs[1:]]
