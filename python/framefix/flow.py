"""Dense optical flow: the estimator (patch inverse search plus variational refinement), the
forward-backward consistency check that finds occlusions, Middlebury .flo files and the
Middlebury color coding. The temporal measures built on them (warping error, inconsistency map)
are in :mod:`framefix.temporal`.

Flows are ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels, from frame A to frame B:
``A[y, x] ~ B[y + dy, x + dx]``.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import numbers
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from framefix import _validate

__all__ = ["PRESETS", "estimate_flow", "flow_consistency", "flow_to_color", "read_flo", "write_flo"]

_FLO_MAGIC = np.float32(202021.25)  # the bytes "PIEH" read as a little-endian float32
_FLO_MAX_SIDE = 1 << 20


def _check_flow(func: str, name: str, flow) -> np.ndarray:
    a = _validate.as_array(func, name, flow)
    if a.dtype != np.float32 or a.ndim != 3 or a.shape[2] != 2:
        error = TypeError if a.ndim == 3 and a.shape[2:] == (2,) else ValueError
        raise error(f"{func}: {name} must be (H, W, 2) float32, got {a.shape} {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{func}: {name} must not be empty, got shape {a.shape}")
    return a


def write_flo(path: str | os.PathLike, flow) -> None:
    """Write a flow as a Middlebury ``.flo`` file (little-endian float32, "PIEH" header).

    The file is written whole or not at all (:func:`framefix.outputs.atomic_output`); an
    existing file is replaced.

    Parameters
    ----------
    path : path-like
        The file to write.
    flow : ndarray
        ``(H, W, 2)`` float32.
    """
    from framefix.outputs import atomic_output

    flow = _check_flow("write_flo", "flow", flow)
    height, width = flow.shape[:2]
    with atomic_output(path, overwrite=True) as temporary, open(temporary, "wb") as f:
        f.write(_FLO_MAGIC.astype("<f4").tobytes())
        f.write(np.array([width, height], "<i4").tobytes())
        f.write(np.ascontiguousarray(flow, "<f4").tobytes())


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file into an ``(H, W, 2)`` float32 flow.

    Parameters
    ----------
    path : path-like
        The file to read.

    Returns
    -------
    ndarray
        ``(H, W, 2)`` float32.

    Raises
    ------
    ValueError
        Not a .flo file (wrong magic number), an impossible size, or a file shorter or longer
        than its header says (truncated or corrupt).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12:
            raise ValueError(f"read_flo: {path}: too short for a .flo header ({len(header)} bytes)")
        if np.frombuffer(header[:4], "<f4")[0] != _FLO_MAGIC:
            raise ValueError(f"read_flo: {path}: not a .flo file (bad magic number)")
        width, height = (int(v) for v in np.frombuffer(header[4:], "<i4"))
        if not (0 < width <= _FLO_MAX_SIDE and 0 < height <= _FLO_MAX_SIDE):
            raise ValueError(f"read_flo: {path}: impossible size {width}x{height}")
        expected = width * height * 2 * 4
        # a corrupt header can claim terabytes: check against the file before allocating anything,
        # and read pipes in pieces, so that memory only grows with data that really arrives
        info = os.fstat(f.fileno())
        if stat.S_ISREG(info.st_mode):
            available = info.st_size - 12
            if available < expected:
                raise ValueError(f"read_flo: {path}: truncated ({max(available, 0)} data bytes, {width}x{height} "
                                 f"needs {expected})")
            data = f.read(expected + 1)
        else:
            pieces, received = [], 0
            while received <= expected:
                piece = f.read(min(expected + 1 - received, 1 << 26))
                if not piece:
                    break
                pieces.append(piece)
                received += len(piece)
            data = b"".join(pieces)
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"read_flo: {path}: {state} ({len(data)} data bytes, {width}x{height} needs {expected})")
    return np.frombuffer(data, "<f4").astype(np.float32).reshape(height, width, 2)


def _color_wheel() -> np.ndarray:
    # Baker et al.'s Middlebury wheel: hue segments red-yellow, yellow-green, green-cyan,
    # cyan-blue, blue-magenta, magenta-red, with more steps where the eye tells hues apart best.
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)), (4, (0, 255, 0), (0, 255, 255)),
                (11, (0, 255, 255), (0, 0, 255)), (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    colors = []
    for steps, start, end in segments:
        t = np.arange(steps)[:, None] / steps
        colors.append((1 - t) * np.array(start) + t * np.array(end))
    return np.concatenate(colors) / 255.0  # (55, 3)


def flow_to_color(flow, *, max_magnitude: float | None = None) -> np.ndarray:
    """The Middlebury color coding of a flow: hue is the direction, saturation the magnitude.

    Parameters
    ----------
    flow : ndarray
        ``(H, W, 2)`` float32.
    max_magnitude : float, optional
        The magnitude shown fully saturated; default: the flow's largest finite magnitude. Longer
        vectors are drawn darker. Non-finite vectors are black.

    Returns
    -------
    ndarray
        ``(H, W, 3)`` uint8 RGB; zero motion is white.
    """
    flow = _check_flow("flow_to_color", "flow", flow)
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    finite = np.isfinite(u) & np.isfinite(v)
    u, v = np.where(finite, u, 0), np.where(finite, v, 0)
    radius = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(radius.max()) if radius.size else 0.0
    else:
        max_magnitude = _validate.real("flow_to_color", "max_magnitude", max_magnitude, low=0, low_open=True)
    scale = max(max_magnitude, np.finfo(np.float64).eps)
    radius, u, v = radius / scale, u / scale, v / scale
    wheel = _color_wheel()
    angle = np.arctan2(-v, -u) / np.pi  # -1..1
    position = (angle + 1) / 2 * (len(wheel) - 1)
    below = np.floor(position).astype(np.int64)
    above = (below + 1) % len(wheel)
    t = (position - below)[..., None]
    color = (1 - t) * wheel[below] + t * wheel[above]
    inside = (radius <= 1)[..., None]
    color = np.where(inside, 1 - radius[..., None] * (1 - color), color * 0.75)
    color[~finite] = 0
    return np.rint(np.clip(color, 0, 1) * 255).astype(np.uint8)


def flow_consistency(forward, backward, *, alpha: float = 0.01, beta: float = 0.5, motion_boundaries: bool = True,
                     soft: bool = False, workers: int | None = None) -> np.ndarray:
    """Where a forward flow is confirmed by the backward flow (Sundaram, Brox & Keutzer 2010).

    A pixel x is consistent when ``|f(x) + b(x + f(x))|^2 < alpha (|f|^2 + |b(x + f)|^2) + beta``:
    going forward then back returns near the start, with a tolerance that grows with the motion
    (float32 arithmetic; a tolerance of 0 counts as 1e-12).
    It is not when x + f(x) leaves the frame, and, with ``motion_boundaries``, where the forward
    flow changes abruptly (``|grad u|^2 + |grad v|^2 > 0.01 |f|^2 + 0.002``), since flows there
    are unreliable.

    Parameters
    ----------
    forward, backward : ndarray
        ``(H, W, 2)`` float32 flows from A to B and from B to A.
    alpha, beta : float
        Relative and absolute (pixels squared) tolerances.
    soft : bool
        Return a confidence in 0..1 (float32) instead of a bool mask:
        ``exp(-error / tolerance)``, 0 outside the frame and on motion boundaries.
    workers : int, optional
        Threads; the result does not depend on them.

    Returns
    -------
    ndarray
        ``(H, W)`` bool (True = consistent), or float32 confidence with ``soft``.
    """
    func = "flow_consistency"
    forward = _check_flow(func, "forward", forward)
    backward = _check_flow(func, "backward", backward)
    if forward.shape != backward.shape:
        raise ValueError(f"{func}: forward and backward must have the same shape, got {forward.shape} and {backward.shape}")
    # the kernels compute in float32: the tolerances must be finite there
    alpha = _validate.real(func, "alpha", alpha, low=0, high=_validate.FLOAT32_MAX)
    beta = _validate.real(func, "beta", beta, low=0, high=_validate.FLOAT32_MAX)
    from framefix import _backend

    workers = _backend.resolve_workers(workers, func)
    ratio = _backend.implementation().consistency_ratio(forward, backward, float(alpha), float(beta),
                                                         bool(motion_boundaries), workers)
    if soft:
        # +inf (outside, motion boundary) -> 0; NaN (non-finite flows where a vector lands) -> 0
        return np.where(np.isnan(ratio), np.float32(0), np.exp(-ratio))
    return ratio < 1


# --- estimation -----------------------------------------------------------------------------------

# Patch stage: patch side, patch spacing, Gauss-Newton steps per patch, the finest pyramid
# level solved (0: full resolution; 1: half, then upsampled ...), and whether patches are offered
# their neighbours' flows (DIS's spatial propagation: recovers motion boundaries and large
# displacements the coarse levels blurred). Variational refinement after the
# patch stage: fixed-point iterations (0: none), SOR sweeps per iteration, on how many levels
# counted up from the finest solved one (0: all; the fast presets refine only their last one or
# two: with so few iterations, refining the coarsest levels smoothed small fast objects into
# their background before propagation could spread their motion; bench/test_bench_flow.py measures),
# and the weights of smoothness, gradient constancy and brightness constancy; a last refinement
# at full resolution of the flow upsampled from a coarser finest level (``medium``: one
# iteration, paid for with fewer Gauss-Newton steps; it put medium's motorcycle EPE below DIS's).
# Then, for
# ``accurate``, the occlusion fill: the backward flow too, and where the two disagree (and within
# 5 px of a mismatch, where both smear the occluder's motion alike), the flow of the nearest
# trusted pixel left, right, above or below whose side (the mean luma of 16 pixels outwards)
# looks more like the pixel (twice the time; on the development set it cut the layered scenes'
# EPE to about a third). ``accurate``'s refinement at full resolution also works on presmoothed
# planes (two passes of a 3x3 binomial blur, sigma 1 px): there a generated clip's GIF dithering
# is texture that does not move with the picture, and flat skies got a flow of noise, which the
# occlusion fill then spread in streaks (57% of pixels forward-backward consistent on four
# AnimateDiff clips, DIS medium 83%; 80% with it, for 2% more mean EPE on the development set).
# Last, each filled pixel takes the median of the filled flow around it (17 x 17, separably):
# the fill chooses each pixel's side on its own, and where most of an area is untrusted
# neighbours chose differently, in streaks (mean EPE 0.68 -> 0.58 px, motorcycle 2.02 -> 1.91,
# the AnimateDiff clips 89% consistent). Every setting can be overridden by keyword.
PRESETS = {
    "ultrafast": {"patch": 6, "stride": 5, "iterations": 5, "finest_level": 2, "propagation": True, "refine_iterations": 3,
                  "refine_sweeps": 4, "refine_levels": 1, "full_refine_iterations": 0, "fill_occlusions": False,
                  "presmooth": 0, "smoothness": 1.5, "gradient_constancy": 3.0, "brightness_constancy": 1.0},
    "fast": {"patch": 6, "stride": 5, "iterations": 8, "finest_level": 2, "propagation": True, "refine_iterations": 3,
             "refine_sweeps": 5, "refine_levels": 2, "full_refine_iterations": 0, "fill_occlusions": False,
             "presmooth": 0, "smoothness": 1.5, "gradient_constancy": 3.0, "brightness_constancy": 1.0},
    "medium": {"patch": 6, "stride": 5, "iterations": 7, "finest_level": 1, "propagation": True, "refine_iterations": 5,
               "refine_sweeps": 4, "refine_levels": 0, "full_refine_iterations": 1, "fill_occlusions": False,
               "presmooth": 0, "smoothness": 2.0, "gradient_constancy": 4.0, "brightness_constancy": 1.0},
    "accurate": {"patch": 6, "stride": 4, "iterations": 16, "finest_level": 0, "propagation": True, "refine_iterations": 6,
                 "refine_sweeps": 8, "refine_levels": 0, "full_refine_iterations": 0, "fill_occlusions": True,
                 "presmooth": 2, "smoothness": 1.5, "gradient_constancy": 5.0, "brightness_constancy": 1.0},
}
#: What the flicker measures (warping error, temporal inconsistency, ``analyze``) and the
#: deflicker change in their preset: 8-pixel patches with 12 Gauss-Newton steps. The presets'
#: 6-pixel patches are more accurate on clean pairs, but on small frames a regional brightness
#: pulse (30% on a 176x144 clip) moves them: the flicker being measured would read as motion.
#: They also refine every level, as the deflicker was validated with (the fast presets' own
#: ``refine_levels`` came later, from accuracy on the flow development set), and leave
#: occlusions unfilled: the measures run their own forward-backward check on both flows.
FLICKER_ROBUST = {"patch": 8, "iterations": 12, "refine_levels": 0, "fill_occlusions": False}
_INTEGER_SETTINGS = {"patch": 2, "stride": 1, "iterations": 0, "finest_level": 0, "refine_iterations": 0,
                     "refine_sweeps": 0, "refine_levels": 0,
                     "full_refine_iterations": 0, "presmooth": 0}  # and their smallest values
_OVER_RELAXATION = 1.8  # SOR's omega
_NORMALISATION = (4, 0.02)  # local normalisation before refinement: window radius, epsilon (0..1 units)
MIN_SIDE = 16  # smallest frame side the estimator takes
MAX_PRESMOOTH = 32  # blur passes: sigma 4 px, past any noise; more only wipes out the texture
_WEIGHT_RANGE = (1e-6, 1e6)  # of the refinement's weights (constancy weights may also be 0)
# Largest |component| of an initial flow: beyond 2^24 pixels float32 positions no longer resolve
# whole pixels (and at 1e30 the arithmetic overflows).
MAX_INIT = float(1 << 24)


def _checked_frame(func: str, name: str, frame) -> np.ndarray:
    view = _validate.frame(func, name, _validate.as_array(func, name, frame))
    _validate.moderate_floats(func, name, view)  # normalising squares and sums them over windows
    return view


def estimate_flow(prev, next, *, preset: str = "medium", init=None, workers=None, **overrides) -> np.ndarray:
    """Dense optical flow from ``prev`` to ``next``: ``prev[y, x] ~ next[y + dy, x + dx]``.

    A Dense Inverse Search-class estimator (Kroeger et al., ECCV 2016): on an image pyramid,
    coarse to fine, square patches on a grid are aligned by inverse-compositional Gauss-Newton,
    starting from the coarser level's flow, then blended into a dense field; then a variational
    refinement (Brox et al. 2004, as in DIS: robust brightness and gradient constancy plus robust
    smoothness, a few lagged fixed-point iterations of red-black SOR) makes it smooth, sub-pixel
    accurate, and fills flat and out-of-frame areas from their neighbours. Patches are compared
    after zero-mean, unit-variance normalisation and the refinement runs on locally normalised
    images (9x9 windows), so exposure flicker between the frames, even uneven across the frame,
    barely moves the result. Color frames are converted to Rec. 709 luma.

    Parameters
    ----------
    prev, next : ndarray
        Frames of the same shape, uint8, uint16 or float32 (finite, within +-1e6), gray or color;
        each side at least 16 pixels and at least the patch size.
    preset : {'ultrafast', 'fast', 'medium', 'accurate'}
        Speed against accuracy; see ``framefix.flow.PRESETS`` for the settings.
    init : ndarray, optional
        ``(H, W, 2)`` float32 flow to start from (e.g. the previous pair's flow in a clip);
        finite, components within +-2^24 pixels.
    workers : int, optional
        Threads; the result does not depend on them.
    **overrides
        Replace the preset's values: ``patch`` (side), ``stride`` (spacing of patch origins),
        ``iterations`` (Gauss-Newton steps per patch), ``finest_level`` (0: solve at full
        resolution, 1: at half and upsample, ...), ``propagation`` (offer every patch its
        neighbours' flows), ``refine_iterations`` (fixed-point iterations
        of the refinement, 0: none), ``refine_sweeps`` (SOR sweeps per iteration),
        ``refine_levels`` (the refinement runs on this many pyramid levels, counted up from
        the finest solved one; 0: on every level), ``full_refine_iterations`` (fixed-point
        iterations of a last refinement at full resolution when ``finest_level`` is above 0:
        sharpens the upsampled flow's edges; 0: none), ``fill_occlusions`` (also estimate the
        backward flow and, where the two disagree (occlusions, mismatches: the forward-backward
        check of `flow_consistency`) and within 5 pixels of a mismatch, give pixels the flow of
        the nearest trusted pixel to their left, right, top or bottom, on the side whose mean
        luma over 16 pixels is closer to theirs, then, component by component, the median over
        17 rows of the medians over 17 columns of the filled flow; about doubles the time),
        ``presmooth``
        (passes, 0 to 32, of a 3x3 binomial blur, [1 2 1] / 4 each way, of both frames' luma
        before the refinement at full resolution; 2 passes: a Gaussian of sigma 1 px. It takes
        out pixel-scale noise that does not move with the picture, such as a GIF's palette
        dithering, which would otherwise give flat areas a flow of noise; the patches still
        match the sharp frames; 0: none),
        ``smoothness``, ``gradient_constancy``,
        ``brightness_constancy`` (the refinement's weights, for images in 0..1: smoothness in
        1e-6..1e6, the others 0 or up to 1e6).

    Raises
    ------
    TypeError
        A frame or ``init`` of the wrong dtype, an unknown setting.
    ValueError
        Any other argument out of its range, named in the message.

    Returns
    -------
    ndarray
        ``(H, W, 2)`` float32.

    Examples
    --------
    >>> import numpy as np, framefix
    >>> y, x = np.mgrid[0:64, 0:96].astype(np.float32)
    >>> a = (0.5 + 0.25 * np.sin(x / 5) * np.cos(y / 7)).astype(np.float32)
    >>> b = framefix.warp(a, np.full((64, 96, 2), -1.5, np.float32), border="reflect")  # moved 1.5 px
    >>> flow = framefix.estimate_flow(a, b, preset="fast")
    >>> np.round(np.median(flow[16:-16, 16:-16], axis=(0, 1)), 1).tolist()
    [1.5, 1.5]
    """
    func = "estimate_flow"
    settings = _settings(func, preset, overrides)
    first, second = _checked_frame(func, "prev", prev), _checked_frame(func, "next", next)
    if first.shape[:2] != second.shape[:2]:
        raise ValueError(f"{func}: prev and next must have the same height and width, got {first.shape[:2]} and "
                         f"{second.shape[:2]}")
    h, w = first.shape[:2]
    _check_size(func, h, w, settings)
    if init is not None:
        init = _check_flow(func, "init", init)
        if init.shape[:2] != (h, w):
            raise ValueError(f"{func}: init must be ({h}, {w}, 2) float32, got {init.shape} {init.dtype}")
        if not np.isfinite(init).all():
            raise ValueError(f"{func}: init contains NaN or infinite values")
        largest = float(np.abs(init).max())
        if largest > MAX_INIT:
            raise ValueError(f"{func}: init must hold vectors with components within +-2^24 pixels, got {largest:g}")
    from framefix import _backend

    workers = _backend.resolve_workers(workers, func)
    kernels = _backend.implementation()
    if first.dtype != second.dtype or first.shape != second.shape:  # e.g. a gray frame against a color one
        return _flow_from_luma(kernels.flow_luma(first, workers), kernels.flow_luma(second, workers), settings, init,
                               workers)
    return kernels.flow_from_frames(first, second, init, *_kernel_arguments(settings).values(), workers)


def _settings(func: str, preset: str, overrides: dict) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"{func}: preset must be one of {', '.join(map(repr, PRESETS))}, got {preset!r}")
    settings = dict(PRESETS[preset])
    unknown = set(overrides) - set(settings)
    if unknown:
        raise TypeError(f"{func}: unknown settings {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(overrides)
    for key, low in _INTEGER_SETTINGS.items():
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{func}: {key} must be an int >= {low}, got {value!r}")
    if settings["presmooth"] > MAX_PRESMOOTH:
        raise ValueError(f"{func}: presmooth must be an int in 0..{MAX_PRESMOOTH} (blur passes), "
                         f"got {settings['presmooth']!r}")
    for key in ("propagation", "fill_occlusions"):
        if not isinstance(settings[key], (bool, np.bool_)):
            raise ValueError(f"{func}: {key} must be True or False, got {settings[key]!r}")
        settings[key] = bool(settings[key])
    if settings["stride"] > settings["patch"]:
        raise ValueError(f"{func}: stride must be at most patch ({settings['patch']}: every pixel needs a patch), "
                         f"got {settings['stride']!r}")
    for key in ("smoothness", "gradient_constancy", "brightness_constancy"):
        value = settings[key]
        # Beyond these the float32 arithmetic of the refinement overflows (3e38 weights) or its
        # systems lose their diagonal (denormal smoothness): all-NaN flow, or ZeroDivisionError
        # in the Numba twin. Presets use about 1; the bounds leave six decades either way.
        low = _WEIGHT_RANGE[0] if key == "smoothness" else 0.0
        usable = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not (usable and low <= value <= _WEIGHT_RANGE[1]):  # NaN fails the comparison
            raise ValueError(f"{func}: {key} must be a number in {low:g}..{_WEIGHT_RANGE[1]:g} (weights for images "
                             f"in 0..1), got {value!r}")
        settings[key] = float(value)
    return settings


def _check_size(func: str, height: int, width: int, settings: dict) -> None:
    smallest = max(MIN_SIDE, settings["patch"])
    if min(height, width) < smallest:
        raise ValueError(f"{func}: frames must be at least {smallest} pixels on each side, got {width}x{height}")


def kernel_settings(preset: str = "medium", **overrides) -> dict:
    """The flow estimator's kernel arguments for a preset, for code that calls the kernel directly.

    ``flow_from_luma`` in ``framefix.cython_kernels`` (see its ``.pxd``) takes these values in
    this order after the planes and flows; ``estimate_flow`` passes the same.

    Parameters
    ----------
    preset : {'ultrafast', 'fast', 'medium', 'accurate'}
        As for `estimate_flow`.
    **overrides
        As for `estimate_flow` (``patch``, ``smoothness``, ...).

    Returns
    -------
    dict
        ``patch``, ``stride``, ``iterations``, ``finest_level`` (ints), ``propagation`` (bool),
        ``alpha``, ``gamma``,
        ``delta`` (the smoothness, gradient and brightness constancy weights), ``fixed_point``,
        ``sor``, ``refine_levels``, ``full_refine_iterations`` (refinement iterations, sweeps,
        levels, and iterations at full resolution), ``fill_occlusions`` (bool), ``presmooth``
        (blur passes), ``omega``
        (over-relaxation), ``radius``, ``epsilon`` (local normalisation), in the kernel's order.

    Raises
    ------
    TypeError
        An unknown setting.
    ValueError
        An unknown preset or a setting out of its range, named in the message.

    Examples
    --------
    >>> import framefix.flow
    >>> list(framefix.flow.kernel_settings("fast"))[:4]
    ['patch', 'stride', 'iterations', 'finest_level']
    """
    return _kernel_arguments(_settings("kernel_settings", preset, overrides))


def _kernel_arguments(settings: dict) -> dict:
    return {"patch": settings["patch"], "stride": settings["stride"], "iterations": settings["iterations"],
            "finest_level": settings["finest_level"], "propagation": settings["propagation"], "alpha": settings["smoothness"],
            "gamma": settings["gradient_constancy"], "delta": settings["brightness_constancy"],
            "fixed_point": settings["refine_iterations"], "sor": settings["refine_sweeps"],
            "refine_levels": settings["refine_levels"], "full_refine_iterations": settings["full_refine_iterations"],
            "fill_occlusions": settings["fill_occlusions"], "presmooth": settings["presmooth"],
            "omega": _OVER_RELAXATION, "radius": _NORMALISATION[0],
            "epsilon": _NORMALISATION[1]}


def _flow_from_luma(i0: np.ndarray, i1: np.ndarray, settings: dict, init, workers: int) -> np.ndarray:
    """The estimator proper, from the two luma planes (validated settings and sizes)."""
    from framefix import _backend

    return _backend.implementation().flow_from_luma(i0, i1, init, *_kernel_arguments(settings).values(), workers)


_flow_helper: ThreadPoolExecutor | None = None
_flow_helper_lock = threading.Lock()


def _forget_flow_helper_in_child() -> None:
    # the helper's thread does not exist in a forked child; a fresh one is made on demand
    global _flow_helper, _flow_helper_lock
    _flow_helper, _flow_helper_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_flow_helper_in_child)


def _flow_pair(i0: np.ndarray, i1: np.ndarray, settings: dict, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(flow i0 -> i1, flow i1 -> i0) from luma planes; with two or more workers the two run side
    by side, each on its share of the workers. The backward flow runs on one long-lived helper
    thread, whose kernel scratch memory then serves pair after pair."""
    global _flow_helper
    if workers < 2:
        return _flow_from_luma(i0, i1, settings, None, 1), _flow_from_luma(i1, i0, settings, None, 1)
    with _flow_helper_lock:
        if _flow_helper is None:
            _flow_helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framefix-flow")
        # in the caller's context: the helper thread must run the backend the caller chose
        backward = _flow_helper.submit(contextvars.copy_context().run, _flow_from_luma, i1, i0, settings, None,
                                       workers - workers // 2)
    try:
        forward = _flow_from_luma(i0, i1, settings, None, workers // 2)
    finally:
        concurrent.futures.wait([backward])
    return forward, backward.result()
