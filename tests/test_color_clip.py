"""Clip-level color matching: one grade per clip, per-frame fits smoothed, the match-color command."""

import subprocess
import sys

import numpy as np
import pytest

import framefix
from clips import moving_frames, write_video
from framefix.color import match_clip_colors
from framefix.io import open_clip


def run_cli(*args):
    result = subprocess.run([sys.executable, "-m", "framefix", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stdout, result.stderr


def frame_means(path):
    with open_clip(path) as clip:
        return np.array([frame.reshape(-1, 3).mean(axis=0) for frame in clip])


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grade")
    frames = list(moving_frames(16, 48, 64))
    steady = [np.clip(f * np.array([0.8, 1.0, 1.15]), 0, 255).astype(np.uint8) for f in frames]  # a fixed cast
    rng = np.random.default_rng(0)
    pumping = [np.clip(f * (1 + 0.12 * rng.standard_normal()) * (1 + 0.05 * rng.standard_normal(3)), 0, 255)
               .astype(np.uint8) for f in frames]
    write_video(folder / "clean.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    write_video(folder / "steady.mkv", steady, codec="ffv1", pix_fmt="bgr0")
    write_video(folder / "pumping.mkv", pumping, codec="ffv1", pix_fmt="bgr0")
    return folder


def test_one_grade_fixes_the_cast_and_adds_no_flicker(clips, tmp_path):
    grades = match_clip_colors(clips / "steady.mkv", tmp_path / "out.mkv", str(clips / "clean.mkv"), codec="ffv1")
    assert [(g.start, g.end, g.note) for g in grades] == [(0, 16, "")]  # one shot
    assert isinstance(grades[0].transform, framefix.ColorTransform)
    out, clean, steady = (frame_means(p) for p in (tmp_path / "out.mkv", clips / "clean.mkv", clips / "steady.mkv"))
    assert np.abs(out.mean(0) - clean.mean(0)).max() < 2.0 < np.abs(steady.mean(0) - clean.mean(0)).max()
    # every frame got the same transform: frame-to-frame changes follow the input's, scaled, no more
    assert np.abs(np.diff(out, axis=0)).max() <= 1.5 * np.abs(np.diff(steady, axis=0)).max() + 1


def test_per_frame_fits_remove_pumping_and_smoothing_averages_them(clips, tmp_path):
    match_clip_colors(clips / "pumping.mkv", tmp_path / "each.mkv", str(clips / "clean.mkv@0"), per_frame=True,
                      smooth=1, codec="ffv1")
    match_clip_colors(clips / "pumping.mkv", tmp_path / "smooth.mkv", str(clips / "clean.mkv@0"), per_frame=True,
                      smooth=5, codec="ffv1")
    pumping, each, smooth = (frame_means(p) for p in (clips / "pumping.mkv", tmp_path / "each.mkv",
                                                      tmp_path / "smooth.mkv"))
    assert each.std(axis=0).max() < 0.25 * pumping.std(axis=0).max()  # every frame brought to the reference
    # averaged fits are a different, gentler correction: they follow less of each frame's change, so
    # more of the frame-to-frame movement is left (by far more than rounding)
    assert np.abs(each - smooth).max() > 5
    assert np.abs(np.diff(smooth, axis=0)).mean() > 3 * np.abs(np.diff(each, axis=0)).mean()


def test_the_match_color_command(clips, tmp_path):
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "g.mkv", "--codec", "ffv1",
                           "--reference", f"{clips / 'clean.mkv'}@3", "--save-transform", tmp_path / "g.json",
                           "--cube", tmp_path / "g.cube", "-q")
    assert code == 0, err
    assert framefix.ColorTransform.load(tmp_path / "g.json").method == "mkl"
    assert framefix.read_cube(tmp_path / "g.cube").shape == (33, 33, 33, 3)
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "h.mkv",
                           "--reference", f"{clips / 'clean.mkv'}@99")
    assert code == 2 and "has only 16 frames" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "h.mkv", "--reference",
                           clips / "clean.mkv", "--per-frame", "--cube", tmp_path / "x.cube")
    assert code == 2 and "drop --per-frame" in err
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "h.mkv", "--reference",
                           clips / "missing.png")
    assert code == 2 and "no such file" in err
    assert not (tmp_path / "h.mkv").exists()


def test_side_files_appear_only_with_a_written_clip(clips, tmp_path):
    (tmp_path / "taken.mkv").write_bytes(b"x")
    (tmp_path / "old.json").write_text("keep")
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "taken.mkv", "--reference",
                           clips / "clean.mkv", "--save-transform", tmp_path / "old.json", "--cube", tmp_path / "new.cube")
    assert code == 2
    assert (tmp_path / "old.json").read_text() == "keep" and not (tmp_path / "new.cube").exists()
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "free.mkv", "--reference",
                           clips / "clean.mkv", "--save-transform", tmp_path / "old.json")
    assert code == 2 and "already exists" in err and not (tmp_path / "free.mkv").exists()
    code, _, err = run_cli("match-color", clips / "steady.mkv", "-o", tmp_path / "free.mkv", "--reference",
                           clips / "clean.mkv", "--smooth", "5")
    assert code == 2 and "add --per-frame" in err


def test_masks_choose_which_pixels_count(clips, tmp_path):
    cv2 = pytest.importorskip("cv2")
    # the input's left half gets a strong cast; a mask on the right half must ignore it
    with open_clip(clips / "clean.mkv") as clip:
        clean = list(clip)
    split = []
    for f in clean:
        g = f.copy()
        g[:, :32] = np.clip(g[:, :32] * np.array([1.5, 0.7, 0.7]), 0, 255)
        split.append(g)
    write_video(tmp_path / "split.mkv", split, codec="ffv1", pix_fmt="bgr0")
    right = np.zeros((48, 64), bool)
    right[:, 32:] = True
    cv2.imwrite(str(tmp_path / "right.png"), right.astype(np.uint8) * 255)
    [masked] = match_clip_colors(tmp_path / "split.mkv", tmp_path / "m.mkv", str(clips / "clean.mkv"),
                                 mask=str(tmp_path / "right.png"), reference_mask=right, codec="ffv1")
    [unmasked] = match_clip_colors(tmp_path / "split.mkv", tmp_path / "u.mkv", str(clips / "clean.mkv"), codec="ffv1")
    masked, unmasked = masked.transform, unmasked.transform
    probe = clean[0][:, 32:].reshape(-1, 3).astype(np.float32) / 255
    masked_error = np.abs(masked.apply(probe[None]) - probe[None]).mean()
    unmasked_error = np.abs(unmasked.apply(probe[None]) - probe[None]).mean()
    assert masked_error < 0.01 < unmasked_error  # the masked grade leaves the clean half alone
    (tmp_path / "small.png").write_bytes(cv2.imencode(".png", np.full((8, 8), 255, np.uint8))[1].tobytes())
    code, _, err = run_cli("match-color", tmp_path / "split.mkv", "-o", tmp_path / "y.mkv", "--reference",
                           clips / "clean.mkv", "--mask", tmp_path / "small.png")
    assert code == 2 and "mask must be a 64x48 image" in err


@pytest.mark.parametrize("method", ["mkl", "hm-mkl-hm"])
@pytest.mark.parametrize("where", [(10, 20), (11, 21)])
def test_a_one_pixel_mask_per_frame_is_well_defined(clips, tmp_path, method, where):
    # issue 16: np.cov of one sample warned and gave NaN ("Eigenvalues did not converge"), and a
    # pixel at odd coordinates vanished from the half-size frames the statistics are taken on
    mask = np.zeros((48, 64), bool)
    mask[where] = True
    match_clip_colors(clips / "pumping.mkv", tmp_path / "one.mkv", str(clips / "clean.mkv@0"), per_frame=True,
                      method=method, mask=mask, codec="ffv1")
    assert frame_means(tmp_path / "one.mkv").shape == (16, 3)


def test_shrinking_a_mask_keeps_every_selected_pixel():
    from framefix.color import shrink_mask

    mask = np.zeros((5, 7), bool)
    mask[1, 3] = mask[4, 6] = True
    halved = shrink_mask(mask, 2)
    assert halved.shape == (3, 4) and halved.flags.c_contiguous
    assert np.argwhere(halved).tolist() == [[0, 1], [2, 3]]
    assert np.argwhere(shrink_mask(mask, 3)).tolist() == [[0, 1], [1, 2]]
    assert np.array_equal(shrink_mask(mask, 1), mask)
