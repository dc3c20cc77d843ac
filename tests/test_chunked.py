"""One long clip deflickered in chunks on a real local Dask cluster (two single-threaded worker
processes): the output equals the single pass's, bit for bit, whether the clip is entered by
seeking (MP4 with B-frames and short GOPs, image folders) or read from its start (a raw stream
without times); a worker killed mid-chunk costs a retry, not the output."""

import json
import os
import signal
import sys
import threading
import time
import warnings

import av
import numpy as np
import pytest

import framefix
import framefix.cli as cli
from framefix.chunked import Chunk, deflicker_chunked, plan_chunks
from framefix.deflicker import deflicker_clip
from framefix.io import ClipError, IncompleteClipWarning, SeekError
from framefix.report import deflicker_dict

distributed = pytest.importorskip("distributed")

from clips import audio_packets, decode_rgb, sample_frames, write_video  # noqa: E402


def _long_clip_frames():
    """Real footage with a cut, exposure flicker and a two-frame flash."""
    rng = np.random.default_rng(1)
    frames = sample_frames("bikes.mp4", (160, 96))[:40] + sample_frames("carphone_pristine.mp4", (160, 96))[:35]
    frames = [np.clip(f * (1 + 0.12 * rng.standard_normal()), 0, 255).astype(np.uint8) for f in frames]
    for t in (50, 51):
        frames[t] = np.clip(frames[t].astype(int) + 90, 0, 255).astype(np.uint8)
    return frames


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    # short GOPs with B-frames: chunks enter the clip at keyframes, some between a B-frame and its reference
    write_video(path, _long_clip_frames(), options={"g": "12", "bf": "2"}, audio_seconds=3)
    return path


def _folder_frames(folder):
    names = sorted(os.listdir(folder))
    with framefix.open_clip(str(folder)) as clip:
        return names, list(clip)


def _assert_same_frames(a, b):
    names_a, frames_a = _folder_frames(a)
    names_b, frames_b = _folder_frames(b)
    assert names_a == names_b
    for x, y in zip(frames_a, frames_b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_seeking_gives_the_frames_a_full_decode_gives(long_clip):
    with framefix.open_clip(long_clip) as clip:
        expected = list(clip.items(audio=False))
        times = clip.frame_times()
    assert times == [pts for _, _, pts in expected]
    for start in (0, 1, 11, 12, 13, 40, 74):
        with framefix.open_clip(long_clip) as clip:
            got = list(clip.frames_from(start, times))
        assert [pts for _, pts in got] == times[start:]
        for (frame, _), (_, want, _) in zip(got, expected[start:], strict=True):
            np.testing.assert_array_equal(frame, want)


def _trimmed(source, path, hidden=2):
    """``source`` remuxed (packets copied) to start ``hidden`` frames after a keyframe, as
    ``ffmpeg -ss T -c copy`` trims: an edit list hides the packets before, which are decoded but
    never shown."""
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        shift = None
        for packet in src.demux(video):
            if packet.dts is None:
                continue
            shift = packet.pts + hidden * 512 if shift is None else shift  # 512 ticks a frame at 25 fps
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = stream
            out.mux(packet)


def test_a_trimmed_clip_is_entered_at_its_shown_frames(client, long_clip, tmp_path):
    trimmed = tmp_path / "trimmed.mp4"
    _trimmed(long_clip, trimmed)
    with framefix.open_clip(trimmed) as clip, warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteClipWarning)  # hidden packets are not missing frames
        expected = list(clip.items(audio=False))
        times = clip.frame_times()
    assert len(expected) == 73 and times == [pts for _, _, pts in expected]
    deflicker_clip(trimmed, tmp_path / "single", mode="global", window=5, workers=1)
    done = deflicker_chunked(trimmed, tmp_path / "chunked", mode="global", window=5, chunks=3, client=client)
    assert done.entered_by_seeking
    _assert_same_frames(tmp_path / "single", tmp_path / "chunked")


def test_seeking_refuses_times_that_are_not_the_clips(long_clip):
    with framefix.open_clip(long_clip) as clip:
        times = clip.frame_times()
    shifted = [t + 1 for t in times]  # no frame has these times: the seek must not guess
    with framefix.open_clip(long_clip) as clip, pytest.raises(SeekError, match="cannot enter mid-clip"):
        next(clip.frames_from(20, shifted))
    with framefix.open_clip(long_clip) as clip, pytest.raises(SeekError, match="frame 0 is not where"):
        next(clip.frames_from(0, shifted))  # the first frame too: a decode from the start is checked
    for bad in (-1, True, 2.0):
        with framefix.open_clip(long_clip) as clip, pytest.raises(ValueError, match="start must be an int >= 0"):
            next(clip.frames_from(bad, times))


@pytest.mark.parametrize("mode", ["local", "global"])
def test_a_chunked_run_equals_the_single_pass(client, long_clip, tmp_path, mode):
    single = deflicker_clip(long_clip, tmp_path / "single", mode=mode, window=7, workers=1)
    stages = []
    done = deflicker_chunked(long_clip, tmp_path / "chunked", mode=mode, window=7, chunks=5, client=client,
                             progress=lambda stage, frames, total: stages.append((stage, frames, total)))
    _assert_same_frames(tmp_path / "single", tmp_path / "chunked")
    assert done.entered_by_seeking
    # several chunks, one boundary on the cut at 40, and the halo reaching across none
    assert len(done.chunks) == 5 and 30 in [c.start for c in done.chunks]
    cuts = single.transitions.cuts
    assert cuts == done.run.transitions.cuts and single.transitions.flashes == done.run.transitions.flashes == [(50, 52)]
    for chunk in done.chunks:
        assert not any(chunk.read_start < c <= chunk.start or chunk.stop <= c < chunk.read_stop for c in cuts)
    assert deflicker_dict(done.run) == deflicker_dict(single)  # the statistics before and after too
    assert {s for s, _, _ in stages} == {"statistics", "deflicker", "encode"}
    assert ("encode", 75, 75) in stages
    assert {t["stage"] for t in done.tasks} == {"statistics", "chunk"} and all(t["peak_mib"] > 0 for t in done.tasks)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # segments removed


def test_a_chunked_video_keeps_the_times_and_the_audio(client, long_clip, tmp_path, capsys):
    # a lossless encoder, so the decoded frames can be compared exactly (threaded x264 is not
    # bit-exact from one run to the next, whatever it is given)
    options = ["--window", "7", "--codec", "ffv1", "-q"]
    code = cli.main(["deflicker", str(long_clip), "-o", str(tmp_path / "out.mkv"), "--report",
                     str(tmp_path / "report.json"), "--scheduler", client.scheduler.address, "--chunks", "4", *options])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    # the report measures the output while it is still a temporary: it appears with it
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["shots"][0]["warping_error"]["after"] < report["shots"][0]["warping_error"]["before"]
    assert cli.main(["deflicker", str(long_clip), "-o", str(tmp_path / "single.mkv"), *options]) == 0
    chunked, single = decode_rgb(tmp_path / "out.mkv"), decode_rgb(tmp_path / "single.mkv")
    assert len(chunked) == 75
    for (a, ta), (b, tb) in zip(chunked, single, strict=True):
        np.testing.assert_array_equal(a, b)
        assert ta == tb
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(long_clip)


def test_clips_without_times_are_read_from_their_start(client, tmp_path):
    frames = _long_clip_frames()[:40]
    raw = tmp_path / "raw.h264"  # an elementary stream: no container, no frame times
    with av.open(str(raw), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    deflicker_clip(raw, tmp_path / "single", mode="global", window=5, workers=1)
    done = deflicker_chunked(raw, tmp_path / "chunked", mode="global", window=5, chunks=3, client=client)
    assert not done.entered_by_seeking and len(done.chunks) == 3
    _assert_same_frames(tmp_path / "single", tmp_path / "chunked")


def test_an_image_folder_is_entered_by_index(client, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(_long_clip_frames()[:30]):
        av.VideoFrame.from_ndarray(frame, format="rgb24").to_image().save(folder / f"{t:04d}.png")
    deflicker_clip(folder, tmp_path / "single", mode="global", window=5, workers=1)
    done = deflicker_chunked(folder, tmp_path / "chunked", mode="global", window=5, chunks=3, client=client)
    assert done.entered_by_seeking and len(done.chunks) == 3
    _assert_same_frames(tmp_path / "single", tmp_path / "chunked")


def test_a_corrupt_clip_is_one_line_and_nothing_written(client, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    code = cli.main(["deflicker", str(bad), "-o", str(tmp_path / "out.mp4"), "--scheduler", client.scheduler.address])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and err.count("\n") == 1 and "bad.mp4" in err
    assert sorted(os.listdir(tmp_path)) == ["bad.mp4"]


def test_a_truncated_clip_warns_as_in_a_single_pass(client, tmp_path, capsys):
    whole = tmp_path / "whole.mkv"
    write_video(whole, _long_clip_frames()[:60])
    data = whole.read_bytes()
    cut_short = tmp_path / "short.mkv"
    cut_short.write_bytes(data[:int(len(data) * 0.6)])
    with pytest.warns(IncompleteClipWarning, match="the file looks truncated"):
        deflicker_chunked(cut_short, tmp_path / "out", mode="global", window=5, chunks=2, client=client)
    code = cli.main(["deflicker", str(cut_short), "-o", str(tmp_path / "strict.mkv"), "--strict", "-q",
                     "--scheduler", client.scheduler.address])
    assert code == cli.EXIT_BAD_INPUT and "truncated" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "strict.mkv")


def test_chunk_options_are_checked(client, long_clip, tmp_path, capsys):
    assert cli.main(["deflicker", str(long_clip), "-o", str(tmp_path / "o.mp4"), "--chunks", "3"]) == cli.EXIT_BAD_INPUT
    assert "--chunks splits the clip across Dask workers" in capsys.readouterr().err
    with pytest.raises(ValueError, match="chunks must be"):
        deflicker_chunked(long_clip, tmp_path / "o.mp4", chunks=0, client=client)
    with pytest.raises(ValueError, match="give one of client, scheduler and scheduler_file"):
        deflicker_chunked(long_clip, tmp_path / "o.mp4", client=client, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ClipError, match="no such file"):
        deflicker_chunked(tmp_path / "missing.mp4", tmp_path / "o.mp4", client=client)
    assert not os.path.exists(tmp_path / "o.mp4")
    (tmp_path / "taken.mp4").write_bytes(b"someone's file")
    with pytest.raises(ClipError, match="already exists; pass --overwrite"):  # before any work
        deflicker_chunked(long_clip, tmp_path / "taken.mp4", client=client)
    with pytest.raises(TypeError, match="unexpected options"):
        deflicker_chunked(long_clip, tmp_path / "o.mp4", client=client, crf_value=3)
    assert sorted(os.listdir(tmp_path)) == ["taken.mp4"]
    # a segment folder left by a run killed outright is removed by the next run for that output
    stale = tmp_path / ".o.mkv.framefix-chunks-old"
    stale.mkdir()
    (stale / "00000-00000.rgb").write_bytes(b"\0" * 100)
    deflicker_chunked(long_clip, tmp_path / "o.mkv", mode="global", window=5, chunks=2, client=client, codec="ffv1")
    assert sorted(os.listdir(tmp_path)) == ["o.mkv", "taken.mp4"]


def test_without_dask_the_command_says_how_to_install_it(monkeypatch, long_clip, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without the extra imports
    code = cli.main(["deflicker", str(long_clip), "-o", str(tmp_path / "out.mp4"), "--local-workers", "2"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and err.count("\n") == 1 and 'pip install "framefix[dask]"' in err
    assert os.listdir(tmp_path) == []


def test_plan_chunks_covers_every_frame_once_and_snaps_to_cuts():
    chunks = plan_chunks(100, [48], 2, halo_before=7, halo_after=7)
    assert chunks == [Chunk(0, 48, 0, 48), Chunk(48, 100, 48, 100)]  # on the cut: no halo at all
    # 53 is near the ideal boundary 50: moved there; the halos stop at cuts
    assert plan_chunks(100, [10, 53], 4, halo_before=3, halo_after=5) == [
        Chunk(0, 25, 0, 30), Chunk(25, 53, 22, 53), Chunk(53, 75, 53, 80), Chunk(75, 100, 72, 100)]
    assert len(plan_chunks(20, [], 8, halo_before=7, halo_after=7)) == 1  # never shorter than the halo
    with pytest.raises(ValueError, match="count must be"):
        plan_chunks(100, [], 0, halo_before=1, halo_after=1)


class KillDuringChunk(distributed.WorkerPlugin):
    """SIGKILLs its worker while chunk ``victim``'s segment is still a temporary, once (the marker)."""

    def __init__(self, victim, folder, marker):
        self.victim, self.folder, self.marker = victim, folder, marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).endswith(f"-chunk-{self.victim}") and not os.path.exists(self.marker):
            threading.Thread(target=self._kill_mid_write, daemon=True).start()

    def _kill_mid_write(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for root, _, names in os.walk(self.folder):
                if any(f"{self.victim:05d}" in n and ".framefix-tmp" in n for n in names):
                    with open(self.marker, "x"):
                        pass
                    os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.001)


def test_a_chunk_whose_worker_dies_is_redone(client, long_clip, tmp_path):
    # last in the module: the cluster's nanny restarts the killed worker
    deflicker_clip(long_clip, tmp_path / "single", mode="global", window=7, workers=1)
    out, marker = tmp_path / "out", tmp_path / "killed"
    out.mkdir()
    client.register_plugin(KillDuringChunk(1, str(out), str(marker)), name="kill-during-chunk")
    try:
        deflicker_chunked(long_clip, out / "chunked", mode="global", window=7, chunks=3, client=client)
    finally:
        client.unregister_worker_plugin("kill-during-chunk")
    assert marker.exists()  # the worker did die mid-chunk
    _assert_same_frames(tmp_path / "single", out / "chunked")
    assert os.listdir(out) == ["chunked"]
