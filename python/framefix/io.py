"""Reading and writing clips: video files through PyAV (anything FFmpeg decodes) and image sequences.

Frames come out as ``(H, W, 3)`` RGB arrays, uint8 for 8-bit sources and uint16 for deeper ones
(10-bit video, 16-bit PNG/TIFF), one at a time: a clip is never held in memory. Writers keep
what the source had where the codec allows: RGB stays RGB, 10-bit stays 10-bit, the frame rate,
timestamps and color tags are carried over and audio streams are copied packet for packet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import os
import re
import warnings
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

__all__ = ["ClipError", "ClipInfo", "AudioInfo", "IncompleteClipWarning", "SeekError", "open_clip", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
DEFAULT_SEQUENCE_FPS = Fraction(24)


class ClipError(Exception):
    """A clip that cannot be read or written; the message is one line meant for the user."""


class SeekError(ClipError):
    """A video that cannot be entered exactly mid-way by seeking (:meth:`Clip.frames_from`): read
    it from the first frame instead."""


class IncompleteClipWarning(ClipError, UserWarning):
    """A video that decodes to fewer frames than its container announces (a truncated or damaged
    file), or with frames the decoder had to conceal.

    Issued with :func:`warnings.warn` when the clip has been read to its end, so by default the
    frames that could be decoded are used. Turn it into an error with
    ``warnings.simplefilter("error", IncompleteClipWarning)`` (what ``framefix --strict`` does):
    it is then raised, and being a :class:`ClipError` it is handled like any unreadable clip.
    """


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    duration: float | None  # seconds


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """What a clip is. ``fps`` and ``time_base`` are exact rationals; ``frame_count`` is None
    when the container does not say (count by decoding)."""

    path: str
    kind: str  # "video" or "images"
    width: int
    height: int
    dtype: str  # of the frames framefix hands out: "uint8" or "uint16"
    bit_depth: int
    fps: Fraction
    time_base: Fraction
    frame_count: int | None
    duration: float | None  # seconds
    codec: str
    pix_fmt: str
    is_rgb: bool
    color: dict  # primaries, transfer, matrix, range: FFmpeg's names, or None when untagged
    audio: tuple[AudioInfo, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready: what ``framefix info --json`` prints.

        Returns
        -------
        dict
            Every field, with ``fps`` and ``time_base`` as ``"num/den"`` strings plus
            ``fps_float``.
        """
        d = dataclasses.asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["fps_float"] = float(self.fps)
        d["time_base"] = f"{self.time_base.numerator}/{self.time_base.denominator}"
        return d


# --- color tags ---------------------------------------------------------------------------------
# FFmpeg's enum values (libavutil/pixfmt.h) and names; 2 means unspecified everywhere.
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
              9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
              11: "iec61966-2-4", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12",
              16: "smpte2084", 18: "arib-std-b67"}
_MATRICES = {0: "rgb", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
             9: "bt2020nc", 10: "bt2020c"}
_RANGES = {1: "tv", 2: "pc"}


def _color_tags(context) -> dict:
    return {
        "primaries": _PRIMARIES.get(int(context.color_primaries or 2)),
        "transfer": _TRANSFERS.get(int(context.color_trc or 2)),
        "matrix": _MATRICES.get(int(context.colorspace or 2)),
        "range": _RANGES.get(int(context.color_range or 0)),
    }


def _swscale_matrix(matrix: str | None, height: int) -> str:
    """The YUV<->RGB matrix swscale should use: the tagged one, else FFmpeg players' guess by size."""
    if matrix in ("bt2020nc", "bt2020c"):
        return "bt2020"
    if matrix == "bt709" or (matrix is None and height >= 720):
        return "itu709"
    if matrix == "smpte240m":
        return "smpte240m"
    return "itu601"


def _swscale_range(tag: str | None) -> str:
    return "JPEG" if tag == "pc" else "MPEG"


# swscale's defaults round YUV <-> RGB with a bias of about one level (and re-converting piles it
# up); accurate rounding with full chroma interpolation makes the round trip unbiased.
_EXACT_SCALING = av.video.reformatter.Interpolation.ACCURATE_RND | av.video.reformatter.Interpolation.FULL_CHR_H_INT
# Decoding, swscale's planar-RGB output with accurate rounding gives the very same pixels (checked
# for 4:2:0, 4:2:2, 4:4:4, NV12, 8 and 10 bits, both ranges: tests/test_io.py) in half the time or
# less: its packed-RGB path with accurate rounding is a slow generic one.
_EXACT_DECODE = av.video.reformatter.Interpolation.ACCURATE_RND


# --- reading ------------------------------------------------------------------------------------


def _natural_key(path: str):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", os.path.basename(path))]


def _sequence_files(path: str) -> list[str] | None:
    """The frames of an image sequence (a folder or a printf pattern like frames/%05d.png), or None."""
    if os.path.isdir(path):
        files = [os.path.join(path, n) for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)]
        if not files:
            raise ClipError(f"{path}: folder holds no {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images")
        return sorted(files, key=_natural_key)
    match = re.search(r"%0?(\d*)d", path)
    if match is None or os.path.isfile(path):
        return None
    width = match.group(1)
    pattern = re.escape(path[: match.start()]) + (r"(\d{%s,})" % width if width else r"(\d+)") + re.escape(path[match.end():])
    candidates = glob.glob(glob.escape(path[: match.start()]) + "*" + glob.escape(path[match.end():]))
    numbered = sorted((int(m.group(1)), f) for f in candidates if (m := re.fullmatch(pattern, f)))
    if not numbered:
        raise ClipError(f"{path}: no file matches the pattern")
    return [f for _, f in numbered]


def _open_container(path: str):
    try:
        return av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise ClipError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ClipError(f"{path}: is a folder without images") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise ClipError(f"{path}: not a readable video or image ({_open_reason(exc)})") from None


# Errors that really are about the file system; any other system error code a demuxer returns
# (EBUSY, EINVAL, ENOMEM, ERANGE...) is its way of refusing a header, and its text would mislead.
_FILE_SYSTEM_ERRORS = {errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP,
                       errno.ENAMETOOLONG, errno.EFBIG, errno.ENXIO}


def _open_reason(exc: Exception) -> str:
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and 0 < code < 4096 and code not in _FILE_SYSTEM_ERRORS:
        return "its header is invalid or describes something unsupported"
    return _reason(exc)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^\[Errno -?\d+\] ", "", text)


def _announced_length(container, stream) -> tuple[str, float, float] | None:
    """What the container says of the video's length, and the shortfall to tolerate: ``("frames",
    count, slack)`` or ``("seconds", duration, slack)``; None when it does not say.

    A frame count (MP4's sample table) is nearly exact: an edit list may hide a frame or so. A
    duration (Matroska) is compared with the decoded frames' time span (a frame count estimated from
    it would be wrong for variable-rate video); the whole file's duration, when the video's own is
    not known, also covers other streams, which may run a little longer.
    """
    if stream.frames:
        return "frames", int(stream.frames), 1
    seconds, slack = None, 0.0
    if stream.duration is not None and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    else:
        tag = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", str(stream.metadata.get("DURATION", "")).strip())
        if tag:
            seconds = int(tag[1]) * 3600 + int(tag[2]) * 60 + float(tag[3])
        elif container.duration:
            seconds = container.duration / av.time_base
            if len(container.streams) > 1:
                slack = 0.5
    if not seconds or seconds <= 0:
        return None
    return "seconds", seconds, slack + 0.02 * seconds


def _frame_layout(pix_fmt: str) -> tuple[int, bool, str]:
    """(bit depth, is_rgb, numpy-side format) for a decoder's pixel format."""
    fmt = av.VideoFormat(pix_fmt)
    depth = max((c.bits for c in fmt.components), default=8)
    return depth, bool(fmt.is_rgb), ("rgb48le" if depth > 8 else "rgb24")


class Clip:
    """An open clip: ``info`` and the frames, streamed. Use as a context manager or call close()."""

    def __init__(self, path: str | os.PathLike, *, fps: Fraction | float | None = None):
        self.path = os.fspath(path)
        self._files = _sequence_files(self.path)
        self._container = None
        self._consumed = False
        self._announced = None
        self.hidden_packets = 0  # counted by frame_times()
        if self._files is not None:
            self.info = self._probe_sequence(fps)
        else:
            self._container = _open_container(self.path)
            self.info = self._probe_video()

    # context manager
    def __enter__(self) -> Clip:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, payload, _ in self.items(audio=False):
            yield payload

    @property
    def audio_streams(self) -> tuple:
        """The source's audio streams (PyAV streams, for copying packets); none for images."""
        return tuple(self._container.streams.audio) if self._container is not None else ()

    # --- probing

    def _probe_video(self) -> ClipInfo:
        container = self._container
        if not container.streams.video:
            raise ClipError(f"{self.path}: has no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        if not context.width or not context.height or context.pix_fmt is None:
            raise ClipError(f"{self.path}: video stream has no usable picture size or pixel format")
        depth, is_rgb, _ = _frame_layout(context.pix_fmt)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps:
            raise ClipError(f"{self.path}: video stream has no frame rate")
        duration = None
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        audio = tuple(
            AudioInfo(
                index=s.index,
                codec=s.codec_context.name,
                sample_rate=int(s.codec_context.sample_rate or 0),
                channels=int(s.codec_context.channels or 0),
                duration=float(s.duration * s.time_base) if s.duration is not None and s.time_base else None,
            )
            for s in container.streams.audio
        )
        self._announced = _announced_length(container, stream)
        return ClipInfo(
            path=self.path, kind="video", width=context.width, height=context.height,
            dtype="uint16" if depth > 8 else "uint8", bit_depth=depth, fps=Fraction(fps),
            time_base=Fraction(stream.time_base), frame_count=stream.frames or None, duration=duration,
            codec=context.name, pix_fmt=context.pix_fmt, is_rgb=is_rgb, color=_color_tags(context), audio=audio,
        )

    def _probe_sequence(self, fps) -> ClipInfo:
        first = self._files[0]
        container = _open_container(first)
        try:
            if not container.streams.video:
                raise ClipError(f"{first}: not an image")
            context = container.streams.video[0].codec_context
            pix_fmt, width, height, codec = context.pix_fmt, context.width, context.height, context.name
            color = _color_tags(context)
        finally:
            container.close()
        if not width or not height or pix_fmt is None:
            raise ClipError(f"{first}: not a readable image")
        depth, _, _ = _frame_layout(pix_fmt)
        fps = Fraction(fps) if fps is not None else DEFAULT_SEQUENCE_FPS
        if fps <= 0:
            raise ClipError(f"fps must be positive, got {fps}")
        count = len(self._files)
        return ClipInfo(
            path=self.path, kind="images", width=width, height=height, dtype="uint16" if depth > 8 else "uint8",
            bit_depth=depth, fps=fps, time_base=1 / fps, frame_count=count, duration=float(count / fps),
            codec=codec, pix_fmt=pix_fmt, is_rgb=True, color=color,
        )

    # --- decoding

    def items(self, *, audio: bool = True) -> Iterator[tuple[str, object, int | None]]:
        """Every frame, and the audio packets, in one stream.

        Parameters
        ----------
        audio : bool
            Also yield the audio packets (for copying them into an output).

        Yields
        ------
        tuple
            ``("video", frame_array, pts)`` in presentation order and, with ``audio``,
            ``("audio", packet, None)`` for every audio packet, in file order.
        """
        if self._files is not None:
            yield from self._sequence_items()
        else:
            yield from self._video_items(audio)

    def audio_packets(self) -> Iterator:
        """The audio packets of :attr:`audio_streams`, in file order, without decoding any video
        (for copying the audio beside frames that come from elsewhere).

        Yields
        ------
        av.Packet
        """
        if self._container is None:
            return
        streams = self.audio_streams
        if not streams:
            return
        try:
            for packet in self._container.demux(*streams):
                if packet.dts is not None:
                    yield packet
        except av.FFmpegError as exc:
            raise ClipError(f"{self.path}: reading the audio failed ({_reason(exc)})") from None

    def frame_times(self) -> list[int] | None:
        """Every frame's presentation time (in ``info.time_base`` units), in order, from the
        container's packets without decoding: what :meth:`frames_from` needs to start mid-clip.

        Returns
        -------
        list of int or None
            One time per frame (an image sequence's are its indices); None when the container
            does not give every frame a time of its own (then a reader must decode from the start).
            Packets an edit list hides (decoded, never shown) are left out and counted in
            ``hidden_packets``.

        Raises
        ------
        ClipError
            The file cannot be read.
        """
        if self._files is not None:
            return list(range(len(self._files)))
        container = _open_container(self.path)
        times = []
        self.hidden_packets = 0
        try:
            for packet in container.demux(container.streams.video[0]):
                if packet.size == 0:  # the end-of-stream marker
                    continue
                if packet.is_discard:
                    self.hidden_packets += 1
                    continue
                if packet.pts is None:
                    return None
                times.append(int(packet.pts))
        except av.FFmpegError as exc:
            raise ClipError(f"{self.path}: reading failed after {len(times)} packets ({_reason(exc)})") from None
        finally:
            container.close()
        times.sort()
        if any(a == b for a, b in zip(times, times[1:])):
            return None
        return times

    def frames_from(self, start: int, frame_times: list[int] | None = None) -> Iterator[tuple[np.ndarray, int]]:
        """``(frame, pts)`` from frame ``start`` (counted from 0) to the end, the same frames and
        times :meth:`items` gives there.

        With ``frame_times`` (from :meth:`frame_times`) a video is entered at the keyframe before
        ``start``, and every frame is checked against its expected time; without, it is decoded
        from the first frame. Stop iterating when done: only what is asked for is decoded.

        Parameters
        ----------
        start : int
            The first frame wanted.
        frame_times : list of int, optional
            Every frame's presentation time.

        Yields
        ------
        tuple
            ``(frame_array, pts)``.

        Raises
        ------
        SeekError
            The clip cannot be entered exactly there (a frame is missing or out of place after the
            seek): read it without ``frame_times``.
        ClipError
            Decoding fails.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"frames_from: start must be an int >= 0, got {start!r}")
        if self._files is not None:
            for _, array, pts in self._sequence_items(start):
                yield array, pts
            return
        if frame_times is None or start == 0:
            for index, (_, array, pts) in enumerate(self.items(audio=False)):
                # the times a seek would go by must be the frames' own, from the first one on
                if frame_times is not None and (index >= len(frame_times) or pts != frame_times[index]):
                    raise SeekError(f"{self.path}: frame {index} is not where the container's index puts it; "
                                    "cannot enter mid-clip")
                if index >= start:
                    yield array, pts
            if frame_times is not None and index + 1 != len(frame_times):
                raise SeekError(f"{self.path}: {index + 1} frames for {len(frame_times)} packets; cannot enter "
                                "mid-clip")
            return
        if start >= len(frame_times):
            return
        yield from self._seek_frames(start, frame_times)

    # Frames before the wanted one that a seek starts from: a keyframe found by decode time can
    # show later than the frame wanted (B-frames), so look a little further back first, then further.
    _SEEK_LEAD = (8, 64)

    def _seek_frames(self, start: int, frame_times: list[int]) -> Iterator[tuple[np.ndarray, int]]:
        _, _, fmt = _frame_layout(self.info.pix_fmt)
        matrix = _swscale_matrix(self.info.color["matrix"], self.info.height)
        color_range = _swscale_range(self.info.color["range"])
        for lead in self._SEEK_LEAD:
            container = _open_container(self.path)
            try:
                video = container.streams.video[0]
                video.thread_type = "AUTO"
                container.seek(frame_times[max(0, start - lead)], stream=video, backward=True, any_frame=False)
                index = start
                for frame in container.decode(video):
                    if frame.pts is not None and frame.pts < frame_times[start]:
                        continue
                    if index == len(frame_times):
                        raise SeekError(f"{self.path}: more frames than packets; cannot enter mid-clip")
                    if frame.pts != frame_times[index] or frame.is_corrupt:
                        if index == start:
                            break  # entered too late: try from further back
                        raise SeekError(f"{self.path}: frame {index} is not where the container's index "
                                        "puts it; cannot enter mid-clip")
                    yield self._to_array(frame, fmt, matrix, color_range), frame.pts
                    index += 1
                else:
                    if index < len(frame_times):
                        raise ClipError(f"{self.path}: decoding stopped at frame {index} of {len(frame_times)}")
                    return
            except av.FFmpegError as exc:
                raise ClipError(f"{self.path}: decoding failed ({_reason(exc)})") from None
            finally:
                container.close()
        raise SeekError(f"{self.path}: frame {start} cannot be reached by seeking; cannot enter mid-clip")

    def _to_array(self, frame: av.VideoFrame, fmt: str, matrix: str, color_range: str) -> np.ndarray:
        if frame.format.is_rgb:
            rgb = frame.reformat(format=fmt, src_colorspace=matrix, src_color_range=color_range,
                                 interpolation=_EXACT_SCALING)
        else:
            rgb = frame.reformat(format="gbrp16le" if fmt == "rgb48le" else "gbrp", src_colorspace=matrix,
                                 src_color_range=color_range, interpolation=_EXACT_DECODE)
        array = rgb.to_ndarray()
        if frame.width != self.info.width or frame.height != self.info.height:
            raise ClipError(
                f"{self.path}: frame size changes mid-clip ({self.info.width}x{self.info.height} to "
                f"{frame.width}x{frame.height}); framefix needs one size per clip"
            )
        return array

    def _video_items(self, audio: bool):
        container = self._container
        if container is None:
            raise ClipError(f"{self.path}: clip is closed")
        _, _, fmt = _frame_layout(self.info.pix_fmt)
        matrix = _swscale_matrix(self.info.color["matrix"], self.info.height)
        color_range = _swscale_range(self.info.color["range"])
        if self._consumed:  # a second pass: start again from a fresh demuxer (raw streams cannot seek)
            container.close()
            container = self._container = _open_container(self.path)
        self._consumed = True
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        audio_streams = list(container.streams.audio) if audio else []
        frames = concealed = discarded = 0
        first_pts = last_pts = None
        step = max(1, round(1 / (self.info.fps * self.info.time_base)))  # one frame, in time-base units
        try:
            for packet in container.demux(video, *audio_streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        yield "audio", packet, None
                    continue
                discarded += bool(packet.size and packet.is_discard)  # cut by an edit list: never shown
                for frame in packet.decode():
                    frames += 1
                    concealed += bool(frame.is_corrupt)
                    pts = frame.pts
                    # Some containers (AVI with B-frames) hand out no or unordered presentation
                    # times; frames come out in display order, so continue the sequence instead.
                    if pts is None or (last_pts is not None and pts <= last_pts):
                        pts = 0 if last_pts is None else last_pts + step
                    last_pts = pts
                    first_pts = pts if first_pts is None else first_pts
                    yield "video", self._to_array(frame, fmt, matrix, color_range), pts
        except av.FFmpegError as exc:
            raise ClipError(f"{self.path}: decoding failed after {frames} frames ({_reason(exc)})") from None
        if frames == 0:
            raise ClipError(f"{self.path}: no frame could be decoded")
        span = float((last_pts - first_pts + step) * self.info.time_base)
        self._check_complete(frames + discarded, span, concealed)

    def check_length(self, times: list[int], hidden_packets: int = 0) -> None:
        """Warn (:class:`IncompleteClipWarning`) when the frames read, with presentation times
        ``times``, fall short of what the container announces: the check a full read makes at its
        end, for a clip read in stretches (:meth:`frames_from`). ``hidden_packets``: packets an
        edit list hides, which the container counts as frames (from :meth:`frame_times`)."""
        if self._files is not None or not times:
            return
        step = max(1, round(1 / (self.info.fps * self.info.time_base)))
        span = float((times[-1] - times[0] + step) * self.info.time_base)
        self._check_complete(len(times) + hidden_packets, span, 0)

    def _check_complete(self, frames: int, span: float, concealed: int) -> None:
        # Decoders stop quietly where a truncated file ends and conceal damaged data: say so, once
        # the whole clip has been read (an early stop, like reading one frame, proves nothing).
        problems = []
        if self._announced is not None:
            kind, expected, slack = self._announced
            if kind == "frames" and expected - frames > slack:
                problems.append(f"decoded {frames} of the {expected} frames the container announces")
            elif kind == "seconds" and expected - span > slack + 1 / self.info.fps:
                problems.append(f"decoded {frames} frames ({span:.2f} s) of the {expected:.2f} s the container "
                                f"announces (about {round(expected * self.info.fps)} frames)")
        if concealed:
            problems.append(f"{concealed} frame(s) decoded with errors concealed")
        if problems:
            warnings.warn(IncompleteClipWarning(f"{self.path}: {' and '.join(problems)}; the file looks truncated "
                                                "or damaged"), stacklevel=3)

    def _sequence_items(self, start: int = 0):
        _, _, fmt = _frame_layout(self.info.pix_fmt)
        first = self._files[0]
        for index, path in enumerate(self._files[start:], start):
            container = _open_container(path)
            try:
                frame = next(container.decode(video=0), None)
            except av.FFmpegError as exc:
                raise ClipError(f"{path}: not a readable image ({_reason(exc)})") from None
            finally:
                container.close()
            if frame is None:
                raise ClipError(f"{path}: not a readable image")
            depth, _, _ = _frame_layout(frame.format.name)
            if depth != self.info.bit_depth:
                # one dtype per clip: a 16-bit image read as 8 bits would be quantised silently
                raise ClipError(f"{path}: is a {depth}-bit image, but the sequence starts with a "
                                f"{self.info.bit_depth}-bit one ({os.path.basename(first)}); "
                                "convert the images to one bit depth")
            array = frame.reformat(format=fmt).to_ndarray()
            if array.shape[:2] != (self.info.height, self.info.width):
                raise ClipError(
                    f"{path}: is {frame.width}x{frame.height}, the sequence is {self.info.width}x{self.info.height}"
                )
            yield "video", array, index


def open_clip(path: str | os.PathLike, *, fps: Fraction | float | None = None) -> Clip:
    """Open a video file, a folder of images or a printf-style image pattern for reading.

    Parameters
    ----------
    path : str or path-like
        A video file (any container and codec FFmpeg decodes), a folder of PNG/TIFF/JPEG
        frames (sorted naturally: ``frame2`` before ``frame10``) or a pattern such as
        ``frames/%05d.png``.
    fps : rational, optional
        Frame rate of an image sequence (default 24); ignored for video, which says its own.

    Returns
    -------
    Clip
        ``clip.info`` (a :class:`ClipInfo`) and iteration over ``(H, W, 3)`` frames, uint8 or
        uint16 (sources deeper than 8 bits), streamed.

    Raises
    ------
    ClipError
        The path does not exist, is not a video or image, or has no decodable video stream.
    """
    return Clip(path, fps=fps)


# --- writing ------------------------------------------------------------------------------------

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mxf", ".nut", ".ts", ".m2ts", ".mpg",
                    ".mpeg", ".flv", ".ogv", ".gif")

# The encoder a container gets without --codec, first available of each list: H.264 wherever it
# goes; WebM takes only VP8/VP9/AV1 (VP9 first, as ffmpeg chooses), Ogg only Theora, GIF its own.
_DEFAULT_ENCODERS = {".webm": ("libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1"), ".ogv": ("libtheora",),
                     ".gif": ("gif",)}
_DEFAULT_ENCODER = ("libx264", "mpeg4")
# Encoders with a constant-quality (--crf) and a speed (--preset) setting; any other would ignore them.
_CRF_ENCODERS = frozenset({"libx264", "libx264rgb", "libx265", "libvpx", "libvpx-vp9", "libsvtav1", "libaom-av1"})
_PRESET_ENCODERS = frozenset({"libx264", "libx264rgb", "libx265", "libsvtav1"})
_LOSSLESS_ENCODERS = frozenset({"ffv1", "png", "qtrle", "utvideo", "huffyuv", "ffvhuff", "magicyuv"})


def video_codec(path: str, codec: str | None = None, *, crf: int | None = None, preset: str | None = None) -> str:
    """The encoder a video output gets, with its settings checked before any work.

    Parameters
    ----------
    path : str
        The output file (its extension picks the default encoder).
    codec : str, optional
        The encoder asked for; default: libx264 (mpeg4 without it), VP9 (libvpx-vp9) for
        ``.webm``, Theora for ``.ogv``, the GIF encoder (with a palette made for the clip)
        for ``.gif``.
    crf, preset : optional
        Quality and speed settings: refused for an encoder that has no such setting, rather
        than silently ignored.

    Returns
    -------
    str
        The FFmpeg encoder name.

    Raises
    ------
    ClipError
        No encoder for the container in this FFmpeg, an unknown or non-video encoder, or a
        setting the encoder does not have.
    """
    extension = os.path.splitext(path)[1].lower()
    if codec is None:
        candidates = _DEFAULT_ENCODERS.get(extension, _DEFAULT_ENCODER)
        codec = next((c for c in candidates if c in av.codecs_available), None)
        if codec is None:
            raise ClipError(f"{path}: this FFmpeg has no {' or '.join(candidates)} encoder for {extension} files; "
                            "pick another container or pass --codec")
    try:
        encoder = av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise ClipError(f"{path}: unknown encoder {codec!r}") from None
    if encoder.type != "video":
        raise ClipError(f"{path}: {codec!r} is a {encoder.type} encoder, not a video one")
    if (extension == ".gif") != (encoder.name == "gif"):
        raise ClipError(f"{path}: a GIF file takes the gif encoder only, and the gif encoder a .gif file only")
    for option, value, supported in (("--crf", crf, _CRF_ENCODERS), ("--preset", preset, _PRESET_ENCODERS)):
        if value is not None and encoder.name not in supported:
            why = "it is lossless" if encoder.name in _LOSSLESS_ENCODERS else "it has no such setting"
            raise ClipError(f"{path}: {option} does not apply to {encoder.name} ({why}); drop it or pick "
                            f"an encoder that has it ({', '.join(sorted(supported & set(av.codecs_available)))})")
    if preset is not None and encoder.name in _X26X_PRESETS[0] and preset not in _X26X_PRESETS[1]:
        # checked here: x264/x265 would print their own complaint on stderr before failing
        raise ClipError(f"{path}: {encoder.name} preset must be one of {', '.join(_X26X_PRESETS[1])}, got {preset!r}")
    return encoder.name


def is_sequence_target(path: str) -> bool:
    """Whether an output path names an image folder (an existing folder, or a name without an
    extension) rather than a video file.

    Parameters
    ----------
    path : str
        The output path.

    Returns
    -------
    bool
        True for a folder, False for a video file (a known video extension).

    Raises
    ------
    ClipError
        Any other extension.
    """
    if os.path.isdir(path):
        return True
    extension = os.path.splitext(os.path.basename(path.rstrip("/")))[1].lower()
    if path.endswith("/") or not extension:
        return True
    if extension in VIDEO_EXTENSIONS:
        return False
    raise ClipError(f"{path}: unknown output type {extension!r}; use a video extension "
                    f"({' '.join(VIDEO_EXTENSIONS)}) or a folder name for numbered images")


def _depth(pix_fmt: str) -> int:
    return max((c.bits for c in av.VideoFormat(pix_fmt).components), default=8)


def _subsampled(pix_fmt: str) -> bool:
    fmt = av.VideoFormat(pix_fmt, 2, 2)  # unsized formats report zero-sized planes
    return any(c.width != 2 or c.height != 2 for c in fmt.components)


def choose_pix_fmt(codec: str, info: ClipInfo) -> str:
    """The output pixel format: the source's when the codec takes it, else the closest the codec
    offers (same family RGB/YUV, at least the source's bit depth), subsampling only for sizes it
    allows.

    Parameters
    ----------
    codec : str
        FFmpeg encoder name.
    info : ClipInfo
        The source.

    Returns
    -------
    str
        FFmpeg pixel format name.
    """
    supported = [f.name for f in (av.Codec(codec, "w").video_formats or ())]
    if not supported:
        return info.pix_fmt
    odd = info.width % 2 or info.height % 2

    def colour_without_alpha(f: str) -> bool:  # 3 components: no gray, no alpha, no palette
        return len(av.VideoFormat(f).components) == 3 and "pal" not in f and not (odd and _subsampled(f))

    usable = [f for f in supported if colour_without_alpha(f)]
    if info.kind == "video" and info.pix_fmt in usable:
        return info.pix_fmt

    def rank(f: str):
        depth = _depth(f)
        deep_enough = depth >= info.bit_depth
        return (
            bool(av.VideoFormat(f).is_rgb) == info.is_rgb,  # the same family first
            deep_enough,
            -depth if deep_enough else depth,  # the shallowest that keeps the precision
            f.startswith("yuv420p"),  # YUV out: planar 4:2:0 plays everywhere
            not f.startswith("nv"),
            -len(f),
        )

    return max(usable or supported, key=rank)


def _output_time_base(fps: Fraction, time_base: Fraction) -> Fraction:
    """The source's time base when it holds a whole number of ticks per frame; otherwise one that
    does (1/fps numerator, refined to a millisecond or finer, so variable-rate times survive)."""
    if (1 / (fps * time_base)).denominator == 1:
        return time_base
    ticks_per_second = fps.numerator
    while ticks_per_second < 1000:
        ticks_per_second *= 2
    return Fraction(1, ticks_per_second)


_X26X_PRESETS = (("libx264", "libx265"), ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                          "slower", "veryslow", "placebo"))


class VideoWriter:
    """Encodes RGB frames into a video file, copying audio from a source container if given.

    ``name`` is the path shown in messages (the file being written is usually a temporary one).
    """

    def __init__(self, path: str, info: ClipInfo, *, codec: str, crf: int | None, preset: str | None,
                 audio_streams=(), name: str | None = None):
        self.path = path
        self.name = name or path
        self.info = info
        codec = video_codec(self.name, codec, crf=crf, preset=preset)
        try:
            self._container = av.open(path, "w")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise ClipError(f"{self.name}: cannot create the output ({_reason(exc)})") from None
        try:
            self._setup(codec, crf, preset, audio_streams)
        except BaseException:
            with contextlib.suppress(av.FFmpegError, OSError):
                self._container.close()
            raise

    def _setup(self, codec, crf, preset, audio_streams):
        info = self.info
        try:
            stream = self._container.add_stream(codec, rate=info.fps)
        except (av.FFmpegError, ValueError) as exc:
            raise ClipError(f"{self.name}: cannot write {codec} video into this container ({_reason(exc)})") from None
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = choose_pix_fmt(codec, info)
        self._time_base = _output_time_base(info.fps, info.time_base)
        stream.time_base = self._time_base
        stream.codec_context.time_base = self._time_base
        stream.thread_type = "AUTO"
        options = {}
        if codec in ("libvpx", "libvpx-vp9"):
            # constant quality, as x264's default: libvpx alone aims at a low bit rate
            options.update({"crf": "31", "b": "0"})
        if crf is not None:
            options["crf"] = str(crf)
        if preset is not None:
            options["preset"] = preset
        stream.options = options
        self._out_rgb = bool(av.VideoFormat(stream.pix_fmt).is_rgb)
        color = dict(info.color)
        if not info.is_rgb:
            self._matrix = _swscale_matrix(color.get("matrix"), info.height)
        else:
            # RGB made YUV here: say which matrix and range were used, whatever the source's tags
            self._matrix = _swscale_matrix(None, info.height)
            color["matrix"] = "bt709" if self._matrix == "itu709" else "smpte170m"
            color["range"] = "tv"
        # Untagged YUV goes out as limited range, which is what players assume when untagged.
        self._range = _swscale_range(color.get("range"))
        context = stream.codec_context
        for attribute, table, tag in (
            ("color_primaries", _PRIMARIES, color.get("primaries")),
            ("color_trc", _TRANSFERS, color.get("transfer")),
            ("colorspace", _MATRICES, None if self._out_rgb else color.get("matrix")),
            ("color_range", _RANGES, None if self._out_rgb else (color.get("range") or "tv")),
        ):
            codes = {name: value for value, name in table.items()}
            if tag in codes:
                setattr(context, attribute, codes[tag])
        self._stream = stream
        self._array_format = "rgb48le" if info.dtype == "uint16" else "rgb24"
        self._audio = {}
        for source in audio_streams:
            try:
                self._audio[source.index] = self._container.add_stream_from_template(source)
            except (av.FFmpegError, ValueError) as exc:
                raise ClipError(
                    f"{self.name}: cannot carry the {source.codec_context.name} audio ({_reason(exc)}); "
                    "try a .mkv output"
                ) from None

    def write(self, frame: np.ndarray, pts: int | None) -> None:
        """Encode one frame.

        Parameters
        ----------
        frame : ndarray
            ``(H, W, 3)`` RGB of the clip's dtype.
        pts : int or None
            Presentation time in the source's time base (None: the next frame's).
        """
        video_frame = av.VideoFrame.from_ndarray(frame, format=self._array_format)
        if self._out_rgb:
            video_frame = video_frame.reformat(format=self._stream.pix_fmt)
        else:
            video_frame = video_frame.reformat(format=self._stream.pix_fmt, dst_colorspace=self._matrix,
                                               dst_color_range=self._range, interpolation=_EXACT_SCALING)
        video_frame.pts = self._output_pts(pts)
        video_frame.time_base = self._time_base
        self._mux(self._encode(video_frame))

    def _output_pts(self, pts: int | None) -> int | None:
        if pts is None or self._time_base == self.info.time_base:
            return pts
        # A time base too coarse for the frame rate (Matroska's 1 ms at 30000/1001 fps) stores
        # rounded times: a time within that rounding of the ideal constant-rate time of a frame
        # is that time exactly; anything else (variable rate) is kept as it was.
        seconds = pts * self.info.time_base
        frame_index = round(seconds * self.info.fps)
        ideal = frame_index / self.info.fps
        exact = ideal if abs(seconds - ideal) < self.info.time_base else seconds
        return round(exact / self._time_base)

    def _encode(self, frame):
        try:
            return self._stream.encode(frame)
        except (av.FFmpegError, ValueError) as exc:
            raise ClipError(f"{self.name}: encoding with {self._stream.codec_context.name} failed ({_reason(exc)})") from None

    def write_audio(self, packet) -> None:
        """Copy one audio packet of a source stream given at construction (others are dropped).

        Parameters
        ----------
        packet : av.Packet
            From :meth:`Clip.items`.
        """
        target = self._audio.get(packet.stream.index)
        if target is not None:
            packet.stream = target
            self._mux([packet])

    def _mux(self, packets) -> None:
        try:
            self._container.mux(packets)
        except (av.FFmpegError, ValueError) as exc:
            raise ClipError(f"{self.name}: writing failed ({_reason(exc)})") from None

    def close(self, *, flush: bool = True) -> None:
        """Finish the file.

        Parameters
        ----------
        flush : bool
            Encode what the encoder holds and write the trailer; False after a failure, when
            errors are ignored (the file is discarded anyway).
        """
        if not flush:
            with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                self._container.close()
            return
        try:
            self._mux(self._encode(None))
            self._container.close()
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise ClipError(f"{self.name}: finishing the file failed ({_reason(exc)})") from None


class GifWriter:
    """Encodes RGB frames into an animated GIF with a 256-colour palette made for the whole clip.

    FFmpeg's palettegen sees every frame before paletteuse maps them (error-diffusion dithered), so
    the frames are held, as 8-bit RGB, until :meth:`close`: meant for the short clips GIFs are.
    Frame times are kept (GIF stores them in hundredths of a second); the GIF loops forever.
    """

    def __init__(self, path: str, info: ClipInfo, *, name: str | None = None):
        self.path = path
        self.name = name or path
        self.info = info
        self._time_base = info.time_base
        self._next_pts = 0
        try:
            self._container = av.open(path, "w", format="gif")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise ClipError(f"{self.name}: cannot create the output ({_reason(exc)})") from None
        try:
            self._stream = self._container.add_stream("gif", rate=info.fps)
            self._stream.width, self._stream.height = info.width, info.height
            self._stream.pix_fmt = "pal8"
            self._stream.time_base = self._time_base
            self._stream.codec_context.time_base = self._time_base
            self._graph = av.filter.Graph()
            source = self._graph.add_buffer(width=info.width, height=info.height, format="rgb24",
                                            time_base=self._time_base)
            split = self._graph.add("split")
            palette = self._graph.add("palettegen", "stats_mode=full")
            mapped = self._graph.add("paletteuse", "dither=sierra2_4a")
            sink = self._graph.add("buffersink")
            source.link_to(split)
            split.link_to(palette, 0, 0)
            split.link_to(mapped, 1, 0)
            palette.link_to(mapped, 0, 1)
            mapped.link_to(sink)
            self._graph.configure()
        except (av.FFmpegError, ValueError) as exc:
            with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                self._container.close()
            raise ClipError(f"{self.name}: cannot set up the GIF encoder ({_reason(exc)})") from None

    def write(self, frame: np.ndarray, pts: int | None) -> None:
        """Queue one frame (it is encoded once the palette is known, at :meth:`close`).

        Parameters
        ----------
        frame : ndarray
            ``(H, W, 3)`` RGB, uint8 or uint16 (reduced to 8 bits: GIF has no more).
        pts : int or None
            Presentation time in the source's time base (None: the next frame's).
        """
        if frame.dtype == np.uint16:
            image = av.VideoFrame.from_ndarray(frame, format="rgb48le").reformat(format="rgb24")
        else:
            image = av.VideoFrame.from_ndarray(frame, format="rgb24")
        image.pts = self._next_pts if pts is None else pts
        image.time_base = self._time_base
        self._next_pts = image.pts + max(1, round(1 / (self.info.fps * self._time_base)))
        try:
            self._graph.push(image)
        except (av.FFmpegError, ValueError) as exc:
            raise ClipError(f"{self.name}: making the GIF palette failed ({_reason(exc)})") from None

    def write_audio(self, packet) -> None:
        """GIFs carry no sound: the packet is dropped.

        Parameters
        ----------
        packet : av.Packet
            Ignored.
        """

    def close(self, *, flush: bool = True) -> None:
        """Make the palette, encode every frame with it and finish the file.

        Parameters
        ----------
        flush : bool
            False after a failure: nothing more is encoded (the file is discarded anyway).
        """
        if not flush:
            with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                self._container.close()
            return
        try:
            self._graph.push(None)
            while True:
                try:
                    mapped = self._graph.pull()
                except (av.EOFError, av.BlockingIOError):
                    break
                mapped.time_base = self._time_base
                self._container.mux(self._stream.encode(mapped))
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise ClipError(f"{self.name}: finishing the GIF failed ({_reason(exc)})") from None


def encode_image(frame: np.ndarray, codec: str = "png") -> bytes:
    """One RGB frame as the bytes of a PNG or TIFF file.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3)`` uint8, or uint16 (kept 16-bit).
    codec : {'png', 'tiff'}
        The image format.

    Returns
    -------
    bytes
    """
    deep = frame.dtype == np.uint16
    pix_fmt = ("rgb48be" if codec == "png" else "rgb48le") if deep else "rgb24"
    context = av.CodecContext.create(codec, "w")
    context.width, context.height = frame.shape[1], frame.shape[0]
    context.pix_fmt = pix_fmt
    context.time_base = Fraction(1, 1)
    image = av.VideoFrame.from_ndarray(frame, format="rgb48le" if deep else "rgb24").reformat(format=pix_fmt)
    image.pts = 0
    return b"".join(bytes(p) for p in context.encode(image)) + b"".join(bytes(p) for p in context.encode(None))


def split_reference(spec: str) -> tuple[str, int | None]:
    """Split a frame reference ``CLIP@N`` into the clip and the frame number.

    Parameters
    ----------
    spec : str
        ``CLIP@N``, or a path (an existing path containing ``@`` is a path).

    Returns
    -------
    (str, int or None)
        ``(CLIP, N)``, or ``(spec, None)``.

    Examples
    --------
    >>> split_reference("shot.mp4@120"), split_reference("hero.png")
    (('shot.mp4', 120), ('hero.png', None))
    """
    path, at, index = spec.rpartition("@")
    if at and index.isdigit() and not os.path.exists(spec):
        return path, int(index)
    return spec, None


def read_frame(spec: str | os.PathLike, *, fps=None) -> np.ndarray:
    """One frame: the first of an image or clip, or frame N (from 0) of a clip given as ``CLIP@N``.

    Parameters
    ----------
    spec : str or path-like
        An image, a clip, or ``CLIP@N``.
    fps : rational, optional
        Frame rate of an image sequence.

    Returns
    -------
    ndarray
        ``(H, W, 3)`` uint8 or uint16.

    Raises
    ------
    ClipError
        Unreadable, or the clip has no frame N.
    """
    path, index = split_reference(os.fspath(spec))
    seen = 0
    with open_clip(path, fps=fps) as clip:
        for seen, frame in enumerate(clip, 1):
            if seen - 1 == (index or 0):
                return frame
    raise ClipError(f"{spec}: the clip has only {seen} frames (frames count from 0)")


class SequenceWriter:
    """Writes frames as numbered images (00000.png, ...) into a folder; 16-bit sources stay 16-bit."""

    def __init__(self, folder: str, info: ClipInfo, *, image_format: str = "png"):
        self.folder = folder
        self.codec = {"png": "png", "tif": "tiff", "tiff": "tiff"}[image_format]
        self.extension = "." + image_format
        self.count = 0
        os.makedirs(folder, exist_ok=True)

    def write(self, frame: np.ndarray, pts: int | None) -> None:
        """Write the next numbered image.

        Parameters
        ----------
        frame : ndarray
            ``(H, W, 3)`` RGB.
        pts : int or None
            Ignored (images are numbered in order).
        """
        with open(os.path.join(self.folder, f"{self.count:05d}{self.extension}"), "wb") as f:
            f.write(encode_image(frame, self.codec))
        self.count += 1

    def write_audio(self, packet) -> None:
        """Image sequences carry no sound: the packet is dropped.

        Parameters
        ----------
        packet : av.Packet
            Ignored.
        """

    def close(self, *, flush: bool = True) -> None:
        """Nothing to finish: every image is complete when written.

        Parameters
        ----------
        flush : bool
            Ignored.
        """
