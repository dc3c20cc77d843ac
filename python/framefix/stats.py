"""Per-frame statistics, the raw material of flicker analysis: means, spreads, a luma histogram
and a coarse grid of tile means, all from one pass over the frame (the ``frame_sums`` kernel of
``stats.hpp`` and ``_numba/stats.py``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from framefix import _backend, _validate

__all__ = ["LUMA_WEIGHTS", "FrameStatistics", "frame_statistics"]

#: Rec. 709 luma from R, G, B (ITU-R BT.709, item 3.2): the weights every Python-side luma uses
#: (the kernels carry the same numbers as float32, in C++ and in ``framefix._numba._pixels``).
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


@dataclasses.dataclass(frozen=True)
class FrameStatistics:
    """Statistics of one frame, in 0..1 units whatever its dtype (code value / maximum).

    ``mean`` and ``std`` are per channel; ``luma_histogram`` counts pixels in 256 even bins of
    Rec. 709 luma (the channel itself for gray frames) over the nominal range, values beyond it in
    the end bins (None when it was not asked for); ``tile_means`` is ``(tiles_y, tiles_x, C)``.
    """

    mean: np.ndarray
    std: np.ndarray
    luma_histogram: np.ndarray | None
    tile_means: np.ndarray

    @property
    def luma(self) -> float:
        """Rec. 709 luma of the mean color (the mean for gray frames)."""
        if self.mean.size >= 3:
            return float(LUMA_WEIGHTS[0] * self.mean[0] + LUMA_WEIGHTS[1] * self.mean[1]
                         + LUMA_WEIGHTS[2] * self.mean[2])
        return float(self.mean[0])


def frame_statistics(frame, *, tiles=(8, 8), luma_histogram=True, workers=None) -> FrameStatistics:
    """Per-channel mean and standard deviation, a luma histogram and tile means, in one pass.

    Parameters
    ----------
    frame : ndarray
        ``(H, W)`` or ``(H, W, C)``, C in 1, 3, 4; uint8, uint16 or float32 (finite).
    tiles : (int, int)
        Rows and columns of the tile grid (at most the frame's height and width); tiles split the
        frame as evenly as whole pixels allow.
    luma_histogram : bool
        Count the luma histogram (most of the cost; shot detection and flicker measures do not
        need it).
    workers : int, optional
        Threads (the result does not depend on them).

    Returns
    -------
    FrameStatistics
        Means and standard deviations per channel, the 256-bin luma histogram and the tile
        means, in 0..1 units.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> stats = framefix.frame_statistics(np.full((4, 6, 3), 51, np.uint8), tiles=(2, 3))
    >>> round(stats.luma, 3), stats.tile_means.shape, int(stats.luma_histogram[51])
    (0.2, (2, 3, 3), 24)
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
    if not isinstance(luma_histogram, (bool, np.bool_)):
        raise TypeError(f"{func}: luma_histogram must be True or False, got {luma_histogram!r}")
    workers = _backend.resolve_workers(workers, func)
    sums, squares, histogram, tile_sums, tile_counts = _backend.implementation().frame_sums(
        frame, tiles_y, tiles_x, bool(luma_histogram), workers)
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


def _statistics_list(func: str, statistics) -> list:
    """A non-empty list of FrameStatistics sharing one channel count and tile grid."""
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
