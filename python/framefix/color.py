"""Histogram matching and color transfer, with transforms that a whole shot can share.

``match_histograms`` is exact per-channel CDF matching (scikit-image's semantics, rounded to
nearest for integer output). ``fit_color_transform`` fits a :class:`ColorTransform` once (on one
frame or on samples pooled from many) that ``apply`` then uses on every frame, so a shot gets one
consistent grade instead of a per-frame one that flickers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import zipfile
from collections.abc import Sequence

import numpy as np

from framefix import _backend, _validate
from framefix.pipeline import Operation

__all__ = ["ColorDistance", "ColorFitter", "ColorTransform", "METHODS", "ciede2000", "color_distance", "load_mask",
           "fit_color_transform", "match_histograms", "read_cube", "transfer_color"]

METHODS = ("mkl", "reinhard", "hm-mkl-hm", "histogram")
CURVE_KNOTS = 1025  # curves are sampled on this many evenly spaced inputs in 0..1
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_SAMPLES = 1 << 18  # pixels per fit: more adds time, not accuracy (4097 quantile levels)


def _max_value(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


def _finite(func: str, name: str, a: np.ndarray) -> None:
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{func}: {name} contains NaN or infinite values")


def _moderate(func: str, name: str, a: np.ndarray) -> None:
    _validate.moderate_floats(func, name, a)  # the sRGB curve's power 2.4 overflows from about 1e16


def _pixel_mask(func: str, name: str, mask, height_width) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{func}: {name} must be a bool array, got {m.dtype}")
    if m.shape != tuple(height_width):
        raise ValueError(f"{func}: {name} must be {tuple(height_width)} (the image's height and width), got {m.shape}")
    if not m.any():
        raise ValueError(f"{func}: {name} selects no pixels")
    return m


# --- exact histogram matching ---------------------------------------------------------------------


def match_histograms(image, reference, *, channel_axis=-1, mask=None, reference_mask=None, strength=1.0,
                     workers=None):
    """Match each channel's cumulative histogram to the reference's.

    Parameters
    ----------
    image, reference : ndarray
        ``(H, W)`` or ``(H, W, C)`` (channels on ``channel_axis``), uint8, uint16 or float32; the
        reference may have another size and dtype (its values are rescaled to the image's range)
        but must have as many channels.
    channel_axis : int or None
        Axis of the channels; None for single-channel images.
    mask, reference_mask : ndarray of bool, optional
        ``(H, W)`` masks selecting the pixels whose statistics count; the mapping is applied to
        every pixel of the image.
    strength : float
        0 returns the image unchanged, 1 the full match; in between blends linearly.
    workers : int, optional
        Threads for the histogram and table kernels (integer images).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``. Integer results are rounded to nearest (scikit-image
        floors them). A value's mapping is the reference value at the same quantile, linearly
        interpolated between the reference's distinct values, as scikit-image does; matching an
        image to itself is the identity, and a single-valued reference maps every pixel to its value.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> image = np.array([[10, 20], [30, 40]], np.uint8)
    >>> reference = np.array([[100, 150], [200, 250]], np.uint8)
    >>> framefix.match_histograms(image, reference, channel_axis=None).tolist()
    [[100, 150], [200, 250]]
    """
    func = "match_histograms"
    image = _validate.as_array(func, "image", image)
    reference = _validate.as_array(func, "reference", reference)
    if channel_axis is None:
        if image.ndim != 2 or reference.ndim != 2:
            raise ValueError(f"{func}: channel_axis=None needs 2-D images, got {image.shape} and {reference.shape}")
        frame, ref = image, reference
    else:
        if image.ndim != 3 or reference.ndim != 3:
            raise ValueError(f"{func}: image and reference must be 3-D with channel_axis={channel_axis}, "
                             f"got {image.shape} and {reference.shape}")
        frame, ref = np.moveaxis(image, channel_axis, -1), np.moveaxis(reference, channel_axis, -1)
    frame = _validate.frame(func, "image", frame)
    ref = _validate.frame(func, "reference", ref)
    if frame.shape[2] != ref.shape[2]:
        raise ValueError(f"{func}: reference must have the image's {frame.shape[2]} channels, got {ref.shape[2]}")
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not 0 <= strength <= 1:
        raise ValueError(f"{func}: strength must be a number in 0..1, got {strength!r}")
    _finite(func, "image", frame)
    _finite(func, "reference", ref)
    mask = _pixel_mask(func, "mask", mask, frame.shape[:2])
    reference_mask = _pixel_mask(func, "reference_mask", reference_mask, ref.shape[:2])
    workers = _backend.resolve_workers(workers, func)

    out = np.empty(frame.shape, frame.dtype)
    if strength == 0:  # exactly the input (-0.0 included)
        np.copyto(out, frame)
        return _shape_like(out, image, channel_axis)
    scale = _max_value(frame.dtype) / _max_value(ref.dtype)
    reference_curves = _reference_quantiles(ref, reference_mask, workers, scale)
    if frame.dtype.kind == "u":
        counts = _histograms(frame, mask, workers)
        codes = np.arange(counts.shape[1], dtype=np.float64)
        lut = np.empty(counts.shape, frame.dtype)
        for c, (ref_q, ref_values) in enumerate(reference_curves):
            quantiles = np.cumsum(counts[c]) / counts[c].sum()
            mapped = np.interp(quantiles, ref_q, ref_values)
            blended = codes + float(strength) * (mapped - codes)
            lut[c] = np.clip(np.rint(blended), 0, _max_value(frame.dtype))
        _backend.implementation().apply_lut(frame, lut, out, workers)
    else:
        # Sorting replaces a search per pixel: quantile = share of selected values <= x, mapped
        # through np.interp's formula; (1 - s) x + s m in double, rounded once, stays monotone in
        # x and is exactly x at strength 0, exactly the match at 1.
        _backend.implementation().match_float_channels(
            frame, mask, [q for q, _ in reference_curves], [v for _, v in reference_curves], float(strength), out)
    return _shape_like(out, image, channel_axis)


def _shape_like(out: np.ndarray, image: np.ndarray, channel_axis) -> np.ndarray:
    out = out.reshape(out.shape[:2]) if image.ndim == 2 else out
    return out if channel_axis is None else np.moveaxis(out, -1, channel_axis)


def _histograms(frame: np.ndarray, mask, workers: int) -> np.ndarray:
    counts = np.zeros((frame.shape[2], int(_max_value(frame.dtype)) + 1), np.int64)
    _backend.implementation().channel_histograms(frame, mask, counts, workers)
    return counts


def _reference_quantiles(ref: np.ndarray, mask, workers: int, scale: float):
    """Per channel: (quantile at each distinct value, the values in the image's scale)."""
    if ref.dtype.kind == "u":
        curves = []
        for counts in _histograms(ref, mask, workers):
            present = np.flatnonzero(counts)
            curves.append((np.cumsum(counts[present]) / counts.sum(), present * float(scale)))
        return curves
    curves = []
    for c in range(ref.shape[2]):
        values = _backend.implementation().sorted_channel_values(ref, c, mask).astype(np.float64)
        last = np.flatnonzero(np.append(values[1:] != values[:-1], True))  # last index of each distinct value
        curves.append((np.ascontiguousarray((last + 1) / values.size), np.ascontiguousarray(values[last] * scale)))
    return curves


# --- transforms -------------------------------------------------------------------------------------


def _rgb_frames(func: str, name: str, frames, mask) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(frame as (H, W, 3), its mask) for an image, a clip array or a list of frames."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    elif not isinstance(frames, (list, tuple)):
        frames = [frames]
    if not frames:
        raise ValueError(f"{func}: {name} holds no frames")
    checked = []
    for value in frames:
        frame = _validate.frame(func, name, _validate.as_array(func, name, value))
        if frame.shape[2] != 3:
            raise ValueError(f"{func}: {name} must be RGB (3 channels), got {frame.shape[2]}")
        _moderate(func, name, frame)
        m = None if mask is None else _pixel_mask(func, "reference_mask" if name == "reference" else "mask", mask,
                                                   frame.shape[:2])
        checked.append((frame, m))
    return checked


def _samples(frames: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """(N, 3) float64 pixel samples in 0..1 units, at most about _MAX_SAMPLES, from every frame."""
    per_frame = max(1, _MAX_SAMPLES // len(frames))
    pooled = []
    for frame, m in frames:
        selected = frame.reshape(-1, 3) if m is None else frame[m]
        step = max(1, selected.shape[0] // per_frame)
        pooled.append(selected[::step].astype(np.float64) / _max_value(frame.dtype))
    return np.concatenate(pooled)


def _mean_and_covariance(frames: list[tuple[np.ndarray, np.ndarray | None]], workers: int):
    """Exact mean and covariance (0..1 units) of every selected pixel of every frame, in one pass
    each through the moments kernel."""
    kernels = _backend.implementation()
    n, sums, products = 0.0, np.zeros(3), np.zeros((3, 3))
    for frame, m in frames:
        count, s, p = kernels.channel_moments(frame, m, workers)
        top = _max_value(frame.dtype)
        n, sums, products = n + count, sums + s / top, products + p / (top * top)
    mean = sums / n
    covariance = (products - n * np.outer(mean, mean)) / max(n - 1, 1)
    return mean, covariance


def _sqrtm_psd(c: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(c)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


# Below this variance a channel carries no information (8-bit quantisation noise is 1/(255^2 12)):
# covariances are floored there so a flat channel cannot ask for an enormous gain.
_VARIANCE_FLOOR = 1.5e-6


def _floored(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(eigenvalues floored, eigenvectors, whether any was floored) of a covariance."""
    values, vectors = np.linalg.eigh(c)
    floor = max(_VARIANCE_FLOOR, 1e-6 * float(np.trace(c)))
    return np.maximum(values, floor), vectors, bool(values.min() < floor)


def _mkl_stage(mu_s, cs, mu_r, cr) -> dict:
    # Monge-Kantorovich linear map between the two Gaussians (Pitie & Kokaram 2007): the affine
    # map of least displacement that carries the source covariance onto the reference's.
    values_s, vectors_s, flat = _floored(cs)
    values_r, vectors_r, _ = _floored(cr)
    cs_half = (vectors_s * np.sqrt(values_s)) @ vectors_s.T
    cs_inv_half = (vectors_s / np.sqrt(values_s)) @ vectors_s.T
    cr = (vectors_r * values_r) @ vectors_r.T
    matrix = cs_inv_half @ _sqrtm_psd(cs_half @ cr @ cs_half) @ cs_inv_half
    # `degenerate`: the source had a flat direction, so its fit says little (kept out of averages)
    return {"kind": "affine", "matrix": matrix, "offset": mu_r - matrix @ mu_s, "degenerate": np.array(float(flat))}


def _sample_covariance(samples: np.ndarray) -> np.ndarray:
    # as _mean_and_covariance divides: one sample has covariance 0 (a flat fit, floored later),
    # where np.cov warns and returns NaN, which eigh then fails on
    centred = samples - samples.mean(axis=0)
    return centred.T @ centred / max(samples.shape[0] - 1, 1)


def _fit_mkl(source: np.ndarray, reference: np.ndarray) -> dict:
    return _mkl_stage(source.mean(axis=0), _sample_covariance(source),
                      reference.mean(axis=0), _sample_covariance(reference))


def _quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """np.quantile(values, levels) (linear method) from one sort, not a partition per level."""
    ordered = np.sort(values.astype(np.float32)).astype(np.float64)  # float32 sorts twice as fast
    position = levels * (ordered.size - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, ordered.size - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def _eval_curve(values: np.ndarray, knots: np.ndarray, out: np.ndarray) -> None:
    """A curve sampled at CURVE_KNOTS even inputs over 0..1, linear between, flat outside."""
    position = np.clip(values, 0, 1) * np.float32(CURVE_KNOTS - 1)
    index = np.minimum(position.astype(np.int32), CURVE_KNOTS - 2)
    position -= index
    knots = knots.astype(np.float32)
    low = knots[index]
    np.multiply(knots[index + 1] - low, position, out=out)
    out += low


def _fit_curves(source: np.ndarray, reference: np.ndarray) -> dict:
    # each channel's quantile mapping, sampled on an even grid of inputs
    grid = np.linspace(0.0, 1.0, CURVE_KNOTS)
    levels = np.linspace(0.0, 1.0, 4097)
    curves = np.empty((3, CURVE_KNOTS))
    for c in range(3):
        xs = _quantiles(source[:, c], levels)
        ys = _quantiles(reference[:, c], levels)
        # np.interp needs increasing knots: a flat run of the source maps to its mean target
        unique_x, start = np.unique(xs, return_index=True)
        sums = np.add.reduceat(ys, start)
        counts = np.diff(np.append(start, ys.size))
        curves[c] = np.interp(grid, unique_x, sums / counts) if unique_x.size > 1 else np.full(CURVE_KNOTS, ys.mean())
    return {"kind": "curves", "y": curves}


def _fit_reinhard(source: np.ndarray, reference: np.ndarray) -> dict:
    lab_s, lab_r = _to_lab(source), _to_lab(reference)
    std_s, std_r = lab_s.std(axis=0), lab_r.std(axis=0)
    scale = np.where(std_s > 1e-6, std_r / np.maximum(std_s, 1e-6), 1.0)
    return {"kind": "lab_affine", "scale": scale, "offset": lab_r.mean(axis=0) - scale * lab_s.mean(axis=0)}


def _to_lab(samples: np.ndarray) -> np.ndarray:
    image = samples.astype(np.float32).reshape(-1, 1, 3)
    lab = np.empty(image.shape, np.float32)
    _backend.implementation().srgb_to_lab(image, lab, 1)
    return lab.reshape(-1, 3).astype(np.float64)


def _apply_stage_samples(stage: dict, samples: np.ndarray) -> np.ndarray:
    transform = ColorTransform("stage", [stage])
    image = samples.astype(np.float32).reshape(-1, 1, 3)
    return transform.apply(image).reshape(-1, 3).astype(np.float64)


def fit_color_transform(source, reference, *, method="mkl", mask=None, reference_mask=None,
                        workers=None) -> ColorTransform:
    """Fit a color transform that carries ``source``'s colors onto ``reference``'s.

    Parameters
    ----------
    source, reference : ndarray or sequence of ndarray
        RGB frames ``(H, W, 3)`` (uint8, uint16 or float32 within +-1e6, sRGB-encoded), a clip ``(T, H, W, 3)``
        or a list of frames: samples are pooled across all of them, so one transform serves a
        whole shot.
    method : {'mkl', 'reinhard', 'hm-mkl-hm', 'histogram'}
        ``mkl``: the Monge-Kantorovich linear map (a 3x3 affine map in RGB matching mean and
        covariance). ``reinhard``: mean and standard deviation matched per channel in CIELAB
        (sRGB linearised with the IEC 61966-2-1 curve, D65 white). ``histogram``: per-channel
        quantile curves. ``hm-mkl-hm``: curves, then MKL, then curves (as color-matcher does).
    mask, reference_mask : ndarray of bool, optional
        ``(H, W)`` pixels whose statistics count (every frame of a list uses the same mask).
    workers : int, optional
        Threads for the statistics kernels.

    Returns
    -------
    ColorTransform
        MKL uses the exact mean and covariance of every selected pixel; the other methods use
        about 260 000 pixels sampled evenly across the frames.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> rng = np.random.default_rng(0)
    >>> shot = rng.integers(0, 200, (4, 32, 32, 3), dtype=np.uint8)  # a clip: samples pooled
    >>> grade = framefix.fit_color_transform(shot, np.clip(shot[0] * 1.2, 0, 255).astype(np.uint8))
    >>> graded = [grade.apply(frame) for frame in shot]  # one grade for every frame: no new flicker
    >>> grade.method, graded[0].dtype
    ('mkl', dtype('uint8'))
    """
    return ColorFitter(reference, method=method, reference_mask=reference_mask, workers=workers).fit(
        source, mask=mask)


class ColorFitter:
    """A reference's statistics, computed once, for fitting many sources to it (every frame of
    a clip, say). ``fit_color_transform(s, r, ...)`` is ``ColorFitter(r, ...).fit(s)``."""

    def __init__(self, reference, *, method="mkl", reference_mask=None, workers=None):
        func = "fit_color_transform"
        if method not in METHODS:
            raise ValueError(f"{func}: method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
        self.method = method
        self.workers = _backend.resolve_workers(workers, func)
        references = _rgb_frames(func, "reference", reference, reference_mask)
        if method == "mkl":  # exact moments of every pixel, no sampling needed
            self._mean, self._covariance = _mean_and_covariance(references, self.workers)
            # a single color leaves only rounding noise (~1e-17) in the variances
            flat = np.diag(self._covariance).max() <= 1e-12
        else:
            self._samples = _samples(references)
            flat = np.ptp(self._samples, axis=0).max() == 0
        if flat:
            raise ValueError(f"{func}: reference is a single color; there is no distribution to transfer")

    def fit(self, source, *, mask=None) -> ColorTransform:
        """Fit the transform that carries ``source``'s colors onto the reference's.

        Parameters
        ----------
        source : ndarray or sequence of ndarray
            RGB frames, a clip ``(T, H, W, 3)`` or a list of frames (samples pooled).
        mask : ndarray of bool, optional
            ``(H, W)`` pixels of the source whose statistics count.

        Returns
        -------
        ColorTransform
        """
        sources = _rgb_frames("fit_color_transform", "source", source, mask)
        if self.method == "mkl":
            mu_s, cs = _mean_and_covariance(sources, self.workers)
            return ColorTransform(self.method, [_mkl_stage(mu_s, cs, self._mean, self._covariance)])
        src, ref = _samples(sources), self._samples
        if self.method == "reinhard":
            stages = [_fit_reinhard(src, ref)]
        elif self.method == "histogram":
            stages = [_fit_curves(src, ref)]
        else:
            stages = []
            for fit in (_fit_curves, _fit_mkl, _fit_curves):
                stage = fit(src, ref)
                stages.append(stage)
                src = _apply_stage_samples(stage, src)
        return ColorTransform(self.method, stages)


def transfer_color(image, reference, *, method="mkl", mask=None, reference_mask=None, out=None, workers=None):
    """Grade ``image`` to ``reference``'s colors:
    ``fit_color_transform(image, reference, ...).apply(image, out=out, workers=workers)``.

    Parameters
    ----------
    image : ndarray
        An RGB frame ``(H, W, 3)``, uint8, uint16 or float32.
    reference : ndarray or sequence of ndarray
        RGB frames whose colors to take.
    method : {'mkl', 'reinhard', 'hm-mkl-hm', 'histogram'}
        See :func:`fit_color_transform`.
    mask, reference_mask : ndarray of bool, optional
        ``(H, W)`` pixels whose statistics count; every pixel of ``image`` is graded.
    out : ndarray, optional
        Where to write the result (same shape and dtype as ``image``).
    workers : int, optional
        Threads for the kernels.

    Returns
    -------
    ndarray
        The graded image, same shape and dtype (integers rounded and saturated).

    Examples
    --------
    >>> import numpy as np, framefix
    >>> rng = np.random.default_rng(0)
    >>> image = rng.integers(0, 200, (32, 32, 3), dtype=np.uint8)
    >>> warmer = np.clip(image * [1.2, 1.0, 0.8], 0, 255).astype(np.uint8)
    >>> graded = framefix.transfer_color(image, warmer)
    >>> bool(np.abs(graded.mean((0, 1)) - warmer.mean((0, 1))).max() < 1)
    True
    """
    transform = fit_color_transform(image, reference, method=method, mask=mask, reference_mask=reference_mask,
                                    workers=workers)
    return transform.apply(image, out=out, workers=workers)


def _parameter(value) -> np.ndarray | None:
    """A stage parameter as float64, or None when it is not numbers (nested objects, huge ints)."""
    if isinstance(value, (str, bytes, dict)):
        return None
    try:
        a = np.asarray(value, np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return a


class ColorTransform:
    """A fitted color transform: a short chain of per-pixel stages in 0..1 RGB units.

    Stages are ``affine`` (3x3 matrix and offset), ``lab_affine`` (per-channel scale and offset in
    CIELAB) and ``curves`` (per-channel curves sampled at 1025 even inputs, linear in between,
    flat beyond 0..1). Transforms can be averaged (:meth:`mean`), saved (:meth:`save`, JSON or
    npz), loaded (:meth:`load`) and exported as a 3D LUT for editing software (:meth:`to_cube`).
    """

    _SHAPES = {
        "affine": {"matrix": (3, 3), "offset": (3,)},
        "lab_affine": {"scale": (3,), "offset": (3,)},
        "curves": {"y": (3, CURVE_KNOTS)},
    }

    def __init__(self, method: str, stages: Sequence[dict]):
        if not isinstance(method, str):
            raise ValueError(f"ColorTransform: method must be a str, got {type(method).__name__}")
        if not isinstance(stages, (list, tuple)):
            raise ValueError(f"ColorTransform: stages must be a list of dicts, got {type(stages).__name__}")
        self.method = method
        self.stages = []
        for stage in stages:
            if not isinstance(stage, dict) or stage.get("kind") not in self._SHAPES:
                raise ValueError(f"ColorTransform: each stage must be a dict with kind in {sorted(self._SHAPES)}")
            checked = {"kind": stage["kind"]}
            for key, shape in self._SHAPES[stage["kind"]].items():
                value = _parameter(stage.get(key)) if key in stage else None
                # the kernels compute in float32: a parameter beyond its range is infinite there
                if value is None or value.shape != shape or not (np.abs(value) <= _FLOAT32_MAX).all():
                    raise ValueError(f"ColorTransform: a {stage['kind']} stage needs a {key} of shape {shape} "
                                     f"with finite float32 values")
                checked[key] = value
            degenerate = _parameter(stage.get("degenerate", 0.0))
            if degenerate is None or degenerate.shape != () or not 0 <= degenerate <= 1:
                raise ValueError(f"ColorTransform: a stage's degenerate must be a number in 0..1, got "
                                 f"{stage.get('degenerate')!r:.60}")
            checked["degenerate"] = degenerate
            self.stages.append(checked)

    @property
    def degenerate(self) -> bool:
        """True when a stage was fitted on a source with a flat color direction (a black frame,
        say): such a fit maps the whole frame to the reference's mean and says little."""
        return any(float(stage["degenerate"]) > 0 for stage in self.stages)

    def __repr__(self) -> str:
        return f"ColorTransform(method={self.method!r}, stages={[s['kind'] for s in self.stages]})"

    def apply(self, frame, *, out=None, workers=None) -> np.ndarray:
        """The transformed frame: same shape and dtype (integers rounded and saturated).

        Parameters
        ----------
        frame : ndarray
            An RGB frame ``(H, W, 3)``, uint8, uint16 or float32 (0..1 nominal, finite, within
            +-1e6), any strides.
        out : ndarray, optional
            Where to write the result (same shape and dtype, not overlapping ``frame``).
        workers : int, optional
            Threads for the kernels.

        Returns
        -------
        ndarray
            ``out`` if given, else a new array.
        """
        func = "ColorTransform.apply"
        frame = _validate.as_array(func, "frame", frame)
        view = _validate.frame(func, "frame", frame)
        if view.shape[2] != 3:
            raise ValueError(f"{func}: frame must be RGB (H, W, 3), got shape {frame.shape}")
        _moderate(func, "frame", view)
        workers = _backend.resolve_workers(workers, func)
        result, out_view = _validate.output(func, out, frame.shape, view.dtype, (view,))
        kernels = _backend.implementation()
        top = _max_value(view.dtype)
        if len(self.stages) == 1 and self.stages[0]["kind"] == "affine":
            stage = self.stages[0]
            kernels.apply_affine3(view, stage["matrix"].astype(np.float32), (stage["offset"] * top).astype(np.float32),
                                  out_view, workers)
            return result
        if len(self.stages) == 1 and self.stages[0]["kind"] == "curves" and view.dtype.kind == "u":
            codes = np.arange(int(top) + 1) / top
            lut = np.stack([np.interp(codes, np.linspace(0, 1, CURVE_KNOTS), curve) for curve in self.stages[0]["y"]])
            kernels.apply_lut(view, np.clip(np.rint(lut * top), 0, top).astype(view.dtype), out_view, workers)
            return result
        if len(self.stages) == 1 and self.stages[0]["kind"] == "lab_affine":  # straight from and to the pixels
            lab = np.empty(view.shape, np.float32)
            kernels.srgb_to_lab(view, lab, workers)
            lab *= self.stages[0]["scale"].astype(np.float32)
            lab += self.stages[0]["offset"].astype(np.float32)
            kernels.lab_to_srgb(lab, out_view, workers)
            return result
        work = view.astype(np.float32) / np.float32(top) if view.dtype.kind == "u" else view.astype(np.float32)
        for stage in self.stages:
            work = self._apply_float(stage, work, kernels, workers)
        if view.dtype.kind == "u":
            np.copyto(out_view, np.clip(np.rint(work * np.float32(top)), 0, top), casting="unsafe")
        else:
            np.copyto(out_view, work)
        return result

    __call__ = apply

    @staticmethod
    def _apply_float(stage: dict, work: np.ndarray, kernels, workers: int) -> np.ndarray:
        kind = stage["kind"]
        if kind == "affine":
            out = np.empty_like(work)
            kernels.apply_affine3(work, stage["matrix"].astype(np.float32), stage["offset"].astype(np.float32), out,
                                  workers)
            return out
        if kind == "curves":
            out = np.empty_like(work)
            for c in range(3):
                channel = np.empty(work.shape[:2], np.float32)
                _eval_curve(work[..., c], stage["y"][c], channel)
                out[..., c] = channel
            return out
        if kind == "lab_affine":
            lab = np.empty_like(work)
            kernels.srgb_to_lab(work, lab, workers)
            lab *= stage["scale"].astype(np.float32)
            lab += stage["offset"].astype(np.float32)
            out = np.empty_like(work)
            kernels.lab_to_srgb(lab, out, workers)
            return out
        raise ValueError(f"ColorTransform: unknown stage kind {kind!r}")

    def blended(self, strength: float) -> ColorTransform:
        """The transform moved toward the identity: every stage's parameters taken ``strength``
        of the way from the identity's (matrix I and offset 0, Lab scale 1 and offset 0, curves
        y = x). A single stage is then exactly ``x + strength * (T(x) - x)``; a chain of stages is
        identity at 0, the transform at 1 and in between a gentler version of each stage.

        Parameters
        ----------
        strength : float
            0..1.

        Returns
        -------
        ColorTransform

        Examples
        --------
        >>> import numpy as np, framefix
        >>> lift = framefix.ColorTransform("mkl", [{"kind": "affine", "matrix": np.eye(3), "offset": [0.2, 0, 0]}])
        >>> lift.blended(0.5).stages[0]["offset"].tolist()
        [0.1, 0.0, 0.0]
        """
        strength = _validate.real("ColorTransform.blended", "strength", strength, low=0, high=1)
        identity = {"matrix": np.eye(3), "offset": np.zeros(3), "scale": np.ones(3),
                    "y": np.broadcast_to(np.linspace(0.0, 1.0, CURVE_KNOTS), (3, CURVE_KNOTS))}
        stages = [{k: (v if k in ("kind", "degenerate") else identity[k] + strength * (v - identity[k]))
                   for k, v in stage.items()} for stage in self.stages]
        return ColorTransform(self.method, stages)

    # --- averaging, for transforms fitted per frame and smoothed over time

    @classmethod
    def mean(cls, transforms: Sequence[ColorTransform]) -> ColorTransform:
        """The stage-by-stage average of transforms of one method (parameters averaged).

        Parameters
        ----------
        transforms : sequence of ColorTransform
            At least one, all of one method with the same stages.

        Returns
        -------
        ColorTransform
        """
        if not transforms:
            raise ValueError("ColorTransform.mean: no transforms")
        first = transforms[0]
        if any(t.method != first.method or len(t.stages) != len(first.stages) for t in transforms):
            raise ValueError("ColorTransform.mean: transforms must share one method")
        stages = []
        for i, stage in enumerate(first.stages):
            stages.append({k: (v if k == "kind" else np.mean([t.stages[i][k] for t in transforms], axis=0))
                           for k, v in stage.items()})
        return cls(first.method, stages)

    # --- files

    def to_dict(self) -> dict:
        """The transform as plain JSON-ready data (what :meth:`save` writes as ``.json``).

        Returns
        -------
        dict
            ``format``, ``version``, ``method`` and the ``stages`` as lists.
        """
        return {
            "format": "framefix.ColorTransform",
            "version": 1,
            "method": self.method,
            "stages": [{k: (v if k == "kind" else v.tolist()) for k, v in s.items()} for s in self.stages],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (``.json``) or NumPy archive (``.npz``), whole or not at all
        (:func:`framefix.outputs.atomic_output`; an existing file is replaced).

        Parameters
        ----------
        path : path-like
            The file; its extension chooses the format.
        """
        from framefix.outputs import atomic_output

        path = os.fspath(path)
        fmt = _transform_format("ColorTransform.save", path)
        with atomic_output(path, overwrite=True) as temporary:
            if fmt == "npz":
                arrays = {"method": np.array(self.method)}
                for i, stage in enumerate(self.stages):
                    for key, value in stage.items():
                        arrays[f"stage{i}.{key}"] = np.array(value)
                np.savez(temporary, **arrays)
            else:
                with open(temporary, "w") as f:
                    json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ColorTransform:
        """Read a transform written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            A ``.npz`` file, or a JSON one.

        Returns
        -------
        ColorTransform

        Raises
        ------
        ValueError
            The file cannot be read or does not hold a framefix color transform.
        """
        path = os.fspath(path)
        try:
            if path.endswith(".npz"):
                # our own handle: np.load leaves its file open when the zip turns out broken
                with open(path, "rb") as handle, np.load(handle) as data:  # no pickles: object arrays refused
                    stages: dict[int, dict] = {}
                    for key in data.files:
                        if key.startswith("stage"):
                            index, name = key[5:].split(".", 1)
                            value = data[key]
                            if name == "kind":
                                value = str(value) if value.dtype.kind == "U" and value.ndim == 0 else None
                            stages.setdefault(int(index), {})[name] = value
                    method = data["method"]
                    if method.dtype.kind != "U" or method.ndim != 0:
                        raise ValueError("method must be a string")
                    return cls(str(method), [stages[i] for i in sorted(stages)])
            with open(path, "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
            if not isinstance(data, dict) or data.get("format") != "framefix.ColorTransform":
                raise ValueError("not a framefix color transform")
            return cls(data["method"], data["stages"])
        # what broken files raise: a non-zip .npz (BadZipFile), a truncated one (EOFError), JSON
        # nested too deep (RecursionError), binary junk (UnicodeDecodeError, a ValueError) ...
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, EOFError, RecursionError,
                OverflowError, zipfile.BadZipFile) as exc:
            raise ValueError(f"ColorTransform.load: {path}: not a readable framefix color transform "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None

    def to_cube(self, path: str | os.PathLike, *, size: int = 33, title: str | None = None) -> None:
        """Export as an Adobe/Resolve ``.cube`` 3D LUT of ``size``^3 entries over 0..1 input, whole
        or not at all (:func:`framefix.outputs.atomic_output`; an existing file is replaced).

        Parameters
        ----------
        path : path-like
            The file to write.
        size : int
            Entries per axis, 2..256.
        title : str, optional
            The LUT's ``TITLE`` (default ``framefix <method>``), on one line.
        """
        from framefix.outputs import atomic_output

        if not (isinstance(size, int) and 2 <= size <= 256):
            raise ValueError(f"ColorTransform.to_cube: size must be an int in 2..256, got {size!r}")
        steps = np.linspace(0, 1, size, dtype=np.float32)
        blue, green, red = np.meshgrid(steps, steps, steps, indexing="ij")  # red varies fastest
        grid = np.stack([red, green, blue], axis=-1).reshape(-1, 1, 3)
        values = self.apply(grid).reshape(-1, 3)
        title = " ".join((title or f"framefix {self.method}").replace('"', "'").split())  # one line, no quotes
        with atomic_output(path, overwrite=True) as temporary, open(temporary, "w") as f:
            f.write(f'TITLE "{title}"\n')
            f.write(f"LUT_3D_SIZE {size}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n")
            np.savetxt(f, values, fmt="%.6f")


def _transform_format(func: str, path) -> str:
    """'json' or 'npz' from a saved transform's extension."""
    path = os.fspath(path)
    for fmt in ("json", "npz"):
        if path.endswith("." + fmt):
            return fmt
    raise ValueError(f"{func}: path must end in .json or .npz, got {path!r}")


def read_cube(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.cube`` 3D LUT (Adobe/Resolve format). Keywords other than LUT_3D_SIZE (TITLE,
    DOMAIN_*, LUT_3D_INPUT_RANGE ...) are skipped; 1D LUTs are refused.

    Parameters
    ----------
    path : path-like
        The file to read.

    Returns
    -------
    ndarray
        ``[b, g, r, channel]``: (N, N, N, 3) float32, entries in file order (red fastest).

    Raises
    ------
    ValueError
        Not a text file, no ``LUT_3D_SIZE`` or one outside 2..256 (the format's range), a row
        that is not three finite numbers, or not ``LUT_3D_SIZE``^3 rows.
    """
    func = "read_cube"
    path = os.fspath(path)
    size = None
    rows: list[list[float]] = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ValueError(f"{func}: {path}: line {number} is not text; not a .cube file") from None
            if "\0" in line:
                raise ValueError(f"{func}: {path}: line {number} is not text; not a .cube file")
            if not line or line.startswith("#"):
                continue
            words = line.split()
            try:
                values = [float(v) for v in words]
            except ValueError:
                values = None
            if values is None:  # a keyword line
                keyword = words[0]
                if keyword == "LUT_3D_SIZE":
                    if size is not None:
                        raise ValueError(f"{func}: {path}: line {number}: LUT_3D_SIZE given twice")
                    if len(words) != 2 or not words[1].isdigit() or not 2 <= int(words[1]) <= 256:
                        raise ValueError(f"{func}: {path}: line {number}: LUT_3D_SIZE must be an integer in "
                                         f"2..256, got {line[len(keyword):].strip()[:40]!r}")
                    size = int(words[1])
                elif keyword == "LUT_1D_SIZE":
                    raise ValueError(f"{func}: {path}: a 1D LUT, not a 3D one")
                elif not keyword[0].isalpha():
                    raise ValueError(f"{func}: {path}: line {number} is not three numbers")
                continue
            if len(values) != 3 or not all(np.isfinite(values)):
                raise ValueError(f"{func}: {path}: line {number} must be three finite numbers, got {line[:60]!r}")
            rows.append(values)
            if len(rows) > (size or 256) ** 3:  # stop early: a huge file does not fill memory
                break
    if size is None:
        raise ValueError(f"{func}: {path}: no LUT_3D_SIZE line; not a 3D LUT")
    if len(rows) != size**3:
        raise ValueError(f"{func}: {path}: LUT_3D_SIZE {size} needs {size**3} rows of 3 numbers, got "
                         f"{len(rows) if len(rows) <= size**3 else 'more'}")
    values = np.array(rows, np.float64)
    if np.abs(values).max() > _FLOAT32_MAX:
        raise ValueError(f"{func}: {path}: entries must fit in float32 (|value| <= {_FLOAT32_MAX:.4g})")
    return values.astype(np.float32).reshape(size, size, size, 3)


# --- how far apart two looks are ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ColorDistance:
    """How far a look is from a reference look: ``cie76``, the Euclidean distance between their
    mean CIELAB colors (``lab`` and ``reference_lab``, L* a* b*), and ``ciede2000``, the CIEDE2000
    difference between the same two colors. About 1 is at the threshold of what a viewer sees
    side by side; a cut between shots 3 or more apart looks like a change of grade."""

    cie76: float
    ciede2000: float
    lab: np.ndarray
    reference_lab: np.ndarray

    @classmethod
    def between(cls, lab, reference_lab) -> ColorDistance:
        """The distance between two mean CIELAB colors (each 3 numbers)."""
        lab, reference_lab = (np.asarray(v, np.float64).reshape(3) for v in (lab, reference_lab))
        return cls(cie76=float(np.linalg.norm(lab - reference_lab)), ciede2000=float(ciede2000(lab, reference_lab)),
                   lab=lab, reference_lab=reference_lab)

    def to_dict(self) -> dict:
        """JSON-ready: the two distances and the two mean colors."""
        return {"cie76": self.cie76, "ciede2000": self.ciede2000, "mean_lab": self.lab.tolist(),
                "reference_mean_lab": self.reference_lab.tolist()}


def ciede2000(lab1, lab2) -> np.ndarray:
    """The CIEDE2000 color difference (CIE 142-2001, as written out by Sharma, Wu and Dalal, 2005,
    with kL = kC = kH = 1).

    Parameters
    ----------
    lab1, lab2 : array_like
        CIELAB colors, ``(..., 3)``, broadcast against each other.

    Returns
    -------
    ndarray
        The differences, float64, shape of the broadcast without the last axis.

    Examples
    --------
    >>> import framefix
    >>> round(float(framefix.ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485])), 4)  # Sharma's first pair
    2.0425
    """
    func = "ciede2000"
    lab1, lab2 = (np.asarray(_validate.as_array(func, name, v), np.float64) for name, v in (("lab1", lab1), ("lab2", lab2)))
    for name, v in (("lab1", lab1), ("lab2", lab2)):
        if v.ndim == 0 or v.shape[-1] != 3:
            raise ValueError(f"{func}: {name} must be (..., 3) CIELAB colors, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError(f"{func}: {name} contains NaN or infinite values")
    (l1, a1, b1), (l2, a2, b2) = np.moveaxis(lab1, -1, 0), np.moveaxis(lab2, -1, 0)
    chroma_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(chroma_mean**7 / (chroma_mean**7 + 25.0**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    chromatic = c1 * c2 != 0  # a neutral color has no hue: its hue difference counts as 0
    dh = np.where(chromatic, (h2 - h1 + 180) % 360 - 180, 0.0)
    d_hue = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh) / 2)
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    h_mean = np.where(np.abs(h1 - h2) <= 180, (h1 + h2) / 2, (h1 + h2 + np.where(h1 + h2 < 360, 360, -360)) / 2)
    h_mean = np.where(chromatic, h_mean, h1 + h2)
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2 * rotation)) * r_c
    dl, dc, dh_ = (l2 - l1) / s_l, (c2 - c1) / s_c, d_hue / s_h
    return np.sqrt(np.maximum(dl**2 + dc**2 + dh_**2 + r_t * dc * dh_, 0.0))


def _mean_lab(frames: list[tuple[np.ndarray, np.ndarray | None]], workers: int) -> np.ndarray:
    """The mean CIELAB color of every selected pixel of every frame."""
    kernels = _backend.implementation()
    total, count = np.zeros(3), 0
    for frame, m in frames:
        lab = kernels.srgb_to_lab(frame, None, workers)
        selected = lab.reshape(-1, 3) if m is None else lab[m]
        total += selected.sum(axis=0, dtype=np.float64)
        count += selected.shape[0]
    return total / count


def color_distance(image, reference, *, mask=None, reference_mask=None, workers=None) -> ColorDistance:
    """How far the look of ``image`` is from that of ``reference``: the CIE76 distance between
    their mean CIELAB colors (sRGB decoded with the IEC 61966-2-1 curve, D65 white), and the
    CIEDE2000 difference of the same two colors.

    The mean colors are those of every selected pixel of every frame, so a shot's look is its
    pooled color, not any one frame's. The measure sees casts (white balance, exposure, offsets)
    and is blind to changes of spread around the mean (contrast, saturation); it is the target
    measure of ``framefix conform``.

    Parameters
    ----------
    image, reference : ndarray or sequence of ndarray
        RGB frames ``(H, W, 3)`` (uint8, uint16 or float32 0..1), a clip ``(T, H, W, 3)`` or a list.
    mask, reference_mask : ndarray of bool, optional
        ``(H, W)`` pixels that count.
    workers : int, optional
        Threads for the conversion to CIELAB.

    Returns
    -------
    ColorDistance

    Examples
    --------
    >>> import numpy as np, framefix
    >>> gray = np.full((4, 4, 3), 118, np.uint8)
    >>> round(framefix.color_distance(gray + 10, gray).cie76, 2)  # 10 codes lighter: about 4 L*
    3.95
    """
    func = "color_distance"
    workers = _backend.resolve_workers(workers, func)
    lab = _mean_lab(_rgb_frames(func, "image", image, mask), workers)
    reference_lab = _mean_lab(_rgb_frames(func, "reference", reference, reference_mask), workers)
    return ColorDistance.between(lab, reference_lab)


# --- whole clips ----------------------------------------------------------------------------------


def sample_frames(path, *, count: int = 8, fps=None) -> list[np.ndarray]:
    """About ``count`` frames spread evenly over a clip, read in one streaming pass (memory stays
    bounded even when the length is unknown), each halved in size: enough for color statistics.

    Parameters
    ----------
    path : path-like
        The clip.
    count : int
        Frames wanted (between ``count`` and ``2 * count`` come back).
    fps : rational, optional
        Frame rate of an image sequence.

    Returns
    -------
    list of ndarray
        Contiguous frames of half the height and width.
    """
    from framefix.io import open_clip

    kept: list[np.ndarray] = []
    stride = 1
    with open_clip(path, fps=fps) as clip:
        if clip.info.frame_count:
            stride = max(1, clip.info.frame_count // count)
        for index, frame in enumerate(clip):
            if index % stride == 0:
                kept.append(np.ascontiguousarray(frame[::2, ::2]))
                if len(kept) > 2 * count:  # the length was unknown or wrong: thin out evenly
                    kept, stride = kept[::2], stride * 2
    return kept


def reference_frames(reference: str, *, fps=None) -> list[np.ndarray]:
    """The frames a ``--reference`` names: ``CLIP@N`` (frame N of a clip), or an image or clip
    (frames sampled across it); halved in size like :func:`sample_frames`.

    Parameters
    ----------
    reference : str
        ``CLIP@N``, an image or a clip.
    fps : rational, optional
        Frame rate of an image sequence.

    Returns
    -------
    list of ndarray
    """
    from framefix.io import read_frame, split_reference

    if split_reference(reference)[1] is None:
        return sample_frames(reference, fps=fps)
    return [np.ascontiguousarray(read_frame(reference, fps=fps)[::2, ::2])]  # halved, as sampled frames are


def load_mask(mask, height: int, width: int, name: str = "mask") -> np.ndarray:
    """A bool (H, W) selection from an array or an image file (pixels brighter than half white).

    Parameters
    ----------
    mask : path-like or ndarray of bool
        An image file, or the selection itself.
    height, width : int
        The size the selection must have.
    name : str
        What to call it in messages.

    Returns
    -------
    ndarray
        ``(height, width)`` bool, selecting at least one pixel.

    Raises
    ------
    ClipError
        The wrong size or type, or nothing selected.
    """
    from framefix.io import ClipError, read_frame

    if isinstance(mask, (str, os.PathLike)):
        image = read_frame(mask)
        top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
        mask = image.max(axis=-1) > top / 2
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (height, width):
        raise ClipError(f"{name} must be a {width}x{height} image or bool array, got {mask.shape} {mask.dtype}")
    if not mask.any():
        raise ClipError(f"{name} selects no pixels")
    return mask


def shrink_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """A full-size selection for frames shrunk as ``frame[::factor, ::factor]``: a pixel of the
    shrunk frame is selected when any pixel of its ``factor`` x ``factor`` block is, so a
    selection of a few pixels off the kept rows and columns (a one-pixel mask, say) is not lost.

    Parameters
    ----------
    mask : ndarray of bool
        ``(H, W)``.
    factor : int
        The step of the shrunk frames, >= 1.

    Returns
    -------
    ndarray
        ``(ceil(H / factor), ceil(W / factor))`` bool, contiguous.
    """
    height, width = mask.shape
    rows, columns = -(-height // factor), -(-width // factor)
    padded = np.zeros((rows * factor, columns * factor), bool)
    padded[:height, :width] = mask
    return np.ascontiguousarray(padded.reshape(rows, factor, columns, factor).any(axis=(1, 3)))


# --- shots: frames kept while a clip streams, one grade each ------------------------------------------

SHOT_SAMPLES = 8          # frames kept across each shot for its fit (between this and twice as many)
BOUNDARY_FRAMES = 2       # frames kept at each end of a shot: what continuity across a cut is judged on
_SAMPLE_PIXELS = 1 << 16  # about this many pixels of each kept frame: plenty for color statistics
_FLAT_SPREAD = 0.02       # luma spread (0..1) below which a shot is flat: no distribution to match
MAX_GAIN = 4.0            # a shot's grade stretches no channel's spread more than this


def sample_factor(height: int, width: int) -> int:
    """The step (``frame[::f, ::f]``) that leaves about 65 000 pixels of a frame."""
    return max(1, math.ceil(math.sqrt(height * width / _SAMPLE_PIXELS)))


@dataclasses.dataclass
class ShotSamples:
    """Frames of one shot ``[start, end)``, shrunk as ``frame[::factor, ::factor]``: ``frames``
    spread evenly across it (flash frames left out), ``head`` and ``tail`` its first and last
    :data:`BOUNDARY_FRAMES` frames."""

    start: int
    end: int
    frames: list = dataclasses.field(default_factory=list)
    head: list = dataclasses.field(default_factory=list)
    tail: list = dataclasses.field(default_factory=list)
    _stride: int = 1

    def add(self, index: int, frame: np.ndarray, flash: bool) -> None:
        if len(self.head) < BOUNDARY_FRAMES:
            self.head.append(frame)
        self.tail = [*self.tail, frame][-BOUNDARY_FRAMES:]
        self.end = index + 1
        if not flash and (index - self.start) % self._stride == 0:
            self.frames.append(frame)
            if len(self.frames) > 2 * SHOT_SAMPLES:  # the shot goes on: keep every other, evenly spread still
                self.frames, self._stride = self.frames[::2], self._stride * 2

    @property
    def fit_frames(self) -> list:
        """The frames the shot's look is taken from (its ends when every frame was a flash)."""
        return self.frames or self.head


@dataclasses.dataclass(frozen=True)
class ShotSampling:
    """What :func:`sample_shots` kept: the clip's description, its ``shots`` (ShotSamples, in
    order), the ``factor`` frames were shrunk by and the ``transitions`` found (None when the
    cuts were given)."""

    info: object
    shots: list
    factor: int
    transitions: object


def sample_shots(source, *, cuts=None, fps=None, workers=None, progress=None) -> ShotSampling:
    """One streaming pass over a clip: its shots (cuts found on the way by a
    :class:`framefix.TransitionTracker`, or given) and, for each, frames spread across it and at
    its ends, shrunk to about 65 000 pixels (memory per shot is bounded, whatever its length).

    Parameters
    ----------
    source : path-like
        The clip.
    cuts : sequence of int, optional
        First frames of the shots after the first; found when not given.
    fps : rational, optional
        Frame rate of an image sequence.
    workers : int, optional
        Threads for the statistics of cut detection.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)``.

    Returns
    -------
    ShotSampling
    """
    from framefix.deflicker import _FlashFrames
    from framefix.io import open_clip
    from framefix.pipeline import _decided, _Prefetch
    from framefix.shots import TransitionTracker

    tracker = TransitionTracker(workers=workers) if cuts is None else None
    cut_set = tracker.cut_set if tracker is not None else {int(c) for c in cuts}
    flashes = _FlashFrames(tracker.flashes if tracker is not None else [])
    shots: list[ShotSamples] = []
    with open_clip(source, fps=fps) as clip:
        info = clip.info
        factor = sample_factor(info.height, info.width)
        frames = _Prefetch(iter(clip), depth=4)
        try:
            stream = frames if tracker is None else _decided(frames, tracker)
            for index, frame in enumerate(stream):
                if index == 0 or index in cut_set:
                    shots.append(ShotSamples(start=index, end=index))
                shots[-1].add(index, np.ascontiguousarray(frame[::factor, ::factor]), index in flashes)
                if progress is not None:
                    progress(index + 1, info.frame_count)
        finally:
            frames.close()
    if not shots:
        raise ValueError(f"{os.fspath(source)}: no frames")
    return ShotSampling(info=info, shots=shots, factor=factor,
                        transitions=None if tracker is None else tracker.finish())


@dataclasses.dataclass(frozen=True)
class ShotGrade:
    """One shot's grade: frames ``[start, end)`` get ``transform``; ``note`` says what the guard
    rails did (empty when nothing: ``flat: left as it is``, ``gain limited to 4x: strength 0.4``)."""

    start: int
    end: int
    transform: ColorTransform
    note: str = ""


def _identity(method: str) -> ColorTransform:
    return ColorTransform(method, [{"kind": "affine", "matrix": np.eye(3), "offset": np.zeros(3)}])


def _spread(frames: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Per-channel standard deviation (0..1 units) of the selected pixels of the frames."""
    return np.sqrt(np.clip(np.diag(_mean_and_covariance(frames, 1)[1]), 0, None))


def guard_grade(transform: ColorTransform, frames, mask=None, *, workers=None) -> tuple[ColorTransform, float, str]:
    """A grade made safe for the shot it was fitted on: a flat shot (luma spread under 2%: a
    black or single-color shot, whose fit would carry the reference's whole spread) is left as it
    is, and a grade that would stretch a channel's spread more than :data:`MAX_GAIN` times is
    blended toward the identity until it does not (tiny selections and near-flat shots).

    Parameters
    ----------
    transform : ColorTransform
        The fitted grade.
    frames : sequence of ndarray
        The shot's frames it was fitted on.
    mask : ndarray of bool, optional
        Their selected pixels.
    workers : int, optional
        Threads.

    Returns
    -------
    (ColorTransform, float, str)
        The grade to use, its strength (1 unchanged, 0 identity) and a note ('' when unchanged).
    """
    checked = _rgb_frames("guard_grade", "source", frames, mask)
    spread = _spread(checked)
    luma_spread = float(np.dot(spread, (0.2126, 0.7152, 0.0722)))
    if luma_spread < _FLAT_SPREAD:
        return _identity(transform.method), 0.0, f"flat (luma spread {100 * luma_spread:.1f}%): left as it is"
    graded = [(transform.apply(frame, workers=workers), m) for frame, m in checked]
    # the quantisation of the source's codes bounds how small a spread is measured
    floor = max(1.0 / 255, float(np.sqrt(_VARIANCE_FLOOR)))
    gain = float(np.max(_spread(graded) / np.maximum(spread, floor)))
    if gain <= MAX_GAIN:
        return transform, 1.0, ""
    strength = (MAX_GAIN - 1) / (gain - 1)
    return transform.blended(strength), strength, f"gain limited to {MAX_GAIN:g}x: strength {strength:.2f}"


class _PerShot(Operation):
    """Pipeline operation: each shot's grade on every frame of it (run with the shots' cuts)."""

    def __init__(self, grades: Sequence[ShotGrade], workers: int):
        self.by_start = {grade.start: grade.transform for grade in grades}
        self.workers = workers

    def process(self, window, position):
        return self.by_start[position.shot_start].apply(window[position.current], workers=self.workers)


class _SmoothedPerFrame(Operation):
    """Pipeline operation: a transform fitted on every frame, parameters averaged over a centred
    window of ``smooth`` frames, so lighting that changes on purpose is followed without the
    frame-to-frame jitter of independent fits."""

    def __init__(self, fitter: ColorFitter, smooth: int, workers: int, mask=None):
        self.fitter, self.workers, self.mask = fitter, workers, mask  # mask: for the halved frames
        self.past, self.future = (smooth - 1) // 2, smooth // 2  # `smooth` frames in all
        self._fits: dict[int, ColorTransform] = {}  # by frame index

    def process(self, window, position):
        current = position.current
        first = position.index - current
        self._fits = {index: fit for index, fit in self._fits.items() if index >= first}
        transforms = []
        for index, frame in enumerate(window, first):
            if index not in self._fits:
                self._fits[index] = self.fitter.fit(frame[::2, ::2], mask=self.mask)
            transforms.append(self._fits[index])
        # a fit on a flat frame (black, say) carries huge gains: it must not leak into neighbours
        usable = [t for t in transforms if not t.degenerate] or [transforms[current]]
        return ColorTransform.mean(usable).apply(window[current], workers=self.workers)

    def reset(self):
        self._fits.clear()


def match_clip_colors(source, target, reference, *, method="mkl", per_frame=False, smooth=1, shots=None,
                      workers=None, fps=None, mask=None, reference_mask=None, save_transform=None, cube=None,
                      progress=None, **write_options) -> list[ShotGrade]:
    """Grade a clip to a reference, shot by shot, and write it.

    The clip's shots are found as it streams (:class:`framefix.TransitionTracker`: changes of
    picture and persistent steps of look) or given. Each shot gets one transform, fitted on
    frames sampled across it and applied to every frame of it: no flicker inside a shot, no
    grade carried across a cut. Flat shots are left as they are and no grade stretches a
    channel's spread more than 4 times (:func:`guard_grade`). With ``per_frame``, each frame
    gets its own fit, averaged over ``smooth`` frames centred on it, never across a cut.

    Every path written is checked before any work (none may be an input or another output;
    existing files are replaced only with ``overwrite``) and written through
    :func:`framefix.outputs.atomic_output`: the side files appear only with the clip.

    Parameters
    ----------
    source : path-like
        The clip to grade.
    target : path-like
        The graded clip: a video file or a folder of numbered images.
    reference : str or ndarray or sequence of ndarray
        An image, a clip (frames sampled across it) or ``CLIP@N`` (frame N), or frames.
    method : {'mkl', 'reinhard', 'hm-mkl-hm', 'histogram'}
        See :func:`fit_color_transform`.
    per_frame : bool
        Fit every frame instead of one grade per shot.
    smooth : int
        With ``per_frame``: average the fits over this many frames.
    shots : path-like or sequence of (int, int), optional
        The shots as ``[start, end)`` frame ranges covering the clip, or a JSON file listing them
        (:func:`framefix.shots.read_shots`: ``framefix analyze --json``'s report); found when not given.
    workers : int, optional
        Threads for the kernels.
    fps : rational, optional
        Frame rate of image-sequence inputs.
    mask, reference_mask : path-like or ndarray of bool, optional
        Full-size selections (bright pixels of an image file select) of the pixels whose
        statistics count, in the source and in the reference; every pixel is graded.
    save_transform : path-like, optional
        Also write the grade as ``.json`` or ``.npz`` (not with ``per_frame``). One file holds one
        grade: without ``shots`` the clip is then graded as one shot (with ``shots``, they must be
        one).
    cube : path-like, optional
        Also write the grade as a 33^3 ``.cube`` LUT, as ``save_transform`` (``framefix conform
        --cube-dir`` writes one per shot).
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)``; without ``per_frame`` the clip
        is read twice (sampling, then grading) and the total counts both passes.
    **write_options
        ``codec``, ``crf``, ``preset``, ``image_format``, ``overwrite``: as for
        :func:`framefix.process_clip`.

    Returns
    -------
    list of ShotGrade
        Each shot's range and grade, and what the guard rails did (empty with ``per_frame``).

    Examples
    --------
    >>> grades = match_clip_colors("edit.mp4", "graded.mp4", "hero.png")  # doctest: +SKIP
    >>> [(g.start, g.end) for g in grades]  # doctest: +SKIP
    [(0, 48), (48, 120)]
    """
    import contextlib

    from framefix.shots import cuts_of_shots
    from framefix.io import is_sequence_target, open_clip, split_reference
    from framefix.outputs import atomic_output, check_distinct, check_output
    from framefix.pipeline import process_clip
    from framefix.shots import TransitionTracker, read_shots

    func = "match_clip_colors"
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"{func}: smooth must be an int >= 1, got {smooth!r}")
    side_files = [p for p in (save_transform, cube) if p]
    if per_frame and side_files:
        raise ValueError(f"{func}: a saved transform or .cube needs one grade for the clip; "
                         "drop --per-frame (per_frame=True fits every frame)")
    if save_transform:
        _transform_format(func, save_transform)  # before any work, not after the clip
    workers = _backend.resolve_workers(workers, func)
    shots_file = shots if isinstance(shots, (str, os.PathLike)) else None
    read = [source, split_reference(reference)[0] if isinstance(reference, str) else None, shots_file]
    read += [m for m in (mask, reference_mask) if isinstance(m, (str, os.PathLike))]
    check_distinct(read, [target, *side_files])
    overwrite = bool(write_options.get("overwrite"))
    check_output(target, overwrite=overwrite, inputs=read, folder=is_sequence_target(os.fspath(target)))
    given_cuts = None
    if shots is not None:
        ranges = read_shots(shots_file) if shots_file is not None else shots
        given_cuts = cuts_of_shots(func, ranges, _last_frame(func, ranges))
    elif side_files:
        given_cuts = []  # one file holds one grade: asked for, the clip gets one, fitted across all of it

    def shrunk_mask(selection, path, name, factor):
        # masks are given at full size; the statistics are taken on shrunk frames
        if selection is None:
            return None
        with open_clip(path, fps=fps) as clip:
            height, width = clip.info.height, clip.info.width
        return shrink_mask(load_mask(selection, height, width, name), factor)

    with contextlib.ExitStack() as stack:
        # side files: written before the clip, renamed into place only once the clip is
        side = {path: stack.enter_context(atomic_output(path, overwrite=overwrite, inputs=read)) for path in side_files}
        if isinstance(reference, str):
            references = reference_frames(reference, fps=fps)
            reference_mask = shrunk_mask(reference_mask, split_reference(reference)[0], "reference mask", 2)
        else:
            references = reference
        fitter = ColorFitter(references, method=method, reference_mask=reference_mask, workers=workers)
        if per_frame:
            with open_clip(source, fps=fps) as clip:
                if shots is not None:
                    _check_frame_count(func, ranges, clip.info.frame_count)
            operation = _SmoothedPerFrame(fitter, smooth, workers, shrunk_mask(mask, source, "mask", 2))
            cuts = TransitionTracker(workers=workers) if given_cuts is None else given_cuts
            process_clip(source, target, [operation], fps=fps, cuts=cuts, progress=progress, **write_options)
            return []
        first, second = _two_passes(progress)
        sampling = sample_shots(source, cuts=given_cuts, fps=fps, workers=workers, progress=first)
        if shots is not None:
            _check_frame_count(func, ranges, sampling.shots[-1].end)
        mask = shrunk_mask(mask, source, "mask", sampling.factor)
        grades = []
        for shot in sampling.shots:
            transform, _, note = guard_grade(fitter.fit(shot.fit_frames, mask=mask), shot.fit_frames, mask,
                                             workers=workers)
            grades.append(ShotGrade(shot.start, shot.end, transform, note))
        if side_files and len(grades) > 1:
            raise ValueError(f"{func}: the shots given are {len(grades)}, each with its own grade: one saved transform "
                             f"or .cube cannot hold them; framefix conform --cube-dir writes one .cube per shot")
        if save_transform:
            grades[0].transform.save(side[save_transform])
        if cube:
            grades[0].transform.to_cube(side[cube])
        process_clip(source, target, [_PerShot(grades, workers)], fps=fps, cuts=[g.start for g in grades[1:]],
                     progress=second, **write_options)
    return grades


def _last_frame(func: str, ranges) -> int:
    try:
        return int(ranges[-1][1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValueError(f"{func}: shots must be (start, end) frame ranges, got {str(ranges)[:80]}") from None


def _check_frame_count(func: str, ranges, frames: int | None) -> None:
    """Given shots must end where the clip does (when the clip's length is known)."""
    end = _last_frame(func, ranges)
    if frames is not None and end != frames:
        raise ValueError(f"{func}: the shots cover {end} frames, the clip has {frames}; were they found on another clip?")


def _two_passes(progress):
    """Progress callbacks for a sampling pass and a writing pass over the same clip: one count
    over both, so a bar runs once from 0 to twice the clip's length."""
    if progress is None:
        return None, None
    frames_read = [0]

    def first(done, total):
        frames_read[0] = done
        progress(done, None if total is None else 2 * total)

    def second(done, total):
        total = total if total is not None else frames_read[0]
        progress(frames_read[0] + done, frames_read[0] + total)

    return first, second
