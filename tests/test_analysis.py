"""The clip driver (framefix analyze): statistics, shots and flicker of a whole clip, with flow the
temporal measures and the heat map, and the reports."""

import json
import subprocess
import sys

import numpy as np
import pytest

import framefix
from clips import blob_flicker, moving_frames, sample_clip, sample_frames, write_video
from framefix.analysis import analyze_clip
from framefix.report import report_dict


def test_the_analyze_command(tmp_path):
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


def test_analyze_takes_tiny_frames(tmp_path):
    write_video(tmp_path / "tiny.mkv", moving_frames(5, 4, 6), codec="ffv1", pix_fmt="bgr0")
    analysis = analyze_clip(tmp_path / "tiny.mkv")
    assert analysis.transitions.shots == [(0, 5)]
    # every frame's statistics are kept, on a tile grid no bigger than the frame
    assert len(analysis.statistics) == 5
    assert all(s.tile_means.shape == (4, 6, 3) for s in analysis.statistics)


def test_analyze_with_flow_reports_warping_errors(tmp_path):
    clip = sample_frames("bikes.mp4")[70:90]  # a cut at 76 (bikes' own)
    write_video(tmp_path / "c.mkv", clip, codec="ffv1", pix_fmt="bgr0")
    analysis = analyze_clip(tmp_path / "c.mkv", flow=True)
    errors = analysis.warping_error
    assert np.isnan(errors[0]) and np.isnan(errors[6]) and np.isfinite(errors[1:6]).all()
    report = report_dict(analysis)
    assert report["frames"]["warping_error"][6] is None and all(s["warping_error"] > 0 for s in report["shots"])


def test_regional_flicker_is_found_on_real_footage(tmp_path):
    clip = sample_frames("carphone_pristine.mp4")[:40]
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
    clip = blob_flicker(sample_frames("carphone_pristine.mp4")[:12], 0.3, period=4)
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
    write_video(tmp_path / "one.mkv", list(moving_frames(1)), codec="ffv1", pix_fmt="bgr0")
    with pytest.raises(ValueError, match="preset must be one of"):
        analyze_clip(tmp_path / "one.mkv", flow=True, flow_preset="bogus")
    write_video(tmp_path / "tiny.mkv", list(moving_frames(3, height=12, width=20)), codec="ffv1", pix_fmt="bgr0")
    with pytest.raises(ValueError, match="at least 16 pixels"):
        analyze_clip(tmp_path / "tiny.mkv", heatmap=tmp_path / "heat.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mkv", "tiny.mkv"]
