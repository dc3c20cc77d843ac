"""The ``framefix`` command line.

Exit codes: 0 success, 1 some clips of a batch failed, 2 bad input or usage, 130 interrupted by Ctrl-C, 143 by SIGTERM. Errors are one
line on stderr (``-v`` adds the traceback); a progress bar shows on a terminal unless ``-q``. A
truncated or damaged input (fewer frames decode than its container announces) is a warning line
and its decodable frames are used; ``--strict`` makes it an error. Every file a command writes
appears together at the end, or none does.

The heavy modules (numpy, PyAV, the kernels) are imported inside :func:`main`, where Ctrl-C is
already handled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import signal
import sys
import threading
import traceback
import warnings
from fractions import Fraction

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so temporary outputs are removed."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a positive number or ratio like 24000/1001, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


_STRICT_HELP = ("refuse a truncated or damaged input (exit 2, nothing written); by default a warning says how many "
                "of the frames the container announces could be decoded, and those are used")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True,
                        help="output video file (.mp4, .mkv, .mov, .webm, .gif...), or a folder for numbered images")
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    _add_encode_options(parser)
    parser.add_argument("--image-format", choices=["png", "tif"], default="png", help="for folder outputs")


def _add_encode_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--codec", help="video encoder; default by container: libx264, VP9 (libvpx-vp9) for .webm, "
                                        "a GIF with a palette made for the clip for .gif; also ffv1 (lossless), "
                                        "libx265, prores_ks")
    parser.add_argument("--crf", type=int, help="constant quality, lower is better (libx264/libx265 default 23, "
                                                "VP9 31); refused by encoders without it, such as ffv1 (lossless)")
    parser.add_argument("--preset", help="encoder speed preset (libx264/libx265: ultrafast ... veryslow); refused "
                                         "by encoders without it")
    parser.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    parser.add_argument("--fps", type=_fraction, help="frame rate of an image-sequence input (default 24)")


_WORKERS_HELP = "threads for the kernels (-1: all cores)"


# The options of the clip commands, shared by the one-clip command and its `batch` form.
def _add_deflicker_options(parser: argparse.ArgumentParser, workers_help: str = _WORKERS_HELP) -> None:
    from framefix.deflicker import MODES

    parser.add_argument("--mode", default="auto", choices=list(MODES),
                        help="global: per-frame tone curves; local: also a smooth gain field for regional "
                             "flicker; auto (default): the field only where regional flicker exceeds noise")
    parser.add_argument("--window", type=int, default=None, help="frames each frame is compared with, centred "
                                                                 "(default 15)")
    parser.add_argument("--strength", type=float, default=1.0, help="0..1, how much correction (default 1)")
    parser.add_argument("--keep-flashes", action="store_true",
                        help="leave one- and two-frame flashes alone (default: even them out)")
    parser.add_argument("--workers", type=int, default=None, help=workers_help)


def _add_match_options(parser: argparse.ArgumentParser, workers_help: str = _WORKERS_HELP) -> None:
    from framefix.color import METHODS

    parser.add_argument("--reference", required=True,
                        help="an image, a clip (frames sampled across it) or CLIP@N (frame N, from 0)")
    parser.add_argument("--method", default="mkl", choices=METHODS,
                        help="mkl: mean and covariance (default); reinhard: CIELAB mean and spread; "
                             "histogram: per-channel curves; hm-mkl-hm: curves, mkl, curves")
    parser.add_argument("--per-frame", action="store_true",
                        help="fit every frame (for lighting that changes on purpose) instead of one grade per shot")
    parser.add_argument("--smooth", type=int, default=None,
                        help="with --per-frame: average the fits over this many frames (default 9)")
    parser.add_argument("--mask", metavar="IMAGE",
                        help="only the input's pixels that are bright in this image count for the statistics")
    parser.add_argument("--reference-mask", metavar="IMAGE",
                        help="only the reference's pixels that are bright in this image count")
    parser.add_argument("--workers", type=int, default=None, help=workers_help)


def _add_analyze_options(parser: argparse.ArgumentParser, workers_help: str = _WORKERS_HELP) -> None:
    parser.add_argument("--flow", action=argparse.BooleanOptionalAction, default=None,
                        help="also compare every frame pair along the motion: warping error, temporal "
                             "inconsistency, regional flicker (slower: two flows a frame)")
    parser.add_argument("--workers", type=int, default=None, help=workers_help)


def _add_cluster_options(parser: argparse.ArgumentParser, task: str, local_help: str) -> None:
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786)")
    cluster.add_argument("--scheduler-file", metavar="FILE", help="a Dask scheduler file")
    cluster.add_argument("--local-workers", type=int, metavar="N", help=local_help)
    parser.add_argument("--retries", type=int, default=2,
                        help=f"extra attempts of a {task} whose task raised or whose worker died (default 2)")


def _add_batch_parser(commands, common: argparse.ArgumentParser) -> None:
    from framefix.batch import COMMANDS

    batch = commands.add_parser(
        "batch", parents=[common], help="run a clip command over many clips on Dask (this machine or a cluster)",
        description="One Dask task per clip, largest first; outputs in OUTDIR named after the inputs, each with "
                    "a key file (NAME.framefix.json) so a re-run skips complete outputs. Exit 0 only if every clip "
                    "succeeded, 1 if some failed. Needs Dask: pip install \"framefix[dask]\".")
    jobs = batch.add_subparsers(dest="batch_command", metavar="COMMAND")
    jobs.required = True
    adders = {"deflicker": _add_deflicker_options, "match-color": _add_match_options,
              "analyze": _add_analyze_options, "convert": None}
    for name in COMMANDS:
        job = jobs.add_parser(name, parents=[common], help=f"framefix {name} on every clip")
        job.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders of them, or glob patterns")
        job.add_argument("-o", "--output-dir", required=True, metavar="OUTDIR", help="existing folder for the outputs")
        if adders[name] is not None:
            adders[name](job, workers_help="threads for the kernels per clip (default 1: clips run in parallel)")
        if name == "deflicker":
            job.add_argument("--measure", action="store_true",
                             help="also measure regional flicker and E_warp before and after along the motion, "
                                  "for the report (two flow analyses per clip: slower)")
        if name == "analyze":
            job.add_argument("--fps", type=_fraction, help="frame rate of an image-sequence input (default 24)")
            job.add_argument("--strict", action="store_true", help=_STRICT_HELP)
        else:
            _add_encode_options(job)
            job.add_argument("--ext", help="the outputs' container, such as .mkv (default: each input's own)")
        _add_cluster_options(job, "clip", "worker processes on this machine (default: one per core; used when no "
                                          "scheduler is given and DASK_SCHEDULER_ADDRESS is not set)")
        job.add_argument("--fail-fast", action="store_true",
                         help="at the first failure, stop the clips not yet done (running ones end at their next "
                              "frame, leaving nothing behind)")
        job.add_argument("--report", metavar="JSON", help="write the batch report (per clip: status, times, "
                                                          "frames/s, error, flicker before and after)")
        job.add_argument("--overwrite", action="store_true",
                         help="redo every clip, replacing outputs (default: skip complete ones)")
        job.set_defaults(run=_run_batch)


class _Version(argparse.Action):
    """``--version``: the version and which kernels run (asked only when the option is given)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from framefix import __version__, backend_info

        kernels = backend_info()
        if kernels["active"] == "native":
            running = f"native kernels, {kernels['native_isa']} build"
        else:
            running = f"Numba kernels: {kernels['reason']}"
        sys.stdout.write(f"framefix {__version__} ({running})\n")
        parser.exit()


def _build_parser() -> argparse.ArgumentParser:
    from framefix.color import METHODS
    from framefix.flow import PRESETS

    parser = argparse.ArgumentParser(
        prog="framefix",
        description="Repair flicker, color drift and temporal inconsistency in video clips.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and which kernels run, and exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    common.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    info = commands.add_parser("info", parents=[common], help="describe a clip")
    info.add_argument("clip", help="video file, image folder or pattern like frames/%%05d.png")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--fps", type=_fraction, help="frame rate of an image sequence (default 24)")
    info.set_defaults(run=_run_info)

    convert = commands.add_parser("convert", parents=[common], help="decode and re-encode a clip (no repair)")
    convert.add_argument("input", help="video file, image folder or pattern like frames/%%05d.png")
    _add_output_options(convert)
    convert.set_defaults(run=_run_convert)

    match = commands.add_parser("match-color", parents=[common],
                                help="grade a clip to match a reference image, clip or frame, one grade per shot")
    match.add_argument("input", help="video file, image folder or pattern like frames/%%05d.png")
    _add_match_options(match)
    match.add_argument("--shots", metavar="JSON",
                       help="the shots, from framefix analyze --json (default: found while reading the clip: "
                            "changes of picture and persistent steps of color or exposure)")
    match.add_argument("--save-transform", metavar="FILE",
                       help="also write the grade as .json or .npz (then one grade for the whole clip)")
    match.add_argument("--cube", metavar="FILE",
                       help="also write the grade as a 33^3 .cube 3D LUT (then one grade for the whole clip; "
                            "framefix conform --cube-dir writes one per shot)")
    _add_output_options(match)
    match.set_defaults(run=_run_match_color)

    conform = commands.add_parser("conform", parents=[common],
                                  help="match every shot of an edit to one hero look (a shot, an image or a frame)")
    conform.add_argument("input", help="the edit: video file, image folder or pattern like frames/%%05d.png")
    hero = conform.add_mutually_exclusive_group()
    hero.add_argument("--reference", help="the hero look from outside the edit: an image, a clip or CLIP@N "
                                          "(frame N, from 0)")
    hero.add_argument("--hero-shot", type=int, metavar="K",
                      help="the hero look is shot K (from 1, as analyze numbers them); default: the shot "
                           "whose colors are most central, named in the output")
    conform.add_argument("--method", default="mkl", choices=METHODS,
                         help="mkl: mean and covariance (default; fastest); reinhard: CIELAB mean and spread; "
                              "histogram: per-channel curves; hm-mkl-hm: curves, mkl, curves (also gamma; slow)")
    conform.add_argument("--strength", type=float, default=1.0, help="0..1, how far each grade goes (default 1)")
    conform.add_argument("--mask", metavar="IMAGE",
                         help="only the edit's pixels that are bright in this image count for the statistics")
    conform.add_argument("--reference-mask", metavar="IMAGE",
                         help="only the reference's pixels that are bright in this image count")
    conform.add_argument("--shots", metavar="JSON",
                         help="the shots, from framefix analyze --json (default: found while reading the edit)")
    conform.add_argument("--report", metavar="JSON", help="per shot: color distance to the hero look before and "
                                                          "after, how it was graded")
    conform.add_argument("--cube-dir", metavar="DIR", help="also write one .cube per shot and shots.json (frames "
                                                           "and times), to apply the same grades in an editor")
    conform.add_argument("--workers", type=int, default=None, help="threads for the kernels (-1: all cores)")
    _add_output_options(conform)
    conform.set_defaults(run=_run_conform)

    analyze = commands.add_parser("analyze", parents=[common],
                                  help="find shots, flashes, fades and flicker, with a report")
    analyze.add_argument("clip", help="video file, image folder or pattern like frames/%%05d.png")
    analyze.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    analyze.add_argument("--plot", metavar="FILE", help="write a PNG plot (needs matplotlib)")
    _add_analyze_options(analyze)
    analyze.add_argument("--heatmap", metavar="VIDEO",
                         help="write the temporal inconsistency maps as a video (implies --flow)")
    analyze.add_argument("--overwrite", action="store_true", help="replace report files that exist")
    analyze.add_argument("--fps", type=_fraction, help="frame rate of an image-sequence input (default 24)")
    analyze.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    analyze.set_defaults(run=_run_analyze)

    flow = commands.add_parser("flow", parents=[common], help="estimate the optical flow from A to B")
    flow.add_argument("a", help="an image, or CLIP@N (frame N of a clip, from 0)")
    flow.add_argument("b", help="an image, or CLIP@N")
    flow.add_argument("-o", "--output", required=True, help="the flow as a Middlebury .flo file")
    flow.add_argument("--viz", metavar="PNG", help="also write the flow's color coding")
    flow.add_argument("--preset", default="medium", choices=list(PRESETS))
    flow.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    flow.set_defaults(run=_run_flow)

    deflicker = commands.add_parser("deflicker", parents=[common],
                                    help="remove flicker (exposure, contrast, white balance, regional shimmer)")
    deflicker.add_argument("input", help="video file, image folder or pattern like frames/%%05d.png")
    _add_deflicker_options(deflicker)
    deflicker.add_argument("--report", metavar="JSON",
                           help="write per-shot measures before and after (adds flow analyses of input and output)")
    deflicker.add_argument("--plot", metavar="PNG", help="plot before and after (needs matplotlib; adds flow analyses)")
    _add_output_options(deflicker)
    on_dask = deflicker.add_argument_group(
        "one clip across a Dask cluster", "split the clip into chunks that workers deflicker at the same time (the "
        "same output, frame for frame); the output's folder must be on storage the workers share. Needs Dask: "
        "pip install \"framefix[dask]\"")
    _add_cluster_options(on_dask, "chunk", "worker processes on this machine")
    on_dask.add_argument("--chunks", type=int, metavar="N",
                         help="chunks to split the clip into (default: one per worker thread, each at least four "
                              "times the frames its windows need on either side)")
    deflicker.set_defaults(run=_run_deflicker)

    _add_batch_parser(commands, common)

    demo = commands.add_parser("demo", parents=[common], help="make a flickering synthetic clip and show what framefix does")
    demo.add_argument("-o", "--output", default="framefix-demo", help="folder for the files (default ./framefix-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace files from an earlier demo")
    demo.set_defaults(run=_run_demo)
    return parser


def _run_info(args) -> int:
    from framefix.io import open_clip

    with open_clip(args.clip, fps=args.fps) as clip:
        info = clip.info
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return EXIT_OK
    frames = info.frame_count if info.frame_count is not None else "unknown"
    duration = f"{info.duration:.3f} s" if info.duration is not None else "unknown"
    color = ", ".join(f"{k} {v}" for k, v in info.color.items() if v) or "untagged"
    lines = [
        f"{info.path}: {info.kind}",
        f"  size        {info.width}x{info.height}, {info.pix_fmt} ({info.bit_depth}-bit, frames as {info.dtype})",
        f"  codec       {info.codec}",
        f"  frame rate  {info.fps.numerator}/{info.fps.denominator} ({float(info.fps):.3f} fps), time base {info.time_base}",
        f"  frames      {frames}, duration {duration}",
        f"  color       {color}",
    ]
    for audio in info.audio:
        seconds = f", {audio.duration:.3f} s" if audio.duration is not None else ""
        lines.append(f"  audio #{audio.index}    {audio.codec}, {audio.sample_rate} Hz, {audio.channels} ch{seconds}")
    print("\n".join(lines))
    return EXIT_OK


def _check_video_output(args) -> None:
    """The output's container, encoder and its settings, checked before any work."""
    from framefix.pipeline import check_target

    check_target(args.output, codec=args.codec, crf=args.crf, preset=args.preset)


def _progress(args, label: str, unit: str = "frames"):
    from framefix._progress import Progress

    return Progress(label, enabled=False if args.quiet else None, unit=unit)


def _write_with_progress(args, label: str, write) -> int:
    """Run write(progress=...) with a progress bar (on a terminal, unless -q) and report the output."""
    _check_video_output(args)
    progress = _progress(args, label)
    try:
        write(progress=progress, codec=args.codec, crf=args.crf, preset=args.preset,
              image_format=args.image_format, overwrite=args.overwrite, fps=args.fps)
    finally:
        progress.close()
    if not args.quiet:
        args.wrote.append(args.output)
    return EXIT_OK


def _run_convert(args) -> int:
    from framefix.pipeline import process_clip

    return _write_with_progress(args, "convert", lambda **options: process_clip(args.input, args.output, **options))


def _run_match_color(args) -> int:
    from framefix.color import match_clip_colors
    from framefix.io import split_reference
    from framefix.outputs import check_distinct

    check_distinct([args.input, split_reference(args.reference)[0], args.mask, args.reference_mask, args.shots],
                   [args.output, args.save_transform, args.cube])
    if args.smooth is not None and not args.per_frame:
        raise ValueError("--smooth averages per-frame fits; add --per-frame")
    grades = []
    status = _write_with_progress(args, "match-color", lambda **options: grades.extend(match_clip_colors(
        args.input, args.output, args.reference, method=args.method, per_frame=args.per_frame,
        smooth=9 if args.smooth is None else args.smooth, shots=args.shots, workers=args.workers, mask=args.mask,
        reference_mask=args.reference_mask, save_transform=args.save_transform, cube=args.cube, **options)))
    if not args.quiet and grades:
        print(f"{len(grades)} shot(s), one grade each: " + ", ".join(
            f"{g.start}-{g.end - 1}" + (f" ({g.note})" if g.note else "") for g in grades))
    return status


def _run_conform(args) -> int:
    from framefix.conform import conform_clip, conform_text
    from framefix.io import split_reference
    from framefix.outputs import check_distinct

    check_distinct([args.input, args.reference and split_reference(args.reference)[0], args.mask,
                    args.reference_mask, args.shots], [args.output, args.report, args.cube_dir])
    results = []
    status = _write_with_progress(args, "conform", lambda **options: results.append(conform_clip(
        args.input, args.output, reference=args.reference, hero_shot=args.hero_shot, shots=args.shots,
        method=args.method, strength=args.strength, mask=args.mask, reference_mask=args.reference_mask,
        report=args.report, cube_dir=args.cube_dir, workers=args.workers, **options)))
    print(conform_text(results[0]))
    if not args.quiet:
        args.wrote += [p for p in (args.report, args.cube_dir) if p]
    return status


def _run_analyze(args) -> int:
    from framefix.analysis import analyze_clip
    from framefix.io import ClipError
    from framefix.outputs import atomic_output, check_distinct
    from framefix.report import plot_format, plot_report, report_text, write_json

    if args.heatmap and args.flow is False:
        raise ClipError("--heatmap compares frames along the motion: drop --no-flow")
    check_distinct([args.clip], [args.json, args.plot, args.heatmap])
    if args.plot:
        plot_format(args.plot)  # a format matplotlib cannot write fails now, not after the analysis
    with contextlib.ExitStack() as outputs:
        # the report files are checked and reserved now, renamed into place once all are written
        json_file, plot_file = (None if path is None else outputs.enter_context(
            atomic_output(path, overwrite=args.overwrite, inputs=[args.clip])) for path in (args.json, args.plot))
        progress = _progress(args, "analyze")
        try:
            analysis = analyze_clip(args.clip, fps=args.fps, progress=progress, flow=bool(args.flow),
                                    heatmap=args.heatmap, overwrite=args.overwrite, workers=args.workers)
        finally:
            progress.close()
        print(report_text(analysis))
        if json_file:
            write_json(analysis, json_file)
        if plot_file:
            plot_report(analysis, plot_file)
    return EXIT_OK


def _run_flow(args) -> int:
    from framefix.flow import estimate_flow, flow_to_color, write_flo
    from framefix.io import encode_image, read_frame, split_reference
    from framefix.outputs import atomic_output, check_distinct

    inputs = [split_reference(args.a)[0], split_reference(args.b)[0]]
    check_distinct(inputs, [args.output, args.viz])
    with contextlib.ExitStack() as outputs:
        flo_file, viz_file = (None if path is None else outputs.enter_context(
            atomic_output(path, overwrite=args.overwrite, inputs=inputs)) for path in (args.output, args.viz))
        flow = estimate_flow(read_frame(args.a), read_frame(args.b), preset=args.preset)
        write_flo(flo_file, flow)
        if viz_file:
            pathlib.Path(viz_file).write_bytes(encode_image(flow_to_color(flow)))
    if not args.quiet:
        magnitude = (flow**2).sum(axis=-1) ** 0.5
        args.wrote.append(f"{args.output}: {flow.shape[1]}x{flow.shape[0]}, mean motion {magnitude.mean():.2f} px, "
                          f"max {magnitude.max():.2f} px")
    return EXIT_OK


def _run_deflicker(args) -> int:
    from framefix.analysis import analyze_clip
    from framefix.deflicker import deflicker_clip
    from framefix.outputs import atomic_output, check_distinct, pending_path
    from framefix.report import deflicker_dict, deflicker_text, plot_deflicker, plot_format

    check_distinct([args.input], [args.output, args.report, args.plot])
    on_dask = any(value is not None for value in (args.scheduler, args.scheduler_file, args.local_workers))
    if args.chunks is not None and not on_dask:
        raise ValueError("--chunks splits the clip across Dask workers; add --local-workers, --scheduler or "
                         "--scheduler-file")
    if on_dask:
        from framefix import batch

        batch._require_dask()  # before any work: without Dask, one line on how to install it
    if args.plot:
        plot_format(args.plot)
    _check_video_output(args)
    with contextlib.ExitStack() as outputs:
        report_file, plot_file = (None if path is None else outputs.enter_context(
            atomic_output(path, overwrite=args.overwrite, inputs=[args.input])) for path in (args.report, args.plot))
        options = dict(mode=args.mode, window=args.window, strength=args.strength, keep_flashes=args.keep_flashes,
                       workers=args.workers, fps=args.fps, codec=args.codec, crf=args.crf, preset=args.preset,
                       image_format=args.image_format, overwrite=args.overwrite)
        if on_dask:
            run = _deflicker_on_dask(args, options)
        else:
            progress = _progress(args, "deflicker")
            try:
                run = deflicker_clip(args.input, args.output, progress=progress, **options)
            finally:
                progress.close()
        before = after = None
        if report_file or plot_file:
            # the output is still its temporary: it appears with the report, or not at all
            for label, path in (("measure input", args.input), ("measure output", pending_path(args.output))):
                bar = _progress(args, label)
                try:
                    analysis = analyze_clip(path, fps=args.fps, flow=True, workers=args.workers, progress=bar)
                finally:
                    bar.close()
                before, after = (analysis, None) if before is None else (before, analysis)
        report = deflicker_dict(run, before, after)
        print(deflicker_text(report))
        if report_file:
            with open(report_file, "w") as f:
                json.dump(report, f, indent=1, allow_nan=False)
        if plot_file:
            plot_deflicker(report, plot_file)
    if not args.quiet:
        args.wrote.append(args.output)
    return EXIT_OK


class _StageProgress:
    """One progress bar for a chunked run's stages, in order: the statistics pass, the chunks
    (frames deflickered on the workers), then the final encode, which follows the chunks and
    shows once they are all done. Updates come from the client's event thread and the encoder's;
    a late one for an earlier stage is ignored."""

    _ORDER = ("statistics", "deflicker", "encode")

    def __init__(self, args):
        self.args, self.bar, self.stage, self.closed = args, None, None, False
        self.lock = threading.Lock()

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        with self.lock:
            if self.closed or (self.stage is not None and self._ORDER.index(stage) < self._ORDER.index(self.stage)):
                return
            if stage == "encode" and self.stage == "deflicker":
                return  # the chunks' bar stays until they are done
            if stage != self.stage or self.bar is None:
                self._close_bar()
                self.stage, self.bar = stage, _progress(self.args, stage)
            self.bar(done, total)
            if stage == "deflicker" and total is not None and done >= total:
                self._close_bar()
                self.stage = "encode"

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._close_bar()


def _deflicker_on_dask(args, options: dict):
    """``framefix deflicker`` with a cluster option: the clip in chunks on Dask
    (:func:`framefix.chunked.deflicker_chunked`); a line on the chunks and the workers' memory."""
    from framefix import batch
    from framefix.chunked import deflicker_chunked

    def show_dashboard(client):
        link = batch._dashboard_link(client)
        if link and not args.quiet:
            print(f"framefix: Dask dashboard: {link}", file=sys.stderr)

    progress = _StageProgress(args)
    try:
        done = deflicker_chunked(args.input, args.output, chunks=args.chunks, scheduler=args.scheduler,
                                 scheduler_file=args.scheduler_file, local_workers=args.local_workers,
                                 retries=args.retries, progress=progress, on_client=show_dashboard,
                                 **{**options, "workers": 1 if args.workers is None else args.workers})
    finally:
        progress.close()
    if not args.quiet:
        peaks = {}
        for task in done.tasks:
            peaks[task["worker"]] = max(peaks.get(task["worker"], 0), task["peak_mib"])
        print(f"framefix: {len(done.chunks)} chunks on {len(peaks)} workers in {done.seconds['total']:.1f} s; "
              f"peak memory per worker {min(peaks.values()):.0f}-{max(peaks.values()):.0f} MiB", file=sys.stderr)
    return done.run


# the batch command line's options that are the command's library options
_BATCH_OPTIONS = ("mode", "window", "strength", "keep_flashes", "measure", "reference", "method", "per_frame",
                  "smooth", "mask", "reference_mask", "flow", "workers", "codec", "crf", "preset", "fps")


def _run_batch(args) -> int:
    from framefix import batch

    batch._require_dask()  # before any work: without Dask, one line on how to install it
    options = {name: getattr(args, name) for name in _BATCH_OPTIONS if getattr(args, name, None) is not None}
    if args.batch_command == "match-color":
        if args.smooth is not None and not args.per_frame:
            raise ValueError("--smooth averages per-frame fits; add --per-frame")
        options["smooth"] = 9 if args.smooth is None else args.smooth  # the one-clip command's default
    if args.report:
        from framefix.outputs import check_distinct

        check_distinct(args.inputs, [args.report])
    bar = _progress(args, "batch", unit="clips")

    def progress(clips_done: int, clips_total: int, frames_done: int) -> None:
        bar(clips_done, clips_total, note=f"{frames_done} frames")

    def show_dashboard(client):
        link = batch._dashboard_link(client)
        if link and not args.quiet:
            print(f"framefix: Dask dashboard: {link}", file=sys.stderr)

    try:
        report = batch.run(args.batch_command, args.inputs, args.output_dir, options=options,
                           extension=getattr(args, "ext", None), scheduler=args.scheduler,
                           scheduler_file=args.scheduler_file, local_workers=args.local_workers, retries=args.retries,
                           fail_fast=args.fail_fast, overwrite=args.overwrite, strict=args.strict,
                           progress=progress, on_client=show_dashboard)
    finally:
        bar.close()
    if args.report:
        batch._write_report(report, args.report, overwrite=args.overwrite)
    batch._print_failures(report)
    if not args.quiet:
        print(batch._summary(report), file=sys.stderr)
    return EXIT_OK if report["failed"] == report["cancelled"] == 0 else EXIT_SOME_FAILED


def _run_demo(args) -> int:
    from framefix.demo import run_demo

    run_demo(args.output, overwrite=args.overwrite, quiet=args.quiet)
    return EXIT_OK


def _configure_ffmpeg_logs(verbose: bool) -> None:
    """FFmpeg's log lines would make a second line of output; -v shows its warnings.

    Never through PyAV's Python log callback (``av.logging.set_level`` with a level): encoder
    threads then take the GIL to log, and x264 logs from a worker while ``x264_encoder_close``
    holds the GIL and joins it, so an interrupted encode never finished. Quiet is PyAV's
    default, a callback in C that drops everything; verbose is FFmpeg's own callback, which
    writes to stderr without Python.
    """
    import av.logging

    if verbose:
        av.logging.restore_default_callback()
        av.logging.set_libav_level(av.logging.WARNING)
    else:
        av.logging.set_level(None)


def _warning_printer():
    """A ``warnings.showwarning`` writing each framefix warning once, as one line (a clip read twice,
    by a scan and then the processing, warns twice)."""
    from framefix.io import IncompleteClipWarning

    shown, default = set(), warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, IncompleteClipWarning):
            default(message, category, filename, lineno, file, line)
        elif str(message) not in shown:
            shown.add(str(message))
            print(f"framefix: warning: {message} (--strict refuses such input)", file=sys.stderr)

    return show


def main(argv: list[str] | None = None) -> int:
    """Run the ``framefix`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 done, 2 bad input or usage, 130 interrupted (143 by SIGTERM). A ``TypeError`` (a bug,
        not bad input) is raised, not reported.
    """
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if hasattr(signal, "SIGTERM") else None
    try:
        return _main(argv)
    except KeyboardInterrupt as stop:  # also while the heavy modules are still being imported
        print("\nframefix: interrupted; no output was written", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, _Terminated) else EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _keep_memory_flat() -> None:
    """Frames (megabytes each) are allocated on the decoding thread and freed on the main one.
    glibc then raises its mmap threshold past their size and carves them from per-thread heaps
    that do not shrink: a 300-frame 1080p deflicker peaked at 1505 MiB on a busy machine. A fixed
    threshold keeps each frame a mapping of its own, returned when freed: 324 MiB, the same run."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (glibc; musl has no mallopt)
    except (OSError, AttributeError):
        pass


def _main(argv: list[str] | None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2 with argparse's one-line message
    _keep_memory_flat()
    args.wrote = []
    import av

    from framefix.io import ClipError, IncompleteClipWarning
    from framefix.outputs import output_group

    _configure_ffmpeg_logs(args.verbose)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error" if getattr(args, "strict", False) else "always", IncompleteClipWarning)
            warnings.showwarning = _warning_printer()
            with output_group():  # every file of the command appears at the end, together, or none
                code = args.run(args)
        for line in args.wrote:
            print(f"wrote {line}", file=sys.stderr)
        return code
    except BrokenPipeError:  # `framefix info clip | head -1`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except (ClipError, ValueError, OSError, ImportError, av.FFmpegError) as exc:  # a TypeError is a bug: raised
        if args.verbose:
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"framefix: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
