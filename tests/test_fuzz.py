"""Property tests over every public kernel function: whatever comes in (any shape from empty up,
any dtype, odd strides, NaN, infinities, huge and tiny values, extreme parameters), the answer is
a finite result of the right shape or a TypeError/ValueError naming the function, never anything
else, and both backends give the same answer (bit for bit, or the same error).

Each property is kept to a few seconds (``max_examples``); a failure prints the example that
broke it, to keep as a regression in the module's own tests once fixed.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import framefix
from conftest import BACKENDS, require_backend

DTYPES = [np.uint8, np.uint16, np.float32, np.float64, np.int16, np.bool_]
PIXEL = [np.uint8, np.uint16, np.float32]
# FRAMEFIX_FUZZ_SCALE=10 runs every property ten times longer, for a deeper search now and then
SCALE = int(os.environ.get("FRAMEFIX_FUZZ_SCALE", "1"))
FEW = settings(max_examples=40 * SCALE, deadline=None)


@pytest.fixture
def both(request):
    for name in BACKENDS:
        require_backend(request.config, name)


def _elements(dtype, wild: bool):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        # hypothesis' floats reach the subnormals, the largest finite values and, when wild, NaN and inf
        return st.floats(width=8 * min(dtype.itemsize, 8), allow_nan=wild, allow_infinity=wild)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.integers(int(info.min), int(info.max))
    return st.booleans()


@st.composite
def arrays(draw, shape, dtypes=DTYPES, wild=True):
    """An array of ``shape`` with any of ``dtypes``, laid out C-order, reversed, strided or
    transposed in memory; floats may be non-finite when ``wild``."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    layout = draw(st.sampled_from(["c", "reversed", "strided", "fortran"]))
    wild = wild and draw(st.booleans())
    elements = _elements(dtype, wild)
    if layout == "strided" and len(shape) >= 2:
        big = draw(hnp.arrays(dtype, (shape[0], 2 * shape[1], *shape[2:]), elements=elements))
        return big[:, ::2]
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    if layout == "reversed" and a.ndim:
        return a[::-1]
    if layout == "fortran":
        return np.asfortranarray(a)
    return a


@st.composite
def frame_shapes(draw, min_side=0, max_side=6):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    c = draw(st.sampled_from([None, None, 1, 3, 3, 4, 2]))
    return (h, w) if c is None else (h, w, c)


def reals(low=-1e40, high=1e40):
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(low, high),
                     st.sampled_from([0, 1, -1, 0.5, 1e-45, 1e-300, 3.4e38, 1e300, 10**400]))


def outcome(name, func, *args, **kwargs):
    """("ok", result) or ("error", type, message) for one backend; anything else fails."""
    with framefix.use_backend(name):
        try:
            return "ok", func(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            return "error", type(exc), str(exc)


def check(prefix, func, *args, finite=True, **kwargs):
    """Run on both backends: the same outcome, errors name the function, results are finite."""
    first, second = (outcome(name, func, *args, **kwargs) for name in BACKENDS)
    if first[0] == "error" or second[0] == "error":
        assert first == second, f"backends disagree: {first} / {second}"
        assert first[2].startswith(prefix), f"error does not name {prefix!r}: {first[2]!r}"
        return None
    a, b = first[1], second[1]
    for x, y in zip(_leaves(a), _leaves(b)):
        assert type(x) is type(y)
        if isinstance(x, np.ndarray):
            assert x.shape == y.shape and x.dtype == y.dtype
            np.testing.assert_array_equal(x, y, strict=True)
            if finite and x.dtype.kind == "f":
                assert np.isfinite(x).all(), f"{prefix}: non-finite result from finite input"
        elif isinstance(x, float):
            assert x == y or (np.isnan(x) and np.isnan(y))
    return a


def _leaves(value):
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _leaves(v)
    elif hasattr(value, "__dataclass_fields__"):
        for key in value.__dataclass_fields__:
            yield from _leaves(getattr(value, key))
    else:
        yield value


def _finite_input(*arrays_):
    return all(not (isinstance(a, np.ndarray) and a.dtype.kind == "f") or np.isfinite(a).all() for a in arrays_)


# --- warp and remap ---------------------------------------------------------------------------------


@st.composite
def warp_calls(draw):
    shape = draw(frame_shapes())
    image = draw(arrays(shape))
    flow_shape = (*shape[:2], 2) if draw(st.integers(0, 5)) else draw(frame_shapes())
    flow = draw(arrays(flow_shape, dtypes=[np.float32, np.float32, np.float64]))
    options = {
        "interpolation": draw(st.sampled_from(["nearest", "linear", "cubic", "area"])),
        "border": draw(st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap", "mirror"])),
        "cval": draw(st.one_of(st.just(0), reals())),
        "return_mask": draw(st.booleans()),
    }
    return image, flow, options


@FEW
@given(call=warp_calls())
def test_warp(both, call):
    image, flow, options = call
    finite = _finite_input(image, flow)
    check("warp", framefix.warp, image, flow, finite=finite, **options)


@FEW
@given(call=warp_calls(), transpose=st.booleans())
def test_remap(both, call, transpose):
    image, flow, options = call
    map_x = flow[..., 0] if flow.ndim == 3 else flow
    map_y = flow[..., -1] if flow.ndim == 3 else flow[::-1]
    if transpose:
        map_y = map_y.T
    check("remap", framefix.remap, image, map_x, map_y, finite=_finite_input(image, map_x, map_y), **options)


# --- statistics, transitions, flicker -----------------------------------------------------------


@FEW
@given(frame=frame_shapes().flatmap(arrays), tiles=st.tuples(st.integers(-1, 7), st.integers(-1, 7)))
def test_frame_statistics(both, frame, tiles):
    stats = check("frame_statistics", framefix.frame_statistics, frame, tiles=tiles)
    if stats is not None:
        assert stats.mean.shape == stats.std.shape == (frame.shape[2] if frame.ndim == 3 else 1,)
        assert np.isfinite(stats.mean).all() and np.isfinite(stats.tile_means).all()


@st.composite
def statistics(draw):
    frames = draw(st.integers(1, 6))
    channels = draw(st.sampled_from([None, 3]))
    shape = (4, 5) if channels is None else (4, 5, 3)
    return [framefix.frame_statistics(draw(arrays(shape, dtypes=PIXEL, wild=False)), tiles=(2, 2))
            for _ in range(frames)]


@FEW
@given(stats=statistics(), ratio=reals(), min_score=reals(), window=st.one_of(st.integers(-1, 12), reals()),
       black=reals(), threshold=reals())
def test_transitions_and_flicker(stats, ratio, min_score, window, black, threshold):
    for call in (lambda: framefix.detect_transitions(stats, ratio=ratio, min_score=min_score, window=window,
                                                      black=black),
                 lambda: framefix.measure_flicker(stats, window=window, threshold=threshold, black=black),
                 lambda: framefix.excluded_frames(stats, black=black)):
        try:
            result = call()
        except (TypeError, ValueError) as exc:
            assert str(exc).split(":")[0] in ("detect_transitions", "measure_flicker", "excluded_frames")
            continue
        for leaf in _leaves(result):
            if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
                assert np.isfinite(leaf).all()
            elif isinstance(leaf, float):
                assert np.isfinite(leaf)


# --- color ------------------------------------------------------------------------------------------


@FEW
@given(image=frame_shapes().flatmap(arrays), reference=frame_shapes().flatmap(arrays),
       channel_axis=st.sampled_from([-1, None, 0]), strength=st.one_of(st.just(1), reals()))
def test_match_histograms(both, image, reference, channel_axis, strength):
    result = check("match_histograms", framefix.match_histograms, image, reference, channel_axis=channel_axis,
                   strength=strength)
    if result is not None:
        assert result.shape == image.shape and result.dtype == image.dtype


@FEW
@given(source=frame_shapes().flatmap(arrays), reference=frame_shapes().flatmap(arrays),
       method=st.sampled_from(["mkl", "reinhard", "hm-mkl-hm", "histogram", "lut"]),
       target=st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(lambda hw: arrays((*hw, 3), wild=False)))
def test_color_transforms(both, source, reference, method, target):
    transform = check("fit_color_transform", framefix.fit_color_transform, source, reference, method=method)
    if transform is None:
        return
    for stage in transform.stages:
        assert all(np.isfinite(v).all() for k, v in stage.items() if k != "kind")
    result = check("ColorTransform.apply", transform.apply, target)
    if result is not None:
        assert result.shape == target.shape and result.dtype == target.dtype


# --- flow and temporal measures ------------------------------------------------------------------

SMALL_FLOW = {"patch": st.integers(1, 20), "stride": st.integers(0, 9), "iterations": st.integers(-1, 4),
              "finest_level": st.integers(0, 3), "refine_iterations": st.integers(0, 2),
              "refine_sweeps": st.integers(0, 3), "refine_levels": st.integers(-1, 3),
              "full_refine_iterations": st.integers(-1, 2), "fill_occlusions": st.booleans(),
              "presmooth": st.integers(-1, 3),
              "smoothness": reals(), "gradient_constancy": reals(), "brightness_constancy": reals()}


@st.composite
def flow_frames(draw, wild=True):
    shape = draw(st.sampled_from([(16, 17), (17, 16, 3), (18, 20, 1), (16, 16, 4), (12, 16), (0, 16)]))
    dtypes = draw(st.sampled_from([[np.uint8], [np.uint16], [np.float32], DTYPES]))
    return draw(arrays(shape, dtypes=dtypes, wild=wild)), draw(arrays(shape, dtypes=dtypes, wild=wild))


@settings(max_examples=25 * SCALE, deadline=None)
@given(frames=flow_frames(), overrides=st.fixed_dictionaries({}, optional=SMALL_FLOW),
       init=st.one_of(st.none(), st.just("zero"), reals()))
def test_estimate_flow(both, frames, overrides, init):
    prev, next_ = frames
    if init == "zero":
        init = np.zeros((*prev.shape[:2], 2), np.float32)
    elif init is not None:
        value = float(min(max(init, -3e38), 3e38))  # float32 itself cannot hold more; NaN stays NaN
        init = np.full((*prev.shape[:2], 2), value, np.float32)
    flow = check("estimate_flow", framefix.estimate_flow, prev, next_, preset="ultrafast", init=init, **overrides)
    if flow is not None:
        assert flow.shape == (*prev.shape[:2], 2) and flow.dtype == np.float32


@FEW
@given(forward=st.sampled_from([(1, 1), (3, 4), (5, 2), (0, 3)]).flatmap(
           lambda hw: arrays((*hw, 2), dtypes=[np.float32, np.float32, np.float64])),
       transpose=st.booleans(), alpha=reals(), beta=reals(), soft=st.booleans(), boundaries=st.booleans())
def test_flow_consistency(both, forward, transpose, alpha, beta, soft, boundaries):
    backward = np.ascontiguousarray(forward[::-1])
    if transpose:
        backward = backward.transpose(1, 0, 2)
    result = check("flow_consistency", framefix.flow_consistency, forward, backward, alpha=alpha, beta=beta,
                   soft=soft, motion_boundaries=boundaries)
    if result is not None:
        assert result.shape == forward.shape[:2]
        if soft:
            assert ((result >= 0) & (result <= 1)).all()


@FEW
@given(flow=st.sampled_from([(1, 1), (3, 4), (0, 2)]).flatmap(
    lambda hw: arrays((*hw, 2), dtypes=[np.float32, np.float32, np.float64])), top=st.one_of(st.none(), reals()))
def test_flow_to_color(flow, top):
    try:
        colors = framefix.flow_to_color(flow, max_magnitude=top)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith("flow_to_color")
        return
    assert colors.shape == (*flow.shape[:2], 3) and colors.dtype == np.uint8


@settings(max_examples=15 * SCALE, deadline=None)
@given(frames=flow_frames(), preset=st.sampled_from(["ultrafast", "fast", "slow"]))
def test_warping_error_and_temporal_inconsistency(both, frames, preset):
    prev, next_ = frames
    finite = _finite_input(prev, next_)
    result = check("warping_error", framefix.warping_error, prev, next_, preset=preset)
    if result is not None and finite:
        assert result.valid.shape == prev.shape[:2]
        assert np.isfinite(result.error) or not result.valid.any()  # NaN only when nothing is measured
    # NaN marks the pixels the check rejects: documented, so not "finite" here
    residual = check("temporal_inconsistency", framefix.temporal_inconsistency, prev, next_, preset=preset,
                     finite=False)
    if residual is not None:
        assert residual.shape == prev.shape[:2] and not np.isinf(residual).any()


# --- deflicker on tiny clips --------------------------------------------------------------------


@st.composite
def clips(draw):
    shape = draw(st.sampled_from([(1, 4, 5), (3, 4, 5, 3), (4, 16, 16), (2, 3, 2, 4), (0, 4, 4), (3, 0, 4)]))
    clip = draw(arrays(shape, dtypes=[np.uint8, np.uint16, np.float32, np.float32, np.float64]))
    return clip


@settings(max_examples=20 * SCALE, deadline=None)
@given(clip=clips(),
       mode=st.sampled_from(["global", "local", "auto", "none"]), strength=st.one_of(st.just(1.0), reals()),
       window=st.one_of(st.none(), st.integers(-1, 5)))
def test_deflicker(both, clip, mode, strength, window):
    result = check("deflicker", framefix.deflicker, clip, mode=mode, strength=strength, window=window)
    if result is not None:
        assert result.shape == clip.shape and result.dtype == clip.dtype


@pytest.mark.parametrize("mode", ["global", "local"])
def test_deflicker_of_float_clips_below_black(both, mode):
    # a fuzz finding: float frames all <= 0 reached the tone-curve kernel, whose error named it;
    # and negative pixels must not reach the local stage's logarithm
    clip = np.full((2, 4, 5), -1, np.float32)
    np.testing.assert_array_equal(check("deflicker", framefix.deflicker, clip, mode=mode), clip)
    mixed = np.random.default_rng(0).uniform(-1, 0.3, (6, 40, 48, 3)).astype(np.float32)
    assert np.isfinite(check("deflicker", framefix.deflicker, mixed, mode=mode)).all()


def test_deflicker_of_float_clips_near_the_float32_limit(both):
    # a fuzz finding: values near float32's maximum overflowed in the analysis' blur (inf from
    # finite input); they are refused by name, as flow and color refuse them
    clip = np.full((3, 8, 8, 3), 3e38, np.float32)
    with pytest.raises(ValueError, match=r"deflicker: frames must hold values within"):
        framefix.deflicker(clip)
