"""Helpers shared by the video and audio plugins: reading streams, time ranges, writing targets.

Every plugin streams frames (a 1080p clip does not fit in memory as a list) and writes its target
through :func:`masksmith.media.video.write_video` or :func:`masksmith.media.audio.write_pcm`, which
write a temporary file and rename it into place.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith.errors import JournalError, MediaError, PluginError
from masksmith.journal.segments import format_user_time, parse_user_time, time_of
from masksmith.media import audio as media_audio
from masksmith.media import video as media_video
from masksmith.plugins.base import Argument, PluginContext

Samples = NDArray[np.int16]

# encoders whose output decodes to exactly the frames given (exact journal segments need these)
LOSSLESS = frozenset({"ffv1", "utvideo", "png", "rawvideo"})


def start_end_arguments(*, default_span: str = "") -> tuple[Argument, Argument]:
    """The ``Start Time``/``End Time`` pair: a frame number (1-based) or ``HH:MM:SS.ffffff[:N]``."""
    return (
        Argument("Start Time", "any", None, "First frame (number, 1-based) or time HH:MM:SS.ffffff."),
        Argument("End Time", "any", None, f"Last frame (inclusive) or time{default_span}."),
    )


@dataclass(frozen=True)
class Source:
    """A video source: its facts and (when it has one) its audio."""

    path: Path
    info: media_video.VideoInfo
    pcm: media_audio.Pcm | None

    @property
    def rate(self) -> float:
        return self.info.rate or 30.0

    def frames(self) -> Iterator[NDArray[np.uint8]]:
        return (frame.pixels for frame in media_video.iter_frames(self.path))


class FrameStore:
    """Frames kept for a later pass (reversal, pasted copies) in a memory-mapped temporary file, so a
    long 1080p run costs disk, not memory. Use as a context manager; indexing returns a frame."""

    def __init__(self, frames: Iterable[NDArray[np.uint8]]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="masksmith-frames-")
        self._data: NDArray[np.uint8] | None = None
        self.count = 0
        for frame in frames:
            self._grow(frame)

    def _grow(self, frame: NDArray[np.uint8]) -> None:
        if self._data is None or self.count == len(self._data):
            size = max(16, 2 * (len(self._data) if self._data is not None else 0))
            grown = np.lib.format.open_memmap(
                Path(self._folder.name) / f"frames{size}.npy",
                mode="w+",
                dtype=np.uint8,
                shape=(size, *frame.shape),
            )
            if self._data is not None:
                grown[: self.count] = self._data[: self.count]
            self._data = grown
        self._data[self.count] = frame
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> NDArray[np.uint8]:
        assert self._data is not None
        return np.array(self._data[index])

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._data = None
        self._folder.cleanup()


def open_video(context: PluginContext, path: Path | None = None) -> Source:
    """The source video (or ``path``), with its audio decoded when it has an audio stream."""
    where = path or context.source
    try:
        info = media_video.probe_video(where)
        pcm = media_audio.read_pcm(where) if info.audio is not None else None
    except MediaError as exc:
        raise PluginError(f"cannot read the video: {exc.message}", file=where) from None
    return Source(where, info, pcm)


def frame_number(value: Any, rate: float, *, name: str) -> int | None:
    """A ``Start Time``-style argument as a 1-based frame number (None when unset)."""
    try:
        parsed = parse_user_time(value)
    except JournalError as exc:
        raise PluginError(f"{name}: {exc.message}", argument=name) from None
    return None if parsed is None else parsed.frame(rate)


def frame_range(
    args: Mapping[str, Any], frames: int, rate: float, *, rng: np.random.Generator, span: int | None = None
) -> tuple[int, int]:
    """``Start Time``..``End Time`` as 1-based inclusive frames, clipped to the clip.

    A missing start is drawn from ``rng`` (leaving room for ``span`` frames, default a tenth of the
    clip); a missing end is ``span`` frames on, or the last frame.
    """
    length = span or max(1, frames // 10)
    start = frame_number(args.get("Start Time"), rate, name="Start Time")
    end = frame_number(args.get("End Time"), rate, name="End Time")
    if start is None:
        start = int(rng.integers(1, max(2, frames - length + 2)))
    start = min(max(1, start), frames)
    if end is None:
        end = start + length - 1 if span is not None or args.get("Start Time") is None else frames
    end = min(max(start, end), frames)
    return start, end


def time_variables(start: int, end: int, rate: float) -> dict[str, Any]:
    """What a plugin reports for a frame range: the frames and their display times."""
    return {
        "Start Time": str(start),
        "End Time": str(end),
        "start time": format_user_time(time_of(start, rate)),
        "end time": format_user_time(time_of(end, rate)),
    }


def sample_range(start: int, end: int, rate: float, sample_rate: int) -> tuple[int, int]:
    """0-based half-open sample indices covering frames ``start..end`` (same rule as the journal)."""
    first = int(np.floor((start - 1) * sample_rate / rate + 1e-9))
    last = int(np.floor(end * sample_rate / rate + 1e-9))
    return first, last


# pixel formats the lossless encoders need where write_video's defaults do not apply
PIX_FMTS = {"png": "rgb24", "qtrle": "rgb24", "rawvideo": "rgb24"}


def encoder_for(info: media_video.VideoInfo, suffix: str) -> tuple[str, dict[str, str]]:
    """The encoder for a re-written video: lossless sources stay lossless; others get H.264."""
    if info.codec in LOSSLESS:
        if suffix == ".mov" and info.codec in ("ffv1", "utvideo"):
            return "png", {}  # QuickTime takes neither FFV1 nor Ut Video
        return info.codec, {}
    if suffix in (".mp4", ".mov", ".m4v"):
        return "libx264", {"crf": "18", "preset": "veryfast"}
    return "ffv1", {}


def write_clip(
    context: PluginContext,
    source: Source,
    frames: Iterable[NDArray[np.uint8]],
    *,
    audio: Samples | None = None,
    keep_audio: bool = True,
    rate: float | None = None,
    codec: str | None = None,
    options: Mapping[str, str] | None = None,
) -> None:
    """Encode ``frames`` to the target (atomically), carrying ``audio`` (default: the source's)."""
    suffix = context.target.suffix.lower()
    chosen, chosen_options = encoder_for(source.info, suffix)
    codec = codec or chosen
    samples = audio if audio is not None else (source.pcm.samples if source.pcm and keep_audio else None)
    sample_rate = source.pcm.rate if source.pcm is not None else 44100
    try:
        media_video.write_video(
            context.target,
            frames,
            rate=rate or source.rate,
            codec=codec,
            pix_fmt=PIX_FMTS.get(codec),
            options=dict(options if options is not None else chosen_options),
            audio=samples,
            sample_rate=sample_rate,
        )
    except MediaError as exc:
        raise PluginError(f"cannot write the video: {exc.message}", file=context.target) from None
    except Exception as exc:  # PyAV raises its own errors (FFmpegError, ValueError) on bad settings
        raise PluginError(f"cannot write the video: {exc}", file=context.target) from None


def read_audio(path: Path) -> media_audio.Pcm:
    try:
        return media_audio.read_pcm(path)
    except MediaError as exc:
        raise PluginError(f"cannot read the audio: {exc.message}", file=path) from None


def write_audio(context: PluginContext, pcm: media_audio.Pcm) -> None:
    try:
        media_audio.write_pcm(context.target, pcm)
    except Exception as exc:  # soundfile raises its own error type
        raise PluginError(f"cannot write the audio: {exc}", file=context.target) from None


def ms_to_sample(value: Any, rate: int, *, name: str) -> int | None:
    """A time argument (``HH:MM:SS.ffffff`` or a bare sample number) as a 0-based sample index."""
    try:
        parsed = parse_user_time(value)
    except JournalError as exc:
        raise PluginError(f"{name}: {exc.message}", argument=name) from None
    if parsed is None:
        return None
    if parsed.ms is None:
        return max(0, parsed.frames - 1)
    return round(parsed.ms * rate / 1000.0) + parsed.frames
