"""``framefix demo``: a synthetic clip with AI-style flicker, and what framefix does about it.

The scene is made here (no download): a procedural texture that the camera pans across while a
region of it swirls, moved with framefix.remap. On top come the defects generated video
shows: exposure pumping, white-balance drift and a shimmering region. The demo writes the clean
scene, the flickered "before" and one "after" file per repair (today: every frame graded to the
clean first frame), and reports how far each frame's brightness and color stray from the clean
scene. Repairs join as they land (deflicker next).
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction

import numpy as np

import framefix
from framefix.analysis import analyze_clip
from framefix.color import match_clip_colors
from framefix.deflicker import deflicker_clip
from framefix.flicker import measure_flicker
from framefix.io import ClipError, ClipInfo, open_clip
from framefix.outputs import pending_path
from framefix.pipeline import write_clip
from framefix.stats import frame_statistics

WIDTH, HEIGHT, FRAMES, FPS = 480, 272, 48, Fraction(24)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Waves at several scales under hard-edged tiles and discs: detail that shows motion."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for scale in (0.03, 0.12, 0.4):
        for _ in range(4):
            fy, fx = rng.uniform(-scale, scale, size=2)
            colour = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
            image += np.sin(fx * x + fy * y + rng.uniform(0, 2 * np.pi))[..., None] * colour / (1 + 4 * scale)
    image = (image - image.min()) / (image.max() - image.min())
    for _ in range(40):
        colour = rng.uniform(0.05, 0.95, size=3).astype(np.float32)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        size = rng.uniform(6, 40)
        if rng.random() < 0.5:
            shape = (np.abs(y - cy) < size / 2) & (np.abs(x - cx) < size)
        else:
            shape = np.hypot(y - cy, x - cx) < size / 2
        image[shape] = 0.35 * image[shape] + 0.65 * colour
    return (0.1 + 0.8 * image).astype(np.float32)


def clean_scene(frames: int = FRAMES, height: int = HEIGHT, width: int = WIDTH, seed: int = 1):
    """The clean scene: a pan across a texture plus a swirling disc, moved with framefix.remap.

    Parameters
    ----------
    frames, height, width : int
        Length and size.
    seed : int
        Seed of the texture.

    Yields
    ------
    ndarray
        ``(height, width, 3)`` float32 RGB frames in 0..1.
    """
    rng = np.random.default_rng(seed)
    texture = _texture(rng, height + 64, width + 96)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height * 0.55, width * 0.4
    radius = np.hypot(y - cy, x - cx)
    inside = np.clip(1 - radius / (0.3 * height), 0, 1) ** 2
    for t in range(frames):
        angle = 0.04 * t
        dx = x - cx
        dy = y - cy
        # pan by (1.5 t, 0.6 t) px, plus a rotation of the disc that fades out at its rim
        map_x = x + 32 + 1.5 * t + inside * (np.cos(angle) * dx - np.sin(angle) * dy - dx)
        map_y = y + 24 + 0.6 * t + inside * (np.sin(angle) * dx + np.cos(angle) * dy - dy)
        yield framefix.remap(texture, map_x.astype(np.float32), map_y.astype(np.float32),
                             interpolation="cubic", border="reflect")


def add_flicker(frames, seed: int = 2):
    """Exposure pumping, white-balance drift and a shimmering region, frame by frame.

    Parameters
    ----------
    frames : iterable of ndarray
        float32 RGB frames in 0..1.
    seed : int
        Seed of the random defects.

    Yields
    ------
    ndarray
        The flickered frames, float32, clipped to 0..1.
    """
    rng = np.random.default_rng(seed)
    for t, frame in enumerate(frames):
        height, width = frame.shape[:2]
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        exposure = 1 + 0.10 * rng.standard_normal() + 0.05 * np.sin(t / 3)
        white_balance = 1 + 0.04 * rng.standard_normal(3)
        blob = np.exp(-(((x - width * 0.7) / (0.18 * width)) ** 2 + ((y - height * 0.3) / (0.2 * height)) ** 2))
        shimmer = 1 + 0.12 * rng.standard_normal() * blob
        out = frame * np.float32(exposure) * white_balance.astype(np.float32) * shimmer[..., None].astype(np.float32)
        yield np.clip(out, 0, 1).astype(np.float32)


def _to_uint8(frames):
    for frame in frames:
        yield np.rint(frame * 255).astype(np.uint8)


def _items(frames):
    for index, frame in enumerate(frames):
        yield "video", frame, index


def _deviation(before: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(brightness error in %, color cast in %) of a frame against the clean scene."""
    b = before.reshape(-1, 3).mean(axis=0)
    c = clean.reshape(-1, 3).mean(axis=0)
    brightness = 100 * (b.mean() / c.mean() - 1)
    cast = 100 * np.ptp(b / b.mean() - c / c.mean())
    return float(brightness), float(cast)


def _steps(frames) -> float:
    """Mean frame-to-frame change of the mean brightness, in percent."""
    means = np.array([f.mean() for f in frames], np.float64)
    return float(100 * np.mean(np.abs(np.diff(means)) / means[1:]))


def run_demo(folder: str, *, overwrite: bool = False, quiet: bool = False) -> None:
    """``framefix demo``: write the clean, flickered and repaired clips and report the errors.

    Parameters
    ----------
    folder : str
        Where the clips go (made if missing).
    overwrite : bool
        Replace clips of an earlier demo.
    quiet : bool
        Write the clips only, no report.
    """
    os.makedirs(folder, exist_ok=True)
    info = ClipInfo(
        path="<demo>", kind="video", width=WIDTH, height=HEIGHT, dtype="uint8", bit_depth=8, fps=FPS,
        time_base=1 / FPS, frame_count=FRAMES, duration=float(FRAMES / FPS), codec="rawvideo",
        pix_fmt="rgb24", is_rgb=True, color={"primaries": "bt709", "transfer": "bt709", "matrix": "bt709", "range": "tv"},
    )
    clean = list(_to_uint8(clean_scene()))
    before = list(_to_uint8(add_flicker(np.float32(f) / 255 for f in clean)))
    outputs = {"clean.mp4": clean, "before.mp4": before}
    for name, frames in outputs.items():
        target = os.path.join(folder, name)
        write_clip(_items(frames), target, info, codec="libx264", crf=14, overwrite=overwrite)
    # Repair 1: every frame graded to the first clean frame (its mean and color covariance), which
    # undoes global exposure and white-balance pumping; the regional shimmer needs deflicker.
    after_path = os.path.join(folder, "after-color.mp4")
    # the clips appear together when the demo is done (framefix.outputs.output_group, in the CLI):
    # until then each is read from its temporary
    before_path = pending_path(os.path.join(folder, "before.mp4"))
    match_clip_colors(before_path, after_path, [clean[0]], method="mkl", per_frame=True,
                      smooth=1, codec="libx264", crf=14, overwrite=overwrite)
    # Repair 2: deflicker (global tone curves and the local gain field for the shimmer).
    deflickered_path = os.path.join(folder, "after-deflicker.mp4")
    deflicker_clip(before_path, deflickered_path, mode="auto", codec="libx264", crf=14,
                   overwrite=overwrite)
    if quiet:
        return
    with open_clip(pending_path(after_path)) as clip:
        after = list(clip)
    with open_clip(pending_path(deflickered_path)) as clip:
        deflickered = list(clip)
    errors = np.array([_deviation(b, c) for b, c in zip(before, clean, strict=True)])
    fixed = np.array([_deviation(a, c) for a, c in zip(after, clean, strict=True)])
    out = sys.stdout
    out.write(f"framefix demo: {FRAMES} frames {WIDTH}x{HEIGHT} at {float(FPS):g} fps in {folder}/\n")
    out.write("  clean.mp4   the scene as it should look (a pan and a swirl, moved with framefix.remap)\n")
    out.write("  before.mp4  with AI-style flicker: exposure pumping, white-balance drift, a shimmering region\n")
    out.write(f"  before: brightness off by {np.abs(errors[:, 0]).mean():.1f}% on average "
              f"(worst {np.abs(errors[:, 0]).max():.1f}%), color cast {errors[:, 1].mean():.1f}% on average\n")
    out.write("  after-color.mp4  every frame graded to the first clean frame "
              "(framefix match-color --per-frame --smooth 1)\n")
    out.write(f"  after:  brightness off by {np.abs(fixed[:, 0]).mean():.1f}% on average "
              f"(worst {np.abs(fixed[:, 0]).max():.1f}%), color cast {fixed[:, 1].mean():.1f}% on average\n")
    repaired = np.array([_deviation(a, c) for a, c in zip(deflickered, clean, strict=True)])
    out.write("  after-deflicker.mp4  framefix deflicker before.mp4 (nothing told about the clean clip)\n")
    out.write(f"  after:  brightness steps between frames {_steps(deflickered):.2f}% on average "
              f"(before {_steps(before):.2f}%, clean {_steps(clean):.2f}%), color cast {repaired[:, 1].mean():.1f}%\n")
    indices = {name: measure_flicker([frame_statistics(f) for f in frames])
               for name, frames in (("clean", clean), ("before", before), ("after-color", after),
                                    ("after-deflicker", deflickered))}
    out.write("  flicker index (framefix analyze): " + ", ".join(
        f"{name} {report.flicker_index:.2f}" for name, report in indices.items()) + "; white balance: " + ", ".join(
        f"{name} {np.mean([s.white_balance_index for s in report.shots]):.2f}" for name, report in indices.items()) + "\n")
    regional = {}
    for name in ("clean.mp4", "before.mp4", "after-color.mp4", "after-deflicker.mp4"):
        shot = analyze_clip(pending_path(os.path.join(folder, name)), flow=True).shot_regional_flicker()[0]
        regional[name] = shot[0] if shot is not None else float("nan")
    out.write("  regional flicker (framefix analyze --flow, worst tile): " + ", ".join(
        f"{name[:-4]} {value:.2f}" for name, value in regional.items()) + "\n")


if __name__ == "__main__":  # pragma: no cover
    try:
        run_demo(sys.argv[1] if len(sys.argv) > 1 else "framefix-demo", overwrite=True)
    except ClipError as exc:
        sys.exit(f"framefix demo: {exc}")
