"""Many clips at once on Dask (``framefix batch``): one task per clip, on this machine or a cluster.

Tasks take paths, never frames: workers read the inputs and write the outputs on storage every
worker and the client see (a local disk for a :class:`dask.distributed.LocalCluster`, a shared
file system for a cluster). Each task runs the same library function as the one-clip command
(:func:`framefix.deflicker.deflicker_clip`, :func:`framefix.color.match_clip_colors`,
:func:`framefix.analysis.analyze_clip`, :func:`framefix.pipeline.process_clip`), so a batch's
outputs are the per-clip command's outputs.

Every output goes through :func:`framefix.outputs.atomic_output` and gets a key file beside it
(``NAME.framefix.json``: the input's path, size and modification time, the command, its
options and the framefix version), written in the same :func:`framefix.outputs.output_group`
after the output, so a key vouches for a complete output. A re-run skips the clips whose key
matches; ``overwrite`` redoes them.

Failures: bad input (a corrupt clip, an option the clip refuses) is returned as the clip's
``failed`` entry, not retried; any other exception is retried by Dask (``retries``), and a
worker that dies mid-task has its task re-run elsewhere (the scheduler's
``distributed.scheduler.allowed-failures``, set to ``retries`` for the cluster framefix starts).
The temporaries of a killed attempt are removed by the next attempt of the same clip.

Dask is optional (``pip install "framefix[dask]"``); only this module needs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction

from framefix import __version__
from framefix.io import VIDEO_EXTENSIONS, ClipError, IncompleteClipWarning

__all__ = ["COMMANDS", "KEY_SUFFIX", "REPORT_FORMAT", "run", "plan"]

COMMANDS = ("deflicker", "match-color", "analyze", "convert")
KEY_SUFFIX = ".framefix.json"
KEY_FORMAT = "framefix.batch-key"
REPORT_FORMAT = "framefix.batch"
INSTALL_HINT = 'framefix batch needs Dask: pip install "framefix[dask]"'

# the options of each command a task passes on (the library function's keyword names); the
# rest of a command's one-clip options write per-clip side files the batch report replaces
_ENCODE = ("codec", "crf", "preset", "fps")
_OPTIONS = {
    "deflicker": ("mode", "window", "strength", "keep_flashes", "measure", "workers", *_ENCODE),
    "match-color": ("reference", "method", "per_frame", "smooth", "mask", "reference_mask", "workers", *_ENCODE),
    "analyze": ("flow", "workers", "fps"),
    "convert": _ENCODE,
}
# options naming files: the key records their size and time too (a changed reference redoes the clip)
_FILE_OPTIONS = ("reference", "mask", "reference_mask")
# options that change how fast, not what is written: not part of the key
_SPEED_OPTIONS = ("workers",)
_KNOWN_ERRORS = (ClipError, ValueError, OSError)
_CANCELLED = "cancelled after another clip failed (fail_fast)"


def _require_dask():
    try:
        import distributed
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return distributed


# ----------------------------------------------------------------------------- planning (client)

@dataclasses.dataclass(frozen=True)
class Job:
    """One clip of a batch: what to read, what to write, and the key that vouches for it."""

    source: str
    target: str
    key_path: str
    key: dict
    size: int


def _input_files(inputs: Iterable) -> list[str]:
    """Files, folders (their video files) and globs, in the order given, each once."""
    found: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if n.lower().endswith(VIDEO_EXTENSIONS))
            if not names:
                raise ClipError(f"{item}: folder holds no video files ({' '.join(VIDEO_EXTENSIONS)})")
            found += [os.path.join(item, n) for n in names]
        elif os.path.isfile(item):
            found.append(item)
        elif glob.has_magic(item):
            matches = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not matches:
                raise ClipError(f"{item}: matches no files")
            found += matches
        else:
            raise ClipError(f"{item}: no such file or folder")
    unique: dict[str, str] = {}
    for path in found:  # absolute: workers may run in other folders, or on other machines
        unique.setdefault(os.path.realpath(path), os.path.abspath(path))
    return list(unique.values())


def _stat(path: str) -> dict:
    status = os.stat(path)
    return {"path": os.path.abspath(path), "size": status.st_size, "mtime_ns": status.st_mtime_ns}


def _jsonable(value):
    return str(value) if isinstance(value, Fraction) else value


def _check_options(command: str, options: Mapping) -> dict:
    unknown = sorted(set(options) - set(_OPTIONS[command]))
    if unknown:
        raise ValueError(f"batch: options {unknown} are not {command}'s; it takes {list(_OPTIONS[command])}")
    if "measure" in options and not isinstance(options["measure"], bool):
        raise ValueError(f"batch: measure must be True or False, got {options['measure']!r}")
    if command == "match-color" and options.get("reference") is None:
        raise ValueError("batch: match-color needs options['reference'] (an image, a clip or CLIP@N)")
    return {name: value for name, value in options.items() if value is not None}


def plan(command: str, inputs: Iterable, output_dir, *, options: Mapping | None = None,
         extension: str | None = None) -> list[Job]:
    """The clips of a batch and where each goes, largest first, without running anything.

    Parameters
    ----------
    command : {'deflicker', 'match-color', 'analyze', 'convert'}
    inputs : iterable of path-like
        Video files, folders (their video files) and glob patterns.
    output_dir : path-like
        An existing folder; clip ``NAME.EXT`` is written there as ``NAME`` + ``extension``
        (``NAME.json``, the analysis report, for ``analyze``).
    options : mapping, optional
        Keyword options of the command's library function (see :func:`run`).
    extension : str, optional
        The outputs' container, such as ``".mkv"`` (default: each input's own).

    Returns
    -------
    list of Job
    """
    from framefix.io import split_reference

    if command not in COMMANDS:
        raise ValueError(f"batch: command must be one of {', '.join(COMMANDS)}, got {command!r}")
    options = _check_options(command, options or {})
    output_dir = os.path.abspath(os.fspath(output_dir))
    if not os.path.isdir(output_dir):
        raise ClipError(f"{output_dir}: output folder does not exist")
    if extension is not None:
        if command == "analyze":
            raise ValueError("batch: analyze writes JSON reports; drop the extension")
        if not isinstance(extension, str) or extension.lower() not in VIDEO_EXTENSIONS:
            raise ValueError(f"batch: extension must be one of {' '.join(VIDEO_EXTENSIONS)}, got {extension!r}")
    sources = _input_files(inputs)
    if not sources:
        raise ValueError("batch: inputs name no clips")
    files = {name: _stat(split_reference(options[name])[0] if name == "reference" else options[name])
             for name in _FILE_OPTIONS if name in options}
    recorded = {name: _jsonable(value) for name, value in options.items() if name not in _SPEED_OPTIONS}
    jobs, claimed = [], {}
    for source in sources:
        stem, own_extension = os.path.splitext(os.path.basename(source))
        target = os.path.join(output_dir, stem + (".json" if command == "analyze" else extension or own_extension))
        if target in claimed:
            raise ClipError(f"{source}: its output {target} is also {claimed[target]}'s; rename one of them")
        claimed[target] = source
        key = {"format": KEY_FORMAT, "version": 1, "framefix": __version__, "command": command,
               "input": _stat(source), "options": recorded, "files": files}
        jobs.append(Job(source, target, target + KEY_SUFFIX, key, key["input"]["size"]))
    from framefix.io import video_codec
    from framefix.outputs import check_distinct

    if command != "analyze":  # a refused encoder or setting fails the batch now, not every clip
        for target in {os.path.splitext(job.target)[1]: job.target for job in jobs}.values():
            video_codec(target, options.get("codec"), crf=options.get("crf"), preset=options.get("preset"))
    check_distinct(sources + [files[name]["path"] for name in files],
                   [p for job in jobs for p in (job.target, job.key_path)])
    return sorted(jobs, key=lambda job: -job.size)  # the longest clip must not start last


def _complete(job: Job) -> bool:
    """The output exists and its key says it was made from this input with these options."""
    try:
        with open(job.key_path) as f:
            return json.load(f) == job.key and os.path.isfile(job.target)
    except (OSError, ValueError):
        return False


# ----------------------------------------------------------------------------- one clip (worker)

_TEMPORARY = re.compile(r"\.(?P<stem>.+)\.[A-Za-z0-9_]{8}\.framefix-tmp(?P<ext>.*)")


def _remove_leftovers(target: str) -> None:
    """Remove the temporaries of an earlier attempt at ``target`` killed mid-write (they cannot
    remove themselves); the batch owns its targets' names while it runs."""
    folder = os.path.dirname(target) or "."
    for other in (target, target + KEY_SUFFIX):
        stem, extension = os.path.splitext(os.path.basename(other))
        for entry in os.listdir(folder):
            match = _TEMPORARY.fullmatch(entry)
            if match and match["stem"] == stem and match["ext"] == extension:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, entry))


class TaskProgress:
    """Called with a task's frames done; sends them to the client now and then (every half
    second, and with ``final``) as a Dask event on ``topic`` (nothing without a topic). The client
    follows them with :class:`FramesDone`."""

    EVERY = 0.5  # seconds between messages

    def __init__(self, topic: str | None, task):
        self.topic, self.task, self.sent = topic, task, 0.0

    def __call__(self, done: int, final: bool = False) -> None:
        if self.topic is None:
            return
        now = time.monotonic()
        if final or now - self.sent >= self.EVERY:
            self.sent = now
            from distributed import get_worker

            get_worker().log_event(self.topic, {"task": self.task, "done": done})


class FramesDone:
    """The client's side of :class:`TaskProgress`: the frames done across the tasks sending on
    ``topic``, each new total handed to ``on_change`` (from the client's event thread)."""

    def __init__(self, client, topic: str, on_change: Callable[[int], None] | None):
        self.client, self.topic, self.on_change = client, topic, on_change
        self.done: dict = {}
        self.lock = threading.Lock()
        if on_change is not None:
            client.subscribe_topic(topic, self._event)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.done.values())

    def _event(self, event) -> None:
        _, message = event
        with self.lock:
            self.done[message["task"]] = message["done"]
            total = sum(self.done.values())
        self.on_change(total)

    def finished(self, task, done: int) -> None:
        """The task's final count (its last message may not have come yet)."""
        with self.lock:
            self.done[task] = done

    def close(self) -> None:
        if self.on_change is not None:
            self.client.unsubscribe_topic(self.topic)


class _Stopped(Exception):
    """Raised inside a clip's work when the batch was told to stop (fail_fast)."""


class _Frames:
    """A progress callback that remembers how many of the clip's frames were done; match-color
    reads the clip twice (samples, then the grade) and counts both passes in one. With a
    ``stop`` event (fail_fast), it ends the work between frames once the event is set: a
    running Dask task cannot be cancelled from outside, so it stops itself, and its output
    context removes what it had written."""

    _CHECK_EVERY = 0.2  # seconds between looks at the event (each is a round trip to the scheduler)

    def __init__(self, passes: int, stop=None, report: TaskProgress | None = None):
        self.passes, self.counted, self.stop = passes, 0, stop
        self.checked = time.monotonic()
        self.report = report

    def __call__(self, done, total):
        self.counted = done
        if self.report is not None:
            self.report(self.done)
        self.check_stop()

    def check_stop(self, *_) -> None:
        """Raise ``_Stopped`` if the batch was told to stop (looked at now and then, not every
        call). Also a progress callback of its own: for passes that are not counted."""
        if self.stop is not None and time.monotonic() - self.checked >= self._CHECK_EVERY:
            self.checked = time.monotonic()
            if self.stop.is_set():
                raise _Stopped

    @property
    def done(self) -> int:
        return self.counted // self.passes


def _work(command: str, source: str, target: str, options: dict, overwrite: bool, frames: _Frames) -> dict:
    """Run the command's library function on one clip; the figures it computes for the report."""
    if command == "deflicker":
        from framefix.deflicker import deflicker_clip
        from framefix.report import deflicker_dict

        measure = bool(options.pop("measure", False))
        run = deflicker_clip(source, target, progress=frames, overwrite=overwrite, **options)
        before = after = None
        if measure:  # along the motion, as `framefix deflicker --report` does
            from framefix.analysis import analyze_clip
            from framefix.outputs import pending_path

            before, after = (analyze_clip(path, flow=True, fps=options.get("fps"), workers=options.get("workers"),
                                          progress=frames.check_stop)  # fail_fast stops the measures too
                             for path in (source, pending_path(target)))
        report = deflicker_dict(run, before, after)
        figures = {"flicker_index": report["flicker_index"],
                   "shots": [{k: shot[k] for k in ("start", "end", "flicker_index", "white_balance_index",
                                                   *(("regional_flicker_index", "warping_error") if measure else ()))}
                             for shot in report["shots"]]}
        if measure:
            figures["warping_error"] = {side: _frame_weighted([(s["end"] - s["start"], s["warping_error"][side])
                                                               for s in report["shots"]])
                                        for side in ("before", "after")}
        return figures
    if command == "match-color":
        from framefix.color import match_clip_colors

        reference = options.pop("reference")
        grades = match_clip_colors(source, target, reference, progress=frames, overwrite=overwrite, **options)
        return {"shots": [{"start": g.start, "end": g.end, "note": g.note or None} for g in grades]}
    if command == "analyze":
        from framefix.analysis import analyze_clip
        from framefix.outputs import atomic_output
        from framefix.report import write_json

        with atomic_output(target, overwrite=overwrite, inputs=[source]) as temporary:
            analysis = analyze_clip(source, progress=frames, flow=bool(options.pop("flow", False)), **options)
            write_json(analysis, temporary)
        return {"flicker_index": analysis.flicker.flicker_index}
    from framefix.pipeline import process_clip

    process_clip(source, target, progress=frames, overwrite=overwrite, **options)
    return {}


def _frame_weighted(values) -> float | None:
    """The mean of per-shot figures weighted by their frames, over the shots that have one."""
    known = [(frames, value) for frames, value in values if value is not None]
    total = sum(frames for frames, _ in known)
    return sum(frames * value for frames, value in known) / total if total else None


def _run_clip(command: str, job: Job, options: dict, overwrite: bool, strict: bool, stop_name: str | None = None,
              topic: str | None = None) -> dict:
    """One clip, as a worker runs it: the output and its key appear together, or neither.

    Bad input (:class:`framefix.io.ClipError`, ``ValueError``, ``OSError``, an FFmpeg error)
    is the entry's ``failed`` status and error text; anything else is raised, for Dask to
    retry. :func:`run` submits it.
    """
    import av

    from framefix.outputs import atomic_output, output_group

    options = dict(options)
    start = time.perf_counter()
    stop = None
    if stop_name is not None:
        import distributed

        stop = distributed.Event(stop_name)
    frames = _Frames(2 if command == "match-color" else 1, stop, TaskProgress(topic, job.target))
    entry = {"input": job.source, "output": job.target, "status": "ok", "seconds": None, "frames": None,
             "frames_per_second": None, "error": None, "warnings": []}
    _remove_leftovers(job.target)
    if stop is not None and stop.is_set():
        return {**entry, "status": "cancelled", "error": _CANCELLED}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("error" if strict else "always", IncompleteClipWarning)
            with output_group():
                figures = _work(command, job.source, job.target, options, overwrite, frames)
                with atomic_output(job.key_path, overwrite=True, inputs=[job.source]) as temporary:
                    with open(temporary, "w") as f:
                        json.dump(job.key, f, indent=1)
        entry.update(figures)
        entry["warnings"] = sorted({str(w.message) for w in caught if issubclass(w.category, IncompleteClipWarning)})
    except (*_KNOWN_ERRORS, av.FFmpegError) as exc:
        entry["status"] = "failed"
        entry["error"] = (str(exc).splitlines() or [type(exc).__name__])[0]
    except _Stopped:
        entry["status"], entry["error"] = "cancelled", _CANCELLED
    seconds = time.perf_counter() - start
    entry["seconds"] = round(seconds, 3)
    entry["frames"] = frames.done
    entry["frames_per_second"] = round(frames.done / seconds, 2) if seconds > 0 else None
    return entry


# ----------------------------------------------------------------------------- the batch (client)

def _check_cluster_settings(func: str, retries, local_workers, client, scheduler, scheduler_file) -> None:
    for name, value in (("retries", retries), ("local_workers", local_workers)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0
                                  or (name == "local_workers" and value == 0)):
            raise ValueError(f"{func}: {name} must be a {'positive' if name == 'local_workers' else 'non-negative'} "
                             f"integer, got {value!r}")
    if sum(x is not None for x in (client, scheduler, scheduler_file)) > 1:
        raise ValueError(f"{func}: give one of client, scheduler and scheduler_file")


@contextlib.contextmanager
def _client(client, scheduler, scheduler_file, local_workers, retries):
    """The caller's client, one to a scheduler, or a local cluster of single-threaded processes."""
    distributed = _require_dask()
    import dask

    if client is not None:
        yield client
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as connected:
            yield connected
        return
    if scheduler_file is not None:
        with distributed.Client(scheduler_file=os.fspath(scheduler_file)) as connected:
            yield connected
        return
    if dask.config.get("scheduler-address", None):  # DASK_SCHEDULER_ADDRESS, as Client() honours it
        with distributed.Client() as connected:
            yield connected
        return
    # one single-threaded worker process per core: the clips are the parallelism, and a worker
    # that dies takes one clip with it; a death counts as one of the clip's retries
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        # workers' warnings (tasks cancelled at Ctrl-C, a busy dashboard port: another is taken and
        # its link printed) are Dask's business: the command says what happened in its own words
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
            cluster = distributed.LocalCluster(n_workers=local_workers or os.cpu_count() or 1, threads_per_worker=1,
                                               processes=True, silence_logs=logging.CRITICAL)
        with cluster, distributed.Client(cluster) as local:
            yield local


@contextlib.contextmanager
def _following(client, wanted: bool, on_change: Callable[[int], None]):
    """``(topic, frames_done)``: the topic tasks send their frames done on (None when no one
    follows them) and the :class:`FramesDone` that adds them up."""
    topic = f"framefix-frames-{uuid.uuid4().hex[:8]}" if wanted else None
    frames_done = FramesDone(client, topic, on_change if wanted else None)
    try:
        yield topic, frames_done
    finally:
        frames_done.close()


def _dashboard_link(client) -> str | None:
    """The dashboard's address, or None when the scheduler runs none."""
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return None
    return client.dashboard_link


def run(command: str, inputs: Iterable, output_dir, *, options: Mapping | None = None, extension: str | None = None,
        client=None, scheduler: str | None = None, scheduler_file=None, local_workers: int | None = None,
        retries: int = 2, fail_fast: bool = False, overwrite: bool = False, strict: bool = False,
        progress: Callable[[int, int, int], None] | None = None, on_client: Callable | None = None) -> dict:
    """Run a clip command over many clips on Dask and return the batch report.

    Parameters
    ----------
    command : {'deflicker', 'match-color', 'analyze', 'convert'}
        What to do to each clip.
    inputs : iterable of path-like
        Video files, folders (their video files, not recursively) and glob patterns.
    output_dir : path-like
        An existing folder, on storage the workers share: clip ``NAME.EXT`` becomes ``NAME`` +
        ``extension`` (``NAME.json`` for ``analyze``), with its key file ``... + .framefix.json``.
    options : mapping, optional
        Keyword options of the command's library function: deflicker: mode, window, strength,
        keep_flashes, and ``measure`` (also analyse input and output along the motion, as
        ``framefix deflicker --report`` does: regional flicker and E_warp, slower); match-color: reference (required), method, per_frame, smooth, mask,
        reference_mask; analyze: flow; all: workers (threads per clip, default 1: the clips are
        the parallelism), and, except analyze's, codec, crf, preset, fps.
    extension : str, optional
        The outputs' container (``".mkv"``...; default each input's own).
    client : dask.distributed.Client, optional
        A client the caller already has (then the other cluster settings are unused).
    scheduler : str, optional
        A running scheduler's address (``tcp://host:8786``).
    scheduler_file : path-like, optional
        A scheduler file (``dask scheduler --scheduler-file``).
    local_workers : int, optional
        Worker processes of the local cluster started when no client, scheduler or scheduler
        file is given (and ``DASK_SCHEDULER_ADDRESS`` is not set); default one per core.
    retries : int
        Extra attempts of a clip whose task raised unexpectedly; on the local cluster also the
        worker deaths a clip survives (a cluster of its own keeps its scheduler's setting).
    fail_fast : bool
        At the first failure, stop the clips not yet done: queued ones do not start, running
        ones end at their next frame and leave nothing behind (reported ``cancelled``).
    overwrite : bool
        Redo every clip, replacing outputs (otherwise complete outputs are skipped and other
        existing files at the targets are a clip's failure).
    strict : bool
        A truncated or damaged input fails its clip (otherwise a warning in its entry).
    progress : callable, optional
        Called as ``progress(clips_done, clips_total, frames_done)`` as clips finish and, about
        twice a second, as the running clips' frames are done.
    on_client : callable, optional
        Called with the client before any clip is submitted (the command line prints the dashboard link).

    Returns
    -------
    dict
        ``format`` ``"framefix.batch"``, ``version``, ``framefix``, ``command``, ``options``,
        ``seconds``, counts ``ok``, ``skipped``, ``failed``, ``cancelled``, and ``clips``: per
        clip ``input``, ``output``, ``status`` (ok, skipped, failed, cancelled), ``seconds``,
        ``frames``, ``frames_per_second``, ``error``, ``warnings`` and the command's figures
        (deflicker: ``flicker_index`` before and after, per shot too, and with ``measure``
        ``warping_error`` (frame-weighted over the shots) and per shot ``regional_flicker_index``
        and ``warping_error``; analyze: ``flicker_index``;
        match-color: the graded ``shots``), largest clip first.

    Examples
    --------
    >>> from dask.distributed import Client  # doctest: +SKIP
    >>> with Client(n_workers=2, threads_per_worker=1) as client:  # doctest: +SKIP
    ...     report = run("deflicker", ["clips/"], "fixed", options={"codec": "ffv1"},
    ...                  extension=".mkv", client=client)
    >>> report["failed"], report["clips"][0]["flicker_index"]  # doctest: +SKIP
    (0, {'before': 4.1, 'after': 0.6})
    """
    distributed = _require_dask()
    _check_cluster_settings("batch", retries, local_workers, client, scheduler, scheduler_file)
    options = dict(options or {})
    if "workers" in _OPTIONS.get(command, ()) and options.get("workers") is None:
        options["workers"] = 1  # one thread per clip: the clips are the parallelism
    jobs = plan(command, inputs, output_dir, options=options, extension=extension)
    options = _check_options(command, options)
    start = time.perf_counter()
    entries: dict[str, dict] = {}
    todo = []
    for job in jobs:
        if not overwrite and _complete(job):
            entries[job.target] = {"input": job.source, "output": job.target, "status": "skipped", "seconds": 0.0,
                                   "frames": None, "frames_per_second": None, "error": None, "warnings": []}
        else:
            todo.append(job)
    done = len(entries)
    lock = threading.Lock()  # progress is called from the client's event thread too
    shown = [0]  # frames: never fewer than last time, whichever thread comes last

    def show(frames: int) -> None:
        if progress is not None:
            with lock:
                shown[0] = max(shown[0], frames)
                progress(done, len(jobs), shown[0])

    show(0)
    if todo:
        with _client(client, scheduler, scheduler_file, local_workers, retries) as active, \
                _following(active, progress is not None, show) as (topic, frames_done):
            if on_client is not None:
                on_client(active)
            batch = uuid.uuid4().hex[:8]  # fresh keys: a long-lived client must not hand back an old result
            stop_name = f"framefix-{command}-{batch}-stop" if fail_fast else None
            stop = distributed.Event(stop_name, client=active) if fail_fast else None
            futures = {}
            for rank, job in enumerate(todo):
                stem = os.path.basename(job.target)
                future = active.submit(_run_clip, command, job, options, overwrite, strict, stop_name, topic,
                                       key=f"framefix-{command}-{stem}-{batch}-{rank}", retries=retries,
                                       priority=len(todo) - rank, pure=False)
                futures[future] = job
            pending = distributed.as_completed(list(futures))
            for future in pending:
                job = futures[future]
                try:
                    entry = future.result()
                except distributed.CancelledError:  # by someone else, on the caller's client
                    entry = {"status": "cancelled", "error": "cancelled"}
                except Exception as exc:  # retries exhausted, or the worker died too often
                    entry = {"status": "failed", "error": (str(exc).splitlines() or [type(exc).__name__])[0]}
                entries[job.target] = {"input": job.source, "output": job.target, "seconds": None, "frames": None,
                                       "frames_per_second": None, "error": None, "warnings": [], **entry}
                done += 1
                frames_done.finished(job.target, entries[job.target]["frames"] or 0)
                show(frames_done.total)
                if stop is not None and entries[job.target]["status"] == "failed":
                    # every clip still queued or running ends itself at its next frame and
                    # cleans up; waiting for them keeps the report true to what is on disk
                    stop.set()
    clips = [entries[job.target] for job in jobs]
    counts = {status: sum(c["status"] == status for c in clips) for status in ("ok", "skipped", "failed", "cancelled")}
    return {"format": REPORT_FORMAT, "version": 1, "framefix": __version__, "command": command,
            "options": {name: _jsonable(value) for name, value in options.items()},
            "seconds": round(time.perf_counter() - start, 3), **counts, "clips": clips}


def _summary(report: dict) -> str:
    """One line for the terminal: counts, time and the frames per second of the clips done."""
    done = [c for c in report["clips"] if c["status"] == "ok"]
    frames = sum(c["frames"] or 0 for c in done)
    rate = f", {frames / report['seconds']:.1f} frames/s overall" if done and report["seconds"] > 0 else ""
    return (f"batch {report['command']}: {report['ok']} done, {report['skipped']} skipped (complete), "
            f"{report['failed']} failed" + (f", {report['cancelled']} cancelled" if report["cancelled"] else "")
            + f" in {report['seconds']:.1f} s{rate}")


def _write_report(report: dict, path, *, overwrite: bool = False) -> None:
    """Write the batch report as JSON; an earlier batch report there is replaced, any other
    existing file only with ``overwrite``."""
    from framefix.outputs import atomic_output

    path = os.fspath(path)
    replace = overwrite
    if not overwrite and os.path.isfile(path):
        with contextlib.suppress(OSError, ValueError), open(path) as f:
            replace = json.load(f).get("format") == REPORT_FORMAT
    with atomic_output(path, overwrite=replace) as temporary, open(temporary, "w") as f:
        json.dump(report, f, indent=1, allow_nan=False)


def _print_failures(report: dict, stream=None) -> None:
    """One line per clip that failed, as the command line's errors read."""
    for clip in report["clips"]:
        if clip["status"] in ("failed", "cancelled"):
            error = clip["error"] if clip["input"] in clip["error"] else f"{clip['input']}: {clip['error']}"
            print(f"framefix: {clip['status']}: {error}", file=stream or sys.stderr)
