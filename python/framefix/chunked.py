"""One long clip across a Dask cluster: ``framefix deflicker long.mp4 -o out.mp4 --local-workers N``.

The clip is split into chunks that workers process at the same time, and the result is the
single-process result, frame for frame and bit for bit (before the final encode):

1. **Statistics, in parallel.** Each worker reads one stretch of the clip (entering it at a
   keyframe, :meth:`framefix.io.Clip.frames_from`) and returns every frame's statistics, the
   same :class:`framefix.TransitionTracker` takes from the frames in a single pass.
2. **Shots, on the client.** The tracker's cuts and flashes, from those statistics: the same
   decisions the single pass makes.
3. **Chunks, in parallel.** Chunk boundaries go on cuts where one is near, else anywhere; a chunk
   also reads the frames its first and last frames' temporal windows need (its halo, never across
   a cut), runs the deflicker's operations over them and keeps only its own frames. A frame's
   correction depends only on the frames of its shot within the operations' windows, so it comes
   out as in the single pass. Each chunk is written losslessly (raw RGB) as a segment beside
   the target, in blocks of ``SEGMENT_BLOCK`` frames, each renamed into place whole (the
   safe-output path).
4. **The final encode, on the client,** block after block as they appear (the encode keeps up
   with the chunks instead of waiting for them), with the source's audio copied and its frame
   times kept. Blocks are removed as they are read, and whatever happens, the segment folder.

Tasks take paths, never frames: workers read the source and write segments on storage the client
sees. A task that raises is retried (``retries``), and so is one whose worker dies, up to the
scheduler's ``distributed.scheduler.allowed-failures`` (``retries`` on the local cluster framefix
starts); a retried chunk writes its blocks again, the same bytes. Dask is optional
(``pip install "framefix[dask]"``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from framefix import _backend, _validate
from framefix.batch import FramesDone, TaskProgress
from framefix.io import ClipError

__all__ = ["Chunk", "ChunkedRun", "deflicker_chunked", "plan_chunks"]

# Segments hold raw RGB frames: a lossless codec would save half the space at ten times the CPU
# (FFvHuff: 24 ms a 720p frame to write and read back, raw 2 ms), and the client removes each
# block of a segment once it is encoded.
SEGMENT_EXTENSION = ".rgb"
SEGMENT_BLOCK = 16  # frames per segment file: the client encodes a chunk's frames 16 at a time as they come
_MIN_CHUNK_HALOS = 4  # by default a chunk is at least this many times its halo


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Frames ``start..stop-1`` are this chunk's output; it reads ``read_start..read_stop-1``
    (its own frames plus the halo its windows need, within their shots)."""

    start: int
    stop: int
    read_start: int
    read_stop: int


def plan_chunks(frame_count: int, cuts: Sequence[int], count: int, *, halo_before: int, halo_after: int) -> list[Chunk]:
    """Split ``frame_count`` frames into about ``count`` chunks of similar length, a boundary
    moved onto a cut where one is near (no halo is needed there): within the halo's length (what
    the move saves, at most what it can unbalance) and a quarter of a chunk.

    Parameters
    ----------
    frame_count : int
        Frames in the clip.
    cuts : sequence of int
        First frames of new shots.
    count : int
        Chunks wanted (fewer for clips shorter than ``count`` halos; a boundary moved onto a cut
        may still leave a chunk shorter than its halo).
    halo_before, halo_after : int
        Frames before and after a frame that its output depends on (within its shot).

    Returns
    -------
    list of Chunk
        In order, covering every frame once.
    """
    _validate.integer("plan_chunks", "frame_count", frame_count, low=1)
    _validate.integer("plan_chunks", "count", count, low=1)
    halo_before = _validate.integer("plan_chunks", "halo_before", halo_before, low=0)
    halo_after = _validate.integer("plan_chunks", "halo_after", halo_after, low=0)
    for cut in cuts:
        _validate.integer("plan_chunks", "cuts", cut, low=0)
    cuts = sorted({int(c) for c in cuts if 0 < c < frame_count})
    count = max(1, min(count, frame_count // max(1, halo_before + halo_after)))
    length = frame_count / count
    bounds = [0]
    for k in range(1, count):
        ideal = round(k * length)
        near = [c for c in cuts if abs(c - ideal) <= min(length / 4, halo_before + halo_after)]
        boundary = min(near, key=lambda c: abs(c - ideal)) if near else ideal
        if boundary > bounds[-1]:
            bounds.append(boundary)
    bounds.append(frame_count)
    chunks = []
    for start, stop in zip(bounds, bounds[1:]):
        shot_start = max([0, *(c for c in cuts if c <= start)])
        next_cut = min([frame_count, *(c for c in cuts if c >= stop)])
        chunks.append(Chunk(start, stop, max(shot_start, start - halo_before), min(next_cut, stop + halo_after)))
    return chunks


@dataclasses.dataclass(frozen=True)
class ChunkedRun:
    """What :func:`deflicker_chunked` did: ``run`` is the :class:`framefix.deflicker.DeflickerRun`
    a single-process run returns; ``chunks`` the plan; per task (statistics and chunks) the
    worker, the seconds and the worker's peak resident memory (MiB) in ``tasks``; the seconds of
    each stage in ``seconds``; ``entered_by_seeking``: whether tasks entered the clip at keyframes
    (False: each read it from its first frame)."""

    run: object
    chunks: list
    tasks: list
    seconds: dict
    entered_by_seeking: bool


def _peak_memory_mib() -> float:
    """The worker process's peak resident memory. Linux's VmHWM is this process image's own;
    ru_maxrss also carries the RSS of the process it was forked from (a local cluster's nanny
    forks the client, however large it is), so it is only the fallback."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    import resource  # POSIX only

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux, bytes on macOS


def _worker_name() -> str:
    from distributed import get_worker

    return get_worker().address


_KNOWN_ERRORS = (ClipError, ValueError, OSError)


@dataclasses.dataclass(frozen=True)
class _Control:
    """What a task needs to talk to the client: where to send its progress (a Dask topic, None
    when no one follows it), its number there, the Dask event that tells it to stop, and for chunk
    tasks the Dask variable holding the chunk the client is encoding plus the segments' disk budget."""

    topic: str | None
    task: int
    stop: str
    encoding: str | None = None
    budget: int | None = None

    def frames(self):
        """The per-frame callback: reports progress, and ends the work (``batch._Stopped``)
        between frames once the client has said stop."""
        import distributed

        from framefix.batch import _Frames

        return _Frames(1, distributed.Event(self.stop), TaskProgress(self.topic, self.task))

    def wait_for_room(self, folder: str, frames) -> None:
        """Before a chunk writes a block: while the segments hold more than the budget and the
        client is busy with an earlier chunk, wait (the chunk the client needs never waits, so this
        cannot deadlock)."""
        if self.budget is None:
            return
        import distributed

        encoding = distributed.Variable(self.encoding)
        while self.task > encoding.get() and _folder_bytes(folder) > self.budget:
            frames.check_stop()
            time.sleep(0.25)


def _folder_bytes(folder: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())
    return 0


def _reported(task):
    """Run ``task()``; bad input comes back as ``{"error": text}`` (one line, not retried: it
    would fail again), a clip that cannot be entered by seeking as ``{"seek_error": text}``, and a
    task told to stop as ``{"error": "stopped"}``."""
    import av

    from framefix.batch import _Stopped
    from framefix.io import SeekError

    try:
        return task()
    except SeekError as exc:
        return {"seek_error": str(exc)}
    except (*_KNOWN_ERRORS, av.FFmpegError) as exc:
        return {"error": (str(exc).splitlines() or [type(exc).__name__])[0]}
    except _Stopped:
        return {"error": "stopped"}


def _statistics_task(source: str, start: int, stop: int | None, frame_times, fps, workers, control: _Control) -> dict:
    """Frames ``start..stop-1`` (to the end with ``stop`` None): their statistics, as the tracker
    takes them, and their times."""
    from framefix.io import IncompleteClipWarning, open_clip
    from framefix.stats import frame_statistics

    def statistics_of_span():
        began = time.perf_counter()
        frames = control.frames()
        statistics, times = [], []
        with open_clip(source, fps=fps) as clip, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IncompleteClipWarning)
            for frame, pts in clip.frames_from(start, frame_times):
                grid = (min(8, frame.shape[0]), min(8, frame.shape[1]))
                statistics.append(frame_statistics(frame, tiles=grid, luma_histogram=False, workers=workers))
                times.append(pts)
                frames(len(times), None)
                if stop is not None and start + len(times) == stop:
                    break
        if stop is not None and start + len(times) != stop:
            raise ClipError(f"{source}: ended at frame {start + len(times)}, before frame {stop}")
        frames.report(len(times), final=True)
        # a damaged file is the client's to report (or refuse, under --strict)
        damage = sorted({str(w.message) for w in caught if issubclass(w.category, IncompleteClipWarning)})
        return {"statistics": statistics, "times": times, "warnings": damage, "worker": _worker_name(),
                "seconds": round(time.perf_counter() - began, 3), "peak_mib": _peak_memory_mib()}

    return _reported(statistics_of_span)


def _chunk_task(source: str, segment: str, chunk: Chunk, cuts: list, flashes: list, options: dict, frame_times,
                fps, control: _Control) -> dict:
    """Deflicker one chunk into a lossless segment: the frames it reads go through the same
    operations as in a single pass, with the cuts and flashes moved to the chunk's frame numbers.
    Where a seek into the clip misses, the chunk reads it from the start instead (slower, the same)."""
    from framefix.io import SeekError

    def deflicker_span():
        began = time.perf_counter()
        try:
            result = _deflicker_span(source, segment, chunk, cuts, flashes, options, frame_times, fps, control)
        except SeekError:
            result = _deflicker_span(source, segment, chunk, cuts, flashes, options, None, fps, control)
        return {**result, "worker": _worker_name(), "seconds": round(time.perf_counter() - began, 3),
                "peak_mib": _peak_memory_mib()}

    return _reported(deflicker_span)


def _deflicker_span(source, segment, chunk: Chunk, cuts, flashes, options, frame_times, fps, control) -> dict:
    from framefix.deflicker import _Measure, deflicker_operations
    from framefix.io import open_clip
    from framefix.outputs import atomic_output
    from framefix.pipeline import apply_operations

    progress = control.frames()
    offset = chunk.read_start
    local_flashes = [(s - offset, e - offset) for s, e in flashes if e > chunk.read_start and s < chunk.read_stop]
    local_cuts = [c - offset for c in cuts if chunk.read_start < c < chunk.read_stop]
    operations = deflicker_operations(flashes=local_flashes, **options)
    measure = _Measure(_backend.resolve_workers(options["workers"], "deflicker"))
    times: list[int] = []

    def frames():
        for frame, pts in clip.frames_from(chunk.read_start, frame_times):
            times.append(pts)
            yield frame
            if offset + len(times) == chunk.read_stop:
                return

    with open_clip(source, fps=fps) as clip, contextlib.ExitStack() as block:
        writer = None
        for index, frame in enumerate(apply_operations(frames(), operations, cuts=local_cuts), offset):
            if index < chunk.start:
                continue
            if writer is None:
                control.wait_for_room(os.path.dirname(segment), progress)
                path = segment_block(segment, (index - chunk.start) // SEGMENT_BLOCK)
                writer = block.enter_context(open(block.enter_context(atomic_output(path, overwrite=True)), "wb"))
            writer.write(np.ascontiguousarray(frame).data)
            measure.process([frame], _position(index))
            progress(index + 1 - chunk.start, None)
            if (index + 1 - chunk.start) % SEGMENT_BLOCK == 0 or index + 1 == chunk.stop:
                block.close()  # the block appears, whole: the client may read it now
                writer = None
            if index + 1 == chunk.stop:
                break
        written = len(measure.statistics)
        if written != chunk.stop - chunk.start:  # inside the block's context: a short block is not kept
            raise ClipError(f"{source}: ended at frame {chunk.start + written}, before frame {chunk.stop}")
    progress.report(written, final=True)
    return {"times": times[chunk.start - offset:chunk.stop - offset], "after": measure.statistics}


def segment_block(segment: str, block: int) -> str:
    """The file of a chunk's ``block``-th run of ``SEGMENT_BLOCK`` frames."""
    return f"{segment}-{block:05d}{SEGMENT_EXTENSION}"


def _position(index: int):
    from framefix.pipeline import Position

    return Position(index=index, shot_start=index, current=0)


def _segment_items(clip, plan: list, segments: list, futures: list, times: list, encoding, on_frame) -> object:
    """``("video", frame, pts)`` from the segments' blocks in order, each read as soon as it appears
    (so the encode keeps up with the chunks, and has no chunk left to do when they are done) and
    removed, with the source's audio packets placed among them by time, as write_clip takes them.
    ``encoding`` (a Dask variable) is set to the chunk being read."""
    shape = (clip.info.height, clip.info.width, 3)
    dtype, size = np.dtype(clip.info.dtype), math.prod(shape)
    audio = _audio_packets(clip)
    pending = next(audio, None)
    done = 0
    for number, (chunk, segment, future) in enumerate(zip(plan, segments, futures)):
        encoding.set(number)
        what = f"{clip.path}: frames {chunk.start}-{chunk.stop - 1}"
        for first in range(chunk.start, chunk.stop, SEGMENT_BLOCK):
            path = segment_block(segment, (first - chunk.start) // SEGMENT_BLOCK)
            _wait_for_block(path, future, what)
            frames = np.fromfile(path, dtype)
            count = min(SEGMENT_BLOCK, chunk.stop - first)
            if frames.size != count * size:
                raise ClipError(f"{path}: segment block has {frames.size // size} frames, not {count} "
                                "(its storage lost data)")
            os.remove(path)
            for index, frame in enumerate(frames.reshape(count, *shape), first):
                pts = times[index]
                seconds = pts * clip.info.time_base
                while pending is not None and pending[1] <= seconds:
                    yield "audio", pending[0], None
                    pending = next(audio, None)
                yield "video", frame, pts
                done += 1
                on_frame(done)
        if _result(future, what)["times"] != times[chunk.start:chunk.stop]:
            raise ClipError(f"{what} came with other times than the statistics pass saw")
    while pending is not None:
        yield "audio", pending[0], None
        pending = next(audio, None)


_POLL = 0.02  # seconds between looks for the next block
_STORAGE_GRACE = 30.0  # seconds a finished chunk's block may take to show on shared storage (NFS caches)


def _wait_for_block(path: str, future, what: str) -> None:
    """Until ``path`` exists; a chunk task that ended without writing it raises its error."""
    finished = None
    while not os.path.exists(path):
        if finished is None and future.done():
            _result(future, what)  # a task that failed raises here
            finished = time.monotonic()
        if finished is not None:
            if time.monotonic() - finished > _STORAGE_GRACE:
                raise ClipError(f"{path}: the chunk finished but its segment block never appeared (is the "
                                "output's folder on storage the workers share?)")
            with contextlib.suppress(OSError):
                os.listdir(os.path.dirname(path))  # refreshes a network file system's view of the folder
        time.sleep(_POLL)


def _result(future, what: str) -> dict:
    """A task's result; its bad-input error, or Dask's word that it failed (retries spent, a
    worker lost, cancelled), as a one-line ClipError naming what it was doing."""
    try:
        result = future.result()
    except (ClipError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # distributed's errors; asyncio's CancelledError is not an Exception
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise ClipError(f"{what}: failed on the cluster ({reason})") from None
    _raise_errors([result])
    return result


def _audio_packets(clip):
    """The source's audio packets in file order, each with its time in seconds."""
    for packet in clip.audio_packets():
        time_ = packet.pts if packet.pts is not None else packet.dts
        yield packet, time_ * packet.time_base


_WRITE_OPTIONS = ("codec", "crf", "preset", "image_format", "overwrite")
_SEGMENT_SHARE = 0.5  # of the free space beside the output that segments may fill before workers wait
_CLEANUP_WAIT = 30.0  # seconds to let running chunks stop before their segment folder is removed


def deflicker_chunked(source, target, *, mode: str = "auto", window: int | None = None, strength: float = 1.0,
                      keep_flashes: bool = False, workers: int | None = 1, fps=None, chunks: int | None = None,
                      client=None, scheduler: str | None = None, scheduler_file=None,
                      local_workers: int | None = None, retries: int = 2,
                      progress: Callable[[str, int, int | None], None] | None = None,
                      on_client: Callable | None = None, **write_options) -> ChunkedRun:
    """Deflicker one clip across a Dask cluster; the same output as
    :func:`framefix.deflicker.deflicker_clip` (see the module docstring for how).

    Parameters
    ----------
    source, target : path-like
        The clip and the output (video file or image folder), as for ``deflicker_clip``; the
        segments are written in a hidden folder beside ``target``, which workers must see. While
        the client is busy with earlier chunks, workers wait rather than let the segments fill
        more than half the space that was free there.
    mode, window, strength, keep_flashes, fps
        As for :func:`framefix.deflicker.deflicker_clip`.
    workers : int, optional
        Kernel threads in each task (default 1: the chunks are the parallelism; -1: each worker's
        cores).
    chunks : int, optional
        Chunks to split the clip into (default: the cluster's worker threads, fewer where a chunk
        would be shorter than four times its halo, the frames its windows need on either side:
        28 at the default window in local or auto mode, 14 in global).
    client, scheduler, scheduler_file, local_workers, retries
        Where to run, as for :func:`framefix.batch.run`.
    progress : callable, optional
        ``progress(stage, frames_done, frames_total)`` for the stages ``"statistics"``,
        ``"deflicker"`` and ``"encode"``; called from Dask's event thread as well as the
        caller's, possibly at the same time.
    on_client : callable, optional
        Called with the client before any work (the command line prints the dashboard link).
    **write_options
        ``codec``, ``crf``, ``preset``, ``image_format``, ``overwrite``: as for
        :func:`framefix.process_clip`.

    Returns
    -------
    ChunkedRun

    Raises
    ------
    ClipError
        A bad clip, an output that may not be written, or a chunk that failed on the cluster;
        nothing is written then.

    Examples
    --------
    >>> from framefix.chunked import deflicker_chunked  # doctest: +SKIP
    >>> done = deflicker_chunked("long.mp4", "fixed.mp4", local_workers=4)  # doctest: +SKIP
    >>> [(c.start, c.stop) for c in done.chunks]  # doctest: +SKIP
    [(0, 360), (360, 742), (742, 1080), (1080, 1440)]
    """
    from framefix import batch
    from framefix.deflicker import (DEFAULT_WINDOW, MODES, DeflickerRun, _check_strength, _check_window,
                                    deflicker_operations)
    from framefix.io import IncompleteClipWarning, open_clip
    from framefix.outputs import check_output
    from framefix.pipeline import check_target, write_clip
    from framefix.shots import TransitionTracker

    func = "deflicker"
    distributed = batch._require_dask()
    _validate.choice(func, "mode", mode, MODES)
    window = DEFAULT_WINDOW if window is None else _check_window(func, window)
    _check_strength(func, strength)
    _backend.resolve_workers(workers, func)  # checked here, resolved on each worker (its own cores)
    if chunks is not None:
        _validate.integer(func, "chunks", chunks, low=1)
    batch._check_cluster_settings(func, retries, local_workers, client, scheduler, scheduler_file)
    unknown = sorted(set(write_options) - set(_WRITE_OPTIONS))
    if unknown:
        raise TypeError(f"{func}: unexpected options {unknown}; it takes {list(_WRITE_OPTIONS)}")
    # workers may run elsewhere: absolute paths mean the same files there
    source, target = os.path.abspath(os.fspath(source)), os.path.abspath(os.fspath(target))
    to_folder, _ = check_target(target, **{k: v for k, v in write_options.items() if k != "overwrite"})
    check_output(target, overwrite=bool(write_options.get("overwrite")), inputs=[source], folder=to_folder)
    options = {"mode": mode, "window": window, "strength": strength, "keep_flashes": keep_flashes,
               "workers": workers}
    operations = deflicker_operations(**{**options, "workers": 1})
    halo_before, halo_after = sum(op.past for op in operations), sum(op.future for op in operations)
    seconds: dict[str, float] = {}
    began = time.perf_counter()

    def stage(name):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    with open_clip(source, fps=fps) as clip:
        info = clip.info
        frame_times = clip.frame_times()
        hidden_packets = clip.hidden_packets
    folder = os.path.dirname(target)
    _remove_stale_segments(folder, target)
    with batch._client(client, scheduler, scheduler_file, local_workers, retries) as active:
        if on_client is not None:
            on_client(active)
        try:
            active.wait_for_workers(1, timeout=_WORKERS_WAIT)
        except (TimeoutError, distributed.TimeoutError):
            raise ClipError(f"no Dask worker joined the scheduler within {_WORKERS_WAIT:.0f} s") from None
        threads = sum(active.nthreads().values()) or 1
        run_id = uuid.uuid4().hex[:8]
        keys = f"framefix-deflicker-{os.path.basename(target)}-{run_id}"
        stop_name, encoding_name = keys + "-stop", keys + "-encoding"
        stop = distributed.Event(stop_name, client=active)
        encoding = distributed.Variable(encoding_name, client=active)
        encoding.set(0)
        futures = []  # every task's, to stop them all at the end
        segment_folder = None
        try:
            # 1. statistics, in parallel where the clip can be entered mid-way
            count = chunks or threads
            entered_by_seeking = frame_times is not None and len(frame_times) > 1
            statistics_parts = None
            if entered_by_seeking:
                total = len(frame_times)
                spans = plan_chunks(total, (), count, halo_before=0, halo_after=0)
                statistics_parts = _gather_stage(
                    active, keys + "-statistics", stage("statistics"), total, stop_name,
                    [(_statistics_task, source, c.start, c.stop, frame_times, fps, workers) for c in spans],
                    retries, futures, f"{source}: the statistics pass")
                if statistics_parts is None:  # the container's index misled a seek: read from the start instead
                    entered_by_seeking, frame_times = False, None
            if statistics_parts is None:
                statistics_parts = _gather_stage(
                    active, keys + "-statistics-whole", stage("statistics"), info.frame_count, stop_name,
                    [(_statistics_task, source, 0, None, None, fps, workers)], retries, futures,
                    f"{source}: the statistics pass")
            for message in sorted({m for part in statistics_parts for m in part["warnings"]}):
                warnings.warn(IncompleteClipWarning(message), stacklevel=2)
            statistics = [s for part in statistics_parts for s in part["statistics"]]
            frame_times_seen = [t for part in statistics_parts for t in part["times"]]
            if entered_by_seeking:  # read in stretches: the length check a full read makes at its end
                with open_clip(source, fps=fps) as clip:
                    clip.check_length(frame_times_seen, hidden_packets)
            seconds["statistics"] = round(time.perf_counter() - began, 3)

            # 2. shots, on the client: the single pass's decisions
            tracker = TransitionTracker(keep_statistics=True)
            for item in statistics:
                tracker.add(item)
            transitions = tracker.finish()
            total = len(statistics)
            if chunks is None:  # a halo is work done twice: keep it to a quarter of the chunk at most
                count = min(count, max(1, total // (_MIN_CHUNK_HALOS * (halo_before + halo_after))))
            plan = plan_chunks(total, transitions.cuts, count, halo_before=halo_before, halo_after=halo_after)

            # 3. chunks into lossless segments, and 4. the final encode as they come in
            segment_folder = tempfile.mkdtemp(prefix=_segment_prefix(target), dir=folder)
            budget = int(_SEGMENT_SHARE * shutil.disk_usage(segment_folder).free)
            topic = keys + "-chunks-progress" if progress else None
            chunk_progress = _frames_done(active, keys + "-chunks-progress", total, stage("deflicker"))
            try:
                segments = [os.path.join(segment_folder, f"{i:05d}") for i in range(len(plan))]
                chunk_futures = [active.submit(
                    _chunk_task, source, segment, chunk, transitions.cuts, transitions.flashes, options,
                    frame_times, fps, _Control(topic, i, stop_name, encoding_name, budget),
                    key=f"{keys}-chunk-{i}", retries=retries, priority=len(plan) - i, pure=False)
                    for i, (chunk, segment) in enumerate(zip(plan, segments))]
                futures += chunk_futures
                encode_bar = stage("encode")
                started = time.perf_counter()
                with open_clip(source, fps=fps) as clip:
                    items = _segment_items(clip, plan, segments, chunk_futures, frame_times_seen, encoding,
                                           lambda done: encode_bar and encode_bar(done, total))
                    write_clip(items, target, info, audio_streams=clip.audio_streams, inputs=[source],
                               **write_options)
                seconds["chunks_and_encode"] = round(time.perf_counter() - started, 3)
            finally:
                chunk_progress.close()
            results = [_result(future, f"{source}: frames {c.start}-{c.stop - 1}")
                       for c, future in zip(plan, chunk_futures)]
        finally:
            _stop_and_clean(distributed, stop, futures, segment_folder)
    seconds["total"] = round(time.perf_counter() - began, 3)
    after = [s for result in results for s in result["after"]]
    run = DeflickerRun(info=info, transitions=transitions, before=statistics, after=after, mode=mode,
                       window=window, strength=strength)
    tasks = [{"stage": "statistics", "worker": p["worker"], "seconds": p["seconds"], "peak_mib": p["peak_mib"]}
             for p in statistics_parts]
    tasks += [{"stage": "chunk", "start": c.start, "stop": c.stop, "worker": r["worker"], "seconds": r["seconds"],
               "peak_mib": r["peak_mib"]} for c, r in zip(plan, results)]
    return ChunkedRun(run=run, chunks=plan, tasks=tasks, seconds=seconds, entered_by_seeking=entered_by_seeking)


_WORKERS_WAIT = 120.0  # seconds to wait for a scheduler's first worker


def _segment_prefix(target: str) -> str:
    return f".{os.path.basename(target)}.framefix-chunks-"


def _remove_stale_segments(folder: str, target: str) -> None:
    """Remove the segment folders an earlier run for ``target`` left when it was killed outright
    (they cannot remove themselves, and hold raw frames); a run owns its target's name."""
    prefix = _segment_prefix(target)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)


def _stop_and_clean(distributed, stop, futures: list, segment_folder: str | None) -> None:
    """Tell every task still running to stop, give them a moment to (a running Dask task cannot
    be cancelled from outside), then remove the segment folder; say so if it cannot be."""
    stop.set()
    for future in futures:
        future.cancel()
    with contextlib.suppress(Exception):
        distributed.wait([f for f in futures if not f.done()], timeout=_CLEANUP_WAIT)
    if segment_folder is None:
        return
    for _ in range(5):  # a block renamed into place during the removal makes rmdir fail: again
        shutil.rmtree(segment_folder, ignore_errors=True)
        if not os.path.exists(segment_folder):
            return
        time.sleep(0.2)
    warnings.warn(f"{segment_folder}: could not remove this segment folder; delete it by hand", stacklevel=3)


def _gather_stage(client, key, progress, total, stop_name: str, calls, retries, futures: list, what: str):
    """Run ``calls`` (function and arguments, less the task control) as tasks, their futures
    added to ``futures``, and return their results in order; None when one could not enter the
    clip by seeking."""
    topic = key + "-progress"
    bar = _frames_done(client, topic, total, progress)
    submitted = [client.submit(call[0], *call[1:], _Control(topic if progress else None, i, stop_name),
                               key=f"{key}-{i}", retries=retries, pure=False) for i, call in enumerate(calls)]
    futures += submitted
    try:
        results = [_result_or_seek_error(future, what) for future in submitted]
    finally:
        bar.close()
    if any("seek_error" in r for r in results):
        return None
    return results


def _result_or_seek_error(future, what: str) -> dict:
    try:
        return _result(future, what)
    except _SeekFailed as exc:
        return {"seek_error": str(exc)}


class _SeekFailed(ClipError):
    """A task could not enter the clip by seeking."""


def _frames_done(client, topic: str, total: int | None, progress) -> FramesDone:
    return FramesDone(client, topic, None if progress is None else (lambda done: progress(done, total)))


def _raise_errors(results) -> None:
    for result in results:
        if "seek_error" in result:
            raise _SeekFailed(result["seek_error"])
        if "error" in result:
            raise ClipError(result["error"])
