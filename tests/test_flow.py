"""The optical-flow estimator: motion recovered, robust to gain changes, both backends alike."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import framefix
from clips import gif_dithered
from framefix import _backend
from framefix.stats import LUMA_WEIGHTS
from parity import assert_backends_agree


@pytest.fixture(scope="module")
def scene():
    pytest.importorskip("skimage")
    from skimage import data, transform

    return (transform.resize(data.astronaut(), (180, 320)) * 255).astype(np.uint8)


def moved(image, flow):
    """next with prev[y, x] = next[y + dy, x + dx]."""
    return framefix.warp(image, -flow, interpolation="cubic", border="reflect")


def endpoint_errors(estimate, truth, margin=12):
    return np.hypot(*(estimate - truth)[margin:-margin, margin:-margin].transpose(2, 0, 1))


def constant(shape, dx, dy):
    flow = np.empty(shape[:2] + (2,), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_zero_motion_gives_zero_flow(backend, scene):
    assert np.abs(framefix.estimate_flow(scene, scene)).max() < 1e-3


@pytest.mark.parametrize("preset", ["medium", "accurate"])
def test_a_translation_is_recovered_within_a_tenth_of_a_pixel(backend, scene, preset):
    truth = constant(scene.shape, 2.4, -1.3)
    errors = endpoint_errors(framefix.estimate_flow(scene, moved(scene, truth), preset=preset), truth)
    assert errors.mean() < 0.1 and np.percentile(errors, 99) < 0.5


def test_each_preset_recovers_a_smooth_motion(backend, scene):
    y, x = np.mgrid[0:180, 0:320].astype(np.float32)
    truth = np.stack([3 * np.sin(y / 30) + 1, 2 * np.cos(x / 45)], axis=-1).astype(np.float32)
    target = moved(scene, truth)
    limits = {"ultrafast": 0.8, "fast": 0.5, "medium": 0.3, "accurate": 0.2}
    errors = {preset: endpoint_errors(framefix.estimate_flow(scene, target, preset=preset), truth).mean()
              for preset in limits}
    assert all(errors[preset] < limit for preset, limit in limits.items()), errors
    assert errors["accurate"] < errors["medium"] < errors["ultrafast"]


def test_the_refinement_improves_on_the_patches_alone(backend, scene):
    y, x = np.mgrid[0:180, 0:320].astype(np.float32)
    truth = np.stack([3 * np.sin(y / 30), 2 * np.cos(x / 45)], axis=-1).astype(np.float32)
    target = moved(scene, truth)
    refined = endpoint_errors(framefix.estimate_flow(scene, target, preset="accurate"), truth).mean()
    patches_only = endpoint_errors(framefix.estimate_flow(scene, target, preset="accurate", refine_iterations=0),
                                   truth).mean()
    assert refined < 0.8 * patches_only


def test_a_gain_change_barely_moves_the_result(backend, scene):
    y, x = np.mgrid[0:180, 0:320].astype(np.float32)
    truth = np.stack([4 * np.sin(y / 40), 3 * np.cos(x / 50)], axis=-1).astype(np.float32)
    target = moved(scene, truth)
    brighter = np.clip(target.astype(np.float32) * 1.15 + 5, 0, 255).astype(np.uint8)
    plain = endpoint_errors(framefix.estimate_flow(scene, target), truth).mean()
    flickered = endpoint_errors(framefix.estimate_flow(scene, brighter), truth).mean()
    assert flickered <= 1.2 * plain + 0.02


def test_an_uneven_exposure_change_barely_moves_the_result(backend, scene):
    # regional flicker: the gain runs from 0.8 on the left to 1.2 on the right
    y, x = np.mgrid[0:180, 0:320].astype(np.float32)
    truth = np.stack([4 * np.sin(y / 40), 3 * np.cos(x / 50)], axis=-1).astype(np.float32)
    target = moved(scene, truth)
    gain = (0.8 + 0.4 * x / 319)[..., None]
    uneven = np.clip(target.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    plain = endpoint_errors(framefix.estimate_flow(scene, target), truth).mean()
    flickered = endpoint_errors(framefix.estimate_flow(scene, uneven), truth).mean()
    assert flickered <= 1.2 * plain + 0.02


def test_init_warm_starts(backend, scene):
    # 40 px is beyond what the pyramid of a 180x320 frame finds alone without propagation;
    # started from it, it holds
    truth = constant(scene.shape, 40.0, 25.0)
    target = moved(scene, truth)
    cold = np.median(endpoint_errors(framefix.estimate_flow(scene, target, propagation=False), truth))
    warm = np.median(endpoint_errors(framefix.estimate_flow(scene, target, init=truth), truth))
    assert warm < 0.1 < 10 < cold


def test_deterministic_across_workers_and_backends(native, scene):
    truth = constant(scene.shape, 1.5, 0.5)
    target = moved(scene, truth)
    results = [assert_backends_agree(framefix.estimate_flow, scene, target, preset="fast", workers=workers)
               for workers in (1, 2, 3)]
    for other in results[1:]:
        assert_array_equal(other.view(np.uint32), results[0].view(np.uint32))


def test_refine_levels_limits_the_refinement_to_the_finest_levels(native, scene):
    truth = constant(scene.shape, 1.5, 0.5)
    target = moved(scene, truth)

    def flow(refine_levels):
        return assert_backends_agree(framefix.estimate_flow, scene, target, preset="medium", refine_levels=refine_levels)

    # with 6-pixel patches a 180x320 frame has pyramid levels 0 (full) to 3; medium solves levels
    # 3 down to 1, so 3 levels refined are all of them, as 0 says
    every = flow(0)
    assert_array_equal(flow(3).view(np.uint32), every.view(np.uint32))
    assert_array_equal(flow(40).view(np.uint32), every.view(np.uint32))
    assert not np.array_equal(flow(2), every)
    finest = flow(1)
    assert not np.array_equal(finest, every)
    assert np.median(endpoint_errors(finest, truth)) < 0.1


def test_full_refine_iterations_refine_the_upsampled_flow(native, scene):
    truth = constant(scene.shape, 2.4, -1.3)
    target = moved(scene, truth)

    def flow(**settings):
        return assert_backends_agree(framefix.estimate_flow, scene, target, preset="medium", **settings)

    upsampled, refined = flow(full_refine_iterations=0), flow(full_refine_iterations=2)
    assert np.mean(endpoint_errors(refined, truth)) < np.mean(endpoint_errors(upsampled, truth))
    # solved at full resolution there is nothing upsampled to refine
    assert_array_equal(flow(finest_level=0, full_refine_iterations=0).view(np.uint32),
                       flow(finest_level=0, full_refine_iterations=2).view(np.uint32))


def test_presmoothing_keeps_gif_dithering_out_of_the_flow(backend, scene):
    truth = constant(scene.shape, 2.4, -1.3)
    first, second = gif_dithered(scene), gif_dithered(moved(scene, truth))
    assert np.abs(first.astype(int) - scene).mean() > 10  # the dithering is strong

    def error(**settings):
        return np.mean(endpoint_errors(framefix.estimate_flow(first, second, preset="accurate", **settings), truth))

    assert framefix.flow.PRESETS["accurate"]["presmooth"] == 2
    # the refinement matched the dithering: 0.18 px, against 0.10 with the preset's two passes
    assert error() < 0.6 * error(presmooth=0)


def test_presmooth_only_touches_the_refinement_at_full_resolution(native, scene):
    target = moved(scene, constant(scene.shape, 2.4, -1.3))

    def flow(preset, **settings):
        return assert_backends_agree(framefix.estimate_flow, scene, target, preset=preset, **settings)

    for preset in ("ultrafast", "fast"):  # solved at a quarter of the size, never refined at full
        assert_array_equal(flow(preset, presmooth=0).view(np.uint32), flow(preset, presmooth=3).view(np.uint32))
    assert not np.array_equal(flow("medium", presmooth=0), flow("medium", presmooth=1))  # its full refinement


@pytest.fixture(scope="module")
def layered():
    """A real foreground (coffee, a soft-edged disc) moving 24 px one way over a real background
    (the astronaut) panning 6 px the other: a motion boundary, covered and revealed background,
    and a displacement the coarse levels blur into the background. Returns frames, true flow and
    the pixels whose true flow is known and not occluded (away from the boundary)."""
    pytest.importorskip("skimage")
    from scipy import ndimage
    from skimage import data, transform

    background = (transform.resize(data.astronaut(), (220, 380)) * 255).astype(np.float32)
    foreground = (transform.resize(data.coffee(), (220, 380)) * 255).astype(np.float32)
    y, x = np.mgrid[0:220, 0:380].astype(np.float32)
    disc = np.clip(45.5 - np.hypot(x - 150, y - 110), 0, 1)[..., None]
    fore, back = np.array([24.0, -8.0], np.float32), np.array([-6.0, 2.0], np.float32)

    def frame(shift_fore, shift_back):
        moved_fore = ndimage.shift(foreground, (shift_fore[1], shift_fore[0], 0), order=3, mode="reflect")
        moved_disc = ndimage.shift(disc, (shift_fore[1], shift_fore[0], 0), order=1)
        moved_back = ndimage.shift(background, (shift_back[1], shift_back[0], 0), order=3, mode="reflect")
        picture = moved_disc * moved_fore + (1 - moved_disc) * moved_back
        return np.clip(np.rint(picture[20:200, 30:350]), 0, 255).astype(np.uint8), moved_disc[20:200, 30:350, 0]

    first, inside = frame((0, 0), (0, 0))
    second, _ = frame(fore, back)
    truth = np.where(inside[..., None] >= 0.5, fore, back).astype(np.float32)
    boundary = ndimage.binary_dilation(np.abs(inside - 0.5) < 0.5, iterations=30)
    scored = ~boundary
    scored[:16], scored[-16:], scored[:, :16], scored[:, -16:] = False, False, False, False
    return first, second, truth, scored, inside >= 0.5


def test_propagation_finds_a_foreground_moving_against_the_background(backend, layered):
    first, second, truth, scored, on_object = layered

    def errors(**settings):
        error = np.hypot(*(framefix.estimate_flow(first, second, **settings) - truth).transpose(2, 0, 1))
        return float(error[scored].mean()), float(np.median(error[scored & on_object]))

    # ultrafast's patches alone lose the foreground in the coarse levels' blur; offered their
    # neighbours' flows they find both motions, as every preset does
    assert errors(preset="ultrafast", propagation=False)[1] > 10
    for preset in framefix.flow.PRESETS:
        overall, foreground = errors(preset=preset)
        assert overall < 1.0 and foreground < 0.5, (preset, overall, foreground)


def test_fill_occlusions_replaces_only_what_the_backward_flow_contradicts(native, layered):
    from scipy import ndimage

    from framefix import _numba

    first, second, _, _, _ = layered

    def flow(prev, next, fill):
        return assert_backends_agree(framefix.estimate_flow, prev, next, preset="accurate", fill_occlusions=fill)

    forward, backward, filled = flow(first, second, False), flow(second, first, False), flow(first, second, True)
    ratio = _numba.flow.consistency_ratio(forward, backward, 0.01, 0.5, True, 1)
    consistent = ratio < 1
    assert_array_equal(consistent, framefix.flow_consistency(forward, backward))
    assert 0.02 < 1 - consistent.mean() < 0.5  # the covered background and the disc's edge
    # untrusted: inconsistent, or within 5 px of a forward-backward mismatch (a finite ratio)
    mismatch = np.isfinite(ratio) & ~consistent
    trusted = consistent & ~ndimage.maximum_filter(mismatch, size=11, mode="constant")
    assert trusted.sum() < consistent.sum()
    assert_array_equal(filled[trusted], forward[trusted])
    # every other pixel first took the flow of a trusted pixel of its row or column...
    directional = forward.copy()
    written = _numba.flow._fill_directional(_numba.flow_luma(first, 1), ratio, directional, 1)
    for y, x in zip(*np.nonzero(~trusted)):
        sources = np.concatenate([forward[y][trusted[y]], forward[:, x][trusted[:, x]]])
        assert written[y, x] == bool(len(sources)), (y, x)
        if len(sources):
            assert (sources == directional[y, x]).all(axis=1).any(), (y, x)
    assert not written[trusted].any()
    # ...then, component by component, the median over 17 rows of those flows' medians over 17
    # columns, which took out the streaks of neighbours choosing different sides
    medians = np.dstack([ndimage.median_filter(ndimage.median_filter(directional[..., c], size=(1, 17), mode="nearest"),
                                               size=(17, 1), mode="nearest") for c in (0, 1)])
    assert_array_equal(filled[written], medians[written])
    assert not np.array_equal(filled[written], directional[written])


def test_fill_occlusions_gives_the_covered_background_its_flow(backend, layered):
    from scipy import ndimage

    first, second, truth, _, on_object = layered
    # background pixels that land under the disc in frame 2 (the disc moved (24, -8))
    disc = ndimage.shift(on_object.astype(np.float32), (-8, 24), order=1)
    covered = ~on_object & (framefix.warp(disc, truth, interpolation="linear", border="constant") >= 0.5)
    covered[:, :10], covered[:, -10:] = False, False
    assert covered.sum() > 1000

    def errors(fill):
        flow = framefix.estimate_flow(first, second, preset="accurate", fill_occlusions=fill)
        return np.hypot(*(flow - truth).transpose(2, 0, 1))

    unfilled, filled = errors(False), errors(True)
    assert unfilled[covered].mean() > 8  # the disc's motion smeared over what it covers
    # A fill from the nearest consistent pixel of the row, judged by that pixel's luma alone,
    # left 41% of them off by more than 3 px (the first consistent pixel past the disc's soft
    # edge is a blend of both layers, and trusted with the disc's flow), EPE 12.7 px.
    assert np.mean(filled[covered] > 3) < 0.3
    assert filled[covered].mean() < 0.7 * unfilled[covered].mean()
    assert filled.mean() < unfilled.mean()


@pytest.mark.parametrize("propagation", [True, False])
def test_the_patch_kernel_is_bit_identical(native, layered, propagation):
    from framefix import _numba

    first, second, truth, _, _ = layered
    a, b = _numba.flow_luma(first, 1), _numba.flow_luma(second, 1)
    start = np.zeros(a.shape + (2,), np.float32)
    start[..., 0] = 3.0
    flow = assert_backends_agree("patch_flow_level", a, b, start, 8, 4, 12, propagation, workers=(1, 2, 3),
                                 outputs=(2,))
    assert np.isfinite(flow).all()


@pytest.fixture(scope="module")
def planes(scene):
    from framefix import _numba

    y, x = np.mgrid[0:scene.shape[0], 0:scene.shape[1]].astype(np.float32)
    truth = np.stack([3 * np.sin(y / 30), 2 * np.cos(x / 45)], axis=-1).astype(np.float32)
    first = _numba.flow_luma(scene, 1)
    second = _numba.flow_luma(np.clip(moved(scene, truth) * 1.1, 0, 255).astype(np.uint8), 1)
    return first, second, truth


REFINEMENTS = [(3.0, 3.0, 1.0, 3, 4, 1.8, 4, 0.02, 0), (1.0, 0.0, 2.0, 2, 3, 1.5, 1, 0.05, 1),
               (10.0, 1.0, 0.0, 1, 5, 1.0, 9, 0.01, 2)]


@pytest.mark.parametrize("settings", REFINEMENTS)
def test_the_refinement_kernels_are_bit_identical(native, planes, settings):
    first, second, truth = planes
    start = (truth * np.float32(0.7) + np.float32(0.4)).astype(np.float32)
    refined = assert_backends_agree("refine_flow_level", first, second, start, *settings, workers=(1, 2, 3),
                                    outputs=(2,))
    assert np.abs(refined - start).max() > 0  # the kernel did write the flow
    if settings == REFINEMENTS[0]:  # the presets' kind of settings: a clear improvement
        assert endpoint_errors(refined, truth).mean() < 0.8 * endpoint_errors(start, truth).mean()


@pytest.mark.parametrize("shape", [(37, 51), (3, 3), (2, 5), (5, 2)])
def test_the_refinement_is_bit_identical_on_odd_and_tiny_planes(native, planes, shape):
    # the native SOR keeps each checkerboard colour in its own plane (a padding column at odd
    # widths) and, with one worker, overlaps the sweeps down the rows: the values must still be
    # the twin's, at any worker count
    first, second, truth = (np.ascontiguousarray(a[:shape[0], :shape[1]]) for a in planes)
    start = (truth * np.float32(0.7) + np.float32(0.4)).astype(np.float32)
    refined = assert_backends_agree("refine_flow_level", first, second, start, *REFINEMENTS[0], workers=(1, 2, 3),
                                    outputs=(2,))
    assert np.abs(refined - start).max() > 0


def test_the_pyramid_kernels_are_bit_identical(native, scene):
    # packed rows (the fast path) and frames read through their strides (a mirrored view, a
    # channel-first layout) must give the same bits
    for frame in (scene, scene[..., :1], scene.astype(np.uint16) * 257, (scene / 255).astype(np.float32),
                  np.dstack([scene, scene[..., :1]]), scene[:, ::-1], np.moveaxis(np.ascontiguousarray(
                      np.moveaxis(scene, -1, 0)), 0, -1)):
        assert_backends_agree("flow_luma", frame, workers=(1, 2))
    # the eight- and four-pixel steps and what is left after them, at every width up to a few steps
    for width in range(1, 28):
        for channels in (3, 4):
            for frame in (scene[:3, :width, :1].repeat(channels, axis=2), scene[:3, :width] if channels == 3 else
                          np.dstack([scene[:3, :width], scene[:3, :width, 1:2]])):
                for variant in (frame, frame.astype(np.uint16) * 257, (frame / 255).astype(np.float32)):
                    assert_backends_agree("flow_luma", variant, workers=(1,))
    plane = native.flow_luma(scene[:91, :67], 1)
    assert_backends_agree("halve_plane", plane, workers=(1, 2))
    flow = np.random.default_rng(0).normal(0, 3, (23, 17, 2)).astype(np.float32)
    for height, width in ((46, 34), (91, 67), (12, 9), (23, 17)):
        assert_backends_agree("resize_flow", flow, height, width, workers=(1, 2))
    # a flow read through its strides: a mirrored view and a channel-first layout
    for view in (flow[:, ::-1], np.moveaxis(np.ascontiguousarray(np.moveaxis(flow, -1, 0)), 0, -1)):
        assert_array_equal(native.resize_flow(view, 46, 34, 1), native.resize_flow(np.ascontiguousarray(view), 46, 34, 1))
        assert_backends_agree("resize_flow", view, 46, 34, workers=(1,))
    assert_array_equal(native.resize_flow(flow, 23, 17, 1), flow)


def test_both_native_builds_give_the_pyramid_kernels_same_bytes(native, scene):
    # The AVX2 build weighs packed 8-bit RGB eight pixels a step, a path of its own: whichever
    # build the backend chose, the other must give the same bytes (at widths past three steps).
    builds = _backend.native_builds()
    if len(builds) < 2:
        pytest.skip("this CPU runs one native build")
    _core, _core_avx2 = builds

    frames = [np.ascontiguousarray(scene[:5, :width]) for width in range(1, 28)] + [scene, scene[1:, 3:]]
    for frame in frames:
        assert _core.flow_luma(frame, 1).tobytes() == _core_avx2.flow_luma(frame, 1).tobytes(), frame.shape
    flow = np.random.default_rng(1).normal(0, 3, (23, 17, 2)).astype(np.float32)
    for view in (flow, flow[:, ::-1]):
        assert _core.resize_flow(view, 92, 68, 1).tobytes() == _core_avx2.resize_flow(view, 92, 68, 1).tobytes()


# Frames that end where the process's memory ends: the last byte of a page whose next page is
# unreadable. The SIMD loads of the luma kernels (16 bytes at a time, 24 for eight RGB pixels)
# must stop inside the frame; one byte too far ends the child with a segmentation fault.
_FRAMES_AT_A_GUARD_PAGE = """
import ctypes, importlib, mmap, sys
import numpy as np
page = mmap.PAGESIZE
memory = mmap.mmap(-1, 2 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
start = ctypes.addressof(ctypes.c_char.from_buffer(memory))
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
assert libc.mprotect(start + page, page, 0) == 0, ctypes.get_errno()
first_page = np.frombuffer(memory, np.uint8, count=page)
first_page[:] = np.random.default_rng(0).integers(0, 256, page, dtype=np.uint8)
for name in sys.argv[1:]:
    build = importlib.import_module(name)
    for channels in (3, 4):
        for height in (1, 2):
            for width in range(1, 41):
                size = height * width * channels
                frame = first_page[page - size:].reshape(height, width, channels)
                expected = build.flow_luma(np.array(frame), 1)
                assert build.flow_luma(frame, 1).tobytes() == expected.tobytes(), (name, frame.shape)
print("read within the frames")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard page is set with Linux's mprotect")
def test_the_luma_kernels_read_nothing_past_the_frame(native):
    builds = [build.__name__ for build in _backend.native_builds()]
    result = subprocess.run([sys.executable, "-c", _FRAMES_AT_A_GUARD_PAGE, *builds], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "read within the frames" in result.stdout, (result.returncode, result.stderr)


@pytest.mark.parametrize("preset", ["ultrafast", "medium", "accurate"])
def test_the_frames_kernel_is_the_luma_kernels_whatever_ran_before(native, scene, preset):
    # flow_from_frames keeps its luma planes, pyramid and flow buffers in scratch memory reused
    # across calls (and nested: accurate's backward flow inside the forward's): no result may
    # depend on what an earlier call of another size or preset left there. ultrafast starts from
    # planes made already halved: the same bits on odd sizes, strided and gray frames too.
    from framefix.flow import kernel_settings

    settings = list(kernel_settings(preset).values())
    frames = (scene, scene[:61, :93], scene.astype(np.uint16) * 257, scene[:, ::-1], scene[1:, :, :1])
    pairs = [(frame, np.roll(frame, (2, -3), axis=(0, 1))) for frame in frames]
    expected = [native.flow_from_luma(native.flow_luma(a, 1), native.flow_luma(b, 1), None, *settings, 1)
                for a, b in pairs]
    for order in ((0, 1, 2, 3, 4), (1, 0, 4, 2, 1), (3, 2, 1, 0)):
        for index in order:
            a, b = pairs[index]
            other = kernel_settings("fast" if preset != "fast" else "medium").values()
            native.flow_from_frames(b, a, None, *other, 1)  # leaves other contents behind
            got = assert_backends_agree("flow_from_frames", a, b, None, *settings, workers=(1, 2))
            assert_array_equal(got.view(np.uint32), expected[index].view(np.uint32))


def test_frames_of_different_types_still_meet(backend, scene):
    # a color uint8 frame against a gray uint16 one: each converted to luma on its own
    from framefix import _backend
    from framefix.flow import kernel_settings

    gray = (scene.astype(np.float64) @ np.array(LUMA_WEIGHTS)).astype(np.float32) / 255
    truth = constant(scene.shape, 1.0, -2.0)
    following = (moved(gray, truth) * 65535).astype(np.uint16)
    flow = framefix.estimate_flow(scene, following, preset="fast")
    kernels = _backend.implementation()
    expected = kernels.flow_from_luma(kernels.flow_luma(scene, 1), kernels.flow_luma(following[..., None], 1), None,
                                      *kernel_settings("fast").values(), 1)
    assert_array_equal(flow, expected)
    assert endpoint_errors(flow, truth).mean() < 0.3


def test_gray_uint16_and_float_inputs_agree(backend, scene):
    gray = (scene.astype(np.float64) @ np.array(LUMA_WEIGHTS)).astype(np.float32) / 255
    truth = constant(scene.shape, 1.0, -2.0)
    a = framefix.estimate_flow(gray, moved(gray, truth))
    b = framefix.estimate_flow((gray * 65535).astype(np.uint16), (moved(gray, truth) * 65535).astype(np.uint16))
    assert np.abs(a - b)[12:-12, 12:-12].mean() < 0.05


BAD = np.zeros((40, 50, 3), np.uint8)
BAD_CALLS = [
    (lambda: framefix.estimate_flow(BAD, BAD[:30]), ValueError, "prev and next must have the same height and width"),
    (lambda: framefix.estimate_flow(BAD.astype(np.float64), BAD), TypeError, "prev must be uint8, uint16 or float32"),
    (lambda: framefix.estimate_flow(BAD[:10, :10], BAD[:10, :10]), ValueError, "at least 16 pixels on each side"),
    (lambda: framefix.estimate_flow(np.full((40, 50), np.nan, np.float32), BAD[..., 0]), ValueError, "prev contains NaN"),
    (lambda: framefix.estimate_flow(BAD, BAD, init=np.zeros((40, 50, 2), np.float64)), TypeError, "init must be"),
    (lambda: framefix.estimate_flow(BAD, BAD, init=np.zeros((4, 5, 2), np.float32)), ValueError, r"init must be \(40, 50, 2\)"),
    (lambda: framefix.estimate_flow(BAD, BAD, preset="turbo"), ValueError, "preset must be one of"),
    (lambda: framefix.estimate_flow(BAD, BAD, patches=4), TypeError, "unknown settings"),
    (lambda: framefix.estimate_flow(BAD, BAD, stride=0), ValueError, "stride must be an int >= 1"),
    (lambda: framefix.estimate_flow(BAD, BAD, refine_sweeps=-1), ValueError, "refine_sweeps must be an int >= 0"),
    (lambda: framefix.estimate_flow(BAD, BAD, refine_levels=-1), ValueError, "refine_levels must be an int >= 0"),
    (lambda: framefix.estimate_flow(BAD, BAD, full_refine_iterations=-2), ValueError,
     "full_refine_iterations must be an int >= 0, got -2"),
    (lambda: framefix.flow.kernel_settings("fast", refine_levels=1.5), ValueError, "refine_levels must be an int"),
    (lambda: framefix.estimate_flow(BAD, BAD, presmooth=-1), ValueError, "presmooth must be an int >= 0, got -1"),
    (lambda: framefix.estimate_flow(BAD, BAD, presmooth=33), ValueError,
     r"presmooth must be an int in 0\.\.32 \(blur passes\), got 33"),
    (lambda: framefix.estimate_flow(BAD, BAD, presmooth=True), ValueError, "presmooth must be an int >= 0, got True"),
    (lambda: framefix.estimate_flow(BAD, BAD, patch=8, stride=12), ValueError, "stride must be at most patch"),
    (lambda: framefix.estimate_flow(BAD, BAD, propagation=1), ValueError, "propagation must be True or False, got 1"),
    (lambda: framefix.flow.kernel_settings("fast", propagation="yes"), ValueError, "propagation must be True or False"),
    (lambda: framefix.estimate_flow(BAD, BAD, fill_occlusions=None), ValueError,
     "fill_occlusions must be True or False, got None"),
    (lambda: framefix.estimate_flow(BAD, BAD, init=np.full((40, 50, 2), np.nan, np.float32)), ValueError,
     "init contains NaN"),
    (lambda: framefix.estimate_flow(BAD, BAD, smoothness=1e39), ValueError, r"smoothness must be a number in 1e-06\.\.1e\+06"),
    (lambda: framefix.estimate_flow(BAD, BAD, smoothness=1e-46), ValueError, "smoothness must be a number in"),
    (lambda: framefix.estimate_flow(BAD, BAD, smoothness=0), ValueError, "smoothness must be a number in .*, got 0"),
    (lambda: framefix.estimate_flow(BAD, BAD, gradient_constancy=float("nan")), ValueError,
     r"gradient_constancy must be a number in 0\.\.1e\+06 .*, got nan"),
    (lambda: framefix.estimate_flow(BAD, BAD, brightness_constancy="1"), ValueError,
     "brightness_constancy must be a number in"),
]


# --- issue 16, hardening: finite input must never give an all-NaN flow ---------------------------

TEXTURE = np.random.default_rng(16).random((32, 40)).astype(np.float32)


@pytest.mark.parametrize("kwargs, frame_scale, message", [
    ({"init": np.full((32, 40, 2), 1e30, np.float32)}, 1, r"init must hold vectors with components within \+-2\^24 pixels, got 1e\+30"),
    ({}, 1e20, r"prev must hold values within \+-1e\+06 \(float frames are nominally 0\.\.1\), got"),
    ({"smoothness": 1e-40}, 1, r"smoothness must be a number in 1e-06\.\.1e\+06 .*got 1e-40"),
    ({"gradient_constancy": 3e38}, 1, r"gradient_constancy must be a number in 0\.\.1e\+06 .*got 3e\+38"),
    ({"brightness_constancy": 3e38}, 1, r"brightness_constancy must be a number in 0\.\.1e\+06 .*got 3e\+38"),
])
def test_values_that_made_all_nan_flow_are_refused(backend, kwargs, frame_scale, message):
    scaled = TEXTURE * np.float32(frame_scale)
    with pytest.raises(ValueError, match=message):
        framefix.estimate_flow(scaled, np.roll(scaled, 1, axis=1), **kwargs)


@pytest.mark.parametrize("kwargs, frame_scale", [
    ({"init": np.full((32, 40, 2), 2.0**24, np.float32), "smoothness": 1e-6, "gradient_constancy": 1e6,
      "brightness_constancy": 1e6}, 1e6),
    ({"init": np.full((32, 40, 2), -(2.0**24), np.float32), "smoothness": 1e6, "gradient_constancy": 0.0,
      "brightness_constancy": 1e-40, "preset": "accurate"}, -1e6),
    ({"smoothness": 1e-6}, 1e-38),
])
def test_the_extremes_still_allowed_give_finite_flow_on_both_backends(native, kwargs, frame_scale):
    scaled = TEXTURE * np.float32(frame_scale)
    flow = assert_backends_agree(framefix.estimate_flow, scaled, np.roll(scaled, 1, axis=1), **kwargs)
    assert flow.shape == (32, 40, 2) and np.isfinite(flow).all()


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_flow_input(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_flow_command(tmp_path, scene):
    import subprocess
    import sys

    cv2 = pytest.importorskip("cv2")
    truth = constant(scene.shape, 2.0, 1.0)
    cv2.imwrite(str(tmp_path / "a.png"), scene[..., ::-1])
    cv2.imwrite(str(tmp_path / "b.png"), moved(scene, truth)[..., ::-1])
    command = [sys.executable, "-m", "framefix", "flow", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
               "-o", str(tmp_path / "f.flo"), "--viz", str(tmp_path / "f.png"), "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    flow = framefix.read_flo(tmp_path / "f.flo")
    assert np.median(endpoint_errors(flow, truth)) < 0.2
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    missing = subprocess.run(command[:5] + [str(tmp_path / "nope.png")] + command[6:8] + ["--overwrite"],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
