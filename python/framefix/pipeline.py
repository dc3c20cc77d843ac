"""Streaming whole clips through operations with flat memory, and writing the result safely.

An :class:`Operation` says how many past and future frames it needs; the runner keeps just that
many in a ring buffer, so a temporal filter with a centred window runs over a clip of any length
in constant memory. Decoding runs in a background thread, overlapped with the operations and the
encoder (the kernels release the GIL). Output goes to a temporary file beside the target that is
renamed at the very end: on an error or Ctrl-C nothing is left behind.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from framefix.io import (ClipError, ClipInfo, GifWriter, SequenceWriter, VideoWriter, is_sequence_target, open_clip,
                         video_codec)
from framefix.outputs import atomic_output
from framefix.shots import TransitionTracker

__all__ = ["ClipScan", "Operation", "Position", "apply_operations", "process_clip", "scan_clip", "write_clip"]


@dataclasses.dataclass(frozen=True)
class Position:
    """Where the frame an :class:`Operation` produces sits.

    ``index`` counts frames from 0 in the clip, ``shot_start`` is the index of the first frame of
    its shot (0 when no cuts were given) and ``current`` is the frame's place in the window handed
    to :meth:`Operation.process` (``window[current]`` is the frame itself; the window is shorter
    at the ends of the clip and of every shot).
    """

    index: int
    shot_start: int
    current: int


class Operation(abc.ABC):
    """One step of the pipeline.

    Subclasses set ``past`` and ``future`` (frames of context needed on each side) and implement
    :meth:`process`. At the ends of a clip or shot the window is simply shorter; the
    :class:`Position` says where the frame being produced sits in it and in the clip.
    :meth:`reset` is called at every shot boundary, so state never leaks from one shot into the
    next.
    """

    past: int = 0
    future: int = 0

    @abc.abstractmethod
    def process(self, window: Sequence[np.ndarray], position: Position) -> np.ndarray:
        """The output frame for ``window[position.current]``.

        Parameters
        ----------
        window : sequence of ndarray
            Up to ``past`` frames before the current one, the current one and up to ``future``
            after it, all from the same shot (shorter at the shot's ends).
        position : Position
            The current frame's index in the clip, its shot's first frame and its place in
            ``window``.

        Returns
        -------
        ndarray
            The new frame: the same shape and dtype as the current one.
        """

    def reset(self) -> None:
        """Forget everything about the previous shot."""


def _apply(operation: Operation, frames: Iterable[np.ndarray], cuts) -> Iterator[np.ndarray]:
    past, future = operation.past, operation.future
    if not (isinstance(past, int) and isinstance(future, int) and past >= 0 and future >= 0):
        raise ValueError(f"{type(operation).__name__}: past and future must be ints >= 0, got {past!r}, {future!r}")
    window: collections.deque[np.ndarray] = collections.deque()
    first = 0  # index of window[0]
    next_out = 0
    shot_start = 0

    def emit(upto: int) -> Iterator[np.ndarray]:
        # produce every output whose future context is complete (up to frame index `upto`)
        nonlocal next_out, first
        while next_out < first + len(window) and next_out + future <= upto:
            lo = max(shot_start, next_out - past)
            hi = min(first + len(window), next_out + future + 1)
            view = [window[i - first] for i in range(lo, hi)]
            yield operation.process(view, Position(index=next_out, shot_start=shot_start, current=next_out - lo))
            next_out += 1
            while first < next_out - past:  # drop what no later output needs
                window.popleft()
                first += 1

    index = -1
    for index, frame in enumerate(frames):
        if index in cuts and index > shot_start:
            yield from emit(float("inf"))
            window.clear()
            first = shot_start = index
            operation.reset()
        window.append(frame)
        yield from emit(index)
    yield from emit(float("inf"))


def apply_operations(
    frames: Iterable[np.ndarray], operations: Sequence[Operation], *, cuts: Iterable[int] | TransitionTracker = ()
) -> Iterator[np.ndarray]:
    """Run frames through the operations in order; one frame out for every frame in, in order.

    Parameters
    ----------
    frames : iterable of ndarray
        The clip's frames, in order (a list, an array's rows or a stream of any length).
    operations : sequence of Operation
        Applied one after the other; each keeps only the frames its window needs.
    cuts : iterable of int or TransitionTracker
        Indices of the first frames of new shots: windows never cross them and every operation
        is reset there. A :class:`framefix.TransitionTracker` finds them on the way: every
        frame's statistics are added to it as the frame arrives, and the frame waits (a few
        frames) until the tracker has decided whether it starts a shot.

    Returns
    -------
    iterator of ndarray
        One output frame per input frame.
    """
    for operation in operations:
        if not isinstance(operation, Operation):
            raise TypeError(f"apply_operations: operations must be framefix.Operation instances, "
                            f"got {type(operation).__name__}")
    stream: Iterable[np.ndarray] = frames
    if isinstance(cuts, TransitionTracker):
        stream = _decided(stream, cuts)
        cut_set = cuts.cut_set
    else:
        cut_set = frozenset(int(c) for c in cuts)
    for operation in operations:
        stream = _apply(operation, stream, cut_set)
    yield from stream


def _decided(frames: Iterable[np.ndarray], tracker: TransitionTracker) -> Iterator[np.ndarray]:
    """The frames, each held back until ``tracker`` has decided on it (its statistics added on
    arrival): downstream, the tracker's cuts and flashes are final for every frame seen."""
    held: collections.deque[np.ndarray] = collections.deque()
    released = tracker.frames
    for frame in frames:
        tracker.add_frame(frame)
        held.append(frame)
        while released < tracker.decided:
            yield held.popleft()
            released += 1
    tracker.finish()
    yield from held


# --- background decoding ------------------------------------------------------------------------

_DONE = object()


class _Prefetch:
    """Pulls items from an iterator in a background thread, at most `depth` ahead."""

    def __init__(self, items: Iterator, depth: int = 8):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name="framefix-decode", daemon=True)
        self._thread.start()

    def _run(self, items: Iterator) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# --- whole clips --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClipScan:
    """What a statistics pass found: ``statistics`` (one :class:`framefix.FrameStatistics` per
    frame, without luma histograms) and the clip's ``transitions`` (shots, cuts, flashes, fades)."""

    info: ClipInfo
    statistics: list
    transitions: object


def scan_clip(source: str | os.PathLike, *, fps=None, workers=None, progress=None) -> ClipScan:
    """A cheap statistics pass: per-frame statistics of every frame, then shots, flashes and fades.

    Parameters
    ----------
    source : str or path
        A video file, a folder of images or an image pattern.
    fps : number, optional
        Frame rate of an image sequence.
    workers : int, optional
        Threads for the statistics kernel.
    progress : callable, optional
        ``progress(frames_done, frames_total_or_None)`` after every frame.

    Returns
    -------
    ClipScan
    """
    tracker = TransitionTracker(workers=workers, keep_statistics=True)
    with open_clip(source, fps=fps) as clip:
        info = clip.info
        frames = _Prefetch(iter(clip), depth=4)
        try:
            for index, frame in enumerate(frames, 1):
                tracker.add_frame(frame)
                if progress is not None:
                    progress(index, info.frame_count)
        finally:
            frames.close()
    return ClipScan(info=info, statistics=tracker.statistics, transitions=tracker.finish())


def process_clip(
    source: str | os.PathLike,
    target: str | os.PathLike,
    operations: Sequence[Operation] = (),
    *,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    image_format: str = "png",
    overwrite: bool = False,
    fps=None,
    cuts: Iterable[int] | str | TransitionTracker = (),
    progress: Callable[[int, int | None], None] | None = None,
) -> ClipInfo:
    """Decode ``source``, run every frame through ``operations`` and write ``target``.

    ``target`` is a video file (by its extension) or, otherwise, a folder of numbered images.
    Video keeps the source's frame rate, timestamps, color tags and bit depth where the codec
    allows, and every audio stream is copied unchanged. Nothing appears at ``target`` until the
    whole clip is written; an existing target is replaced only with ``overwrite``.

    Parameters
    ----------
    codec : str, optional
        FFmpeg encoder (default: by the container, :func:`framefix.io.video_codec`: libx264,
        VP9 for ``.webm``, a palette-mapped GIF for ``.gif``; ffv1 for lossless, libx265,
        prores_ks where built).
    crf, preset : optional
        Quality and speed settings passed to the encoder (refused by encoders without them).
    image_format : {'png', 'tif'}
        For image-folder targets.
    cuts : iterable of int, "detect" or TransitionTracker
        First frames of new shots (windows never cross them, operations are reset there), or
        ``"detect"`` to find the hard cuts on the way (the same pass: each frame waits a few
        frames for the decision), or a :class:`framefix.TransitionTracker` that does so and
        keeps what it found (flashes, fades, per-frame statistics) for the caller.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)`` after every frame.

    Returns
    -------
    ClipInfo
        The source's description.
    """
    source, target = os.fspath(source), os.fspath(target)
    if isinstance(cuts, str):
        if cuts != "detect":
            raise ValueError(f"process_clip: cuts must be frame indices, 'detect' or a TransitionTracker, got {cuts!r}")
        cuts = TransitionTracker()
    with open_clip(source, fps=fps) as clip:
        audio = clip.audio_streams
        prefetch = _Prefetch(clip.items(audio=True))
        try:
            write_clip(prefetch, target, clip.info, operations, codec=codec, crf=crf, preset=preset,
                       image_format=image_format, overwrite=overwrite, cuts=cuts, audio_streams=audio,
                       progress=progress, inputs=[source])
        finally:
            prefetch.close()
        return clip.info


def check_target(target: str, *, codec: str | None = None, crf: int | None = None, preset: str | None = None,
                 image_format: str = "png") -> tuple[bool, str | None]:
    """What :func:`write_clip` will write at ``target``, checked before any work: ``(to_folder,
    codec)``, the encoder being None for an image folder.

    Raises
    ------
    ClipError
        An unknown output type, image format, encoder or encoder setting.
    """
    to_folder = is_sequence_target(target)
    if to_folder and image_format not in ("png", "tif", "tiff"):
        raise ClipError(f"image format must be png or tif, got {image_format!r}")
    return to_folder, None if to_folder else video_codec(target, codec, crf=crf, preset=preset)


def write_clip(
    items: Iterable,
    target: str,
    info: ClipInfo,
    operations: Sequence[Operation] = (),
    *,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    image_format: str = "png",
    overwrite: bool = False,
    cuts: Iterable[int] | TransitionTracker = (),
    audio_streams=(),
    progress: Callable[[int, int | None], None] | None = None,
    inputs: Iterable = (),
) -> None:
    """Write ``("video", frame, pts)`` / ``("audio", packet, None)`` items to ``target`` through
    the operations, safely (:func:`framefix.outputs.atomic_output`): into a temporary file or
    folder beside it, renamed when complete.

    Parameters
    ----------
    items : iterable
        ``("video", frame, pts)`` and ``("audio", packet, None)`` tuples, as
        :meth:`framefix.io.Clip.items` yields them.
    target : path-like
        A video file (by its extension) or a folder of numbered images.
    info : ClipInfo
        The source's description (size, dtype, frame rate, color tags).
    operations : sequence of Operation
        Applied to the frames in order.
    codec, crf, preset, image_format, progress
        As for :func:`process_clip`.
    overwrite : bool
        Replace an existing target.
    cuts : iterable of int or TransitionTracker
        First frames of new shots, or a tracker that finds them on the way
        (:func:`apply_operations`).
    audio_streams : sequence
        Source audio streams whose packets are copied.
    inputs : iterable of path-like
        What the caller reads: ``target`` may be none of them.
    """
    target = os.fspath(target)
    to_folder, codec = check_target(target, codec=codec, crf=crf, preset=preset, image_format=image_format)
    with atomic_output(target, overwrite=overwrite, inputs=inputs, folder=to_folder) as temporary:
        if to_folder:
            writer = SequenceWriter(temporary, info, image_format=image_format)
        elif codec == "gif":
            writer = GifWriter(temporary, info, name=target)
        else:
            writer = VideoWriter(temporary, info, codec=codec, crf=crf, preset=preset,
                                 audio_streams=audio_streams, name=target)
        finished = False
        try:
            _run(items, writer, operations, cuts, info, progress)
            finished = True
        finally:
            writer.close(flush=finished)


def _run(items, writer, operations, cuts, info: ClipInfo, progress) -> None:
    timestamps: collections.deque[int | None] = collections.deque()

    def video_frames() -> Iterator[np.ndarray]:
        for kind, payload, pts in items:
            if kind == "audio":
                writer.write_audio(payload)
            else:
                timestamps.append(pts)
                yield payload

    done = 0
    for frame in apply_operations(video_frames(), operations, cuts=cuts):
        writer.write(frame, timestamps.popleft())
        done += 1
        if progress is not None:
            progress(done, info.frame_count)
