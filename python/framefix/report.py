"""What ``framefix analyze`` reports: a terminal summary, a versioned JSON document and a plot of a
:class:`framefix.analysis.ClipAnalysis`."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from framefix.analysis import ClipAnalysis

__all__ = ["REPORT_FORMAT", "REPORT_VERSION", "plot_format", "plot_report", "report_dict", "report_text", "write_json"]

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
        ``format`` (``"framefix.analysis"``), ``version``, ``clip``, ``flicker_index``, ``shots``,
        ``cuts``, ``flashes``, ``fades`` and the per-frame series under ``frames`` (``None``
        where not measured): strict JSON, no NaN.
    """
    flicker, transitions = analysis.flicker, analysis.transitions
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "clip": analysis.info.to_dict(),
        "flicker_index": flicker.flicker_index,
        "shots": [
            {"start": s.start, "end": s.end, "flicker_index": s.flicker_index,
             "white_balance_index": s.white_balance_index, "period_frames": s.period, "kind": s.kind,
             "worst_frames": s.worst_frames, "warping_error": e,
             "regional_flicker_index": None if r is None else r[0],
             "regional_flicker_tile": None if r is None else list(r[1])}
            for s, e, r in zip(flicker.shots, analysis.shot_warping_errors(), analysis.shot_regional_flicker(),
                               strict=True)
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
        The file written (as given: callers that need a safe output wrap this in
        :func:`framefix.outputs.atomic_output`).
    """
    data = report_dict(analysis)
    with open(os.fspath(path), "w") as f:
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
        The image written, in the format its extension names (:func:`plot_format`).
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
    figure.savefig(os.fspath(path), dpi=100, format=fmt)
