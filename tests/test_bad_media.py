"""A corpus of broken media, made here, through every clip command: each is refused with exit 2 and
exactly one line on stderr, leaves no output and no temporary behind, and the input is unchanged.

Truncated or damaged files that still decode in part are a warning by default (their frames are
used) and an error with ``--strict``; both are checked.
"""

import hashlib
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from clips import moving_frames, write_video
from framefix.cli import main
from framefix.io import IncompleteClipWarning, encode_image, open_clip

SIZE = 32
FRAMES = 24
LONG = 96  # the partly decodable clips: enough packets that a cut falls between them


def _faststart_mp4(path, count=FRAMES):
    # the index (moov) first, as web video is: cut anywhere after it, the file still opens
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "4"}
        for i, array in enumerate(moving_frames(count, SIZE, SIZE)):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _zero_frames(path):
    # a whole Matroska header (a stream, its size and codec) and no frame: cut before the first cluster
    write_video(path, moving_frames(1, SIZE, SIZE), codec="ffv1", pix_fmt="bgr0")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\x1f\x43\xb6\x75")])


def _png(array):
    return encode_image(array)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """{name: path} of broken inputs: ``fatal`` ones fail whatever the options, ``damaged`` ones
    decode in part (a warning, or an error with --strict)."""
    root = tmp_path_factory.mktemp("bad-media")
    rng = np.random.default_rng(7)
    fatal, damaged = {}, {}

    def put(name, data, group):
        (root / name).write_bytes(data)
        group[name] = root / name

    put("empty.mp4", b"", fatal)
    put("random.mp4", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), fatal)
    put("text.mkv", b"this is not a video\n" * 50, fatal)
    good = root / "good.mp4"
    write_video(good, moving_frames(FRAMES, SIZE, SIZE), rate=Fraction(24))  # the index (moov) at the end
    data = good.read_bytes()
    for percent in (5, 50, 95):
        put(f"cut{percent}.mp4", data[: len(data) * percent // 100], fatal)
    garbled = bytearray(data)
    middle = len(garbled) // 2
    garbled[middle - 600: middle + 600] = rng.integers(0, 256, 1200, dtype=np.uint8).tobytes()
    put("garbled.mp4", bytes(garbled), damaged)  # refused or warned about, never silently accepted
    _faststart_mp4(root / "faststart.mp4", LONG)
    data = (root / "faststart.mp4").read_bytes()
    (root / "faststart.mp4").unlink()
    put("faststart-cut.mp4", data[: len(data) * 6 // 10], damaged)
    write_video(root / "whole.mkv", moving_frames(LONG, SIZE, SIZE), rate=Fraction(24))
    data = (root / "whole.mkv").read_bytes()
    (root / "whole.mkv").unlink()
    put("cut.mkv", data[: len(data) * 6 // 10], damaged)
    _zero_frames(root / "zero.mkv")
    fatal["zero.mkv"] = root / "zero.mkv"
    frames = list(moving_frames(3, SIZE, SIZE))
    for name, images in (
        ("sizes", [frames[0], frames[1][:16]]),
        ("depths", [frames[0], frames[1].astype(np.uint16) * 257]),
    ):
        folder = root / name
        folder.mkdir()
        for i, image in enumerate(images):
            (folder / f"{i:05d}.png").write_bytes(_png(image))
        fatal[name] = folder
    folder = root / "corrupt-png"
    folder.mkdir()
    (folder / "00000.png").write_bytes(_png(frames[0]))
    (folder / "00001.png").write_bytes(_png(frames[1])[:60])
    fatal["corrupt-png"] = folder
    os.remove(good)
    reference = tmp_path_factory.mktemp("reference") / "hero.png"
    reference.write_bytes(_png(frames[2]))
    return {"fatal": fatal, "damaged": damaged, "reference": reference}


def _digest(path):
    digest = hashlib.sha256()
    paths = sorted(path.iterdir()) if path.is_dir() else [path]
    for p in paths:
        digest.update(p.name.encode() + p.read_bytes())
    return digest.hexdigest()


def _commands(source, out, reference):
    return {
        "convert": ["convert", source, "-o", out / "out.mkv"],
        "analyze": ["analyze", source, "--json", out / "report.json"],
        "match-color": ["match-color", source, "--reference", reference, "-o", out / "graded.mkv",
                        "--save-transform", out / "grade.json"],
        "deflicker": ["deflicker", source, "-o", out / "steady.mkv", "--report", out / "report.json"],
    }


def _run(capsys, argv):
    code = main([str(a) for a in argv] + ["-q"])
    captured = capsys.readouterr()
    return code, captured.err


def _assert_refused(code, err, what):
    lines = err.splitlines()
    assert code == 2, (what, err)
    assert len(lines) == 1 and lines[0].startswith("framefix: error: "), (what, err)
    assert "framefix-tmp" not in err and "Traceback" not in err, (what, err)


def test_fatal_media_is_refused_by_every_command(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for name, source in corpus["fatal"].items():
        before = _digest(source)
        for command, argv in _commands(source, out, corpus["reference"]).items():
            for strict in ([], ["--strict"]):
                code, err = _run(capsys, argv + strict)
                _assert_refused(code, err, (name, command, strict))
                assert os.listdir(out) == [], (name, command)
        if not source.is_dir():  # info probes the container only: a folder's first image may be fine
            code, err = _run(capsys, ["info", source])
            _assert_refused(code, err, (name, "info"))
        assert _digest(source) == before, name


def test_damaged_media_is_refused_with_strict_by_every_command(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for name, source in corpus["damaged"].items():
        before = _digest(source)
        for command, argv in _commands(source, out, corpus["reference"]).items():
            code, err = _run(capsys, argv + ["--strict"])
            _assert_refused(code, err, (name, command))
            assert os.listdir(out) == [], (name, command)
        assert _digest(source) == before, name


@pytest.mark.parametrize("name", ["faststart-cut.mp4", "cut.mkv"])
def test_a_truncated_clip_is_a_warning_with_the_frame_counts_by_default(corpus, tmp_path, capsys, name):
    source = corpus["damaged"][name]
    out = tmp_path / "out"
    out.mkdir()
    for command, argv in _commands(source, out, corpus["reference"]).items():
        code, err = _run(capsys, argv)
        lines = err.splitlines()
        assert code == 0, (command, err)
        assert len(lines) == 1 and lines[0].startswith(f"framefix: warning: {source}: decoded "), (command, err)
        assert f"of the {LONG} frames" in lines[0] or f"(about {LONG} frames)" in lines[0], err
        assert "--strict" in lines[0]
        for written in os.listdir(out):
            os.remove(out / written)
    with pytest.warns(IncompleteClipWarning), open_clip(source) as clip:  # the warning told the truth
        decoded = sum(1 for _ in clip)
    assert 0 < decoded < LONG - 2 and f"decoded {decoded} " in lines[0]


def test_the_garbled_clip_is_never_accepted_silently(corpus, tmp_path, capsys):
    code, err = _run(capsys, ["convert", corpus["damaged"]["garbled.mp4"], "-o", tmp_path / "out.mkv"])
    assert err.startswith("framefix: error: ") or err.startswith("framefix: warning: "), err
    assert len(err.splitlines()) == 1 and code == (2 if "error" in err else 0)


def test_a_one_frame_clip_is_handled_cleanly_by_every_command(tmp_path, capsys):
    source = tmp_path / "one.mkv"
    write_video(source, moving_frames(1, SIZE, SIZE), codec="ffv1", pix_fmt="bgr0")
    reference = tmp_path / "hero.png"
    reference.write_bytes(_png(next(moving_frames(1, SIZE, SIZE))))
    before = _digest(source)
    for command, argv in _commands(source, tmp_path / "out", reference).items():
        (tmp_path / "out").mkdir()
        code, err = _run(capsys, argv)
        if code == 0:  # one frame is a clip: it may be processed, then wholly
            assert err == "", (command, err)
        else:
            _assert_refused(code, err, command)
            assert os.listdir(tmp_path / "out") == [], command
        for written in os.listdir(tmp_path / "out"):
            os.remove(tmp_path / "out" / written)
        os.rmdir(tmp_path / "out")
    assert _digest(source) == before
