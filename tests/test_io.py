import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from clips import audio_packets, decode_rgb, moving_frames, write_video
from framefix.cli import main
from framefix.io import ClipError, encode_image, open_clip
from framefix.pipeline import Operation, apply_operations, process_clip

cv2 = pytest.importorskip("cv2")


def run_cli(*args):
    """The framefix command in a fresh process: (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", "framefix", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stdout, result.stderr


def leftovers(folder):
    return [n for n in os.listdir(folder) if "framefix-tmp" in n]


# --- round trips --------------------------------------------------------------------------------


def test_ffv1_rgb_round_trip_is_bit_exact(tmp_path):
    source = tmp_path / "in.mkv"
    written = write_video(source, moving_frames(12, 30, 41), codec="ffv1", pix_fmt="bgr0")
    assert main(["convert", str(source), "-o", str(tmp_path / "out.mkv"), "--codec", "ffv1", "-q"]) == 0
    with open_clip(tmp_path / "out.mkv") as clip:
        assert clip.info.pix_fmt == "bgr0" and clip.info.is_rgb
        frames = list(clip)
    assert len(frames) == len(written)
    for got, expected in zip(frames, written, strict=True):
        assert_array_equal(got, expected)


def test_frame_count_rate_and_timestamps_are_kept(tmp_path):
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(30, 48, 64), rate=Fraction(30000, 1001))
    process_clip(source, tmp_path / "out.mp4")
    with open_clip(source) as a, open_clip(tmp_path / "out.mp4") as b:
        assert b.info.fps == a.info.fps == Fraction(30000, 1001)
        assert b.info.frame_count == a.info.frame_count == 30
    times_in = [t for _, t in decode_rgb(source)]
    times_out = [t for _, t in decode_rgb(tmp_path / "out.mp4")]
    np.testing.assert_allclose(times_out, times_in, atol=1e-3)


def test_audio_is_copied_unchanged(tmp_path):
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(50, 48, 64), audio_seconds=2.0)
    process_clip(source, tmp_path / "out.mp4", codec="libx264")
    with open_clip(source) as a, open_clip(tmp_path / "out.mp4") as b:
        assert len(b.info.audio) == 1
        assert b.info.audio[0].codec == a.info.audio[0].codec == "aac"
        assert b.info.audio[0].duration == pytest.approx(a.info.audio[0].duration, abs=0.03)
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(source)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_folders_in_and_out(tmp_path, dtype):
    folder = tmp_path / "frames"
    folder.mkdir()
    written = list(moving_frames(5, 20, 24, dtype=dtype))
    for i, frame in enumerate(written):
        cv2.imwrite(str(folder / f"shot_{i + 1}.png"), frame[..., ::-1])  # frame 10 must sort after 9
    with open_clip(folder) as clip:
        assert clip.info.kind == "images" and clip.info.dtype == np.dtype(dtype).name
        assert clip.info.frame_count == 5
    assert main(["convert", str(folder), "-o", str(tmp_path / "out"), "-q"]) == 0
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == [f"{i:05d}.png" for i in range(5)]
    for name, expected in zip(names, written, strict=True):
        got = cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED)[..., ::-1]
        assert got.dtype == dtype
        assert_array_equal(got, expected)


def test_printf_pattern_and_natural_order(tmp_path):
    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), np.full((4, 6, 3), i, np.uint8))
    with open_clip(tmp_path / "f%03d.png", fps=12) as clip:
        assert clip.info.fps == 12
        assert [int(frame[0, 0, 0]) for frame in clip] == [1, 2, 10]


def test_ten_bit_video_reads_as_uint16_and_stays_ten_bit(tmp_path):
    source = tmp_path / "in10.mkv"
    write_video(source, moving_frames(6, 32, 48, dtype=np.uint16), codec="ffv1", pix_fmt="yuv420p10le")
    with open_clip(source) as clip:
        assert clip.info.bit_depth == 10 and clip.info.dtype == "uint16"
        frames = list(clip)
    assert frames[0].dtype == np.uint16
    assert np.any(frames[0] % 256 != 0) and frames[0].max() > 255  # more than 8 bits of information
    process_clip(source, tmp_path / "out10.mkv", codec="ffv1")
    with open_clip(tmp_path / "out10.mkv") as clip:
        assert clip.info.pix_fmt == "yuv420p10le"


def test_tiff_output_keeps_16_bits(tmp_path):
    source = tmp_path / "in10.mkv"
    write_video(source, moving_frames(3, 16, 16, dtype=np.uint16), codec="ffv1", pix_fmt="gbrp16le")
    process_clip(source, tmp_path / "tif", image_format="tif")
    with open_clip(source) as clip:
        expected = list(clip)
    with open_clip(tmp_path / "tif") as clip:
        assert clip.info.dtype == "uint16"
        for got, want in zip(clip, expected, strict=True):
            assert_array_equal(got, want)


# --- the pipeline ---------------------------------------------------------------------------------


class Recorder(Operation):
    """Returns frame + 1 and records every window it was shown."""

    def __init__(self, past, future):
        self.past, self.future = past, future
        self.windows, self.positions, self.resets = [], [], 0

    def process(self, window, position):
        self.windows.append(([int(f[0, 0]) for f in window], position.current))
        self.positions.append((position.index, position.shot_start))
        return window[position.current] + 1

    def reset(self):
        self.resets += 1


def numbered(count):
    return (np.full((2, 2), i, np.int64) for i in range(count))


def test_windows_are_centred_and_shorter_at_the_ends():
    op = Recorder(past=2, future=1)
    out = [int(f[0, 0]) for f in apply_operations(numbered(6), [op])]
    assert out == [1, 2, 3, 4, 5, 6]
    assert op.windows == [([0, 1], 0), ([0, 1, 2], 1), ([0, 1, 2, 3], 2), ([1, 2, 3, 4], 2),
                          ([2, 3, 4, 5], 2), ([3, 4, 5], 2)]


def test_windows_never_cross_a_cut_and_operations_reset_there():
    op = Recorder(past=1, future=1)
    list(apply_operations(numbered(6), [op], cuts=[3]))
    assert op.windows == [([0, 1], 0), ([0, 1, 2], 1), ([1, 2], 1), ([3, 4], 0), ([3, 4, 5], 1), ([4, 5], 1)]
    assert op.positions == [(0, 0), (1, 0), (2, 0), (3, 3), (4, 3), (5, 3)]
    assert op.resets == 1


def test_operations_chain_in_order_with_bounded_buffers():
    first, second = Recorder(0, 3), Recorder(2, 0)
    alive = []

    def frames():
        for frame in numbered(200):
            alive.append(frame)
            yield frame

    for i, out in enumerate(apply_operations(frames(), [first, second])):
        assert int(out[0, 0]) == i + 2
        # frames pulled ahead of the output: at most the first operation's future plus one
        assert len(alive) - i <= first.future + 1
    assert len(first.windows) == len(second.windows) == 200


# --- bad files and safety -----------------------------------------------------------------------


@pytest.fixture
def small_mp4(tmp_path):
    path = tmp_path / "small.mp4"
    write_video(path, moving_frames(10, 32, 32))
    return path


def bad_inputs(folder, small_mp4):
    data = small_mp4.read_bytes()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video\n" * 50)
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[: min(len(corrupt), 2000)] = os.urandom(min(len(corrupt), 2000))
    (folder / "corrupt.mp4").write_bytes(bytes(corrupt))
    (folder / "sound.wav").write_bytes(_wav())
    return ["empty.mp4", "text.mp4", "truncated.mp4", "corrupt.mp4", "sound.wav", "missing.mp4"]


def _wav():
    import io as _io
    import wave

    buffer = _io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    return buffer.getvalue()


def test_bad_files_give_one_line_exit_2_and_no_output(tmp_path, small_mp4):
    for name in bad_inputs(tmp_path, small_mp4):
        code, out, err = run_cli("convert", tmp_path / name, "-o", tmp_path / f"out-{name}.mkv")
        assert code == 2, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("framefix: error: "), (name, err)
        assert "Traceback" not in err
        assert not (tmp_path / f"out-{name}.mkv").exists()
        code, _, err = run_cli("info", tmp_path / name)
        assert code == 2 and len(err.strip().splitlines()) == 1, (name, err)
    assert leftovers(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path, small_mp4):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"precious")
    code, _, err = run_cli("convert", small_mp4, "-o", target)
    assert code == 2 and "--overwrite" in err
    assert target.read_bytes() == b"precious"
    code, _, err = run_cli("convert", small_mp4, "-o", target, "--overwrite", "-q")
    assert code == 0, err
    with open_clip(target) as clip:
        assert clip.info.frame_count == 10


def test_output_equal_to_input_is_refused(tmp_path, small_mp4):
    before = small_mp4.read_bytes()
    code, _, err = run_cli("convert", small_mp4, "-o", small_mp4, "--overwrite")
    assert code == 2 and "output is the input" in err
    assert small_mp4.read_bytes() == before


def test_usage_errors_exit_2(tmp_path, small_mp4):
    assert run_cli("convert", small_mp4)[0] == 2  # no -o
    assert run_cli("explode")[0] == 2
    code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "x.mp4", "--codec", "nosuchcodec")
    assert code == 2 and "nosuchcodec" in err and not (tmp_path / "x.mp4").exists()
    assert leftovers(tmp_path) == []


def test_info_json(small_mp4):
    code, out, err = run_cli("info", small_mp4, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["width"] == 32 and data["frame_count"] == 10 and data["fps"] == "25/1"
    assert data["kind"] == "video" and data["audio"] == []


# every long-running command, on the default codec (x264 and its threads) and, for convert, ffv1
LONG_COMMANDS = {
    "convert": lambda src, out: ["convert", src, "-o", out, "--preset", "veryslow"],
    "convert-ffv1": lambda src, out: ["convert", src, "-o", out.with_suffix(".mkv"), "--codec", "ffv1"],
    "deflicker": lambda src, out: ["deflicker", src, "-o", out, "--mode", "local"],
    "match-color": lambda src, out: ["match-color", src, "-o", out, "--reference", f"{src}@0", "--per-frame"],
    "analyze": lambda src, out: ["analyze", src, "--heatmap", out],
}


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32", reason="needs POSIX signals")
@pytest.mark.parametrize(("signal_name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
@pytest.mark.parametrize("command", list(LONG_COMMANDS))
def test_interrupt_exits_quickly_and_leaves_no_output(tmp_path, signal_name, code, command):
    source = tmp_path / "long.mkv"
    write_video(source, moving_frames(400, 240, 320), codec="ffv1", pix_fmt="bgr0")
    argv = [str(a) for a in LONG_COMMANDS[command](source, tmp_path / "out.mp4")]
    target = Path(argv[argv.index("-o") + 1] if "-o" in argv else argv[-1])
    process = subprocess.Popen([sys.executable, "-m", "framefix", *argv], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not leftovers(tmp_path) and time.monotonic() < deadline:  # wait until it is writing
        time.sleep(0.05)
    assert leftovers(tmp_path), f"{command} never started writing"
    time.sleep(0.3)
    process.send_signal(getattr(signal, signal_name))
    sent = time.monotonic()
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"framefix {command} did not exit after {signal_name}")
    assert time.monotonic() - sent < 5
    assert process.returncode == code, err
    assert "interrupted" in err and "Traceback" not in err
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_cli_never_routes_ffmpeg_logs_through_python(tmp_path):
    # PyAV's Python log callback makes encoder threads wait for the GIL; x264 logs from a worker
    # while its close holds the GIL and joins that worker: an interrupted encode hung there.
    import av.logging

    source = tmp_path / "in.mkv"
    write_video(source, moving_frames(3, 32, 32), codec="ffv1")
    for extra in ([], ["-v"]):
        assert main(["convert", str(source), "-o", str(tmp_path / "out.mp4"), "-q", "--overwrite", *extra]) == 0
        assert av.logging.get_level() is None


def test_demo_writes_its_files(tmp_path):
    code, out, err = run_cli("demo", "-o", tmp_path / "demo")
    assert code == 0, err
    for name in ("clean.mp4", "before.mp4", "after-color.mp4"):
        with open_clip(tmp_path / "demo" / name) as clip:
            assert clip.info.frame_count == 48
    before, after = [float(line.split("off by ")[1].split("%")[0]) for line in out.splitlines() if "off by" in line]
    assert after < before / 4  # the repair must visibly repair
    # the shimmering region survives a global grade, and the analysis with flow finds it
    from framefix.analysis import analyze_clip

    regional = {name: analyze_clip(tmp_path / "demo" / name, flow=True).shot_regional_flicker()[0]
                for name in ("clean.mp4", "after-color.mp4")}
    assert regional["clean.mp4"][0] < 1 and regional["after-color.mp4"][0] > 4
    code, _, err = run_cli("demo", "-o", tmp_path / "demo")
    assert code == 2 and "--overwrite" in err  # an earlier demo is not replaced silently


def test_open_clip_errors_are_clip_errors(tmp_path):
    with pytest.raises(ClipError, match="no such file"):
        open_clip(tmp_path / "nope.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ClipError, match="holds no"):
        open_clip(empty)
    with pytest.raises(ClipError, match="no file matches"):
        open_clip(tmp_path / "f%04d.png")


# --- review findings, kept as regressions ----------------------------------------------------------


def test_overwrite_never_deletes_a_folder_holding_the_input_or_other_files(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    source = project / "clip.mkv"
    write_video(source, moving_frames(3, 16, 16), codec="ffv1", pix_fmt="bgr0")
    (project / "notes.txt").write_text("keep me")
    code, _, err = run_cli("convert", source, "-o", project, "--overwrite")
    assert code == 2 and "input is inside this folder" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me too")
    code, _, err = run_cli("convert", source, "-o", other, "--overwrite")
    assert code == 2 and "holds other files" in err
    assert source.exists() and (project / "notes.txt").exists() and (other / "notes.txt").exists()
    frames = tmp_path / "frames"
    assert run_cli("convert", source, "-o", frames, "-q")[0] == 0
    assert run_cli("convert", source, "-o", frames, "--overwrite", "-q")[0] == 0  # an earlier output: fine


def test_a_failure_while_finishing_the_file_is_an_error(tmp_path):
    source = tmp_path / "pcm.mkv"
    with av.open(str(source), "w") as container:
        video = container.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 16, 16, "bgr0"
        audio = container.add_stream("pcm_s16le", rate=8000)
        audio.layout = "stereo"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1600 * 2), np.int16), format="s16", layout="stereo")
        samples.sample_rate, samples.pts = 8000, 0
        container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    code, _, err = run_cli("convert", source, "-o", tmp_path / "out.mp4")
    if code == 0:  # an FFmpeg build whose mp4 muxer takes this audio: then the file must be valid
        with open_clip(tmp_path / "out.mp4") as clip:
            assert clip.info.frame_count == 5
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out.mp4").exists()
    assert leftovers(tmp_path) == []


def test_yuv420_round_trip_has_no_bias(tmp_path):
    source = tmp_path / "in.mkv"
    write_video(source, moving_frames(4, 64, 64), codec="ffv1", pix_fmt="yuv420p")
    current = source
    for generation in range(3):  # re-converting must not drift
        target = tmp_path / f"gen{generation}.mkv"
        process_clip(current, target, codec="ffv1")
        current = target
    with open_clip(source) as a, open_clip(current) as b:
        assert b.info.pix_fmt == "yuv420p"
        for x, y in zip(a, b, strict=True):
            assert abs(float(y.astype(float).mean() - x.astype(float).mean())) < 0.1


@pytest.mark.parametrize(("pix_fmt", "codec"), [("yuv420p", "ffv1"), ("yuv422p", "ffv1"), ("yuv444p", "ffv1"),
                                               ("yuv420p10le", "ffv1"), ("yuvj420p", "libx264"), ("nv12", "libx264")])
def test_decoding_gives_swscale_exact_rgb(tmp_path, pix_fmt, codec):
    # The reader takes swscale's faster planar-RGB path; it must give the pixels of the exact
    # packed path (accurate rounding, full chroma interpolation), not merely close ones.
    deep = "10" in pix_fmt
    frames = [f.astype(np.uint16) * 257 if deep else f for f in moving_frames(3, 36, 50)]
    source = tmp_path / "in.mkv"
    write_video(source, frames, codec=codec, pix_fmt=pix_fmt)
    with open_clip(source) as clip:
        got = list(clip)
    exact = av.video.reformatter.Interpolation.ACCURATE_RND | av.video.reformatter.Interpolation.FULL_CHR_H_INT
    with av.open(str(source)) as container:
        want = [frame.reformat(format="rgb48le" if deep else "rgb24", src_colorspace="itu601",
                               src_color_range="JPEG" if pix_fmt.startswith("yuvj") else "MPEG",
                               interpolation=exact).to_ndarray() for frame in container.decode(video=0)]
    assert len(got) == len(want) == 3
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        assert_array_equal(a, b)


def test_odd_sizes_get_a_pixel_format_the_encoder_accepts(tmp_path):
    source = tmp_path / "odd.mkv"
    write_video(source, moving_frames(3, 95, 127), codec="ffv1", pix_fmt="bgr0")
    code, _, err = run_cli("convert", source, "-o", tmp_path / "odd.mp4", "-q")
    assert code == 0, err
    with open_clip(tmp_path / "odd.mp4") as clip:
        assert (clip.info.width, clip.info.height) == (127, 95)
        assert clip.info.pix_fmt.startswith("yuv444p")


def test_rgb_sources_become_limited_range_yuv(tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
    process_clip(folder, tmp_path / "out.mp4")
    with open_clip(tmp_path / "out.mp4") as clip:
        assert clip.info.pix_fmt == "yuv420p" and clip.info.color["range"] == "tv"
        assert clip.info.color["matrix"] == "smpte170m"
        assert abs(int(list(clip)[2][8, 8, 0]) - 80) <= 1


def test_raw_h264_and_names_with_percent_d(tmp_path):
    source = tmp_path / "50%discount.mp4"
    write_video(source, moving_frames(6, 32, 32))
    with open_clip(source) as clip:
        assert clip.info.frame_count == 6
    raw = tmp_path / "raw.h264"
    with av.open(str(source)) as inp, av.open(str(raw), "w", format="h264") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    with open_clip(raw) as clip:
        assert len(list(clip)) == 6


def test_avi_with_b_frames_converts(tmp_path):
    source = tmp_path / "b.avi"
    write_video(source, moving_frames(12, 32, 32), codec="mpeg4", pix_fmt="yuv420p", options={"bf": "2"})
    code, _, err = run_cli("convert", source, "-o", tmp_path / "b.mkv", "-q")
    assert code == 0, err
    with open_clip(tmp_path / "b.mkv") as clip:
        assert len(list(clip)) == 12


def test_cli_refuses_unknown_outputs_and_non_video_codecs(tmp_path, small_mp4):
    code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "out.xyz")
    assert code == 2 and "unknown output type '.xyz'" in err
    code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "out.mkv", "--codec", "aac")
    assert code == 2 and "not a video one" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "out.mp4", "--preset", "nosuch")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "preset must be one of" in err
    code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "out.webm", "--codec", "libx264")  # no H.264 in webm
    assert code == 2 and len(err.strip().splitlines()) == 1 and "out.webm" in err and "framefix-tmp" not in err
    assert leftovers(tmp_path) == []


def test_coarse_time_bases_keep_an_exact_frame_rate_and_variable_times(tmp_path):
    # Matroska stores milliseconds: 30000/1001 fps comes in rounded; it must not come out as 29.994
    write_video(tmp_path / "ntsc.mkv", moving_frames(30, 32, 32), rate=Fraction(30000, 1001))
    process_clip(tmp_path / "ntsc.mkv", tmp_path / "ntsc.mp4")
    with open_clip(tmp_path / "ntsc.mp4") as clip:
        assert clip.info.fps == Fraction(30000, 1001)
    times = [t for _, t in decode_rgb(tmp_path / "ntsc.mp4")]
    np.testing.assert_allclose(times, np.arange(30) * 1001 / 30000, atol=1e-6)
    # ... while genuinely variable times survive
    irregular = [0, 33, 90, 120, 200, 233, 300]
    with av.open(str(tmp_path / "vfr.mkv"), "w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "bgr0"
        stream.codec_context.time_base = Fraction(1, 1000)
        for ms, array in zip(irregular, moving_frames(len(irregular), 32, 32), strict=True):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    process_clip(tmp_path / "vfr.mkv", tmp_path / "vfr.mp4")
    times = [t for _, t in decode_rgb(tmp_path / "vfr.mp4")]
    np.testing.assert_allclose(times, np.array(irregular) / 1000, atol=1.5e-3)


# --- issue 16: hardening ------------------------------------------------------------------------------


def test_a_folder_mixing_bit_depths_is_refused_not_quantised(tmp_path):
    frames = list(moving_frames(2, 16, 16))
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "00000.png").write_bytes(encode_image(frames[0]))
    (folder / "00001.png").write_bytes(encode_image(frames[1].astype(np.uint16) * 257))
    code, _, err = run_cli("convert", folder, "-o", tmp_path / "out.mkv", "--codec", "ffv1")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "00001.png: is a 16-bit image, but the sequence starts with a 8-bit one (00000.png)" in err
    assert not (tmp_path / "out.mkv").exists() and leftovers(tmp_path) == []


def test_an_invalid_y4m_header_is_not_a_busy_device(tmp_path):
    bad = tmp_path / "bad.y4m"
    bad.write_bytes(b"YUV4MPEG2 W0 H0 F25:1 Ip A1:1 C420jpeg\nFRAME\nabc")
    code, _, err = run_cli("info", bad)
    assert code == 2 and "busy" not in err and "header is invalid" in err


def test_encoders_without_crf_or_preset_refuse_them(tmp_path, small_mp4):
    for option in (["--crf", "10"], ["--preset", "slow"]):
        code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "out.mkv", "--codec", "ffv1", *option)
        assert code == 2 and f"{option[0]} does not apply to ffv1 (it is lossless)" in err
    assert not (tmp_path / "out.mkv").exists() and leftovers(tmp_path) == []


def test_webm_gets_vp9_without_codec(tmp_path, small_mp4):
    if "libvpx-vp9" not in av.codecs_available:
        pytest.skip("FFmpeg without libvpx-vp9")
    code, _, err = run_cli("convert", small_mp4, "-o", tmp_path / "out.webm", "-q")
    assert code == 0, err
    with open_clip(tmp_path / "out.webm") as clip:
        assert clip.info.codec == "vp9" and sum(1 for _ in clip) == 10


def test_gif_output_keeps_frames_rate_and_colors(tmp_path):
    # a smooth two-hue scene: a clip palette reproduces it closely (after dithering, block means)
    y, x = np.mgrid[0:40, 0:48]
    frames = [np.stack([(x * 5 + t * 3) % 256, y * 4 + 40, 255 - x * 4], axis=-1).astype(np.uint8) for t in range(12)]
    write_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="bgr0", rate=Fraction(10))
    code, _, err = run_cli("convert", tmp_path / "in.mkv", "-o", tmp_path / "out.gif", "-q")
    assert code == 0, err
    with open_clip(tmp_path / "out.gif") as clip:
        assert clip.info.codec == "gif" and clip.info.fps == 10
        decoded = list(clip)
    assert len(decoded) == len(frames)
    np.testing.assert_allclose([t for _, t in decode_rgb(tmp_path / "out.gif")], np.arange(12) / 10, atol=1e-6)
    for got, want in zip(decoded, frames, strict=True):
        blocks = lambda a: a.astype(float).reshape(10, 4, 12, 4, 3).mean(axis=(1, 3))  # noqa: E731
        assert np.abs(blocks(got) - blocks(want)).mean() < 5
    code, _, err = run_cli("convert", tmp_path / "in.mkv", "-o", tmp_path / "x.gif", "--crf", "3")
    assert code == 2 and "--crf does not apply to gif" in err


def test_ctrl_c_while_importing_is_an_interrupt_not_a_traceback(monkeypatch, capsys):
    import framefix.cli as cli

    def interrupted():
        raise KeyboardInterrupt  # as if it came during the heavy imports

    monkeypatch.setattr(cli, "_build_parser", interrupted)
    assert cli.main(["info", "x.mp4"]) == 130
    assert capsys.readouterr().err.strip() == "framefix: interrupted; no output was written"


def test_every_output_of_a_command_appears_together_or_none(tmp_path, small_mp4, monkeypatch, capsys):
    import framefix.report as report

    plot = report.plot_deflicker

    def failing_plot(data, path):
        plot(data, path)
        raise ValueError("the plot failed")  # after the video and the report are written

    pytest.importorskip("matplotlib")
    monkeypatch.setattr(report, "plot_deflicker", failing_plot)
    code = main(["deflicker", str(small_mp4), "-o", str(tmp_path / "out.mp4"), "--report", str(tmp_path / "r.json"),
                 "--plot", str(tmp_path / "p.png"), "-q"])
    assert code == 2 and capsys.readouterr().err.strip() == "framefix: error: the plot failed"
    assert os.listdir(tmp_path) == [small_mp4.name]  # neither the video nor the report
