"""Optical flow: framefix presets against OpenCV's DIS presets, time and accuracy in one run.

    python -m pytest bench/test_bench_flow.py --benchmark-group-by=group --benchmark-columns=min,median,rounds -s

Ground truth: scikit-image's astronaut and coffee at 1280x720 and 640x360, the second frame made
by warping the first with a known smooth flow b (rotation + zoom, a swirl, a 40 px translation),
so the flow from the second frame back to the first is exactly b. Variants: a 15% gain change on
the second frame, and noise. EPE (mean endpoint error, px, 16 px border excluded) and the share of
pixels off by more than 3 px are printed per preset for both estimators; 1 thread.
"""

import time

import numpy as np
import pytest

import framefix

SIZES = {"720p": (720, 1280), "360p": (360, 640)}
PAIRS = {"ultrafast": "ultrafast", "fast": "fast", "medium": "medium", "accurate": "medium"}


def flows(height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2, height / 2
    angle, zoom = 0.04, 1.05
    scale = max(height, width) / 640
    rotation = np.stack([(np.cos(angle) * zoom - 1) * (x - cx) - np.sin(angle) * zoom * (y - cy),
                         np.sin(angle) * zoom * (x - cx) + (np.cos(angle) * zoom - 1) * (y - cy)], axis=-1)
    swirl = np.stack([14 * scale * np.sin(y / (60 * scale)), 10 * scale * np.cos(x / (80 * scale))], axis=-1)
    translation = np.stack([np.full_like(x, 40 * scale * 0.8), np.full_like(x, 40 * scale * 0.6)], axis=-1)
    return {"rotate+zoom": rotation.astype(np.float32), "swirl": swirl.astype(np.float32),
            "translate": translation.astype(np.float32)}


@pytest.fixture(scope="module")
def cases():
    pytest.importorskip("skimage")
    from skimage import data, transform

    built = {}
    for size_name, (h, w) in SIZES.items():
        for image_name, image in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
            first = (transform.resize(image, (h, w)) * 255).astype(np.uint8)
            rng = np.random.default_rng(0)
            for flow_name, b in flows(h, w).items():
                second = framefix.warp(first, b, interpolation="cubic", border="reflect")  # second(x) = first(x + b)
                variants = {
                    "plain": second,
                    "gain 15%": np.clip(second * 1.15, 0, 255).astype(np.uint8),
                    "noise": np.clip(second + rng.normal(0, 4, second.shape), 0, 255).astype(np.uint8),
                }
                for variant, frame in variants.items():
                    built[(size_name, image_name, flow_name, variant)] = (frame, first, b)
    return built


def errors(estimate, truth, margin=16):
    e = np.hypot(*(estimate - truth)[margin:-margin, margin:-margin].transpose(2, 0, 1))
    return float(e.mean()), float(np.mean(e > 3) * 100)


def gray(frame):
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("preset", list(PAIRS))
def test_framefix_vs_dis(benchmark, cases, size, preset):
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(1)
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{PAIRS[preset].upper()}"))
    mine, theirs, mine_time, their_time = [], [], [], []
    for (size_name, image, flow_name, variant), (frame, first, b) in cases.items():
        if size_name != size:
            continue
        start = time.perf_counter()
        estimate = framefix.estimate_flow(frame, first, preset=preset, workers=1)
        mine_time.append(time.perf_counter() - start)
        g0, g1 = gray(frame), gray(first)
        start = time.perf_counter()
        reference = dis.calc(g0, g1, None)
        their_time.append(time.perf_counter() - start)
        mine.append((image, flow_name, variant, *errors(estimate, b)))
        theirs.append((image, flow_name, variant, *errors(reference, b)))
    print(f"\n{size} {preset} (vs DIS {PAIRS[preset]}): mean time {np.mean(mine_time) * 1e3:.1f} ms vs "
          f"{np.mean(their_time) * 1e3:.1f} ms")
    for (image, flow_name, variant, epe, bad), (*_, epe_dis, bad_dis) in zip(mine, theirs, strict=True):
        print(f"  {image:9} {flow_name:12} {variant:9} EPE {epe:6.3f} px ({bad:5.1f}% > 3 px)   "
              f"DIS {epe_dis:6.3f} px ({bad_dis:5.1f}%)")
    summary = {}
    for name, rows in (("framefix", mine), ("DIS", theirs)):
        plain = {(r[0], r[1]): r[3] for r in rows if r[2] == "plain"}
        gained = {(r[0], r[1]): r[3] for r in rows if r[2] == "gain 15%"}
        summary[name] = (np.mean([r[3] for r in rows]), np.mean([r[4] for r in rows]),
                         [gained[k] - plain[k] for k in plain], [(gained[k] - plain[k]) / plain[k] for k in plain])
    worst = max(m[3] / t[3] for m, t in zip(mine, theirs, strict=True))
    for name, (epe, bad, absolute, relative) in summary.items():
        print(f"  {name:8} mean EPE {epe:.3f} px, {bad:.1f}% > 3 px; a 15% gain change: "
              f"{min(absolute):+.3f} to {max(absolute):+.3f} px ({100 * min(relative):+.0f}% to {100 * max(relative):+.0f}%)")
    print(f"  worst case, framefix over DIS: {worst:.2f}")
    frame, first, _ = next(v for k, v in cases.items() if k[0] == size)
    benchmark.group = f"flow {size}, {preset}"
    benchmark.extra_info.update(epe=float(summary["framefix"][0]), epe_dis=float(summary["DIS"][0]))
    benchmark.pedantic(framefix.estimate_flow, args=(frame, first), kwargs={"preset": preset, "workers": 1},
                       rounds=3, iterations=1)
