"""The Journaling Tool's segment model for video and audio edges, and the temporal transforms.

A segment (one entry of an edge's ``videomasks`` list) says which frames of a stream an operation
touched: ``starttime``/``endtime`` in ms from 0 (display time of the first and last frame),
``startframe``/``endframe`` numbered from 1 and inclusive, ``frames``, ``rate`` (fps, or the
sample rate for audio, whose "frames" are samples), ``type`` (``video``/``audio``), ``error`` (ms
of uncertainty, grown by temporal transforms) and ``videosegment`` (the HDF5 file of its spatial
masks, when it has one).

The transforms are pure: cut, insert, rate change and reverse map a list of segments through an
edge, forward (composites) or backward (donors, by swapping the roles).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from masksmith.errors import JournalError

VIDEO = "video"
AUDIO = "audio"
SEGMENT_TYPES = (VIDEO, AUDIO, "video-associate")
_EPS = 1e-6
MS_PER_HOUR = 3_600_000.0  # the original used 360000 here (a bug); we use the true hour


def frame_of(time_ms: float, rate: float) -> int:
    """The 1-based frame displayed at ``time_ms``: ``floor(time·rate/1000) + 1``."""
    if rate <= 0:
        raise JournalError(f"frame rate must be positive, got {rate}")
    return math.floor(time_ms * rate / 1000.0 + _EPS) + 1


def time_of(frame: int, rate: float) -> float:
    """Display time in ms of a 1-based frame: ``(frame − 1)·1000/rate``."""
    if rate <= 0:
        raise JournalError(f"frame rate must be positive, got {rate}")
    return (frame - 1) * 1000.0 / rate


@dataclass(frozen=True)
class Segment:
    """One run of manipulated frames (or samples) of one stream."""

    startframe: int
    endframe: int
    rate: float
    starttime: float
    endtime: float
    type: str = VIDEO
    error: float = 0.0
    videosegment: str | None = None

    @property
    def frames(self) -> int:
        return max(0, self.endframe - self.startframe + 1)

    @classmethod
    def of_frames(
        cls,
        start: int,
        end: int,
        rate: float,
        *,
        type: str = VIDEO,
        error: float = 0.0,
        videosegment: str | None = None,
    ) -> Segment:
        """A segment from frame numbers, with times derived from the rate."""
        return cls(start, end, rate, time_of(start, rate), time_of(end, rate), type, error, videosegment)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, rate: float | None = None) -> Segment:
        """Read an edge's segment, deriving missing fields (frames from times or times from frames)."""
        seg_rate = float(data.get("rate") or rate or 0)
        if seg_rate <= 0:
            raise JournalError(f"segment has no rate: {dict(data)}")
        start_frame = data.get("startframe")
        start_time = data.get("starttime")
        if start_frame is None and start_time is None:
            raise JournalError(f"segment has neither startframe nor starttime: {dict(data)}")
        if start_frame is None:
            start_frame = frame_of(float(start_time), seg_rate)  # type: ignore[arg-type]
        if start_time is None:
            start_time = time_of(int(start_frame), seg_rate)
        end_frame = data.get("endframe")
        end_time = data.get("endtime")
        if end_frame is None and end_time is None and data.get("frames") is not None:
            end_frame = int(start_frame) + int(data["frames"]) - 1
        if end_frame is None and end_time is not None:
            end_frame = frame_of(float(end_time), seg_rate)
        if end_frame is None:
            end_frame = start_frame
        if end_time is None:
            end_time = time_of(int(end_frame), seg_rate)
        segment_file = data.get("videosegment")
        return cls(
            startframe=int(start_frame),
            endframe=int(end_frame),
            rate=seg_rate,
            starttime=float(start_time),
            endtime=float(end_time),
            type=str(data.get("type") or VIDEO),
            error=float(data.get("error") or 0.0),
            videosegment=str(segment_file) if segment_file else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The edge form, with the original's key names."""
        out: dict[str, Any] = {
            "starttime": round(self.starttime, 6),
            "startframe": self.startframe,
            "endtime": round(self.endtime, 6),
            "endframe": self.endframe,
            "frames": self.frames,
            "rate": self.rate,
            "type": self.type,
            "error": round(self.error, 6),
        }
        if self.videosegment:
            out["videosegment"] = self.videosegment
        return out

    def frame_step_ms(self) -> float:
        return 1000.0 / self.rate

    def shifted(self, frames: int, time_ms: float) -> Segment:
        return replace(
            self,
            startframe=self.startframe + frames,
            endframe=self.endframe + frames,
            starttime=self.starttime + time_ms,
            endtime=self.endtime + time_ms,
        )

    def clipped(self, start: int, end: int) -> Segment:
        """The part of this segment within frames ``start..end``, times moved with the frames."""
        lo, hi = max(start, self.startframe), min(end, self.endframe)
        step = self.frame_step_ms()
        return replace(
            self,
            startframe=lo,
            endframe=hi,
            starttime=self.starttime + (lo - self.startframe) * step,
            endtime=self.endtime - (self.endframe - hi) * step,
        )


def segments_of(edge: Mapping[str, Any]) -> list[Segment]:
    """The segments recorded on an edge (``videomasks``), in order."""
    raw = edge.get("videomasks") or []
    if not isinstance(raw, list):
        raise JournalError("edge attribute 'videomasks' is not a list")
    return [Segment.from_dict(item) for item in raw if isinstance(item, Mapping)]


# --- user times -----------------------------------------------------------------------------------

_TIME_RE = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)(?::(\d+))?\s*$")


@dataclass(frozen=True)
class UserTime:
    """A time a user typed: ``HH:MM:SS.ffffff`` (optionally ``:N`` frames later) or a frame number."""

    ms: float | None
    frames: int = 0

    def frame(self, rate: float) -> int:
        if self.ms is None:
            return max(1, self.frames)
        return frame_of(self.ms, rate) + self.frames

    def time_ms(self, rate: float) -> float:
        return time_of(self.frame(rate), rate) if self.ms is None or self.frames else float(self.ms)


def parse_user_time(value: object) -> UserTime | None:
    """Parse a ``Start Time``/``End Time`` argument; ``None`` or ``''`` gives None.

    ``'00:00:01.5'`` → 1500 ms; ``'00:00:01.5:3'`` → 1500 ms and 3 frames on; ``'20'`` or 20 → frame 20.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise JournalError(f"not a time or frame number: {value!r}")
    if isinstance(value, int | float):
        return UserTime(None, int(value))
    text = str(value).strip()
    if text.isdigit():
        return UserTime(None, int(text))
    match = _TIME_RE.match(text)
    if not match:
        raise JournalError(f"not a time (HH:MM:SS.ffffff[:N]) or frame number: {text!r}")
    hours, minutes, seconds, extra = match.groups()
    ms = int(hours or 0) * MS_PER_HOUR + int(minutes) * 60_000.0 + float(seconds) * 1000.0
    return UserTime(ms, int(extra or 0))


def format_user_time(ms: float) -> str:
    """``HH:MM:SS.ffffff`` for a time in ms."""
    micro = round(ms * 1000)
    hours, rest = divmod(micro, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, micro = divmod(rest, 1_000_000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}"


def whole_stream(
    frames: int,
    rate: float,
    *,
    start: object = None,
    end: object = None,
    type: str = VIDEO,
) -> Segment:
    """The segment of a whole stream (``generateMask`` meta/frames), clipped to Start/End Time."""
    if frames <= 0:
        raise JournalError("the stream has no frames")
    first = parse_user_time(start)
    last = parse_user_time(end)
    lo = min(frames, max(1, first.frame(rate))) if first else 1
    hi = min(frames, max(lo, last.frame(rate))) if last else frames
    return Segment.of_frames(lo, hi, rate, type=type)


def group_runs(changed: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive frame numbers grouped into inclusive ``(start, end)`` runs."""
    runs: list[tuple[int, int]] = []
    for index in sorted(set(changed)):
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


# --- temporal transforms -------------------------------------------------------------------------


def _span_ms(change: Segment) -> float:
    """Time taken by the frames of a change: from its first frame's start to its last frame's end."""
    return change.endtime - change.starttime + change.frame_step_ms()


def cut(segments: Sequence[Segment], change: Segment, *, keep_time: bool = False) -> list[Segment]:
    """Frames ``change.startframe..endframe`` were removed: later segments move back, straddling ones split.

    With ``keep_time`` (an overlay that keeps the timeline) the remaining parts keep their frame numbers.
    """
    out: list[Segment] = []
    lo, hi = change.startframe, change.endframe
    count = change.frames
    shift_ms = _span_ms(change)
    for seg in segments:
        if seg.type != change.type and change.type != VIDEO:
            out.append(seg)
            continue
        if seg.endframe < lo:
            out.append(seg)
            continue
        if seg.startframe < lo:
            out.append(seg.clipped(seg.startframe, lo - 1))
        if seg.endframe > hi:
            after = seg.clipped(max(hi + 1, seg.startframe), seg.endframe)
            out.append(after if keep_time else after.shifted(-count, -shift_ms))
    return out


def cut_to_end(segments: Sequence[Segment], start_frame: int) -> list[Segment]:
    """Everything from ``start_frame`` on was removed."""
    return [seg if seg.endframe < start_frame else seg.clipped(seg.startframe, start_frame - 1)
            for seg in segments if seg.startframe < start_frame]  # fmt: skip


def insert(segments: Sequence[Segment], change: Segment) -> list[Segment]:
    """``change.frames`` frames were inserted before frame ``change.startframe``: later frames move on."""
    out: list[Segment] = []
    at, count = change.startframe, change.frames
    if count <= 0:
        return list(segments)
    shift_ms = _span_ms(change)
    for seg in segments:
        if seg.endframe < at:
            out.append(seg)
        elif seg.startframe >= at:
            out.append(seg.shifted(count, shift_ms))
        else:
            out.append(seg.clipped(seg.startframe, at - 1))
            tail = seg.clipped(at, seg.endframe)
            out.append(
                replace(
                    tail,
                    startframe=tail.startframe + count,
                    endframe=tail.endframe + count,
                    starttime=change.starttime + shift_ms,
                    endtime=tail.endtime + shift_ms,
                )
            )
    return out


def reverse(segments: Sequence[Segment], change: Segment) -> list[Segment]:
    """Frames ``change.startframe..endframe`` were played backwards: parts inside are mirrored."""
    lo, hi = change.startframe, change.endframe
    out: list[Segment] = []
    for seg in segments:
        if seg.endframe < lo or seg.startframe > hi:
            out.append(seg)
            continue
        if seg.startframe < lo:
            out.append(seg.clipped(seg.startframe, lo - 1))
        inside = seg.clipped(lo, hi)
        start, end = lo + hi - inside.endframe, lo + hi - inside.startframe
        out.append(
            replace(
                inside,
                startframe=start,
                endframe=end,
                starttime=time_of(start, seg.rate),
                endtime=time_of(end, seg.rate),
            )
        )
        if seg.endframe > hi:
            out.append(seg.clipped(hi + 1, seg.endframe))
    return out


def reversed_order(segment: Segment, change: Segment) -> bool:
    """Whether a segment produced by :func:`reverse` holds mirrored frames (its masks run backwards)."""
    return change.startframe <= segment.startframe and segment.endframe <= change.endframe


def change_rate(
    segments: Sequence[Segment],
    *,
    source_frames: int,
    target_frames: int,
    source_duration_ms: float,
    target_duration_ms: float,
    target_rate: float,
    target_times: Sequence[float] | None = None,
) -> list[Segment]:
    """Carry segments through a frame-rate (or sample-rate) change.

    Frames scale by the ratio of frame counts and times by the ratio of durations; where the
    scaled time falls between target frames, the distance (ms) is added to ``error``. For a
    variable-rate target (``target_times``: each frame's display time) the segment takes the target
    frames displayed while its own frames were.
    """
    if source_frames <= 0 or target_frames <= 0:
        raise JournalError("a rate change needs frame counts on both sides")
    frame_ratio = target_frames / source_frames
    time_ratio = target_duration_ms / source_duration_ms if source_duration_ms > 0 else frame_ratio
    out: list[Segment] = []
    for seg in segments:
        start_ms = seg.starttime * time_ratio
        end_ms = seg.endtime * time_ratio
        if target_times:
            # the target frames displayed while the source's frames were: from the first at or
            # after the start to the last before the end frame's display ends
            step_ms = seg.frame_step_ms() * time_ratio
            start = min(len(target_times), bisect.bisect_left(target_times, start_ms - _EPS) + 1)
            end = max(start, bisect.bisect_left(target_times, end_ms + step_ms - _EPS))
            drift = max(abs(target_times[start - 1] - start_ms), abs(target_times[end - 1] - end_ms))
        else:
            start = min(target_frames, max(1, round((seg.startframe - 1) * frame_ratio) + 1))
            end = min(target_frames, max(start, round((seg.endframe - 1) * frame_ratio) + 1))
            drift = max(abs(time_of(start, target_rate) - start_ms), abs(time_of(end, target_rate) - end_ms))
        out.append(
            Segment(
                startframe=start,
                endframe=end,
                rate=target_rate,
                starttime=start_ms,
                endtime=end_ms,
                type=seg.type,
                error=seg.error + drift,
                videosegment=seg.videosegment,
            )
        )
    return out


def frame_map_for_rate(source_frames: int, target_frames: int) -> list[int]:
    """For each target frame (1-based position), the source frame it shows after a rate change.

    Frames are dropped (fewer target frames) or repeated (more) evenly, which is how a spatial
    mask stack follows the video through the change.
    """
    if source_frames <= 0 or target_frames <= 0:
        return []
    ratio = source_frames / target_frames
    return [min(source_frames, math.floor(i * ratio + _EPS) + 1) for i in range(target_frames)]


def audio_segment_for(video: Segment, sample_rate: int) -> Segment:
    """The audio samples covering the same time as a video segment (the cut-agreement rule)."""
    start = frame_of(video.starttime, sample_rate)
    end = frame_of(video.endtime + video.frame_step_ms(), sample_rate) - 1
    return Segment.of_frames(start, max(start, end), float(sample_rate), type=AUDIO)
