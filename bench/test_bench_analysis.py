"""Analysis throughput: statistics + shot detection against decoding alone, 720p.

    python -m pytest bench/test_bench_analysis.py --benchmark-group-by=group --benchmark-columns=min,median,rounds

Targets (issue 6): statistics and cut detection cost at most half of the decode time; with the
flow-based measures (warping error, inconsistency map, regional flicker; fast preset), at least
20 frames/s at 720p on 2 cores.
"""

import av
import numpy as np
import pytest

import framefix
from framefix.analysis import analyze_clip


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory):
    path = tmp_path_factory.mktemp("analysis") / "in720.mp4"
    rng = np.random.default_rng(0)
    base = np.repeat(np.repeat(rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8), 8, axis=0), 8, axis=1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for t in range(100):
            frame = av.VideoFrame.from_ndarray(np.roll(base, (t, 3 * t), axis=(0, 1)), format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def decode_only(path):
    with framefix.open_clip(path) as clip:
        for _ in clip:
            pass


def test_decode_only(benchmark, clip_720p):
    benchmark.group = "720p, 100 frames: decode vs decode + analysis"
    benchmark.pedantic(decode_only, args=(clip_720p,), rounds=3, iterations=1, warmup_rounds=1)


def test_decode_and_analyze(benchmark, clip_720p):
    benchmark.group = "720p, 100 frames: decode vs decode + analysis"
    benchmark.pedantic(analyze_clip, args=(clip_720p,), rounds=3, iterations=1, warmup_rounds=1)


def test_decode_and_analyze_with_flow(benchmark, clip_720p):
    benchmark.group = "720p, 100 frames: analysis with flow (fast preset), 2 workers"
    benchmark.pedantic(analyze_clip, args=(clip_720p,), kwargs={"flow": True, "workers": 2},
                       rounds=2, iterations=1)
    benchmark.extra_info["frames_per_second"] = 100 / benchmark.stats.stats.min
    print(f"\nanalysis with flow: {100 / benchmark.stats.stats.min:.1f} frames/s")
