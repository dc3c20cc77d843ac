"""framefix batch on a real local Dask cluster (two single-threaded worker processes): the same
outputs as the one-clip commands, re-runs that do nothing, bad clips that fail alone, and a worker
killed mid-write whose clip still completes."""

import json
import os
import pathlib
import signal
import sys
import threading
import time

import numpy as np
import pytest

import framefix.cli as cli
from framefix import batch
from framefix.io import ClipError

distributed = pytest.importorskip("distributed")

from clips import decode_rgb, moving_frames, write_video  # noqa: E402


def flickering(count, seed):
    """A moving gradient whose exposure alternates frame to frame."""
    return [np.clip(f * (1.12 if t % 2 else 0.9), 0, 255).astype(np.uint8)
            for t, f in enumerate(moving_frames(count, seed=seed))]


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, count in enumerate((8, 12, 10)):
        write_video(folder / f"clip{i}.mp4", flickering(count, seed=i))
    (tmp_path / "out").mkdir()
    return folder


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if ".framefix-tmp" in n)


COMMAND_OPTIONS = {
    "deflicker": ["--mode", "global", "--window", "5"],
    "match-color": ["--reference", "REFERENCE@3"],
    "convert": [],
}


@pytest.mark.parametrize("command", list(COMMAND_OPTIONS))
def test_a_batch_writes_what_the_one_clip_command_writes(client, clips, tmp_path, command, capsys):
    reference = tmp_path / "reference.mp4"
    write_video(reference, moving_frames(6, seed=9))
    options = [o.replace("REFERENCE", str(reference)) for o in COMMAND_OPTIONS[command]]
    report_path = tmp_path / "batch.json"
    code = cli.main(["batch", command, str(clips), "-o", str(tmp_path / "out"), "--ext", ".mkv", "--codec", "ffv1",
                     "--scheduler", client.scheduler.address, "--report", str(report_path), "-q", *options])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    report = json.loads(report_path.read_text())
    assert (report["ok"], report["failed"], report["skipped"]) == (3, 0, 0)
    # largest first: the 12-frame clip starts first
    assert [os.path.basename(c["input"]) for c in report["clips"]][0] == "clip1.mp4"
    single = tmp_path / "single"
    single.mkdir()
    for entry in report["clips"]:
        name = os.path.basename(entry["output"])
        assert cli.main([command, entry["input"], "-o", str(single / name), "--codec", "ffv1", "-q", *options]) == 0
        batch_frames, single_frames = decode_rgb(entry["output"]), decode_rgb(single / name)
        assert len(batch_frames) == len(single_frames) == entry["frames"]
        for (a, ta), (b, tb) in zip(batch_frames, single_frames, strict=True):
            np.testing.assert_array_equal(a, b)
            assert ta == tb
        assert entry["status"] == "ok" and entry["error"] is None and entry["frames_per_second"] > 0
        key = json.loads(pathlib.Path(entry["output"] + batch.KEY_SUFFIX).read_text())
        assert key["input"]["size"] == os.path.getsize(entry["input"]) and key["command"] == command
        if command == "deflicker":
            assert entry["flicker_index"]["after"] < entry["flicker_index"]["before"]
    assert temporaries(tmp_path / "out") == []


def test_a_batch_analysis_is_the_analyze_report(client, clips, tmp_path):
    report = batch.run("analyze", [str(clips / "*.mp4")], tmp_path / "out", client=client)
    assert report["ok"] == 3
    for entry in report["clips"]:
        single = tmp_path / (os.path.basename(entry["output"]))
        assert cli.main(["analyze", entry["input"], "--json", str(single), "-q"]) == 0
        assert json.loads(pathlib.Path(entry["output"]).read_text()) == json.loads(single.read_text())
        assert entry["flicker_index"] == json.loads(single.read_text())["flicker_index"]


def test_a_measured_batch_reports_the_warping_error_and_its_progress_counts_frames(client, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "a.mp4", flickering(16, seed=1))
    write_video(folder / "b.mp4", flickering(12, seed=2))
    calls = []
    report = batch.run("deflicker", [folder], tmp_path, options={"mode": "global", "window": 5, "measure": True,
                                                                 "codec": "ffv1"},
                       extension=".mkv", client=client, progress=lambda *args: calls.append(args))
    assert report["ok"] == 2
    for entry in report["clips"]:
        assert entry["warping_error"]["after"] < entry["warping_error"]["before"]
        shot = entry["shots"][0]
        assert set(shot["warping_error"]) == set(shot["regional_flicker_index"]) == {"before", "after"}
    assert calls[0] == (0, 2, 0) and calls[-1] == (2, 2, 28)
    assert [c for c, _, _ in calls] == sorted(c for c, _, _ in calls)


def test_a_rerun_skips_complete_outputs(client, clips, tmp_path):
    out = tmp_path / "out"
    options = {"codec": "ffv1", "mode": "global"}
    first = batch.run("deflicker", [clips], out, options=options, extension=".mkv", client=client)
    assert first["ok"] == 3
    before = {n: (os.stat(out / n).st_mtime_ns, (out / n).read_bytes()) for n in os.listdir(out)}
    again = batch.run("deflicker", [clips], out, options=options, extension=".mkv", client=client)
    assert [c["status"] for c in again["clips"]] == ["skipped"] * 3 and again["ok"] == 0
    assert {n: (os.stat(out / n).st_mtime_ns, (out / n).read_bytes()) for n in os.listdir(out)} == before
    # other options: the outputs are not these options' results, and are replaced only when asked
    changed = batch.run("deflicker", [clips], out, options={**options, "strength": 0.5}, extension=".mkv",
                        client=client)
    assert changed["failed"] == 3 and all("--overwrite" in c["error"] for c in changed["clips"])
    redone = batch.run("deflicker", [clips], out, options={**options, "strength": 0.5}, extension=".mkv",
                       client=client, overwrite=True)
    assert redone["ok"] == 3
    assert json.loads((out / "clip0.mkv.framefix.json").read_text())["options"]["strength"] == 0.5
    # a changed input is redone too (its size and time are in the key)
    write_video(clips / "clip0.mp4", flickering(9, seed=5))
    touched = batch.run("deflicker", [clips], out, options={**options, "strength": 0.5}, extension=".mkv",
                        client=client, overwrite=False)
    assert {os.path.basename(c["input"]): c["status"] for c in touched["clips"]} == \
        {"clip0.mp4": "failed", "clip1.mp4": "skipped", "clip2.mp4": "skipped"}


def test_a_corrupt_clip_fails_alone(client, clips, tmp_path, capsys):
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    out, report_path = tmp_path / "out", tmp_path / "batch.json"
    code = cli.main(["batch", "convert", str(clips), "-o", str(out), "--ext", ".mkv", "--codec", "ffv1",
                     "--scheduler", client.scheduler.address, "--report", str(report_path)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_SOME_FAILED
    assert "framefix: failed: " in err and "broken.mp4" in err and "Traceback" not in err
    report = json.loads(report_path.read_text())
    entries = {os.path.basename(c["input"]): c for c in report["clips"]}
    assert entries["broken.mp4"]["status"] == "failed" and "broken.mp4" in entries["broken.mp4"]["error"]
    assert all(entries[f"clip{i}.mp4"]["status"] == "ok" for i in range(3))
    assert sorted(os.listdir(out)) == sorted(f"clip{i}.mkv{s}" for i in range(3) for s in ("", batch.KEY_SUFFIX))


def test_fail_fast_cancels_the_clips_not_yet_done(client, clips, tmp_path):
    # the broken file is the largest, so it runs first; eight good clips are left behind it
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4096)
    for i in range(3, 8):
        write_video(clips / f"clip{i}.mp4", flickering(12, seed=i))
    out = tmp_path / "out"
    report = batch.run("convert", [clips], out, options={"codec": "ffv1"}, extension=".mkv", client=client,
                       fail_fast=True)
    entries = {os.path.basename(c["input"]): c for c in report["clips"]}
    assert entries["broken.mp4"]["status"] == "failed"
    assert report["cancelled"] >= 1 and report["ok"] + report["cancelled"] == 8
    # what was cancelled left nothing behind; what finished is whole, with its key
    assert temporaries(out) == []
    for name, entry in entries.items():
        target = out / (os.path.splitext(name)[0] + ".mkv")
        assert target.exists() == (entry["status"] == "ok"), name


def test_options_are_checked_before_any_clip_runs(client, clips, tmp_path):
    with pytest.raises(ValueError, match="retries"):
        batch.run("convert", [clips], tmp_path / "out", retries=-1, client=client)
    with pytest.raises(ValueError, match="command must be one of"):
        batch.run("conform", [clips], tmp_path / "out", client=client)
    with pytest.raises(ValueError, match="not deflicker's"):
        batch.run("deflicker", [clips], tmp_path / "out", options={"method": "mkl"}, client=client)
    with pytest.raises(ClipError, match="--crf does not apply to ffv1"):
        batch.run("convert", [clips], tmp_path / "out", options={"codec": "ffv1", "crf": 20}, client=client)
    with pytest.raises(ClipError, match="no such file"):
        batch.run("convert", [clips / "missing.mp4"], tmp_path / "out", client=client)
    assert os.listdir(tmp_path / "out") == []


def test_without_dask_the_command_says_how_to_install_it(monkeypatch, clips, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without the extra imports
    assert cli.main(["batch", "convert", str(clips), "-o", str(tmp_path / "out")]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "framefix[dask]"' in err


class KillOnce(distributed.WorkerPlugin):
    """Kills its worker process (SIGKILL: nothing cleans up) while the victim clip's output is a
    temporary, the first time only (the marker file)."""

    def __init__(self, victim, folder, marker):
        self.victim, self.folder, self.marker = victim, folder, marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and self.victim in str(key) and not os.path.exists(self.marker):
            threading.Thread(target=self._kill_mid_write, daemon=True).start()

    def _kill_mid_write(self):
        stem, extension = os.path.splitext(self.victim)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(n.startswith(f".{stem}.") and n.endswith(f".framefix-tmp{extension}") for n in os.listdir(self.folder)):
                with open(self.marker, "x"):
                    pass
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.001)


def test_a_clip_whose_worker_dies_mid_write_completes(client, clips, tmp_path):
    # last in the module: the cluster's nanny restarts the killed worker
    write_video(clips / "victim.mp4", flickering(48, seed=3))
    out, marker = tmp_path / "out", tmp_path / "killed"
    client.register_plugin(KillOnce("victim.mkv", str(out), str(marker)), name="kill-once")
    try:
        report = batch.run("convert", [clips], out, options={"codec": "ffv1"}, extension=".mkv", client=client)
    finally:
        client.unregister_worker_plugin("kill-once")
    assert marker.exists()  # the worker did die mid-write
    entries = {os.path.basename(c["input"]): c for c in report["clips"]}
    assert report["ok"] == 4 and entries["victim.mp4"]["frames"] == 48
    assert len(decode_rgb(out / "victim.mkv")) == 48
    assert temporaries(out) == []
