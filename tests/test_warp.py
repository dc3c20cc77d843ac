import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import framefix
from parity import assert_backends_agree
from reference import remap_reference, warp_reference

DTYPES = (np.uint8, np.uint16, np.float32)
INTERPOLATIONS = ("nearest", "linear", "cubic")
BORDERS = ("constant", "edge", "reflect", "symmetric", "wrap")
# channel axis: None = a 2-D frame
CHANNELS = (None, 1, 3, 4)


def random_image(rng, height, width, channels, dtype):
    shape = (height, width) if channels is None else (height, width, channels)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    return rng.random(shape, dtype=np.float32)


def random_flow(rng, height, width, reach=4.0):
    """Mostly moderate motion, plus some samples far outside the image."""
    flow = rng.uniform(-reach, reach, size=(height, width, 2)).astype(np.float32)
    far = rng.random((height, width)) < 0.05
    flow[far] *= 40
    return flow


def assert_matches_reference(actual, expected, dtype):
    if np.dtype(dtype).kind == "u":
        diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
        # float32 (kernel) vs float64 (oracle) may round a value near a tie the other way
        assert diff.max() <= 1
        assert np.mean(diff) < 0.01
    else:
        assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("border", BORDERS)
def test_warp_matches_reference(backend, dtype, channels, interpolation, border):
    rng = np.random.default_rng([7, DTYPES.index(dtype), len(interpolation), len(border)])
    image = random_image(rng, 13, 17, channels, dtype)
    flow = random_flow(rng, 13, 17)
    cval = 0.25 if dtype == np.float32 else 77
    out, mask = framefix.warp(image, flow, interpolation=interpolation, border=border, cval=cval, return_mask=True)
    expected, expected_mask = warp_reference(image, flow, interpolation, border, cval)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert_matches_reference(out, expected, dtype)
    assert mask.dtype == bool
    assert_array_equal(mask, expected_mask)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("border", BORDERS)
def test_remap_output_takes_the_maps_size(backend, interpolation, border):
    rng = np.random.default_rng(3)
    image = random_image(rng, 10, 14, 3, np.uint16)
    map_x = rng.uniform(-3, 16, size=(6, 21)).astype(np.float32)
    map_y = rng.uniform(-3, 12, size=(6, 21)).astype(np.float32)
    out, mask = framefix.remap(image, map_x, map_y, interpolation=interpolation, border=border, return_mask=True)
    expected, expected_mask = remap_reference(image, map_x, map_y, interpolation, border)
    assert out.shape == (6, 21, 3)
    assert_matches_reference(out, expected, np.uint16)
    assert_array_equal(mask, expected_mask)


def test_single_pixel_and_single_row_images(backend):
    rng = np.random.default_rng(5)
    for height, width in [(1, 1), (1, 9), (9, 1)]:
        image = random_image(rng, height, width, 3, np.float32)
        flow = random_flow(rng, height, width)
        for border in BORDERS:
            for interpolation in INTERPOLATIONS:
                out = framefix.warp(image, flow, interpolation=interpolation, border=border, cval=0.5)
                expected, _ = warp_reference(image, flow, interpolation, border, 0.5)
                assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_non_finite_flow_gives_cval_and_false_mask(backend, border, interpolation):
    image = np.full((6, 7, 3), 200, np.uint8)
    flow = np.zeros((6, 7, 2), np.float32)
    flow[1, 2, 0] = np.nan
    flow[2, 3, 1] = np.inf
    flow[3, 4, 0] = -np.inf
    out, mask = framefix.warp(image, flow, interpolation=interpolation, border=border, cval=9, return_mask=True)
    bad = np.zeros((6, 7), bool)
    bad[1, 2] = bad[2, 3] = bad[3, 4] = True
    assert_array_equal(out[bad], 9)
    assert_array_equal(out[~bad], 200)
    assert_array_equal(mask, ~bad)


@pytest.mark.parametrize("border", BORDERS)
def test_huge_finite_flow_is_defined(backend, border):
    rng = np.random.default_rng(11)
    image = random_image(rng, 5, 6, None, np.float32)
    flow = np.full((5, 6, 2), 3e38, np.float32)
    flow[::2] *= -1
    out, mask = framefix.warp(image, flow, border=border, cval=0.5, return_mask=True)
    expected, _ = warp_reference(image, flow, "linear", border, 0.5)
    assert_allclose(out, expected, rtol=1e-6)
    assert not mask.any()


def test_cubic_is_exact_on_quadratics(backend):
    """Catmull-Rom reproduces polynomials up to degree 2: a check on the weights themselves."""
    y, x = np.mgrid[0:20, 0:24].astype(np.float64)
    image = ((0.3 * x**2 - 2 * x * y + 0.7 * y**2 + x - 5) / 1000).astype(np.float32)
    flow = np.zeros((20, 24, 2), np.float32)
    flow[..., 0], flow[..., 1] = 0.37, -0.81
    out = framefix.warp(image, flow, interpolation="cubic")
    exact = (0.3 * (x + 0.37) ** 2 - 2 * (x + 0.37) * (y - 0.81) + 0.7 * (y - 0.81) ** 2 + (x + 0.37) - 5) / 1000
    assert_allclose(out[2:-2, 2:-2], exact[2:-2, 2:-2], atol=2e-6)


def test_integer_cval_is_rounded_and_saturated(backend):
    image = np.zeros((3, 4), np.uint8)
    flow = np.full((3, 4, 2), np.nan, np.float32)
    assert_array_equal(framefix.warp(image, flow, cval=300), 255)
    assert_array_equal(framefix.warp(image, flow, cval=-3), 0)
    assert_array_equal(framefix.warp(image, flow, cval=2.5), 2)  # ties to even, as every integer result
    assert_array_equal(framefix.warp(image, flow, cval=3.5), 4)


# --- properties ---------------------------------------------------------------------------------

frames = st.builds(
    lambda seed, h, w, channels, dtype: random_image(np.random.default_rng(seed), h, w, channels, dtype),
    st.integers(0, 2**32 - 1),
    st.integers(1, 24),
    st.integers(1, 24),
    st.sampled_from(CHANNELS),
    st.sampled_from(DTYPES),
)


@settings(max_examples=40)
@given(image=frames, interpolation=st.sampled_from(INTERPOLATIONS), border=st.sampled_from(BORDERS))
def test_zero_flow_is_exactly_the_identity(backend, image, interpolation, border):
    flow = np.zeros(image.shape[:2] + (2,), np.float32)
    out, mask = framefix.warp(image, flow, interpolation=interpolation, border=border, return_mask=True)
    assert_array_equal(out, image)
    assert mask.all()


@settings(max_examples=40)
@given(
    image=frames,
    dx=st.integers(-5, 5),
    dy=st.integers(-5, 5),
    interpolation=st.sampled_from(INTERPOLATIONS),
    border=st.sampled_from(BORDERS),
)
def test_integer_flow_is_exactly_a_shift(backend, image, dx, dy, interpolation, border):
    h, w = image.shape[:2]
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    out, mask = framefix.warp(image, flow, interpolation=interpolation, border=border, return_mask=True)
    rows, cols = np.arange(h), np.arange(w)
    inside_rows, inside_cols = (rows + dy >= 0) & (rows + dy < h), (cols + dx >= 0) & (cols + dx < w)
    assert_array_equal(
        out[np.ix_(inside_rows, inside_cols)],
        image[np.ix_(rows[inside_rows] + dy, cols[inside_cols] + dx)],
    )
    expected_mask = inside_rows[:, None] & inside_cols[None, :]
    assert_array_equal(mask, expected_mask)


@settings(max_examples=30)
@given(image=frames, seed=st.integers(0, 2**32 - 1), interpolation=st.sampled_from(INTERPOLATIONS))
def test_strided_inputs_and_out_equal_contiguous(backend, image, seed, interpolation):
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    # a stepped, reversed view of a larger array (negative strides on both axes)
    big = np.repeat(np.repeat(image[::-1, ::-1], 2, axis=0), 3, axis=1)
    strided_image = big[::-2, ::-3]
    assert_array_equal(strided_image, image)
    assert strided_image.strides[0] < 0 and strided_image.strides[1] < 0
    flow = random_flow(rng, h, w)
    big_flow = np.zeros((2 * h, w, 2), np.float32)
    big_flow[::-2] = flow
    strided_flow = big_flow[::-2]
    out_base = np.zeros((h, 2 * w) + image.shape[2:], image.dtype)
    strided_out = out_base[:, ::-2]
    result = framefix.warp(strided_image, strided_flow, interpolation=interpolation, border="reflect", out=strided_out)
    assert result is strided_out
    expected = framefix.warp(np.ascontiguousarray(image), flow, interpolation=interpolation, border="reflect")
    assert_array_equal(strided_out, expected)
    assert_array_equal(out_base[:, -2::-2], 0)  # nothing written between the strided pixels


def test_channels_not_innermost(backend):
    rng = np.random.default_rng(2)
    planar = random_image(rng, 3, 12, 15, np.uint8)  # (C, H, W) in memory
    image = planar.transpose(1, 2, 0)
    flow = random_flow(rng, 12, 15)
    assert_array_equal(framefix.warp(image, flow), framefix.warp(np.ascontiguousarray(image), flow))


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_is_filled_in_place_and_returned(backend, dtype):
    rng = np.random.default_rng(4)
    image = random_image(rng, 9, 10, 3, dtype)
    flow = random_flow(rng, 9, 10)
    out = np.empty_like(image)
    result, mask = framefix.warp(image, flow, out=out, return_mask=True)
    assert result is out
    assert_array_equal(out, framefix.warp(image, flow))


def test_unaligned_inputs_are_read_correctly(backend):
    rng = np.random.default_rng(6)
    image = random_image(rng, 7, 9, 3, np.float32)
    unaligned = np.frombuffer(bytearray(image.nbytes + 1), np.float32, count=image.size, offset=1).reshape(image.shape)
    assert not unaligned.flags.aligned
    np.copyto(unaligned, image)
    flow = random_flow(rng, 7, 9)
    assert_array_equal(framefix.warp(unaligned, flow), framefix.warp(image, flow))


@pytest.mark.parametrize("workers", [1, 2, 3, -1, 10**9])
def test_workers_do_not_change_results(backend, workers):
    rng = np.random.default_rng(8)
    image = random_image(rng, 37, 23, 3, np.float32)
    flow = random_flow(rng, 37, 23)
    expected = framefix.warp(image, flow, interpolation="cubic", workers=1)
    assert_array_equal(framefix.warp(image, flow, interpolation="cubic", workers=workers), expected)
    with framefix.set_workers(workers):
        assert_array_equal(framefix.warp(image, flow, interpolation="cubic"), expected)


# --- agreement with the peers -------------------------------------------------------------------

CV2_BORDERS = {
    "edge": "BORDER_REPLICATE",
    "constant": "BORDER_CONSTANT",
    "reflect": "BORDER_REFLECT_101",
    "symmetric": "BORDER_REFLECT",
    "wrap": "BORDER_WRAP",
}


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_linear_agrees_with_cv2_remap(backend, border, dtype, channels):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(12)
    h, w = 31, 45
    image = random_image(rng, h, w, channels, dtype)
    # OpenCV resolves sample points to 1/32 pixel; on that grid both must agree
    flow = np.round(rng.uniform(-6, 6, size=(h, w, 2)) * 32).astype(np.float32) / 32
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    cval = 0.5 if dtype == np.float32 else 100
    expected = cv2.remap(
        image, map_x, map_y, cv2.INTER_LINEAR, borderMode=getattr(cv2, CV2_BORDERS[border]), borderValue=(cval,) * 4
    ).reshape(image.shape)
    out = framefix.warp(image, flow, border=border, cval=cval)
    if dtype == np.float32:
        assert_allclose(out, expected, atol=1e-4)
    else:
        assert np.abs(out.astype(np.int64) - expected).max() <= 1
    assert_array_equal(framefix.remap(image, map_x, map_y, border=border, cval=cval), out)


def test_backends_agree_bit_for_bit(native):
    rng = np.random.default_rng(21)
    for dtype in DTYPES:
        for channels in CHANNELS:
            image = random_image(rng, 33, 29, channels, dtype)
            if dtype == np.float32:
                image.flat[::17] = rng.uniform(-3, 4, size=image.flat[::17].shape)  # beyond 0..1
            flipped = image[::-1, ::-1]  # negative strides
            flow = random_flow(rng, 33, 29, reach=8)
            map_x = rng.uniform(-5, 35, size=(21, 40)).astype(np.float32)
            map_y = rng.uniform(-5, 38, size=(21, 40)).astype(np.float32)
            for interpolation in INTERPOLATIONS:
                for border in BORDERS:
                    options = dict(interpolation=interpolation, border=border, cval=3, return_mask=True)
                    label = f"{dtype} {channels} {interpolation} {border}"
                    # image and mask: bit for bit
                    warped, mask = assert_backends_agree(framefix.warp, flipped, flow, **options)
                    assert warped.shape == flipped.shape and mask.shape == flipped.shape[:2], label
                    remapped, mask = assert_backends_agree(framefix.remap, image, map_x, map_y, **options)
                    assert remapped.shape[:2] == mask.shape == map_x.shape, label


def test_backends_agree_on_special_float_pixels(native):
    rng = np.random.default_rng(5)
    image = rng.random((16, 19, 3), dtype=np.float32)
    specials = np.array([np.inf, -np.inf, np.nan, -0.0, 1e38, -1e-45], np.float32)
    image.flat[rng.integers(0, image.size, 60)] = rng.choice(specials, 60)
    flow = random_flow(rng, 16, 19)
    for interpolation in INTERPOLATIONS:
        assert_backends_agree(framefix.warp, image, flow, interpolation=interpolation, border="wrap")


# --- bad input ----------------------------------------------------------------------------------

IMAGE = np.zeros((4, 5, 3), np.float32)
FLOW = np.zeros((4, 5, 2), np.float32)
MAP = np.zeros((4, 5), np.float32)
READ_ONLY = np.zeros((4, 5, 3), np.float32)
READ_ONLY.flags.writeable = False
UNALIGNED_OUT = np.frombuffer(bytearray(4 * 60 + 1), np.float32, count=60, offset=1).reshape(4, 5, 3)

BAD_CALLS = [
    (lambda: framefix.warp(IMAGE.astype(np.float64), FLOW), TypeError, r"warp: image must be uint8, uint16 or float32, got float64; .*astype\(np.float32\)"),
    (lambda: framefix.warp(IMAGE.astype(np.int32), FLOW), TypeError, r"image must be .* got int32"),
    (lambda: framefix.warp(IMAGE.astype(bool), FLOW), TypeError, r"got bool; convert it with image.astype\(np.uint8\)"),
    (lambda: framefix.warp(IMAGE.astype(">f4"), FLOW), TypeError, r"got >f4"),
    (lambda: framefix.warp(np.zeros((4, 5, 2), np.float32), FLOW), ValueError, r"image must be \(H, W\) or \(H, W, C\) with C in 1, 3, 4, got shape \(4, 5, 2\)"),
    (lambda: framefix.warp(np.zeros((2, 4, 5, 3), np.float32), FLOW), ValueError, r"got shape \(2, 4, 5, 3\)"),
    (lambda: framefix.warp(np.zeros((0, 5), np.float32), FLOW[:0]), ValueError, r"image must not be empty, got shape \(0, 5\)"),
    (lambda: framefix.warp(IMAGE, FLOW[..., 0]), ValueError, r"warp: flow must be \(H, W, 2\) float32, got \(4, 5\) float32"),
    (lambda: framefix.warp(IMAGE, FLOW.astype(np.float64)), TypeError, r"warp: flow must be \(H, W, 2\) float32, got \(4, 5, 2\) float64"),
    (lambda: framefix.warp(IMAGE, np.zeros((5, 4, 2), np.float32)), ValueError, r"flow must match the image's height and width \(4, 5\), got \(5, 4, 2\) float32"),
    (lambda: framefix.warp(IMAGE, FLOW, interpolation="bilinear"), ValueError, r"interpolation must be one of 'nearest', 'linear', 'cubic', got 'bilinear'"),
    (lambda: framefix.warp(IMAGE, FLOW, border="replicate"), ValueError, r"border must be one of 'constant', 'edge', 'reflect', 'symmetric', 'wrap', got 'replicate'"),
    (lambda: framefix.warp(IMAGE, FLOW, cval=float("nan")), ValueError, r"cval must be finite"),
    (lambda: framefix.warp(IMAGE, FLOW, cval=1e39), ValueError, r"cval must be finite"),
    (lambda: framefix.warp(IMAGE, FLOW, cval="black"), TypeError, r"cval must be a real number, got str"),
    (lambda: framefix.warp(IMAGE, FLOW, out=np.zeros((4, 5, 3), np.uint8)), ValueError, r"out must be \(4, 5, 3\) float32, got \(4, 5, 3\) uint8"),
    (lambda: framefix.warp(IMAGE, FLOW, out=np.zeros((4, 5), np.float32)), ValueError, r"out must be \(4, 5, 3\) float32, got \(4, 5\) float32"),
    (lambda: framefix.warp(IMAGE, FLOW, out=READ_ONLY), ValueError, r"out must be writeable"),
    (lambda: framefix.warp(IMAGE, FLOW, out=IMAGE), ValueError, r"out must not overlap an input"),
    (lambda: framefix.warp(IMAGE, FLOW, out=[0]), TypeError, r"out must be a numpy array or None, got list"),
    (lambda: framefix.warp(IMAGE, FLOW, workers=0), ValueError, r"warp: workers must be >= 1, or from -1"),
    (lambda: framefix.warp(IMAGE, FLOW, workers=1.5), TypeError, r"warp: workers must be an int or None, got float"),
    (lambda: framefix.remap(IMAGE, MAP, MAP[:3]), ValueError, r"remap: map_x and map_y must have the same shape, got \(4, 5\) and \(3, 5\)"),
    (lambda: framefix.remap(IMAGE, MAP.astype(np.float64), MAP), TypeError, r"remap: map_x must be \(H, W\) float32, got \(4, 5\) float64"),
    (lambda: framefix.remap(IMAGE, MAP, MAP[None]), ValueError, r"remap: map_y must be \(H, W\) float32, got \(1, 4, 5\) float32"),
    (lambda: framefix.remap(IMAGE, MAP[:0], MAP[:0]), ValueError, r"map_x must not be empty"),
    (lambda: framefix.warp(np.ma.masked_array(IMAGE), FLOW), TypeError, r"image must be a plain array, got a masked array"),
    (lambda: framefix.warp(IMAGE, FLOW, cval=10**400), ValueError, r"cval must be finite"),
    (lambda: framefix.warp(IMAGE, FLOW, out=UNALIGNED_OUT), ValueError, r"out must be aligned"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_input_is_refused_with_a_clear_message(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_sides_beyond_32_bit_indices_are_refused_not_a_crash(backend):
    from framefix.warp import MAX_SIDE

    image = np.zeros((1, MAX_SIDE + 1), np.uint8)  # calloc'd, never touched: no memory used
    map_x = np.array([[MAX_SIDE + 0.5]], np.float32)
    with pytest.raises(ValueError, match="image sides must be at most"):
        framefix.remap(image, map_x, np.zeros((1, 1), np.float32), interpolation="nearest")
    flow = np.broadcast_to(np.zeros(2, np.float32), (1, MAX_SIDE + 1, 2))  # no memory either
    with pytest.raises(ValueError, match="image sides must be at most"):
        framefix.warp(image, flow, interpolation="nearest")


def test_kernels_refuse_sides_beyond_32_bit_indices(backend):
    from framefix import _backend
    from framefix.warp import MAX_SIDE

    image = np.zeros((1, MAX_SIDE + 1, 1), np.uint8)
    with pytest.raises(ValueError, match="at most 2\\^30"):
        _backend.implementation().remap(image, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32),
                                        None, None, 0, 0, 0.0, 1)


def test_a_big_endian_16_bit_image_gets_a_lossless_hint():
    with pytest.raises(TypeError, match=r"image\.astype\(np\.uint16\)"):
        framefix.warp(np.zeros((4, 4), ">u2"), np.zeros((4, 4, 2), np.float32))
