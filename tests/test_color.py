import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import framefix
from framefix import _backend
from parity import assert_backends_agree
from reference import match_histograms_reference

DTYPES = (np.uint8, np.uint16, np.float32)


def top(dtype):
    return np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0


def textured(rng, height, width, channels, dtype, low=0.0, high=1.0):
    """Smooth structure plus noise, values in low..high of the dtype's range."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(x / (5 + c) + c) * np.cos(y / (7 + 2 * c)) for c in range(channels)], axis=-1)
    values = low + (high - low) * np.clip(0.5 + 0.4 * base + 0.1 * rng.standard_normal(base.shape), 0, 1)
    if np.dtype(dtype).kind == "u":
        return np.rint(values * top(dtype)).astype(dtype)
    return values.astype(np.float32)


def expected_match(image, reference, **masks):
    exact = match_histograms_reference(image, reference, **masks)
    if image.dtype.kind == "u":
        return np.clip(np.rint(exact), 0, top(image.dtype)).astype(image.dtype)
    return exact


def assert_match(actual, expected):
    if actual.dtype.kind == "u":
        assert_array_equal(actual, expected)
    else:
        assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ref_dtype", DTYPES)
def test_match_histograms_matches_the_oracle(backend, dtype, ref_dtype):
    rng = np.random.default_rng(1)
    image = textured(rng, 40, 50, 3, dtype, 0.1, 0.6)
    reference = textured(rng, 31, 27, 3, ref_dtype, 0.3, 0.95)
    out = framefix.match_histograms(image, reference)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert_match(out, expected_match(image, reference))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masks_choose_the_statistics_and_the_mapping_covers_every_pixel(backend, dtype):
    rng = np.random.default_rng(2)
    image = textured(rng, 30, 40, 3, dtype)
    reference = textured(rng, 20, 30, 3, dtype, 0.5, 1.0)
    mask = np.zeros((30, 40), bool)
    mask[:, :15] = True
    reference_mask = rng.random((20, 30)) < 0.3
    out = framefix.match_histograms(image, reference, mask=mask, reference_mask=reference_mask)
    assert_match(out, expected_match(image, reference, mask=mask, reference_mask=reference_mask))
    assert not np.array_equal(out[:, 15:], image[:, 15:])  # unselected pixels are mapped too


def test_agrees_with_scikit_image_up_to_rounding(backend):
    pytest.importorskip("skimage")
    from skimage import data, exposure

    image, reference = data.astronaut(), data.chelsea()
    ours = framefix.match_histograms(image, reference)
    theirs = exposure.match_histograms(image, reference, channel_axis=-1)  # floored to uint8
    exact = match_histograms_reference(image, reference)
    assert_array_equal(theirs, np.floor(exact + 1e-9).astype(np.uint8))
    assert_array_equal(ours, np.rint(exact).astype(np.uint8))
    float_ours = framefix.match_histograms(image.astype(np.float32) / 255, reference.astype(np.float32) / 255)
    float_theirs = exposure.match_histograms(image.astype(np.float32) / 255, reference.astype(np.float32) / 255,
                                             channel_axis=-1)
    assert_allclose(float_ours, float_theirs, atol=1e-6)


def test_output_distribution_is_at_least_as_close_as_scikit_image(backend):
    pytest.importorskip("skimage")
    stats = pytest.importorskip("scipy.stats")
    from skimage import data, exposure

    for image, reference in [(data.astronaut(), data.chelsea()), (data.coffee(), data.astronaut())]:
        ours = framefix.match_histograms(image, reference)
        theirs = exposure.match_histograms(image, reference, channel_axis=-1)
        for c in range(3):
            ref = reference[..., c].ravel()
            distance_ours = stats.wasserstein_distance(ours[..., c].ravel(), ref)
            distance_theirs = stats.wasserstein_distance(theirs[..., c].ravel(), ref)
            assert distance_ours <= distance_theirs


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES), channels=st.sampled_from([None, 1, 3, 4]))
def test_matching_an_image_to_itself_is_the_identity(backend, seed, dtype, channels):
    rng = np.random.default_rng(seed)
    image = textured(rng, 17, 13, channels or 1, dtype)
    if channels is None:
        image = image[..., 0]
    out = framefix.match_histograms(image, image, channel_axis=None if channels is None else -1)
    assert_array_equal(out, image)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES))
def test_the_mapping_is_monotone(backend, seed, dtype):
    rng = np.random.default_rng(seed)
    image = textured(rng, 20, 20, 3, dtype)
    reference = textured(rng, 15, 25, 3, dtype, 0.2, 0.9)
    out = framefix.match_histograms(image, reference)
    for c in range(3):
        order = np.argsort(image[..., c], axis=None, kind="stable")
        assert np.all(np.diff(out[..., c].ravel()[order].astype(np.float64)) >= 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strength_blends_from_the_input(backend, dtype):
    rng = np.random.default_rng(3)
    image = textured(rng, 20, 30, 3, dtype)
    reference = textured(rng, 20, 30, 3, dtype, 0.4, 1.0)
    assert_array_equal(framefix.match_histograms(image, reference, strength=0.0), image)
    full = framefix.match_histograms(image, reference).astype(np.float64)
    half = framefix.match_histograms(image, reference, strength=0.5).astype(np.float64)
    assert np.abs(half - (image + full) / 2).max() <= (0.5 + 1e-6 if image.dtype.kind == "u" else 1e-6)


def test_channel_axis_first_and_two_dimensional_images(backend):
    rng = np.random.default_rng(4)
    image = textured(rng, 12, 14, 3, np.uint16)
    reference = textured(rng, 10, 10, 3, np.uint16, 0.5, 1.0)
    last = framefix.match_histograms(image, reference)
    first = framefix.match_histograms(image.transpose(2, 0, 1), reference.transpose(2, 0, 1), channel_axis=0)
    assert_array_equal(first, last.transpose(2, 0, 1))
    gray = framefix.match_histograms(image[..., 0], reference[..., 0], channel_axis=None)
    assert_array_equal(gray, last[..., 0])


def test_single_valued_reference_maps_everything_to_its_value(backend):
    image = textured(np.random.default_rng(5), 8, 9, 3, np.uint8)
    out = framefix.match_histograms(image, np.full((4, 4, 3), 77, np.uint8))
    assert_array_equal(out, 77)


IMAGE = np.zeros((6, 7, 3), np.uint8)
BAD_MATCH_CALLS = [
    (lambda: framefix.match_histograms(IMAGE, np.zeros((5, 5, 4), np.uint8)), ValueError, "reference must have the image's 3 channels, got 4"),
    (lambda: framefix.match_histograms(IMAGE, IMAGE, mask=np.ones((7, 6), bool)), ValueError, r"mask must be \(6, 7\)"),
    (lambda: framefix.match_histograms(IMAGE, IMAGE, mask=np.zeros((6, 7), bool)), ValueError, "mask selects no pixels"),
    (lambda: framefix.match_histograms(IMAGE, IMAGE, reference_mask=np.zeros((6, 7), bool)), ValueError, "reference_mask selects no pixels"),
    (lambda: framefix.match_histograms(IMAGE, IMAGE, mask=np.ones((6, 7), np.uint8)), TypeError, "mask must be a bool array"),
    (lambda: framefix.match_histograms(np.full((3, 3, 3), np.nan, np.float32), IMAGE), ValueError, "image contains NaN"),
    (lambda: framefix.match_histograms(IMAGE, IMAGE.astype(np.float64)), TypeError, r"reference must be uint8, uint16 or float32, got float64"),
    (lambda: framefix.match_histograms(IMAGE, IMAGE, strength=1.5), ValueError, "strength must be a number in 0..1"),
    (lambda: framefix.match_histograms(IMAGE[..., 0], IMAGE[..., 0]), ValueError, "must be 3-D with channel_axis=-1"),
]


@pytest.mark.parametrize("call, error, message", BAD_MATCH_CALLS)
def test_bad_match_input(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- kernels: both backends, bit for bit --------------------------------------------------------


def test_color_kernels_agree_across_backends(native):
    rng = np.random.default_rng(9)
    for dtype in DTYPES:
        image = textured(rng, 37, 41, 3, dtype)[::-1]  # negative row stride
        mask = rng.random((37, 41)) < 0.6
        if dtype != np.float32:
            for m in (None, mask):
                counts = np.zeros((3, int(top(dtype)) + 1), np.int64)
                counts = assert_backends_agree("channel_histograms", image, m, counts, workers=(1, 2), outputs=(2,))
                assert counts.sum() == 3 * (m.sum() if m is not None else image.shape[0] * image.shape[1])
            lut = rng.integers(0, top(dtype), size=(3, int(top(dtype)) + 1), endpoint=True).astype(dtype)
            out = assert_backends_agree("apply_lut", image, lut, np.empty_like(image), workers=(1, 2), outputs=(2,))
            assert_array_equal(out, np.stack([lut[c][image[..., c]] for c in range(3)], axis=-1))
        matrix = rng.normal(0, 0.3, (3, 3)).astype(np.float32) + np.eye(3, dtype=np.float32)
        offset = rng.normal(0, 0.1 * top(dtype), 3).astype(np.float32)
        assert_backends_agree("apply_affine3", image, matrix, offset, np.empty_like(image), workers=(1, 2), outputs=(3,))
        lab = assert_backends_agree("srgb_to_lab", image, np.empty(image.shape, np.float32), workers=(1, 2),
                                    outputs=(1,))
        back = assert_backends_agree("lab_to_srgb", lab, np.empty_like(image), workers=(1, 2), outputs=(1,))
        tolerance = 0 if dtype != np.float32 else 2e-6  # integers survive the round trip exactly
        assert np.abs(back.astype(np.float64) - image).max() <= tolerance
        for m in (None, mask):
            assert_backends_agree("channel_moments", image, m, workers=(1, 2))


def test_float_matching_agrees_across_backends(native):
    rng = np.random.default_rng(13)
    image = textured(rng, 33, 45, 3, np.float32)[:, ::-1]
    image[::7, ::5] = -0.0  # equal to +0.0: one value for the quantiles
    image[1::7, ::5] = 0.0
    reference = textured(rng, 20, 20, 3, np.float32, 0.2, 0.8)
    mask = rng.random((33, 45)) < 0.7
    for m in (None, mask):
        curves = framefix.color._reference_quantiles(reference, None, 1, 1.0)
        assert_backends_agree("match_float_channels", image, m, [q for q, _ in curves], [v for _, v in curves], 0.75,
                              np.empty(image.shape, np.float32), workers=None, outputs=(5,))
        assert_backends_agree("sorted_channel_values", image, 1, m, workers=None)
    expected = match_histograms_reference(image, reference, mask=mask)
    assert_allclose(framefix.match_histograms(image, reference, mask=mask), expected, rtol=1e-6, atol=1e-6)


def test_lab_agrees_with_scikit_image(backend):
    pytest.importorskip("skimage")
    from skimage import color, data

    image = data.astronaut()
    lab = np.empty(image.shape, np.float32)
    _backend.implementation().srgb_to_lab(image, lab, 1)
    assert_allclose(lab, color.rgb2lab(image), atol=5e-3)


# --- transforms ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(11)
    source = textured(rng, 60, 80, 3, np.uint8, 0.05, 0.7)
    reference = textured(rng, 50, 70, 3, np.uint8, 0.3, 0.95)[..., ::-1]  # a different cast
    return source, np.ascontiguousarray(reference)


def test_mkl_matches_mean_and_covariance(backend, pair):
    source, reference = pair
    src, ref = source.astype(np.float32) / 255, reference.astype(np.float32) / 255
    out = framefix.transfer_color(src, ref, method="mkl").reshape(-1, 3).astype(np.float64)
    ref = ref.reshape(-1, 3).astype(np.float64)
    assert_allclose(out.mean(axis=0), ref.mean(axis=0), atol=1e-4)
    assert_allclose(np.cov(out, rowvar=False), np.cov(ref, rowvar=False), atol=1e-4)


def test_reinhard_matches_lab_mean_and_spread(backend, pair):
    source, reference = pair
    out = framefix.transfer_color(source, reference, method="reinhard")
    labs = []
    for image in (out, reference):
        lab = np.empty(image.shape, np.float32)
        _backend.implementation().srgb_to_lab(image, lab, 1)
        labs.append(lab.reshape(-1, 3).astype(np.float64))
    assert_allclose(labs[0].mean(axis=0), labs[1].mean(axis=0), atol=1.0)  # L, a, b units
    assert_allclose(labs[0].std(axis=0), labs[1].std(axis=0), rtol=0.1)


@pytest.mark.parametrize("method", framefix.color.METHODS)
def test_every_method_moves_colors_toward_the_reference(backend, pair, method):
    source, reference = pair
    transform = framefix.fit_color_transform(source, reference, method=method)
    out = transform.apply(source)
    assert out.dtype == np.uint8
    before = np.abs(source.reshape(-1, 3).mean(0) - reference.reshape(-1, 3).mean(0)).sum()
    after = np.abs(out.reshape(-1, 3).mean(0).astype(float) - reference.reshape(-1, 3).mean(0)).sum()
    assert after < 0.1 * before
    # one transform, any dtype: the same colors within a level (float results are not clipped)
    as_float = transform.apply(source.astype(np.float32) / 255)
    assert np.abs(np.clip(as_float, 0, 1) * 255 - out).max() <= 1.0 + 1e-3
    as_16 = transform.apply(source.astype(np.uint16) * 257)
    assert np.abs(as_16 / 257 - out).max() <= 1.0 + 1e-3


@pytest.mark.parametrize("method", framefix.color.METHODS)
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_and_load_round_trip(tmp_path, pair, method, suffix):
    source, reference = pair
    transform = framefix.fit_color_transform(source, reference, method=method)
    transform.save(tmp_path / f"t{suffix}")
    loaded = framefix.ColorTransform.load(tmp_path / f"t{suffix}")
    assert loaded.method == method
    assert_array_equal(loaded.apply(source), transform.apply(source))


def test_cube_export_round_trip(tmp_path, pair):
    source, reference = pair
    transform = framefix.fit_color_transform(source, reference, method="hm-mkl-hm")
    transform.to_cube(tmp_path / "grade.cube", size=9)
    lut = framefix.read_cube(tmp_path / "grade.cube")
    assert lut.shape == (9, 9, 9, 3)
    steps = np.linspace(0, 1, 9, dtype=np.float32)
    b, g, r = 3, 5, 8
    expected = transform.apply(np.array([[[steps[r], steps[g], steps[b]]]], np.float32))[0, 0]
    assert_allclose(lut[b, g, r], expected, atol=1e-6)
    text = (tmp_path / "grade.cube").read_text()
    assert "LUT_3D_SIZE 9" in text


def test_mean_of_transforms_and_pooled_fits(pair):
    source, reference = pair
    t = framefix.fit_color_transform(source, reference)
    assert_array_equal(framefix.ColorTransform.mean([t, t]).apply(source), t.apply(source))
    clip = np.stack([source, source[::-1]])
    pooled = framefix.fit_color_transform(clip, reference)
    single = framefix.fit_color_transform(source, reference)
    assert np.abs(pooled.apply(source).astype(int) - single.apply(source)).max() <= 1


VARIED = (np.arange(6 * 7 * 3) % 251).astype(np.uint8).reshape(6, 7, 3)
BAD_TRANSFER_CALLS = [
    (lambda: framefix.fit_color_transform(IMAGE, IMAGE + 1, method="magic"), ValueError, "method must be one of"),
    (lambda: framefix.fit_color_transform(IMAGE, np.full((4, 4, 3), 9, np.uint8)), ValueError, "reference is a single color"),
    (lambda: framefix.fit_color_transform(IMAGE[..., :1], VARIED), ValueError, "source must be RGB"),
    (lambda: framefix.fit_color_transform([], VARIED), ValueError, "source holds no frames"),
    (lambda: framefix.fit_color_transform(IMAGE, VARIED, mask=np.zeros((6, 7), bool)), ValueError, "mask selects no pixels"),
    (lambda: framefix.fit_color_transform(IMAGE, VARIED[..., :1]), ValueError, "reference must be RGB"),
    (lambda: framefix.ColorTransform("mkl", []).save("t.txt"), ValueError, "must end in .json or .npz"),
]


@pytest.mark.parametrize("call, error, message", BAD_TRANSFER_CALLS)
def test_bad_transfer_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_loading_a_wrong_file_is_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a framefix color transform"):
        framefix.ColorTransform.load(tmp_path / "x.json")


# --- review findings, kept as regressions ----------------------------------------------------------


def test_a_single_color_reference_is_refused_at_any_size(backend):
    for shape in [(10, 10, 3), (480, 640, 3)]:
        for dtype in (np.uint8, np.float32):
            flat = np.full(shape, 77 if dtype == np.uint8 else 0.3, dtype)
            with pytest.raises(ValueError, match="reference is a single color"):
                framefix.fit_color_transform(VARIED, flat, method="mkl")


def test_flat_source_channels_do_not_explode(backend, pair):
    source, reference = pair
    flat_blue = source.copy()
    flat_blue[..., 2] = 128
    out = framefix.transfer_color(flat_blue, reference, method="mkl")
    assert np.abs(out.reshape(-1, 3).mean(0) - reference.reshape(-1, 3).mean(0)).max() < 3
    assert np.mean((out == 0) | (out == 255)) < 0.01  # no blown-up gains
    gray = np.repeat(source[..., :1], 3, axis=2).astype(np.uint16) * 257  # R = G = B
    transform = framefix.fit_color_transform(gray, reference)
    assert transform.degenerate
    exact = gray.reshape(-1, 3) / 65535 @ transform.stages[0]["matrix"].T + transform.stages[0]["offset"]
    applied = transform.apply(gray).reshape(-1, 3) / 65535
    assert np.abs(applied - np.clip(exact, 0, 1)).max() < 2e-4


def test_per_frame_smoothing_ignores_a_black_frame(pair):
    from framefix.color import ColorFitter, _SmoothedPerFrame

    source, reference = pair
    frames = [source.copy() for _ in range(7)]
    frames[3] = np.zeros_like(source)
    smoothing = _SmoothedPerFrame(ColorFitter(reference), smooth=5, workers=1)
    outputs = list(framefix.apply_operations(iter(frames), [smoothing]))
    single = framefix.transfer_color(source, reference)
    for i in (1, 2, 4, 5):  # the neighbours of the black frame get the ordinary grade
        assert np.abs(outputs[i].astype(int) - single).max() <= 2


def test_loading_checks_the_stages(tmp_path):
    for text in ["[1, 2]", '{"format": "framefix.ColorTransform", "method": "mkl", "stages": [["kind", "affine"]]}',
                 '{"format": "framefix.ColorTransform", "method": "mkl", "stages": [{"kind": "affine"}]}']:
        (tmp_path / "t.json").write_text(text)
        with pytest.raises(ValueError, match="ColorTransform.load"):
            framefix.ColorTransform.load(tmp_path / "t.json")


def test_cube_files_from_other_tools_and_odd_titles(tmp_path, pair):
    transform = framefix.fit_color_transform(*pair)
    transform.to_cube(tmp_path / "a.cube", size=4, title='say "hi"\nLUT_3D_SIZE 9')
    lut = framefix.read_cube(tmp_path / "a.cube")
    assert lut.shape == (4, 4, 4, 3)
    text = (tmp_path / "a.cube").read_text().replace("DOMAIN_MIN 0 0 0", "LUT_3D_INPUT_RANGE 0 1")
    (tmp_path / "b.cube").write_text(text)
    np.testing.assert_array_equal(framefix.read_cube(tmp_path / "b.cube"), lut)
    (tmp_path / "c.cube").write_text("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    with pytest.raises(ValueError, match="a 1D LUT"):
        framefix.read_cube(tmp_path / "c.cube")


def test_strength_zero_returns_the_input_bit_for_bit(backend):
    image = np.array([[[-0.0, 0.5, 1.0]]], np.float32)
    out = framefix.match_histograms(image, np.array([[[0.1, 0.2, 0.3]], [[0.4, 0.5, 0.6]]], np.float32), strength=0)
    assert_array_equal(out.view(np.uint32), image.view(np.uint32))


# --- issue 16, hardening ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", framefix.color.METHODS)
@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1)])
def test_fits_on_one_or_two_pixels_are_well_defined(backend, method, size):
    # hm-mkl-hm on one pixel: np.cov warned (degrees of freedom) and eigh raised LinAlgError
    source, reference = VARIED[:size[0], :size[1]], VARIED
    transform = framefix.fit_color_transform(source, reference, method=method)
    out = transform.apply(VARIED)
    assert out.shape == VARIED.shape and out.dtype == VARIED.dtype
    mask = np.zeros(VARIED.shape[:2], bool)
    mask[3, 5] = True
    framefix.fit_color_transform(VARIED, reference, method=method, mask=mask).apply(VARIED)


def _bad_cube(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


ROWS_8 = "".join(f"{i & 1} {i >> 1 & 1} {i >> 2 & 1}\n" for i in range(8))


@pytest.mark.parametrize("content, message", [
    (ROWS_8, "no LUT_3D_SIZE line; not a 3D LUT"),
    ("LUT_3D_SIZE two\n" + ROWS_8, r"LUT_3D_SIZE must be an integer in 2\.\.256, got 'two'"),
    ("LUT_3D_SIZE 0\n" + ROWS_8, r"LUT_3D_SIZE must be an integer in 2\.\.256, got '0'"),
    ("LUT_3D_SIZE\n" + ROWS_8, r"LUT_3D_SIZE must be an integer in 2\.\.256, got ''"),
    ("LUT_3D_SIZE 100000\n" + ROWS_8, r"LUT_3D_SIZE must be an integer in 2\.\.256"),
    ("LUT_3D_SIZE 2\nLUT_3D_SIZE 2\n" + ROWS_8, "LUT_3D_SIZE given twice"),
    ("LUT_3D_SIZE 2\n" + ROWS_8.replace("1 1 1", "1e999 1 1"), "line 9 must be three finite numbers"),
    ("LUT_3D_SIZE 2\n" + ROWS_8.replace("0 0 0", "nan nan nan"), "line 2 must be three finite numbers"),
    ("LUT_3D_SIZE 2\n" + ROWS_8.replace("0 0 0", "1e39 0 0"), "entries must fit in float32"),
    ("LUT_3D_SIZE 2\n" + ROWS_8[:-6], r"LUT_3D_SIZE 2 needs 8 rows of 3 numbers, got 7"),
    ("LUT_3D_SIZE 2\n" + ROWS_8 * 2, r"needs 8 rows of 3 numbers, got more"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not text; not a .cube file"),
    (b"LUT_3D_SIZE 2\n\x00\x00\x00\n", "is not text; not a .cube file"),
])
def test_broken_cube_files_are_one_clear_value_error(tmp_path, content, message):
    path = _bad_cube(tmp_path, "bad.cube", content)
    with pytest.raises(ValueError, match=f"read_cube: .*bad.cube: .*{message}"):
        framefix.read_cube(path)


def test_a_minimal_cube_still_reads(tmp_path):
    lut = framefix.read_cube(_bad_cube(tmp_path, "ok.cube", "# comment\nTITLE \"x\"\nLUT_3D_SIZE 2\n" + ROWS_8))
    assert lut.shape == (2, 2, 2, 3) and lut[1, 1, 1].tolist() == [1, 1, 1]


def _transform_json(**change):
    stage = {"kind": "affine", "matrix": np.eye(3).tolist(), "offset": [0, 0, 0], "degenerate": 0.0, **change}
    return json.dumps({"format": "framefix.ColorTransform", "version": 1, "method": "mkl", "stages": [stage]})


@pytest.mark.parametrize("name, content", [
    ("garbage.npz", b"PK\x03\x04 not really a zip file at all"),
    ("text.npz", b"hello"),
    ("empty.npz", b""),
    ("deep.json", ("[" * 100000 + "]" * 100000).encode()),
    ("degenerate.json", _transform_json(degenerate=[1, 2]).encode()),
    ("huge.json", _transform_json(matrix=[[1e300, 0, 0], [0, 1, 0], [0, 0, 1]]).encode()),
    ("bigint.json", _transform_json(offset=[10**400, 0, 0]).encode()),
    ("nested.json", _transform_json(offset=[[0], {"a": 1}, "x"]).encode()),
    ("binary.json", b"\xff\xfe\x00{"),
])
def test_broken_transform_files_are_one_clear_value_error(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=f"ColorTransform.load: .*{name}"):
        framefix.ColorTransform.load(tmp_path / name)


def test_broken_npz_transforms_are_one_clear_value_error(tmp_path):
    good = {"method": np.array("mkl"), "stage0.kind": np.array("affine"), "stage0.matrix": np.eye(3),
            "stage0.offset": np.zeros(3), "stage0.degenerate": np.array(0.0)}
    np.savez(tmp_path / "good.npz", **good)
    assert framefix.ColorTransform.load(tmp_path / "good.npz").method == "mkl"
    for change in ({"stage0.matrix": np.full((3, 3), 1e300)}, {"stage0.degenerate": np.array([1.0, 2.0])},
                   {"method": np.arange(3)}, {"stagex.kind": np.array("affine")}, {"stage0.kind": np.eye(2)}):
        np.savez(tmp_path / "bad.npz", **{**good, **change})
        with pytest.raises(ValueError, match="ColorTransform.load: .*bad.npz"):
            framefix.ColorTransform.load(tmp_path / "bad.npz")


def test_float_frames_far_beyond_0_1_are_refused_not_turned_into_inf(backend):
    # fuzz finding: a reinhard grade of a 7.5e15 pixel overflowed the sRGB curve to inf
    transform = framefix.fit_color_transform(np.zeros((1, 1, 3), np.uint8), VARIED, method="reinhard")
    huge = np.full((1, 1, 3), 7.5e15, np.float32)
    with pytest.raises(ValueError, match=r"ColorTransform.apply: frame must hold values within \+-1e\+06"):
        transform.apply(huge)
    with pytest.raises(ValueError, match=r"fit_color_transform: source must hold values within \+-1e\+06"):
        framefix.fit_color_transform(huge, VARIED)
    assert np.isfinite(transform.apply(np.full((1, 1, 3), 1e6, np.float32))).all()
