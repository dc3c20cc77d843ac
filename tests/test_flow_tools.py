import numpy as np
import pytest
from numpy.testing import assert_array_equal

import framefix
from parity import assert_backends_agree
from reference import flow_consistency_reference


def smooth_flow(rng, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.empty((height, width, 2), np.float32)
    flow[..., 0] = 3 * np.sin(y / 7 + rng.uniform(0, 6)) + 1
    flow[..., 1] = 2 * np.cos(x / 9 + rng.uniform(0, 6))
    return flow


def test_flo_round_trip_is_exact(tmp_path):
    flow = smooth_flow(np.random.default_rng(0), 17, 23)
    flow[0, 0] = [np.nan, -np.inf]
    framefix.write_flo(tmp_path / "f.flo", flow)
    assert (tmp_path / "f.flo").stat().st_size == 12 + 17 * 23 * 8
    back = framefix.read_flo(tmp_path / "f.flo")
    assert back.dtype == np.float32 and back.shape == (17, 23, 2)
    assert_array_equal(back.view(np.uint32), flow.view(np.uint32))


def test_bad_flo_files_are_refused(tmp_path):
    flow = np.zeros((4, 5, 2), np.float32)
    framefix.write_flo(tmp_path / "good.flo", flow)
    data = (tmp_path / "good.flo").read_bytes()
    cases = {
        "truncated.flo": (data[:-3], "truncated"),
        "long.flo": (data + b"\0\0\0\0", "longer than its header says"),
        "magic.flo": (b"PIEX" + data[4:], "bad magic number"),
        "size.flo": (data[:4] + np.array([-4, 5], "<i4").tobytes() + data[12:], "impossible size"),
        "short.flo": (data[:7], "too short"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message):
            framefix.read_flo(tmp_path / name)
    with pytest.raises(TypeError, match=r"write_flo: flow must be \(H, W, 2\) float32, got \(4, 5, 2\) float64"):
        framefix.write_flo(tmp_path / "x.flo", flow.astype(np.float64))


def test_a_flo_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    # issue 16: 2^20 x 2^20 passed the size check and f.read(8 TiB) raised MemoryError
    header = np.float32(202021.25).astype("<f4").tobytes() + np.array([1 << 20, 1 << 20], "<i4").tobytes()
    (tmp_path / "huge.flo").write_bytes(header + bytes(64))
    with pytest.raises(ValueError, match=r"read_flo: .*huge\.flo: truncated \(64 data bytes, 1048576x1048576 needs"):
        framefix.read_flo(tmp_path / "huge.flo")


def test_flow_colors_follow_the_middlebury_wheel():
    flow = np.zeros((1, 5, 2), np.float32)
    flow[0, 1] = [10, 0]   # right: red
    flow[0, 2] = [0, 10]   # down (y grows): yellow-ish
    flow[0, 3] = [-10, 0]  # left: cyan
    flow[0, 4] = [0, -10]  # up: blue-violet
    colors = framefix.flow_to_color(flow).astype(int)
    assert_array_equal(colors[0, 0], [255, 255, 255])  # no motion: white
    r, g, b = colors[0, 1]
    assert r == 255 and g < 20 and b < 20
    assert colors[0, 2, 0] > 200 and colors[0, 2, 1] > 150 and colors[0, 2, 2] < 20
    assert colors[0, 3, 0] < 20 and colors[0, 3, 1] > 200 and colors[0, 3, 2] > 200
    assert colors[0, 4, 2] == 255 and colors[0, 4, 1] < 20
    half = framefix.flow_to_color(flow, max_magnitude=20).astype(int)
    assert half[0, 1, 1] > colors[0, 1, 1]  # less saturated
    with pytest.raises(ValueError, match="flow_to_color: max_magnitude must be a finite number > 0, got 0"):
        framefix.flow_to_color(flow, max_magnitude=0)
    # fuzz findings: numpy's own TypeError came out for an int beyond float range and for a str
    with pytest.raises(ValueError, match="max_magnitude must be a finite number > 0, got 1000"):
        framefix.flow_to_color(flow, max_magnitude=10**400)
    with pytest.raises(TypeError, match="flow_to_color: max_magnitude must be a real number, got str"):
        framefix.flow_to_color(flow, max_magnitude="20")


def test_consistency_flags_an_occlusion_and_the_frame_edge(backend):
    height, width = 40, 60
    forward = np.zeros((height, width, 2), np.float32)
    forward[..., 0] = 4  # everything moves 4 px right...
    backward = -forward.copy()
    backward[10:20, 30:40] = [9, 3]  # ...but B's pixels here came from elsewhere: occluded
    mask = framefix.flow_consistency(forward, backward)
    assert mask.dtype == bool and mask.shape == (height, width)
    landing_in_occluder = np.zeros((height, width), bool)
    landing_in_occluder[10:20, 26:36] = True  # x + 4 in 30..39
    assert not mask[landing_in_occluder].any()
    assert not mask[:, -4:].any()  # x + 4 leaves the frame
    assert mask[30:, :50].all()
    soft = framefix.flow_consistency(forward, backward, soft=True)
    assert soft.dtype == np.float32 and soft[30:, :50].min() > 0.99 and soft[landing_in_occluder].max() < 0.01


def test_consistency_marks_motion_boundaries():
    forward = np.zeros((30, 30, 2), np.float32)
    forward[:, 15:, 0] = 3
    backward = -forward  # consistent everywhere it lands inside, but the flow jumps at x = 15
    with_boundaries = framefix.flow_consistency(forward, backward)
    without = framefix.flow_consistency(forward, backward, motion_boundaries=False)
    assert not with_boundaries[:, 14:16].any() and without[:, 14].all()


def test_consistency_bad_input():
    f = np.zeros((5, 6, 2), np.float32)
    with pytest.raises(ValueError, match="forward and backward must have the same shape"):
        framefix.flow_consistency(f, f[:4])
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        framefix.flow_consistency(f, f, alpha=-1)
    # fuzz findings: an int beyond float range raised OverflowError
    with pytest.raises(ValueError, match=r"flow_consistency: beta must be a finite number >= 0 and <= 3\.40282e\+38"):
        framefix.flow_consistency(f, f, beta=10**400)
    with pytest.raises(ValueError, match="flow_consistency: alpha must be a finite number"):
        framefix.flow_consistency(f, f, alpha=1e39)
    with pytest.raises(ValueError, match=r"backward must be \(H, W, 2\) float32"):
        framefix.flow_consistency(f, f[..., :1])


@pytest.mark.parametrize("motion_boundaries", [True, False])
def test_consistency_matches_the_oracle_and_both_backends_agree(native, motion_boundaries):
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:37, 0:45].astype(np.float32)
    forward = np.stack([3 * np.sin(y / 20) + 1, 2 * np.cos(x / 25)], axis=-1).astype(np.float32)
    backward = (-forward + rng.normal(0, 0.4, forward.shape)).astype(np.float32)
    backward[10:20, 10:20] = 5  # an occluded block
    ratio = assert_backends_agree("consistency_ratio", forward, backward, 0.01, 0.5, motion_boundaries,
                                  workers=(1, 2, 3))
    oracle = flow_consistency_reference(forward, backward, motion_boundaries=motion_boundaries)
    finite = np.isfinite(oracle)
    np.testing.assert_array_equal(np.isfinite(ratio), finite)
    np.testing.assert_allclose(ratio[finite], oracle[finite], rtol=1e-4, atol=1e-5)
    mask = framefix.flow_consistency(forward, backward, motion_boundaries=motion_boundaries)
    landing_x, landing_y = x + forward[..., 0], y + forward[..., 1]
    into_the_block = (landing_x > 11) & (landing_x < 18) & (landing_y > 11) & (landing_y < 18)
    assert into_the_block.sum() > 20 and not mask[into_the_block].any() and mask.mean() > 0.5


def test_soft_consistency_stays_in_0_1_with_non_finite_flows():
    forward = np.zeros((12, 12, 2), np.float32)
    backward = forward.copy()
    backward[4, 4] = np.nan
    backward[8, 8] = 1e20
    soft = framefix.flow_consistency(forward, backward, soft=True)
    assert np.isfinite(soft).all() and soft.min() >= 0 and soft.max() <= 1
    assert soft[4, 4] == 0 and not framefix.flow_consistency(forward, backward)[4, 4]
    assert framefix.flow_consistency(forward, backward, alpha=np.float32(0.02)).any()
