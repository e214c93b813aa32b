"""Validation rules for video and audio links: frame counts, durations, rates, cut agreement, HDF5 files.

The facts come from the node attributes recorded when the media entered the journal (``nb_frames``,
``avg_frame_rate``, ``duration_ms``, ``sample_rate``, ``nb_samples``) and from the links'
``videomasks``. Operation rules have the ``(operation, journal, start, end)`` signature; the edge
rule ``edge_video_segments`` runs on every video/audio link.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from masksmith.errors import JournalError, MasksmithError
from masksmith.journal import paths
from masksmith.journal import segments as seg
from masksmith.journal.rules_base import RuleOutcome, Severity, edge_rule, node_rule
from masksmith.media import audio as media_audio
from masksmith.media import video as media_video
from masksmith.operations import Operation, rule

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

TEMPORAL = ("video", "audio")
RATE_TOLERANCE = 0.01  # fps
DURATION_TOLERANCE_MS = 100.0


def _node(journal: Journal, node: str) -> dict[str, Any]:
    return journal.graph.node(node)


def _is_temporal(journal: Journal, *nodes: str) -> bool:
    return all(_node(journal, n).get("filetype") in TEMPORAL for n in nodes)


def _frames(journal: Journal, node: str) -> int | None:
    data = _node(journal, node)
    value = data.get("nb_frames") if data.get("filetype") == "video" else data.get("nb_samples")
    return int(value) if value else None


def _rate(journal: Journal, node: str) -> float | None:
    data = _node(journal, node)
    value = data.get("avg_frame_rate") if data.get("filetype") == "video" else data.get("sample_rate")
    return float(value) if value else None


def _duration(journal: Journal, node: str) -> float | None:
    value = _node(journal, node).get("duration_ms")
    return float(value) if value else None


def _compare_lengths(journal: Journal, start: str, end: str, relation: str) -> RuleOutcome:
    if not _is_temporal(journal, start, end):
        return None
    a, b = _frames(journal, start), _frames(journal, end)
    if a is None or b is None:
        return None
    ok = {"same": b == a, "smaller": b < a, "same_or_bigger": b >= a}[relation]
    if ok:
        return None
    words = {"same": "the same number of", "smaller": "fewer", "same_or_bigger": "at least as many"}[relation]
    return f"target should have {words} frames as its source: {a} → {b}"


@rule("check_length_same")
def check_length_same(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation keeps the number of frames."""
    return _compare_lengths(journal, start, end, "same")


@rule("check_length_smaller")
def check_length_smaller(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation removes frames."""
    return _compare_lengths(journal, start, end, "smaller")


@rule("check_length_same_or_bigger")
def check_length_same_or_bigger(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """The operation does not remove frames."""
    return _compare_lengths(journal, start, end, "same_or_bigger")


@rule("check_duration")
def check_duration(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation keeps the duration (within 100 ms)."""
    if not _is_temporal(journal, start, end):
        return None
    a, b = _duration(journal, start), _duration(journal, end)
    if a is None or b is None or abs(a - b) <= DURATION_TOLERANCE_MS:
        return None
    return f"duration changed from {a:.0f} ms to {b:.0f} ms"


def _rate_change(journal: Journal, start: str, end: str) -> tuple[float, float] | None:
    if not _is_temporal(journal, start, end):
        return None
    a, b = _rate(journal, start), _rate(journal, end)
    if a is None or b is None:
        return None
    return a, b


@rule("check_frame_rate_change_strict")
def check_frame_rate_change_strict(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """The frame rate must not change."""
    rates = _rate_change(journal, start, end)
    if rates is None or abs(rates[0] - rates[1]) <= RATE_TOLERANCE:
        return None
    return f"frame rate changed from {rates[0]:g} to {rates[1]:g}"


@rule("check_frame_rate_change_lenient")
def check_frame_rate_change_lenient(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """A changed frame rate is worth a warning."""
    rates = _rate_change(journal, start, end)
    if rates is None or abs(rates[0] - rates[1]) <= RATE_TOLERANCE:
        return None
    return (Severity.WARNING, f"frame rate changed from {rates[0]:g} to {rates[1]:g}")


@rule("check_frame_rate_did_change")
def check_frame_rate_did_change(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """A frame-rate operation changed the rate (to the ``Frame Rate`` argument, when given)."""
    rates = _rate_change(journal, start, end)
    if rates is None:
        return None
    if abs(rates[0] - rates[1]) <= RATE_TOLERANCE:
        return f"frame rate did not change ({rates[0]:g})"
    wanted = (journal.graph.edge(start, end).get("arguments") or {}).get("Frame Rate")
    try:
        if wanted is not None and abs(float(wanted) - rates[1]) > 0.05:
            return f"frame rate is {rates[1]:g}, the Frame Rate argument says {float(wanted):g}"
    except (TypeError, ValueError):
        return f"Frame Rate argument {wanted!r} is not a number"
    return None


@rule("check_sample_rate")
def check_sample_rate(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The audio sample rate is unchanged."""
    a = _node(journal, start).get("sample_rate")
    b = _node(journal, end).get("sample_rate")
    if a and b and int(a) != int(b):
        return f"sample rate changed from {a} to {b}"
    return None


def _audio_lengths(journal: Journal, start: str, end: str) -> tuple[int, int] | None:
    a = _node(journal, start).get("nb_samples")
    b = _node(journal, end).get("nb_samples")
    return (int(a), int(b)) if a and b else None


@rule("check_audio_length_strict")
def check_audio_length_strict(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """The audio keeps its number of samples."""
    lengths = _audio_lengths(journal, start, end)
    if lengths is None or lengths[0] == lengths[1]:
        return None
    return f"audio length changed from {lengths[0]} to {lengths[1]} samples"


@rule("check_audio_length_loose")
def check_audio_length_loose(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """A changed number of audio samples is worth a warning."""
    outcome = check_audio_length_strict(operation, journal, start, end)
    return (Severity.WARNING, outcome) if isinstance(outcome, str) else None


@rule("check_duration_audio")
def check_duration_audio(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Audio keeps its duration (within 100 ms)."""
    if _node(journal, start).get("filetype") != "audio" or _node(journal, end).get("filetype") != "audio":
        return None
    return check_duration(operation, journal, start, end)


@rule("check_audio_only")
def check_audio_only(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """An audio operation changed no video frames."""
    data = journal.graph.edge(start, end)
    video = [s for s in _segments(data) if s.type == seg.VIDEO]
    if video:
        return (Severity.WARNING, f"an audio operation recorded {len(video)} video segment(s)")
    return None


@rule("check_frame_times")
def check_frame_times(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """``Start Time``/``End Time`` parse and lie inside the source stream, start before end."""
    if not _is_temporal(journal, start):
        return None
    args = journal.graph.edge(start, end).get("arguments") or {}
    rate, frames = _rate(journal, start), _frames(journal, start)
    try:
        first = seg.parse_user_time(args.get("Start Time"))
        last = seg.parse_user_time(args.get("End Time"))
    except JournalError as exc:
        return str(exc)
    if rate is None or frames is None:
        return None
    lo = first.frame(rate) if first else 1
    hi = last.frame(rate) if last else frames
    if lo > frames:
        return f"Start Time is frame {lo} but the source has {frames} frames"
    if hi < lo:
        return f"End Time (frame {hi}) is before Start Time (frame {lo})"
    return None


@rule("check_cut_frames")
def check_cut_frames(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A video cut lost as many frames as its segments say, and the audio lost the same time."""
    data = journal.graph.edge(start, end)
    items = _segments(data)
    video = [s for s in items if s.type == seg.VIDEO]
    audio = [s for s in items if s.type == seg.AUDIO]
    a, b = _frames(journal, start), _frames(journal, end)
    problems: list[str] = []
    if a is not None and b is not None and video and sum(s.frames for s in video) != a - b:
        problems.append(f"segments remove {sum(s.frames for s in video)} frames but {a - b} are gone")
    if _node(journal, start).get("sample_rate") and video:
        if not audio:
            problems.append("frames were cut but no audio was cut")
        else:
            want = sum(s.endtime - s.starttime + s.frame_step_ms() for s in video)
            got = sum(s.frames * 1000.0 / s.rate for s in audio)
            if abs(want - got) > 1000.0 / max(video[0].rate, 1.0):
                problems.append(f"video cut of {want:.0f} ms but audio cut of {got:.0f} ms")
    return "; ".join(problems) or None


@rule("check_paste_frame_length")
def check_paste_frame_length(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """Inserted frames account for the growth of the video."""
    args = journal.graph.edge(start, end).get("arguments") or {}
    if str(args.get("add type", "")).lower() != "insert":
        return None
    a, b = _frames(journal, start), _frames(journal, end)
    video = [s for s in _segments(journal.graph.edge(start, end)) if s.type == seg.VIDEO]
    if a is None or b is None or not video:
        return None
    added = sum(s.frames for s in video)
    if added != b - a:
        return f"segments insert {added} frames but the video grew by {b - a}"
    return None


def _segments(data: dict[str, Any]) -> list[seg.Segment]:
    try:
        return seg.segments_of(data)
    except JournalError:
        return []


@edge_rule("edge_video_segments", Severity.ERROR)
@rule("edge_video_segments")
def edge_video_segments(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A video/audio link's segments are well formed and their HDF5 files exist in the journal folder."""
    data = journal.graph.edge(start, end)
    if "videomasks" not in data:
        return None
    try:
        items = seg.segments_of(data)
    except JournalError as exc:
        return f"bad videomasks: {exc}"
    problems = []
    for number, item in enumerate(items, start=1):
        if item.endframe < item.startframe:
            problems.append(
                f"segment {number} ends (frame {item.endframe}) before it starts ({item.startframe})"
            )
        name = item.videosegment
        if name:
            if Path(name).name != name or name in (".", ".."):
                problems.append(f"segment {number} names {name!r}, which is not a plain file name")
            elif not paths.contained(journal.directory, name):
                problems.append(f"segment {number}: HDF5 mask file {name!r} leads out of the journal folder")
            elif not journal.file_path(name, attribute="videomasks.videosegment").is_file():
                problems.append(f"segment {number}: HDF5 mask file {name!r} is missing")
    count = data.get("masks count")
    if count is not None and int(count) != len(items):
        problems.append(f"'masks count' is {count} but there are {len(items)} segments")
    return "; ".join(problems) or None


@node_rule("node_stream_unreadable", Severity.ERROR)
def node_stream_unreadable(journal: Journal, node: str) -> RuleOutcome:
    """Every video/audio node's file can be opened and has the stream its node says."""
    data = journal.graph.node(node)
    kind = data.get("filetype")
    name = data.get("file")
    if kind not in TEMPORAL or not name:
        return None
    if not paths.contained(journal.directory, name):
        return None  # paths_contained reports it
    path = journal.file_path(name, node=node)
    if not path.is_file():
        return None  # node_media_missing reports it
    try:
        if kind == "video":
            info = media_video.probe_video(path)
            if data.get("nb_frames") and int(data["nb_frames"]) != info.frames:
                return f"{name!r} has {info.frames} frames, the node says {data['nb_frames']}"
        elif not media_audio.has_audio(path):
            return f"{name!r} has no audio stream"
    except MasksmithError as exc:
        return f"media file {name!r} cannot be read as {kind}: {exc.message}"
    return None
