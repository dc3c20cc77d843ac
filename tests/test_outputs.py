"""The one safe-output path (framefix.outputs): checked targets, unique temporaries, atomic renames."""

import os
import signal
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

import framefix
from clips import moving_frames, write_video
from framefix.cli import main
from framefix.io import ClipError
from framefix.outputs import atomic_output, check_distinct, check_output, output_group, pending_path


def leftovers(folder):
    return sorted(n for n in os.listdir(folder) if "framefix-" in n)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def umask():
    """Sets the umask for a test and puts the previous one back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


# --- files ------------------------------------------------------------------------------------------


def test_a_file_appears_whole_at_the_end(tmp_path):
    target = tmp_path / "report.json"
    with atomic_output(target) as temporary:
        name = os.path.basename(temporary)
        assert os.path.dirname(temporary) == str(tmp_path)  # beside the target: the rename is atomic
        assert name.startswith(".report.") and name.endswith(".json")  # hidden, the extension kept
        assert os.path.isfile(temporary) and os.path.getsize(temporary) == 0  # created, exclusively
        write(temporary, "{}")
        assert not target.exists()
    assert target.read_text() == "{}"
    assert leftovers(tmp_path) == []


def test_two_writers_of_one_target_never_share_a_temporary(tmp_path):
    target = tmp_path / "a.txt"
    with pytest.raises(ClipError, match="appeared while writing"):
        with atomic_output(target) as first:
            with atomic_output(target) as second:  # two runs on one target at once
                assert first != second
                write(first, "1")
                write(second, "2")
    assert target.read_text() == "2"  # the first to finish wins; the other is refused, not mixed in
    assert leftovers(tmp_path) == []


def test_a_symlink_planted_beside_the_target_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.json"
    # where the old protocol wrote (a fixed name), and names like the new temporaries
    for name in ("out.framefix-tmp.json", ".out.framefix-tmp.json", ".out.x.framefix-tmp.json"):
        os.symlink(victim, tmp_path / name)
    with atomic_output(target) as temporary:
        assert not os.path.islink(temporary)
        write(temporary, "new")
    assert victim.read_text() == "precious" and target.read_text() == "new" and not target.is_symlink()
    # a symlink at the target itself is replaced (with overwrite), never written through
    target.unlink()
    os.symlink(victim, target)
    with atomic_output(target, overwrite=True) as temporary:
        write(temporary, "newer")
    assert victim.read_text() == "precious" and target.read_text() == "newer" and not target.is_symlink()


@pytest.mark.parametrize("interruption", [RuntimeError("writer failed"), KeyboardInterrupt()])
@pytest.mark.parametrize("folder", [False, True])
def test_the_temporary_is_removed_on_any_exception(tmp_path, interruption, folder):
    target = tmp_path / ("frames" if folder else "out.mp4")
    with pytest.raises(type(interruption)):
        with atomic_output(target, folder=folder) as temporary:
            if folder:
                write(os.path.join(temporary, "00000.png"), "x")
            else:
                write(temporary, "partial")
            raise interruption
    assert not target.exists() and os.listdir(tmp_path) == []


def test_an_existing_target_needs_overwrite_and_is_left_alone_without(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ClipError, match="out.txt: already exists; pass --overwrite to replace it"):
        with atomic_output(target):
            pytest.fail("nothing may be written")
    assert target.read_text() == "old"
    with atomic_output(target, overwrite=True) as temporary:
        write(temporary, "new")
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_a_target_that_appears_while_writing_is_not_replaced(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(ClipError, match="appeared while writing; pass --overwrite"):
        with atomic_output(target) as temporary:
            write(temporary, "ours")
            target.write_text("someone else's")
    assert target.read_text() == "someone else's" and leftovers(tmp_path) == []
    folder = tmp_path / "frames"
    with pytest.raises(ClipError, match="appeared while writing"):
        with atomic_output(folder, folder=True) as temporary:
            write(os.path.join(temporary, "00000.png"), "ours")
            folder.mkdir()
            (folder / "notes.txt").write_text("keep")
    assert (folder / "notes.txt").read_text() == "keep" and leftovers(tmp_path) == []


def test_the_input_is_never_the_output(tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"input")
    os.symlink(source, tmp_path / "link.mp4")
    os.link(source, tmp_path / "hard.mp4")
    (tmp_path / "sub").mkdir()
    for path in (source, tmp_path / "link.mp4", tmp_path / "hard.mp4", tmp_path / "sub" / ".." / "in.mp4",
                 os.path.relpath(source)):
        with pytest.raises(ClipError, match="output is the input"):
            with atomic_output(path, overwrite=True, inputs=[source]):
                pytest.fail("nothing may be written")
    assert source.read_bytes() == b"input" and leftovers(tmp_path) == []


def test_outputs_that_collide_are_refused(tmp_path):
    check_distinct([tmp_path / "in.mp4"], [tmp_path / "a.json", tmp_path / "a.png", None])
    with pytest.raises(ClipError, match="named for two outputs"):
        check_distinct([], [tmp_path / "a.json", tmp_path / "." / "a.json"])
    (tmp_path / "in.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "in.mp4", tmp_path / "alias.mp4")
    with pytest.raises(ClipError, match="output is the input"):
        check_distinct([tmp_path / "alias.mp4"], [tmp_path / "a.json", tmp_path / "in.mp4"])


def test_permissions_follow_the_umask(tmp_path, umask):
    for mask, file_mode, folder_mode in ((0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)):
        umask(mask)
        with atomic_output(tmp_path / f"f{mask}.txt") as temporary:
            write(temporary, "x")
        with atomic_output(tmp_path / f"d{mask}", folder=True) as temporary:
            write(os.path.join(temporary, "00000.png"), "x")
        assert stat.S_IMODE(os.stat(tmp_path / f"f{mask}.txt").st_mode) == file_mode
        assert stat.S_IMODE(os.stat(tmp_path / f"d{mask}").st_mode) == folder_mode


def test_bad_targets(tmp_path):
    with pytest.raises(ClipError, match="does not exist"):
        check_output(tmp_path / "missing" / "out.mp4")
    (tmp_path / "dir").mkdir()
    with pytest.raises(ClipError, match="is a folder"):
        check_output(tmp_path / "dir", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ClipError, match="is a file, not a folder"):
        check_output(tmp_path / "file", overwrite=True, folder=True)
    assert check_output(tmp_path / "new.mp4") == str(tmp_path / "new.mp4")


def test_errors_name_the_target_not_the_temporary(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(ClipError) as caught:
        with atomic_output(target) as temporary:
            os.remove(temporary)
            os.mkdir(temporary)
            open(temporary, "wb")  # IsADirectoryError on the temporary
    assert str(caught.value).startswith(f"{target}: cannot write") and "framefix-tmp" not in str(caught.value)
    assert leftovers(tmp_path) == []


# --- folders ----------------------------------------------------------------------------------------


def numbered_folder(path, count=3):
    path.mkdir()
    for i in range(count):
        (path / f"{i:05d}.png").write_text(f"old {i}")


def test_a_folder_of_numbered_images_is_replaced_whole(tmp_path):
    target = tmp_path / "frames"
    numbered_folder(target, 5)
    with atomic_output(target, overwrite=True, folder=True) as temporary:
        write(os.path.join(temporary, "00000.png"), "new")
        assert sorted(os.listdir(target)) == [f"{i:05d}.png" for i in range(5)]  # the old one until the end
    assert os.listdir(target) == ["00000.png"] and (target / "00000.png").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_folders_that_are_not_an_earlier_output_are_never_replaced(tmp_path):
    other = tmp_path / "other"
    numbered_folder(other)
    (other / "notes.txt").write_text("keep")
    like_a_frame = tmp_path / "nested"
    numbered_folder(like_a_frame)
    (like_a_frame / "00007.png").mkdir()  # a subfolder named like a frame
    (like_a_frame / "00007.png" / "data.bin").write_text("keep")
    project = tmp_path / "project"
    numbered_folder(project)
    for folder, message, inputs in ((other, "holds other files", ()), (like_a_frame, "holds other files", ()),
                                    (project, "input is inside this folder", [project / "00001.png"])):
        with pytest.raises(ClipError, match=message):
            with atomic_output(folder, overwrite=True, folder=True, inputs=inputs):
                pytest.fail("nothing may be written")
    assert (other / "notes.txt").exists() and (like_a_frame / "00007.png" / "data.bin").exists()
    assert len(os.listdir(project)) == 3 and leftovers(tmp_path) == []


def test_an_interrupted_folder_replacement_keeps_the_old_folder_whole(tmp_path, monkeypatch):
    target = tmp_path / "frames"
    numbered_folder(target, 4)
    renames = []
    rename = os.rename

    def interrupted_rename(source, destination):
        renames.append(destination)
        if len(renames) == 2:  # the new folder's rename: Ctrl-C right then
            raise KeyboardInterrupt
        rename(source, destination)

    monkeypatch.setattr(os, "rename", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target, overwrite=True, folder=True) as temporary:
            write(os.path.join(temporary, "00000.png"), "new")
    monkeypatch.undo()
    assert sorted(os.listdir(target)) == [f"{i:05d}.png" for i in range(4)]
    assert (target / "00003.png").read_text() == "old 3" and leftovers(tmp_path) == []


# --- the commands: every path a command writes differs from every input and from each other ------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("outputs") / "in.mkv"
    write_video(path, moving_frames(4, 32, 32), codec="ffv1", pix_fmt="bgr0")
    return path


def refused(capsys, *argv):
    code = main([str(a) for a in argv])
    return code == 2 and capsys.readouterr().err.count("\n") == 1


def test_side_outputs_never_overwrite_the_input(tmp_path, clip, capsys):
    before = clip.read_bytes()
    assert refused(capsys, "analyze", clip, "--json", clip, "--overwrite", "-q")
    assert refused(capsys, "analyze", clip, "--heatmap", clip, "--overwrite", "-q")
    assert refused(capsys, "match-color", clip, "-o", tmp_path / "o.mkv", "--reference", clip, "--cube", clip,
                   "--overwrite", "-q")
    assert main(["match-color", str(clip), "-o", str(tmp_path / "o.mkv"), "--reference", f"{clip}@1",
                 "--save-transform", str(tmp_path / "t.json"), "--overwrite", "-q"]) == 0  # a clean run
    assert clip.read_bytes() == before
    images = tmp_path / "a.png"
    images.write_bytes(framefix.io.encode_image(np.zeros((32, 32, 3), np.uint8)))
    before = images.read_bytes()
    assert refused(capsys, "flow", images, f"{clip}@1", "-o", images, "--overwrite", "-q")
    assert refused(capsys, "flow", f"{images}", f"{clip}@1", "-o", tmp_path / "f.flo", "--viz", images,
                   "--overwrite", "-q")
    assert images.read_bytes() == before


def test_outputs_of_one_command_never_collide(tmp_path, clip, capsys):
    assert refused(capsys, "match-color", clip, "-o", tmp_path / "o.mkv", "--reference", clip, "--cube",
                   tmp_path / "o.mkv")
    assert refused(capsys, "analyze", clip, "--json", tmp_path / "r.json", "--plot", tmp_path / "r.json")
    assert refused(capsys, "flow", f"{clip}@0", f"{clip}@1", "-o", tmp_path / "f.flo", "--viz", tmp_path / "f.flo")
    assert os.listdir(tmp_path) == []


def test_a_failing_side_file_leaves_nothing(tmp_path, clip, capsys):
    assert refused(capsys, "match-color", clip, "-o", tmp_path / "o.mkv", "--reference", clip,
                   "--save-transform", tmp_path / "t.txt")
    pytest.importorskip("matplotlib")
    assert refused(capsys, "analyze", clip, "--json", tmp_path / "r.json", "--plot", tmp_path / "p.xyz", "-q")
    assert os.listdir(tmp_path) == []


def test_a_folder_filled_at_the_last_moment_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "frames"
    rename = os.rename

    def racing_rename(source, destination):  # someone fills the folder just before
        target.mkdir(exist_ok=True)
        (target / "notes.txt").write_text("keep")
        rename(source, destination)

    with pytest.raises(ClipError, match="appeared while writing"):
        with atomic_output(target, folder=True) as temporary:
            write(os.path.join(temporary, "00000.png"), "new")
            monkeypatch.setattr(os, "rename", racing_rename)
    monkeypatch.undo()
    assert os.listdir(target) == ["notes.txt"] and leftovers(tmp_path) == []


def test_an_empty_folder_made_while_writing_is_not_taken_over(tmp_path):
    target = tmp_path / "frames"
    with pytest.raises(ClipError, match="appeared while writing; pass --overwrite"):
        with atomic_output(target, folder=True) as temporary:
            write(os.path.join(temporary, "00000.png"), "ours")
            target.mkdir()  # someone else's, about to be filled
    assert os.listdir(target) == [] and leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_a_folder_replacement_never_leaves_it_half_done(tmp_path, monkeypatch, signal_name):
    from framefix.cli import _on_sigterm

    monkeypatch.setattr(signal, "SIGTERM", signal.SIGTERM)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)  # as the CLI: SIGTERM raises like Ctrl-C
    target = tmp_path / "frames"
    numbered_folder(target, 4)
    rename = os.rename

    def signalled_rename(source, destination):
        rename(source, destination)
        if destination.endswith(os.path.join(".framefix-old", "frames")) or "framefix-old" in destination:
            signal.raise_signal(getattr(signal, signal_name))  # right after the old folder moved aside

    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic_output(target, overwrite=True, folder=True) as temporary:
                write(os.path.join(temporary, "00000.png"), "new")
                monkeypatch.setattr(os, "rename", signalled_rename)
    finally:
        signal.signal(signal.SIGTERM, previous)
        monkeypatch.undo()
    # the interrupt waited for the replacement: the new folder is whole, the old one gone
    assert os.listdir(target) == ["00000.png"] and (target / "00000.png").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_folder_overwrite_never_deletes_a_subfolder_named_like_a_frame(tmp_path, clip, capsys):
    target = tmp_path / "out"
    numbered_folder(target, 3)
    (target / "00007.png").mkdir()
    (target / "00007.png" / "data.bin").write_text("keep")
    assert refused(capsys, "convert", clip, "-o", target, "--overwrite", "-q")
    assert (target / "00007.png" / "data.bin").read_text() == "keep" and len(os.listdir(target)) == 4
    assert leftovers(tmp_path) == []


def test_a_folder_created_while_convert_runs_is_not_replaced(tmp_path, clip, capsys, monkeypatch):
    import framefix.pipeline as pipeline

    target = tmp_path / "frames"
    run = pipeline._run

    def slow_run(*args, **kwargs):  # someone makes the folder while the frames are being written
        run(*args, **kwargs)
        target.mkdir()
        (target / "mine.txt").write_text("keep")

    monkeypatch.setattr(pipeline, "_run", slow_run)
    code = main(["convert", str(clip), "-o", str(target), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err == f"framefix: error: {target}: appeared while writing; pass --overwrite to replace it\n"
    assert os.listdir(target) == ["mine.txt"] and leftovers(tmp_path) == []


def test_a_group_of_outputs_appears_together_or_not_at_all(tmp_path):
    with output_group():
        with atomic_output(tmp_path / "a.txt") as temporary:
            write(temporary, "a")
        assert not (tmp_path / "a.txt").exists()
        assert pending_path(tmp_path / "a.txt") == temporary and Path(temporary).read_text() == "a"
        with atomic_output(tmp_path / "b", folder=True) as temporary:
            write(os.path.join(temporary, "00000.png"), "b")
    assert (tmp_path / "a.txt").read_text() == "a" and os.listdir(tmp_path / "b") == ["00000.png"]
    assert pending_path(tmp_path / "a.txt") == str(tmp_path / "a.txt")
    # a failure after the first output is written leaves nothing
    with pytest.raises(RuntimeError):
        with output_group():
            with atomic_output(tmp_path / "c.txt") as temporary:
                write(temporary, "c")
            raise RuntimeError("the report failed")
    # a late refusal of one output (it appeared meanwhile) keeps the others from appearing too
    with pytest.raises(ClipError, match="e.txt: appeared while writing"):
        with output_group():
            with atomic_output(tmp_path / "d.txt") as temporary:
                write(temporary, "d")
            with atomic_output(tmp_path / "e.txt") as temporary:
                write(temporary, "e")
            (tmp_path / "e.txt").write_text("theirs")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b", "e.txt"] and (tmp_path / "e.txt").read_text() == "theirs"


def test_folder_write_errors_name_the_target(tmp_path):
    target = tmp_path / "frames"
    with pytest.raises(ClipError) as caught:
        with atomic_output(target, folder=True) as temporary:
            open(os.path.join(temporary, "missing", "00000.png"), "wb")
    assert str(caught.value).startswith(f"{target}{os.sep}missing{os.sep}00000.png: cannot write")
    assert "framefix-tmp" not in str(caught.value) and leftovers(tmp_path) == []
