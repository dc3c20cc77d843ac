"""Conform an edit: every shot of a clip matched to one hero look.

Generated edits are assembled from separately generated shots, each with its own color. A
colorist matches each shot to a hero frame; :func:`conform_clip` does it for the whole edit in
two passes over the clip (sampling, then grading):

1. The shots are found while the clip streams (changes of picture and persistent steps of look,
   :class:`framefix.TransitionTracker`), or given; frames are kept across every shot and at its
   ends (:func:`framefix.color.sample_shots`).
2. The hero look is a shot (``hero_shot``, or chosen: :func:`choose_hero`) or a reference image
   or frame.
3. Where the picture carries on across a cut (two generations of one scene: the cut was a step
   of look), the shot after it is fitted on the frames at the cut, to its neighbour as already
   graded: nearly the same content on both sides, so the fit sees the cast alone, not a change
   of content. Such runs of shots are graded outward from the hero (or, in a run without it,
   from the shot whose picture is most like the hero look's, matched to it on its own frames).
4. A shot matched on its own frames (no continuity) is fitted to the hero look by the chosen
   method; when its structure differs from the hero's (:func:`structure_distance`) the grade is
   weakened, down to none, and the report says so. Flat shots are left alone and no grade
   stretches a channel's spread more than 4 times (:func:`framefix.color.guard_grade`).

Each shot's grade is applied to every frame of it: no flicker inside a shot. The report gives,
per shot, the color distance to the hero look before and after
(:class:`framefix.color.ColorDistance`: CIE76 and CIEDE2000 between mean CIELAB colors).
"""

from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction

import numpy as np

from framefix import _backend, _validate
from framefix.color import (METHODS, ColorDistance, ColorFitter, ColorTransform, ShotGrade, _identity, _last_frame,
                            _mean_lab, _PerShot, _rgb_frames, _spread, _two_passes, guard_grade, load_mask,
                            reference_frames, sample_shots, shrink_mask)

__all__ = ["CONFORM_FORMAT", "ConformResult", "ConformedShot", "choose_hero", "conform_clip", "conform_text",
           "structure_distance"]

CONFORM_FORMAT = "framefix.conform"
SHOTS_FORMAT = "framefix.shots"
# structure distances (see structure_distance): below the first, shots are alike enough for a
# full match of their colors; from the second on, nothing is matched
_ALIKE, _UNLIKE = 0.1, 0.3
_LEVELS = np.linspace(0.02, 0.98, 49)
_CONTINUITY = 0.1  # tile-pattern change across a cut (as the cut detector scores it) below which the picture carries on


def _luma_shape(frames: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Quantiles of the selected pixels' luma, less its mean, over its spread."""
    values = []
    for frame, m in frames:
        pixels = (frame.reshape(-1, 3) if m is None else frame[m]).astype(np.float32)
        top = np.float32(np.iinfo(frame.dtype).max if frame.dtype.kind == "u" else 1.0)
        values.append(pixels @ (np.float32([0.2126, 0.7152, 0.0722]) / top))
    luma = np.concatenate(values)
    return (np.quantile(luma, _LEVELS) - luma.mean()) / max(float(luma.std()), 1e-3)


def structure_distance(frames, reference, *, mask=None, reference_mask=None) -> float:
    """How different two shots' pictures are, whatever their colors: the mean absolute
    difference between the quantiles (2% to 98%) of their luma, each standardised (less its
    mean, over its standard deviation), so that gain, offset and white balance do not count.

    About 0.03 or less between parts of one scene, 0.1 to 0.3 between different scenes. Above
    0.1 a match of colors starts to be a match of content (a night street matched to a sunny
    field) and :func:`conform_clip` weakens it; from 0.3 on it skips it.

    Parameters
    ----------
    frames, reference : ndarray or sequence of ndarray
        RGB frames (uint8, uint16 or float32), a clip ``(T, H, W, 3)`` or lists.
    mask, reference_mask : ndarray of bool, optional
        ``(H, W)`` pixels that count.

    Returns
    -------
    float
        0 for the same picture under any gain and offset.

    Examples
    --------
    >>> import numpy as np, framefix.conform
    >>> rng = np.random.default_rng(0)
    >>> picture = rng.integers(0, 200, (32, 32, 3), dtype=np.uint8)
    >>> framefix.conform.structure_distance(picture, picture // 2 + 20) < 0.02
    True
    """
    func = "structure_distance"
    a = _luma_shape(_rgb_frames(func, "source", frames, mask))
    b = _luma_shape(_rgb_frames(func, "reference", reference, reference_mask))
    return float(np.mean(np.abs(a - b)))


def choose_hero(labs, lengths, usable=None) -> int:
    """The shot whose colors are most central: the least sum of CIE76 distances between its
    mean CIELAB color and every other shot's, each weighted by that shot's length (screen time).
    Ties go to the longer shot.

    Parameters
    ----------
    labs : array_like
        ``(shots, 3)`` mean CIELAB colors.
    lengths : array_like
        Frames of each shot.
    usable : array_like of bool, optional
        Shots that may be the hero (flat ones should not be); all when not given or none is.

    Returns
    -------
    int
        The hero's index (from 0).

    Examples
    --------
    >>> from framefix.conform import choose_hero
    >>> choose_hero([[50, 0, 0], [52, 1, 0], [70, 20, 5]], [10, 30, 10])
    1
    """
    labs = np.asarray(labs, np.float64).reshape(-1, 3)
    lengths = np.asarray(lengths, np.float64)
    usable = np.ones(len(labs), bool) if usable is None else np.asarray(usable, bool)
    if not usable.any():
        usable = np.ones(len(labs), bool)
    spread = (np.linalg.norm(labs[:, None] - labs[None], axis=-1) * lengths[None]).sum(axis=1)
    order = sorted(np.flatnonzero(usable), key=lambda k: (round(float(spread[k]), 9), -lengths[k]))
    return int(order[0])


@dataclasses.dataclass(frozen=True)
class ConformedShot:
    """One shot of a conformed edit: frames ``[start, end)`` (``number`` from 1), its grade and
    how it was fitted (``graded``: ``hero``, ``continuity with shot K``, ``matched to the hero
    look``), the guard rails' ``note`` and ``strength`` (1 full, 0 none), its
    ``structure_distance`` to the hero look (None when fitted by continuity), its color distance
    to the hero look ``before`` and ``after`` (content counts too: shots showing other things
    differ in mean color however well graded) and ``at_cut``, the distance (before, after)
    between its first frames and the previous shot's last ones: the jump a viewer sees at the
    cut, which is the cast alone where the picture carries on (None for the first shot)."""

    number: int
    start: int
    end: int
    transform: ColorTransform
    graded: str
    strength: float
    note: str
    structure_distance: float | None
    before: ColorDistance
    after: ColorDistance
    at_cut: tuple[ColorDistance, ColorDistance] | None = None


@dataclasses.dataclass(frozen=True)
class ConformResult:
    """What :func:`conform_clip` did: the clip's description, the ``hero`` shot's number (None
    for a ``reference``), why it is the hero, and every shot."""

    info: object
    hero: int | None
    reference: str | None
    why: str
    method: str
    strength: float
    shots: list

    def to_dict(self) -> dict:
        """The JSON report (``format`` ``framefix.conform``, version 1); times in seconds."""
        fps = self.info.fps
        return {
            "format": CONFORM_FORMAT,
            "version": 1,
            "clip": self.info.to_dict(),
            "method": self.method,
            "strength": self.strength,
            "hero": {"shot": self.hero, "reference": self.reference, "why": self.why},
            "distance": "CIE76 and CIEDE2000 between the mean CIELAB colors (D65) of a shot and of the hero look",
            "shots": [{"number": s.number, "start": s.start, "end": s.end, **_times(s.start, s.end, fps),
                       "graded": s.graded, "strength": s.strength, "note": s.note,
                       "structure_distance": s.structure_distance,
                       "before": s.before.to_dict(), "after": s.after.to_dict(),
                       "at_cut": None if s.at_cut is None else {"before": s.at_cut[0].to_dict(),
                                                                "after": s.at_cut[1].to_dict()}}
                      for s in self.shots],
        }


def _times(start: int, end: int, fps: Fraction) -> dict:
    return {"start_time": float(start / fps), "end_time": float(end / fps)}


def conform_text(result: ConformResult) -> str:
    """A terminal summary: the hero, then one line per shot (distances before -> after).

    Parameters
    ----------
    result : ConformResult

    Returns
    -------
    str
        Lines without a final newline.
    """
    hero = f"shot {result.hero}" if result.hero is not None else result.reference
    lines = [f"{result.info.path}: {len(result.shots)} shot(s) conformed to {hero} ({result.why}), "
             f"method {result.method}, strength {result.strength:g}",
             f"  {'shot':<5}{'frames':<13}{'CIE76':>16}{'CIEDE2000':>16}{'at the cut':>16}  {'strength':<9}graded"]
    for s in result.shots:
        cut = "" if s.at_cut is None else f"{s.at_cut[0].cie76:.2f} -> {s.at_cut[1].cie76:.2f}"
        lines.append(f"  {s.number:<5}{f'{s.start}-{s.end - 1}':<13}"
                     f"{f'{s.before.cie76:.2f} -> {s.after.cie76:.2f}':>16}"
                     f"{f'{s.before.ciede2000:.2f} -> {s.after.ciede2000:.2f}':>16}{cut:>16}  {s.strength:<9.2f}"
                     f"{s.graded}" + (f"; {s.note}" if s.note else ""))
    lines.append("  distances (CIE76, CIEDE2000) between mean CIELAB colors: the shot's and the hero look's (other "
                 "content counts too); at the cut: the shot's first frames and the previous shot's last (CIE76). "
                 "About 1 is just visible side by side")
    return "\n".join(lines)


def _continuous(before, after) -> bool:
    """The picture carries on across the cut between two shots (their boundary frames)."""
    from framefix.shots import _distance, _layout
    from framefix.stats import frame_statistics

    layouts = [_layout(frame_statistics(frame, tiles=(min(8, frame.shape[0]), min(8, frame.shape[1]))))
               for frame in (before.tail[-1], after.head[0])]
    return all(layout is not None for layout in layouts) and _distance(*layouts) < _CONTINUITY


def conform_clip(source, target, *, reference=None, hero_shot=None, shots=None, method="mkl", strength=1.0,
                 mask=None, reference_mask=None, report=None, cube_dir=None, workers=None, fps=None,
                 progress=None, **write_options) -> ConformResult:
    """Match every shot of an edit to one hero look and write the conformed clip.

    See the module's description for how. The hero look is ``reference`` (an image, a clip or
    ``CLIP@N``), else shot ``hero_shot``, else the shot whose colors are most central
    (:func:`choose_hero`). Every file (the clip, ``report``, the ``cube_dir`` files) is checked
    before any work (the ``cube_dir`` files once the shots are known, before the clip is written)
    and appears at the end, all together or none (:func:`framefix.outputs.output_group`).

    Parameters
    ----------
    source : path-like
        The edit.
    target : path-like
        The conformed clip: a video file or a folder of numbered images.
    reference : str, optional
        The hero look from outside the edit: an image, a clip (frames sampled across it) or
        ``CLIP@N`` (frame N).
    hero_shot : int, optional
        The hero shot's number, from 1 (as ``framefix analyze`` numbers them).
    shots : path-like or sequence of (int, int), optional
        The shots (``[start, end)`` ranges covering the clip, or a JSON file of them such as
        ``framefix analyze --json``'s); found when not given.
    method : {'mkl', 'reinhard', 'hm-mkl-hm', 'histogram'}
        How a grade is fitted (:func:`framefix.fit_color_transform`). ``mkl`` (the default)
        corrects gain, offset, white balance and saturation and is the fastest to apply;
        ``hm-mkl-hm`` also bends tone curves (gamma) but is about 40 times slower to apply.
    strength : float
        0..1: how far each grade goes (1: all the way to the hero look).
    mask, reference_mask : path-like or ndarray of bool, optional
        Full-size selections (bright pixels of an image file) of the pixels whose colors count,
        in the edit and in ``reference``; every pixel is graded.
    report : path-like, optional
        A JSON report (:meth:`ConformResult.to_dict`).
    cube_dir : path-like, optional
        A folder for one 33^3 ``.cube`` LUT per shot (``shot-001.cube``...) and ``shots.json``
        (each shot's frames, times in seconds and LUT), to apply the same grades in an editor.
        Created when missing; files in it are replaced only with ``overwrite``.
    workers : int, optional
        Threads for the kernels.
    fps : rational, optional
        Frame rate of image-sequence inputs.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)`` over both passes.
    **write_options
        ``codec``, ``crf``, ``preset``, ``image_format``, ``overwrite``: as for
        :func:`framefix.process_clip`.

    Returns
    -------
    ConformResult

    Raises
    ------
    ValueError
        A bad argument (named), ``hero_shot`` beyond the clip's shots, shots that do not cover the clip.
    ClipError
        An unreadable input or an output that may not be written.

    Examples
    --------
    >>> result = framefix.conform_clip("edit.mp4", "conformed.mp4", cube_dir="luts")  # doctest: +SKIP
    >>> print(framefix.conform.conform_text(result))  # doctest: +SKIP
    """
    from framefix.shots import cuts_of_shots
    from framefix.io import is_sequence_target, open_clip, split_reference
    from framefix.outputs import atomic_output, check_distinct, check_output, output_group
    from framefix.pipeline import process_clip
    from framefix.shots import read_shots

    func = "conform_clip"
    if method not in METHODS:
        raise ValueError(f"{func}: method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    strength = _validate.real(func, "strength", strength, low=0, high=1)
    if reference is not None and hero_shot is not None:
        raise ValueError(f"{func}: give a reference or a hero_shot, not both")
    if reference is not None and not isinstance(reference, (str, os.PathLike)):
        raise TypeError(f"{func}: reference must be a path (an image, a clip or CLIP@N), got {type(reference).__name__}")
    if hero_shot is not None:
        hero_shot = _validate.integer(func, "hero_shot", hero_shot, low=1)
    if reference_mask is not None and reference is None:
        raise ValueError(f"{func}: reference_mask selects pixels of a reference; give the reference")
    workers = _backend.resolve_workers(workers, func)
    reference = None if reference is None else os.fspath(reference)
    shots_file = shots if isinstance(shots, (str, os.PathLike)) else None
    read = [source, None if reference is None else split_reference(reference)[0], shots_file]
    read += [m for m in (mask, reference_mask) if isinstance(m, (str, os.PathLike))]
    check_distinct(read, [target, report, cube_dir])
    overwrite = bool(write_options.get("overwrite"))
    check_output(target, overwrite=overwrite, inputs=read, folder=is_sequence_target(os.fspath(target)))
    if report is not None:
        check_output(report, overwrite=overwrite, inputs=read)
    if cube_dir is not None and os.path.lexists(cube_dir) and not os.path.isdir(cube_dir):
        raise ValueError(f"{os.fspath(cube_dir)}: is a file; --cube-dir needs a folder")
    given_cuts = ranges = None
    if shots is not None:
        ranges = read_shots(shots_file) if shots_file is not None else shots
        given_cuts = cuts_of_shots(func, ranges, _last_frame(func, ranges))

    first, second = _two_passes(progress)
    sampling = sample_shots(source, cuts=given_cuts, fps=fps, workers=workers, progress=first)
    samples, info = sampling.shots, sampling.info
    if ranges is not None and samples[-1].end != ranges[-1][1]:
        raise ValueError(f"{func}: the shots cover {ranges[-1][1]} frames, the clip has {samples[-1].end}; "
                         f"were they found on another clip?")
    if hero_shot is not None and hero_shot > len(samples):
        raise ValueError(f"{func}: hero_shot must be a shot number from 1 to {len(samples)}, got {hero_shot}")
    source_mask = None
    if mask is not None:
        source_mask = shrink_mask(load_mask(mask, info.height, info.width), sampling.factor)

    def own(shot, which="fit_frames"):
        return _rgb_frames(func, "source", getattr(shot, which), source_mask)

    labs = np.array([_mean_lab(own(s), workers) for s in samples])
    flat = [float(np.dot(_spread(own(s)), (0.2126, 0.7152, 0.0722))) < 0.02 for s in samples]
    hero_index = None
    if reference is not None:
        target_frames = reference_frames(reference, fps=fps)
        if reference_mask is not None:
            with open_clip(split_reference(reference)[0], fps=fps) as clip:
                height, width = clip.info.height, clip.info.width
            reference_mask = shrink_mask(load_mask(reference_mask, height, width, "reference mask"), 2)
        why = "the reference"
    else:
        if hero_shot is not None:
            hero_index, why = hero_shot - 1, "chosen"
        else:
            hero_index = choose_hero(labs, [s.end - s.start for s in samples], [not f for f in flat])
            why = "chosen automatically: the most central colors"
        target_frames, reference_mask = samples[hero_index].fit_frames, source_mask
    target_look = _rgb_frames(func, "reference", target_frames, reference_mask)
    target_lab = _mean_lab(target_look, workers)
    to_hero = ColorFitter(target_frames, method=method, reference_mask=reference_mask, workers=workers)

    linked = [False] + [not (flat[i - 1] or flat[i]) and _continuous(samples[i - 1], samples[i])
                        for i in range(1, len(samples))]
    # per shot: (grade, how it was fitted, structure distance, note, strength so far); guarded as
    # they are fitted, so the shots that continue a weakened or limited grade follow it as applied
    fits: dict[int, tuple[ColorTransform, str, float | None, str, float]] = {}
    runs, start = [], 0
    for i in range(1, len(samples) + 1):
        if i == len(samples) or not linked[i]:
            runs.append(range(start, i))
            start = i
    for run in runs:
        if hero_index in run:
            anchor = hero_index
            fits[anchor] = (_identity(method), "hero", None, "", 1.0)
        else:  # the shot whose picture is most like the hero look's is matched to it, the others follow it
            structures = {k: structure_distance(samples[k].fit_frames, target_frames, mask=source_mask,
                                                reference_mask=reference_mask) for k in run if not flat[k]}
            anchor = min(structures, key=lambda k: (structures[k], -(samples[k].end - samples[k].start)),
                         default=run[0])
            fits[anchor] = _guarded(samples[anchor], *_matched(samples[anchor], to_hero, source_mask,
                                                               structures.get(anchor)), source_mask, workers)
        for k in range(anchor + 1, run.stop):  # outward from the anchor: each to its neighbour as graded
            fits[k] = _guarded(samples[k], *_continued(samples[k].head, fits[k - 1][0], samples[k - 1].tail, k - 1,
                                                       method, source_mask, workers), source_mask, workers)
        for k in range(anchor - 1, run.start - 1, -1):
            fits[k] = _guarded(samples[k], *_continued(samples[k].tail, fits[k + 1][0], samples[k + 1].head, k + 1,
                                                       method, source_mask, workers), source_mask, workers)

    def boundary_lab(frames, grade=None):
        graded = frames if grade is None else [grade.apply(frame, workers=workers) for frame in frames]
        return _mean_lab(_rgb_frames(func, "source", graded, source_mask), workers)

    conformed, grades = [], []
    for k, shot in enumerate(samples):
        fitted, how, structure, note, fit_strength = fits[k]
        transform = fitted.blended(strength)
        after_lab = _mean_lab([(transform.apply(f, workers=workers), m) for f, m in own(shot)], workers)
        at_cut = None
        if k:
            previous, previous_grade = samples[k - 1], conformed[-1].transform
            at_cut = (ColorDistance.between(boundary_lab(shot.head), boundary_lab(previous.tail)),
                      ColorDistance.between(boundary_lab(shot.head, transform), boundary_lab(previous.tail, previous_grade)))
        conformed.append(ConformedShot(
            number=k + 1, start=shot.start, end=shot.end, transform=transform, graded=how,
            strength=strength * fit_strength, note=note, structure_distance=structure,
            before=ColorDistance.between(labs[k], target_lab), after=ColorDistance.between(after_lab, target_lab),
            at_cut=at_cut))
        grades.append(ShotGrade(shot.start, shot.end, transform, note))
    result = ConformResult(info=info, hero=None if hero_index is None else hero_index + 1, reference=reference,
                           why=why, method=method, strength=strength, shots=conformed)

    with output_group():  # the clip, the report and the LUTs appear together, or none of them
        if report is not None:
            with atomic_output(report, overwrite=overwrite, inputs=read) as temporary, open(temporary, "w") as f:
                json.dump(result.to_dict(), f, indent=1, allow_nan=False)
        if cube_dir is not None:
            _write_cubes(result, os.fspath(cube_dir), overwrite, read)
        process_clip(source, target, [_PerShot(grades, workers)], fps=fps, cuts=[g.start for g in grades[1:]],
                     progress=second, **write_options)
    return result


def _structure_weight(distance: float) -> float:
    return float(np.clip((_UNLIKE - distance) / (_UNLIKE - _ALIKE), 0.0, 1.0))


def _matched(shot, to_hero: ColorFitter, mask, structure: float | None):
    """A shot fitted to the hero look on its own frames, weakened by its structure distance to
    it (see the module); a flat shot (no structure measured) is left to the guard rails."""
    weight = 1.0 if structure is None else _structure_weight(structure)
    note = "" if weight == 1 else (f"content unlike the hero's (structure {structure:.2f}): "
                                   + ("not matched" if weight == 0 else f"strength {weight:.2f}"))
    return to_hero.fit(shot.fit_frames, mask=mask).blended(weight), "matched to the hero look", structure, note, weight


def _continued(frames, neighbour_grade: ColorTransform, neighbour_frames, neighbour: int, method, mask, workers):
    """A shot fitted on its frames at a cut to its neighbour's frames there, as graded."""
    graded = [neighbour_grade.apply(frame, workers=workers) for frame in neighbour_frames]
    fitter = ColorFitter(graded, method=method, reference_mask=mask, workers=workers)
    return fitter.fit(frames, mask=mask), f"continuity with shot {neighbour + 1}", None, "", 1.0


def _guarded(shot, transform, how, structure, note, strength, mask, workers):
    """A fit passed through the guard rails (:func:`framefix.color.guard_grade`), notes joined."""
    guarded, guard_strength, guard_note = guard_grade(transform, shot.fit_frames, mask, workers=workers)
    return guarded, how, structure, "; ".join(n for n in (note, guard_note) if n), strength * guard_strength


def _write_cubes(result: ConformResult, folder: str, overwrite: bool, inputs) -> None:
    """One .cube per shot and shots.json, through the safe-output path: a new folder appears
    whole; in an existing one each file is written (and replaced only with ``overwrite``)."""
    import contextlib

    from framefix.outputs import atomic_output

    names = [f"shot-{s.number:03d}.cube" for s in result.shots]
    listing = {"format": SHOTS_FORMAT, "version": 1, "clip": result.info.path,
               "fps": [result.info.fps.numerator, result.info.fps.denominator],
               "shots": [{"number": s.number, "start": s.start, "end": s.end,
                          **_times(s.start, s.end, result.info.fps), "cube": name}
                         for s, name in zip(result.shots, names, strict=True)]}
    files = {**{name: s.transform for s, name in zip(result.shots, names, strict=True)}, "shots.json": listing}
    with contextlib.ExitStack() as stack:
        if os.path.isdir(folder):
            paths = {name: stack.enter_context(atomic_output(os.path.join(folder, name), overwrite=overwrite,
                                                             inputs=inputs)) for name in files}
        else:
            temporary = stack.enter_context(atomic_output(folder, inputs=inputs, folder=True))
            paths = {name: os.path.join(temporary, name) for name in files}
        for name, content in files.items():
            if isinstance(content, ColorTransform):
                number = name[5:8].lstrip("0")
                content.to_cube(paths[name], title=f"framefix conform {result.method} shot {number}")
            else:
                with open(paths[name], "w") as f:
                    json.dump(content, f, indent=1)
