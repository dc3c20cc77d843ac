"""Clip I/O: `framefix convert` against a bare PyAV decode+encode loop, and peak memory.

    python -m pytest bench/test_bench_io.py --benchmark-group-by=group --benchmark-columns=min,median,rounds -s

Both convert the same 720p H.264 clip to H.264 with the same settings (libx264, crf 23, preset
veryfast, yuv420p) through RGB frames, which is what every framefix operation sees. The memory
test converts a generated 1080p clip of 1500 frames in a child process and reports its peak RSS.
"""

import os
import resource
import subprocess
import sys

import av
import numpy as np
import pytest

from framefix.pipeline import process_clip

SETTINGS = {"crf": "23", "preset": "veryfast"}


def _make_clip(path, frames, width, height):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(height // 8, width // 8, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, (t, 2 * t), axis=(0, 1)), format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "in720.mp4"
    _make_clip(path, 150, 1280, 720)
    return path


def bare_pyav_convert(source, target):
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        video = inp.streams.video[0]
        video.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.time_base = video.time_base
        stream.thread_type = "AUTO"
        stream.options = dict(SETTINGS)
        for frame in inp.decode(video):
            rgb = frame.to_ndarray(format="rgb24")
            new = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            new.pts, new.time_base = frame.pts, frame.time_base
            out.mux(stream.encode(new))
        out.mux(stream.encode(None))


def test_bare_pyav_loop(benchmark, clip_720p, tmp_path):
    benchmark.group = "convert 720p, 150 frames"
    benchmark.pedantic(bare_pyav_convert, args=(clip_720p, tmp_path / "bare.mp4"), rounds=3, iterations=1,
                       warmup_rounds=1)


def test_framefix_convert(benchmark, clip_720p, tmp_path):
    target = tmp_path / "ff.mp4"
    benchmark.group = "convert 720p, 150 frames"
    benchmark.pedantic(
        lambda: process_clip(clip_720p, target, codec="libx264", crf=23, preset="veryfast", overwrite=True),
        rounds=3, iterations=1, warmup_rounds=1,
    )


def test_peak_memory_1080p_1500_frames(tmp_path):
    source = tmp_path / "long1080.mp4"
    _make_clip(source, 1500, 1920, 1080)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "framefix", "convert", str(source), "-o", str(tmp_path / "out.mp4"),
                    "--preset", "ultrafast", "-q"], check=True, timeout=1800)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS converting 1500 frames of 1080p: {peak_mib:.0f} MiB (children's maximum before: {before / 1024:.0f})")
    assert os.path.getsize(tmp_path / "out.mp4") > 0
    assert peak_mib <= 600
