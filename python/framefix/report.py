"""What ``framefix analyze`` reports: a terminal summary, a versioned JSON document and a plot of a
:class:`framefix.analysis.ClipAnalysis`."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np

from framefix.outputs import atomic_output

if TYPE_CHECKING:
    from framefix.analysis import ClipAnalysis

__all__ = ["DEFLICKER_FORMAT", "REPORT_FORMAT", "REPORT_VERSION", "deflicker_dict", "deflicker_text", "plot_deflicker",
           "plot_format", "plot_report", "report_dict", "report_text", "write_json"]

REPORT_FORMAT, REPORT_VERSION = "framefix.analysis", 1


def report_dict(analysis: ClipAnalysis) -> dict:
    """The JSON report: versioned; shots are ``[start, end)`` frame ranges; indices in percent.

    Parameters
    ----------
    analysis : ClipAnalysis
        From :func:`framefix.analysis.analyze_clip`.

    Returns
    -------
    dict
        ``format`` (``"framefix.analysis"``), ``version``, ``clip``, ``flicker_index``,
        ``reference_shot`` (number from 1 of the shot whose colors are most central), ``shots`` (each
        with its ``color``: mean CIELAB color and CIE76 / CIEDE2000 distance to the reference shot),
        ``cuts``, ``flashes``, ``fades`` and the per-frame series under ``frames`` (``None``
        where not measured): strict JSON, no NaN.
    """
    flicker, transitions = analysis.flicker, analysis.transitions
    colors = analysis.shot_colors()
    distances = [None] * len(flicker.shots) if colors is None else colors[1]
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "clip": analysis.info.to_dict(),
        "flicker_index": flicker.flicker_index,
        "reference_shot": None if colors is None else colors[0] + 1,
        "shots": [
            {"start": s.start, "end": s.end, "flicker_index": s.flicker_index,
             "white_balance_index": s.white_balance_index, "period_frames": s.period, "kind": s.kind,
             "worst_frames": s.worst_frames, "warping_error": e,
             "regional_flicker_index": None if r is None else r[0],
             "regional_flicker_tile": None if r is None else list(r[1]),
             "color": None if d is None else d.to_dict()}
            for s, e, r, d in zip(flicker.shots, analysis.shot_warping_errors(), analysis.shot_regional_flicker(),
                                  distances, strict=True)
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
    """A terminal summary: one line per shot, then the transitions.

    Parameters
    ----------
    analysis : ClipAnalysis
        From :func:`framefix.analysis.analyze_clip`.

    Returns
    -------
    str
        Lines without a final newline.
    """
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
    colors = analysis.shot_colors()
    if colors is not None and len(colors[1]) > 1:
        lines.append(f"  color distance to shot {colors[0] + 1} (the most central colors; CIE76 between mean CIELAB "
                     "colors, 3 or more shows at a cut): "
                     + ", ".join(f"{number}: {d.cie76:.2f}" for number, d in enumerate(colors[1], 1)))
    lines.append("  cuts at frames: " + (", ".join(map(str, transitions.cuts)) or "none"))
    if transitions.flashes:
        lines.append("  flashes (not cuts): " + ", ".join(f"{a}-{b - 1}" for a, b in transitions.flashes))
    if transitions.fades:
        lines.append("  fades: " + ", ".join(f"{d} {a}-{b - 1}" for a, b, d in transitions.fades))
    return "\n".join(lines)


def write_json(analysis: ClipAnalysis, path) -> None:
    """Write :func:`report_dict` as JSON (strict: a NaN is a bug, not a value).

    Parameters
    ----------
    analysis : ClipAnalysis
        From :func:`framefix.analysis.analyze_clip`.
    path : path-like
        The file, written whole or not at all (:func:`framefix.outputs.atomic_output`; an
        existing file is replaced).
    """
    data = report_dict(analysis)
    with atomic_output(path, overwrite=True) as temporary, open(temporary, "w") as f:
        json.dump(data, f, indent=1, allow_nan=False)


def plot_format(path) -> str:
    """The image format a plot at ``path`` gets, from its extension.

    Parameters
    ----------
    path : path-like
        Where the plot will be written.

    Returns
    -------
    str
        The extension without the dot (``png``, ``pdf``, ``svg``...).

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        matplotlib cannot write that format.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'framefix[plot]'") from None
    extension = os.path.splitext(os.fspath(path))[1][1:].lower()
    formats = FigureCanvasAgg.get_supported_filetypes()
    if extension not in formats:
        raise ValueError(f"{os.fspath(path)}: a plot must be one of {', '.join('.' + f for f in sorted(formats))}")
    return extension


def plot_report(analysis: ClipAnalysis, path) -> None:
    """A picture of the analysis: luma trace, flicker residual, cut score and (with flow) the
    warping error over time, shot boundaries marked.

    matplotlib draws it on its Agg canvas directly, so the global backend (pyplot's) is left as
    the caller set it.

    Parameters
    ----------
    analysis : ClipAnalysis
        From :func:`framefix.analysis.analyze_clip`.
    path : path-like
        The image, in the format its extension names (:func:`plot_format`), written whole or
        not at all (:func:`framefix.outputs.atomic_output`; an existing file is replaced).
    """
    fmt = plot_format(path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    flicker, transitions = analysis.flicker, analysis.transitions
    t = np.arange(len(flicker.luma))
    with_flow = analysis.warping_error is not None
    figure = Figure(figsize=(10, 9 if with_flow else 7))
    FigureCanvasAgg(figure)
    axes = figure.subplots(4 if with_flow else 3, 1, sharex=True)
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
    with atomic_output(path, overwrite=True) as temporary:
        figure.savefig(temporary, dpi=100, format=fmt)


# --- deflicker ---------------------------------------------------------------------------------------

DEFLICKER_FORMAT = "framefix.deflicker"


def deflicker_dict(run, before=None, after=None) -> dict:
    """The deflicker report: per shot the flicker and white-balance indices before and after
    and, when flow analyses of the input and output are given (:func:`framefix.analysis.analyze_clip`
    with ``flow=True``), the regional flicker and warping error before and after.

    Parameters
    ----------
    run : DeflickerRun
        From :func:`framefix.deflicker.deflicker_clip`.
    before, after : ClipAnalysis, optional
        Flow analyses of the input and of the output.

    Returns
    -------
    dict
        JSON-ready; indices in percent, shots as ``[start, end)`` frame ranges.
    """
    from framefix.flicker import measure_flicker

    flicker_before = measure_flicker(run.before, run.transitions)
    flicker_after = measure_flicker(run.after, run.transitions)

    # the input's shots for both clips: the output's own cut detection may split them otherwise
    shot_ranges = [(shot.start, shot.end) for shot in flicker_before.shots]

    def per_shot(analysis, what):
        if analysis is None:
            return [None] * len(shot_ranges)
        if what == "warp":
            return analysis.shot_warping_errors(shot_ranges)
        return analysis.shot_regional_flicker(shot_ranges)

    shots = []
    for i, (a, b) in enumerate(zip(flicker_before.shots, flicker_after.shots, strict=True)):
        regional = (per_shot(before, "regional")[i], per_shot(after, "regional")[i])
        warp = (per_shot(before, "warp")[i], per_shot(after, "warp")[i])
        shots.append({
            "start": a.start, "end": a.end,
            "flicker_index": {"before": a.flicker_index, "after": b.flicker_index},
            "white_balance_index": {"before": a.white_balance_index, "after": b.white_balance_index},
            "regional_flicker_index": {"before": None if regional[0] is None else regional[0][0],
                                       "after": None if regional[1] is None else regional[1][0]},
            "warping_error": {"before": warp[0], "after": warp[1]},
        })
    return {
        "format": DEFLICKER_FORMAT,
        "version": 1,
        "clip": run.info.to_dict(),
        "settings": {"mode": run.mode, "window": run.window, "strength": run.strength},
        "flicker_index": {"before": flicker_before.flicker_index, "after": flicker_after.flicker_index},
        "shots": shots,
        "cuts": list(run.transitions.cuts),
        "flashes": [list(f) for f in run.transitions.flashes],
        "fades": [{"start": a, "end": b, "direction": d} for a, b, d in run.transitions.fades],
        "frames": {"luma_before": flicker_before.luma.tolist(), "luma_after": flicker_after.luma.tolist(),
                   "luma_residual_before": flicker_before.residual.tolist(),
                   "luma_residual_after": flicker_after.residual.tolist(),
                   "warping_error_before": None if before is None else _series(before.warping_error),
                   "warping_error_after": None if after is None else _series(after.warping_error)},
    }


def deflicker_text(report: dict) -> str:
    """A terminal summary of :func:`deflicker_dict`: one line per shot, before -> after.

    Parameters
    ----------
    report : dict
        What :func:`deflicker_dict` returned.

    Returns
    -------
    str
        Lines for the terminal, without a final newline.
    """
    def pair(values, scale=1.0):
        a, b = values["before"], values["after"]
        if a is None or b is None:
            return f"{'-':>15}"
        return f"{scale * a:>6.2f} -> {scale * b:<5.2f}"

    total = report["flicker_index"]
    lines = [f"{report['clip']['path']}: {len(report['shots'])} shot(s), flicker index "
             f"{total['before']:.2f} -> {total['after']:.2f} ({report['settings']['mode']}, window "
             f"{report['settings']['window']}, strength {report['settings']['strength']:g})",
             f"  {'shot':<5}{'frames':<13}{'flicker':>15}{'white bal.':>17}{'regional':>17}{'E_warp x1000':>17}"]
    for number, shot in enumerate(report["shots"], 1):
        frames = f"{shot['start']}-{shot['end'] - 1}"
        lines.append(f"  {number:<5}{frames:<13}{pair(shot['flicker_index']):>15}"
                     f"{pair(shot['white_balance_index']):>17}{pair(shot['regional_flicker_index']):>17}"
                     f"{pair(shot['warping_error'], 1000):>17}")
    lines.append("  cuts at frames: " + (", ".join(map(str, report["cuts"])) or "none"))
    if report["flashes"]:
        lines.append("  flashes: " + ", ".join(f"{a}-{b - 1}" for a, b in report["flashes"]))
    if report["shots"] and report["shots"][0]["warping_error"]["before"] is None:
        lines.append("  (regional flicker and E_warp: pass --report or --plot to measure them along the motion)")
    return "\n".join(lines)


def plot_deflicker(report: dict, path) -> None:
    """Mean luma and flicker residual before and after (and the warping error when measured),
    cuts marked, as an image in the format the extension of ``path`` names.

    Parameters
    ----------
    report : dict
        From :func:`deflicker_dict`.
    path : path-like
        The image written.
    """
    fmt = plot_format(path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frames = report["frames"]
    t = np.arange(len(frames["luma_before"]))
    with_flow = frames["warping_error_before"] is not None
    figure = Figure(figsize=(10, 8 if with_flow else 6))
    FigureCanvasAgg(figure)
    axes = figure.subplots(3 if with_flow else 2, 1, sharex=True)
    axes[0].plot(t, frames["luma_before"], color="tab:red", lw=0.8, label="before")
    axes[0].plot(t, frames["luma_after"], color="black", label="after")
    axes[0].set_ylabel("mean luma")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].plot(t, 100 * np.asarray(frames["luma_residual_before"]), color="tab:red", lw=0.8, label="before")
    axes[1].plot(t, 100 * np.asarray(frames["luma_residual_after"]), color="black", label="after")
    axes[1].set_ylabel("flicker residual (%)")
    if with_flow:
        for key, colour, label in (("warping_error_before", "tab:red", "before"), ("warping_error_after", "black", "after")):
            values = np.array([np.nan if v is None else v for v in frames[key]], float)
            axes[2].plot(t, 1000 * values, color=colour, lw=0.8, label=label)
        axes[2].set_ylabel("E_warp x 1000")
    axes[-1].set_xlabel("frame")
    for axis in axes:
        for cut in report["cuts"]:
            axis.axvline(cut, color="gray", ls="--", lw=0.8)
    total = report["flicker_index"]
    figure.suptitle(f"{os.path.basename(report['clip']['path'])}: flicker index {total['before']:.2f} -> "
                    f"{total['after']:.2f}")
    figure.tight_layout()
    figure.savefig(os.fspath(path), dpi=100, format=fmt)
