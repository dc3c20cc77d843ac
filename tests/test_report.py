"""The analysis reports: terminal text, strict versioned JSON, and the plot (global matplotlib state untouched)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from clips import moving_frames, write_video
from framefix.analysis import analyze_clip
from framefix.report import REPORT_FORMAT, REPORT_VERSION, plot_format, plot_report, report_dict, report_text, write_json


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "clip.mkv"
    rng = np.random.default_rng(3)
    frames = [np.clip(f * (1 + 0.08 * rng.standard_normal()), 0, 255).astype(np.uint8) for f in moving_frames(12, 48, 64)]
    write_video(path, frames, codec="ffv1", pix_fmt="bgr0")
    return analyze_clip(path, flow=True)


def test_the_json_report_is_strict_and_versioned(analysis, tmp_path):
    write_json(analysis, tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text
    report = json.loads(text)
    assert report == json.loads(json.dumps(report_dict(analysis)))
    assert (report["format"], report["version"]) == (REPORT_FORMAT, REPORT_VERSION) == ("framefix.analysis", 1)
    assert report["frames"]["warping_error"][0] is None and len(report["frames"]["luma"]) == 12
    assert [(s["start"], s["end"]) for s in report["shots"]] == analysis.transitions.shots


def test_the_text_report_has_a_line_per_shot(analysis):
    lines = report_text(analysis).splitlines()
    assert lines[0].endswith("(clean footage ~1 or less; visible flicker > 2)") and "12 frames" in lines[0]
    assert "E_warp x1000" in lines[1] and lines[2].split()[:2] == ["1", "0-11"]
    assert "  cuts at frames: none" in lines
    flashes = ", ".join(f"{a}-{b - 1}" for a, b in analysis.transitions.flashes)
    assert ("  flashes (not cuts): " + flashes in lines) == bool(flashes)


def test_the_plot_leaves_matplotlib_s_global_backend_alone(tmp_path):
    pytest.importorskip("matplotlib")
    script = textwrap.dedent(f"""
        import matplotlib
        matplotlib.use("svg")  # whatever the caller chose
        import numpy as np
        from clips import moving_frames, write_video
        from framefix.analysis import analyze_clip
        from framefix.report import plot_report
        write_video({str(tmp_path / "c.mkv")!r}, list(moving_frames(6, 32, 32)), codec="ffv1", pix_fmt="bgr0")
        plot_report(analyze_clip({str(tmp_path / "c.mkv")!r}), {str(tmp_path / "p.png")!r})
        import sys
        print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            cwd=str(__import__("pathlib").Path(__file__).parent))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["svg", "False"]
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_formats_come_from_the_extension(analysis, tmp_path):
    pytest.importorskip("matplotlib")
    assert plot_format("a/b.PNG") == "png" and plot_format("r.pdf") == "pdf"
    with pytest.raises(ValueError, match=r"r\.xyz: a plot must be one of .*\.png"):
        plot_format(tmp_path / "r.xyz")
    plot_report(analysis, tmp_path / "r.svg")
    assert b"<svg" in (tmp_path / "r.svg").read_bytes()[:400]


def test_per_shot_measures_follow_the_shots_they_are_given(analysis):
    # a repaired clip is reported shot for shot with its input, whatever cuts its own analysis finds
    ranges = [(0, 5), (5, 9), (9, 12)]
    errors = analysis.shot_warping_errors(ranges)
    regional = analysis.shot_regional_flicker(ranges)
    assert len(errors) == len(regional) == 3
    np.testing.assert_allclose(errors[1], np.nanmean(analysis.warping_error[5:9]))
    assert analysis.shot_warping_errors() == analysis.shot_warping_errors(analysis.transitions.shots)
