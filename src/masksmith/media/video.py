"""Video files with PyAV: metadata, frame iteration (RGB arrays for the image code), encoding.

Frames are numbered from 1 and timed in milliseconds from the stream's first frame, as the
Journaling Tool's segments are. PyAV (``av``) is an optional dependency (``masksmith[video]``);
importing this module without it works, and the first call raises a :class:`MediaError` with the
install hint.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith import atomic_io
from masksmith.errors import MediaError, UnsupportedMediaError

PathLike = str | os.PathLike[str]
Pixels = NDArray[np.uint8]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".aac", ".m4a", ".ogg", ".oga", ".opus", ".aif", ".aiff"}
)
VFR_SAMPLE = 100
INSTALL_HINT = "install the video extra: pip install 'masksmith[video]'"


def _av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise UnsupportedMediaError("", f"video support needs PyAV; {INSTALL_HINT}") from None
    return av


def media_kind(path: PathLike) -> str:
    """``'video'``, ``'audio'`` or ``'image'`` from the file name's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return "image"


@dataclass(frozen=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    samples: int | None
    duration_ms: float | None


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about its first video stream (and first audio stream, if any)."""

    path: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    rate: float  # average frames per second
    r_rate: float  # the container's base rate
    time_base: Fraction
    frames: int
    duration_ms: float
    rotation: int
    variable_rate: bool
    audio: AudioStreamInfo | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def to_attributes(self) -> dict[str, Any]:
        """Node attributes in the original's spirit (ffprobe names where it had them)."""
        out: dict[str, Any] = {
            "codec_name": self.codec,
            "width": self.width,
            "height": self.height,
            "pix_fmt": self.pix_fmt,
            "avg_frame_rate": round(self.rate, 6),
            "r_frame_rate": round(self.r_rate, 6),
            "nb_frames": self.frames,
            "duration_ms": round(self.duration_ms, 3),
            "time_base": str(self.time_base),
            "rotation": self.rotation,
            "variable frame rate": "yes" if self.variable_rate else "no",
        }
        if self.audio is not None:
            out["audio_codec"] = self.audio.codec
            out["sample_rate"] = self.audio.sample_rate
            out["channels"] = self.audio.channels
        return out


@dataclass(frozen=True)
class Frame:
    """A decoded frame: 1-based ``index``, display ``time_ms`` from the first frame, RGB pixels."""

    index: int
    time_ms: float
    pixels: Pixels


def _open(path: PathLike) -> Any:
    av = _av()
    source = Path(path)
    if not source.is_file():
        raise MediaError(source, "not found")
    try:
        return av.open(str(source))
    except av.FFmpegError as exc:
        raise MediaError(source, "not a readable video", str(exc)) from None


def _rotation(path: PathLike) -> int:
    """Display rotation in degrees counter-clockwise (the display matrix of the first frame)."""
    with _open(path) as container:
        for frame in container.decode(container.streams.video[0]):
            return round(float(getattr(frame, "rotation", 0) or 0)) % 360
    return 0


def _packet_times(container: Any, stream: Any, limit: int | None) -> list[int]:
    """Presentation timestamps of the stream's packets, in display order (all, or the first ``limit``)."""
    times: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        times.append(int(packet.pts))
        if limit is not None and len(times) >= limit * 2:
            break
    times.sort()
    return times if limit is None else times[:limit]


def probe_video(path: PathLike) -> VideoInfo:
    """Metadata of a video file; frame counts missing from the header (MKV) come from demuxing."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(path, "unreadable", "no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        time_base = stream.time_base or Fraction(1, 1000)
        avg = float(stream.average_rate) if stream.average_rate else 0.0
        base = float(stream.base_rate) if stream.base_rate else avg
        frames = int(stream.frames or 0)
        times = _packet_times(container, stream, None)
        if frames <= 0:
            frames = len(times)
        if not avg and len(times) > 1:
            avg = (len(times) - 1) / (float((times[-1] - times[0]) * time_base) or 1.0)
        steps = np.diff(np.asarray(times[:VFR_SAMPLE], dtype=np.int64))
        uneven = steps.size > 1 and int(steps.max() - steps.min()) > 1
        variable = bool(uneven and (abs(avg - base) > 1e-3 or not stream.frames))
        duration_ms = _duration_ms(stream, container, times, time_base, avg)
        audio = _audio_info(container)
        return VideoInfo(
            path=str(path),
            codec=str(ctx.name),
            width=int(ctx.width),
            height=int(ctx.height),
            pix_fmt=str(ctx.pix_fmt or ""),
            rate=avg,
            r_rate=base,
            time_base=Fraction(time_base),
            frames=frames,
            duration_ms=duration_ms,
            rotation=_rotation(path),
            variable_rate=variable or bool(uneven and abs(avg - base) > 1e-3),
            audio=audio,
        )


def _duration_ms(stream: Any, container: Any, times: list[int], time_base: Fraction, rate: float) -> float:
    """Display time of the last frame's end: last pts − first pts plus one frame."""
    if len(times) >= 2:
        span = float((times[-1] - times[0]) * time_base) * 1000.0
        return span + (1000.0 / rate if rate else 0.0)
    if stream.duration:
        return float(stream.duration * time_base) * 1000.0
    return float(container.duration or 0) / 1000.0


def _audio_info(container: Any) -> AudioStreamInfo | None:
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    rate = int(ctx.sample_rate or stream.rate or 0)
    duration = float(stream.duration * stream.time_base) * 1000.0 if stream.duration else None
    samples = round(duration * rate / 1000.0) if duration is not None and rate else None
    return AudioStreamInfo(
        codec=str(ctx.name),
        sample_rate=rate,
        channels=int(ctx.channels or 0),
        layout=str(getattr(ctx.layout, "name", "")),
        samples=samples,
        duration_ms=duration,
    )


def iter_frames(
    path: PathLike, *, start: int = 1, end: int | None = None, native: bool = False
) -> Iterator[Frame]:
    """Decode frames ``start..end`` (1-based, inclusive) as RGB arrays, in display order.

    Times are measured from the first frame's timestamp, so a stream that starts late still
    starts at 0 ms. Decoding uses FFmpeg's automatic threading. ``native`` keeps ``yuv420p``
    frames as they decode (planes stacked, rows × 1.5 by cols) and skips the RGB conversion,
    which costs as much as the decoding for H.264.
    """
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(path, "unreadable", "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1000)
        first_pts: int | None = None
        index = 0
        try:
            for frame in container.decode(stream):
                index += 1
                pts = frame.pts if frame.pts is not None else index - 1
                if first_pts is None:
                    first_pts = pts
                if index < start:
                    continue
                if end is not None and index > end:
                    break
                time_ms = float((pts - first_pts) * time_base) * 1000.0
                keep = native and frame.format.name == "yuv420p"
                yield Frame(index, time_ms, frame.to_ndarray() if keep else frame.to_ndarray(format="rgb24"))
        except _av().FFmpegError as exc:
            raise MediaError(path, "truncated", f"decoding failed at frame {index + 1}: {exc}") from None


def prefetched(frames: Iterator[Frame], *, depth: int = 4) -> Iterator[Frame]:
    """Decode ahead in a background thread (PyAV releases the GIL while decoding), so two
    streams read in lockstep use two cores. Errors are raised in the consumer."""
    import queue
    import threading

    done = object()
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                buffer.put(frame)
            buffer.put(done)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    worker = threading.Thread(target=produce, name="masksmith-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def read_frame(path: PathLike, index: int) -> Pixels:
    """One frame (1-based) as RGB; decodes from the start, so use :func:`iter_frames` for many."""
    for frame in iter_frames(path, start=index, end=index):
        return frame.pixels
    raise MediaError(path, "unreadable", f"the video has no frame {index}")


def frame_times(path: PathLike) -> list[float]:
    """Display times (ms from the first frame) of every frame, from the packets (no decoding)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        times = _packet_times(container, stream, None)
        time_base = stream.time_base or Fraction(1, 1000)
    if not times:
        return []
    return [float((t - times[0]) * time_base) * 1000.0 for t in times]


def write_video(
    path: PathLike,
    frames: Iterable[Pixels],
    *,
    rate: float | Fraction = 30,
    codec: str = "ffv1",
    pix_fmt: str | None = None,
    options: dict[str, str] | None = None,
    frame_times_ms: Iterable[float] | None = None,
    audio: NDArray[np.int16] | None = None,
    sample_rate: int = 44100,
    rotation: int = 0,
) -> Path:
    """Encode RGB frames to a video file (atomically: temp name, then rename).

    ``codec`` ``ffv1`` (lossless, default), ``libx264``, ``utvideo``, ... ``frame_times_ms`` gives
    each frame its own display time (variable frame rate). ``audio`` (samples × channels int16)
    adds a PCM/AAC audio track. ``rotation`` (degrees counter-clockwise) sets the display matrix.
    """
    av = _av()
    target = Path(path)
    rate_q = Fraction(rate).limit_denominator(1001)
    fmt = pix_fmt or {"ffv1": "bgr0", "utvideo": "gbrp", "libx264": "yuv420p"}.get(codec, "yuv420p")
    with (
        atomic_io.atomic_path(target, durable=False, keep_suffix=True) as tmp,
        av.open(str(tmp), "w") as container,
    ):
        stream = container.add_stream(codec, rate=rate_q)
        stream.pix_fmt = fmt
        if options:
            stream.options = dict(options)
        if rotation:
            stream.set_display_rotation(rotation)
        times = iter(frame_times_ms) if frame_times_ms is not None else None
        if times is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        audio_stream = None
        if audio is not None:
            audio_codec = "pcm_s16le" if target.suffix.lower() in (".mkv", ".mov", ".avi") else "aac"
            audio_stream = container.add_stream(audio_codec, rate=sample_rate)
            audio_stream.layout = "stereo" if audio.ndim == 2 and audio.shape[1] == 2 else "mono"
        for count, pixels in enumerate(frames):
            if count == 0:
                stream.height, stream.width = int(pixels.shape[0]), int(pixels.shape[1])
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[:, :, :3]), format="rgb24")
            if times is not None:
                frame.pts = round(next(times))
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = count
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None and audio is not None:
            _encode_audio(av, container, audio_stream, audio, sample_rate)
    return target


def _encode_audio(av: Any, container: Any, stream: Any, samples: NDArray[np.int16], rate: int) -> None:
    planar = samples.reshape(len(samples), -1)
    layout = "stereo" if planar.shape[1] == 2 else "mono"
    chunk = 1024
    for start in range(0, len(planar), chunk):
        part = np.ascontiguousarray(planar[start : start + chunk].reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(part, format="s16", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
