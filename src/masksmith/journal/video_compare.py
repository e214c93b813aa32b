"""Video and audio comparisons: source and target media → segments (and HDF5 spatial masks).

* Frames are decoded in lockstep. A frame's difference is the largest per-channel absolute
  difference; the threshold is the first minimum of the smoothed difference histogram (or
  ``minimum threshold`` if higher) plus ``gain``; a ``kernel``-sized opening then closing (or the
  reverse, by ``morphology order``) removes specks and fills gaps. Consecutive changed frames form
  one segment, with its masks in one HDF5 file.
* Frames added (insert) or removed (cut) are found where the streams stop matching; their number
  is the difference in frame counts.
* Audio is compared on PCM: changed spans where the 32-sample moving average of |a − b| exceeds 3;
  deletions and insertions where the sample streams part, sized by the difference in lengths.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.journal import hdf5
from masksmith.journal.segments import (
    AUDIO,
    VIDEO,
    Segment,
    audio_segment_for,
    group_runs,
    parse_user_time,
    whole_stream,
)
from masksmith.media import audio as media_audio
from masksmith.media import video as media_video
from masksmith.media.video import Frame, VideoInfo

PathLike = str | os.PathLike[str]
Pixels = NDArray[np.uint8]

AUDIO_WINDOW = 32
AUDIO_LEVEL = 3.0
AUDIO_GAP = 32
AUDIO_BLOCK = 524_288  # samples per block, as the original
MATCH_TOLERANCE = 16
SPARSE_FRACTION = 0.05  # below this share of thresholded pixels, morphology runs on their bounding box
MATCH_FRACTION = 0.001


@dataclass(frozen=True)
class DiffSettings:
    """The mask-making arguments the original's video operations carry."""

    minimum_threshold: int = 0
    maximum_threshold: int = 255
    gain: int = 0
    kernel: int = 3
    morphology: str = "open:close"
    aggregate: str = "max"

    @classmethod
    def from_arguments(cls, args: Mapping[str, Any]) -> DiffSettings:
        def number(key: str, default: int) -> int:
            try:
                return int(float(args.get(key, default)))
            except (TypeError, ValueError):
                return default

        return cls(
            minimum_threshold=number("minimum threshold", 0),
            maximum_threshold=number("maximum threshold", 255),
            gain=number("gain", 0),
            kernel=max(1, number("kernel", 3)),
            morphology=str(args.get("morphology order") or "open:close"),
            aggregate=str(args.get("aggregate") or "max"),
        )


@dataclass
class VideoComparison:
    """Segments found (video and audio), HDF5 files written, and problems met."""

    segments: list[Segment] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    union: NDArray[np.bool_] | None = None  # every changed pixel of every frame (for the edge PNG)
    frames_compared: int = 0
    analysis: dict[str, Any] = field(default_factory=dict)  # e.g. location / transform matrix


def _difference(a: Pixels, b: Pixels, aggregate: str) -> NDArray[np.uint8]:
    diff = cv2.absdiff(a, b)
    if diff.ndim == 2:
        return np.asarray(diff)
    channels = cv2.split(diff)
    if aggregate == "sum":
        total = np.zeros(channels[0].shape, np.uint16)
        for channel in channels:
            total += np.asarray(channel, dtype=np.uint16)
        return np.asarray(np.minimum(total, 255).astype(np.uint8))
    out = channels[0]
    for channel in channels[1:]:
        out = cv2.max(out, channel)
    return np.asarray(out)


def _difference_yuv420(a: Pixels, b: Pixels, rows: int, cols: int) -> NDArray[np.uint8]:
    """Largest difference of Y and (upsampled) U, V between two stacked yuv420p frames."""
    diff = cv2.absdiff(a, b)
    luma = diff[:rows]
    quarter = (rows // 2) * (cols // 2)
    chroma = diff[rows:].reshape(-1)
    u = chroma[:quarter].reshape(rows // 2, cols // 2)
    v = chroma[quarter : 2 * quarter].reshape(rows // 2, cols // 2)
    both = cv2.resize(cv2.max(u, v), (cols, rows), interpolation=cv2.INTER_NEAREST)
    return np.asarray(cv2.max(luma, both))


def histogram_threshold(diff: NDArray[np.uint8]) -> int:
    """The first minimum of the smoothed histogram of differences (after its peak at 0)."""
    # every other row and column: the same histogram shape at a quarter of the work
    sample = np.ascontiguousarray(diff[::2, ::2]) if diff.size > 1 << 18 else diff
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel()
    smooth = np.convolve(hist, np.ones(5) / 5.0, mode="same")
    for i in range(1, 255):
        if smooth[i] <= smooth[i + 1] and smooth[i] <= smooth[i - 1]:
            return i
    return 1


def frame_change(
    a: Pixels, b: Pixels, settings: DiffSettings = DiffSettings(), *, yuv_shape: tuple[int, int] | None = None
) -> NDArray[np.bool_]:
    """Changed pixels between two frames of equal shape (True = changed).

    ``yuv_shape`` (rows, cols) says the frames are stacked yuv420p planes (see ``iter_frames(native=True)``).
    """
    if yuv_shape is not None:
        diff = _difference_yuv420(a, b, *yuv_shape)
    else:
        diff = _difference(a, b, settings.aggregate)
    if not cv2.countNonZero(diff):
        return np.zeros(diff.shape, bool)
    threshold = max(settings.minimum_threshold, histogram_threshold(diff)) + settings.gain
    threshold = int(min(max(threshold, 0), 254))
    _, mask = cv2.threshold(diff, threshold, 255, cv2.THRESH_BINARY)
    if settings.maximum_threshold < 255:
        mask[diff > settings.maximum_threshold] = 0
    hot = cv2.countNonZero(mask)
    if hot == 0:
        return np.zeros(diff.shape, bool)
    top, left, bottom, right = 0, 0, diff.shape[0], diff.shape[1]
    if hot < SPARSE_FRACTION * diff.size:
        # the opening and closing only reach `kernel` pixels beyond the thresholded pixels
        rows = np.flatnonzero(cv2.reduce(mask, 1, cv2.REDUCE_MAX).ravel())
        cols = np.flatnonzero(cv2.reduce(mask, 0, cv2.REDUCE_MAX).ravel())
        pad = 2 * settings.kernel
        top, left = max(0, int(rows[0]) - pad), max(0, int(cols[0]) - pad)
        bottom = min(diff.shape[0], int(rows[-1]) + 1 + pad)
        right = min(diff.shape[1], int(cols[-1]) + 1 + pad)
    window = mask[top:bottom, left:right]
    kernel = np.ones((settings.kernel, settings.kernel), np.uint8)
    order = ("close", "open") if settings.morphology.startswith("close") else ("open", "close")
    for step in order:
        op = cv2.MORPH_OPEN if step == "open" else cv2.MORPH_CLOSE
        window = cv2.morphologyEx(window, op, kernel)  # the default border is neutral for both
    if window.shape == diff.shape:
        return np.asarray(window > 0)
    out = np.zeros(diff.shape, bool)
    out[top:bottom, left:right] = window > 0
    return out


class _SegmentFiles:
    """One HDF5 file per run of consecutive changed frames, written as frames arrive."""

    def __init__(self, directory: Path, prefix: str, rate: float, shape: tuple[int, int]) -> None:
        self.directory, self.prefix, self.rate, self.shape = directory, prefix, rate, shape
        self.writer: hdf5.MaskWriter | None = None
        self.start: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None
        self.result = VideoComparison()

    def add(self, frame: Frame, changed: NDArray[np.bool_]) -> None:
        if self.last is not None and frame.index != self.last[0] + 1:
            self.close_run()
        if self.writer is None:
            name = hdf5.mask_file_name(self.prefix, frame.time_ms)
            self.writer = hdf5.MaskWriter(
                self.directory / name, fps=self.rate, prefix=self.prefix, shape=self.shape
            )
            self.start = (frame.index, frame.time_ms)
        self.writer.add(frame.index, frame.time_ms, changed)
        self.last = (frame.index, frame.time_ms)
        if self.result.union is None:
            self.result.union = changed.copy()
        else:
            np.logical_or(self.result.union, changed, out=self.result.union)

    def close_run(self) -> None:
        if self.writer is None or self.start is None or self.last is None:
            return
        path = self.writer.close()
        self.result.files.append(path.name)
        self.result.segments.append(
            Segment(
                self.start[0], self.last[0], self.rate, self.start[1], self.last[1], VIDEO, 0.0, path.name
            )
        )
        self.writer, self.start, self.last = None, None, None

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        for name in self.result.files:
            (self.directory / name).unlink(missing_ok=True)


def _frame_range(info: VideoInfo, arguments: Mapping[str, Any]) -> tuple[int, int]:
    start = parse_user_time(arguments.get("Start Time"))
    end = parse_user_time(arguments.get("End Time"))
    lo = start.frame(info.rate) if start else 1
    hi = end.frame(info.rate) if end else info.frames
    return max(1, lo), min(info.frames, max(lo, hi))


def detect_changes(
    source: PathLike,
    target: PathLike,
    *,
    directory: PathLike,
    prefix: str,
    arguments: Mapping[str, Any] | None = None,
    source_info: VideoInfo | None = None,
    target_info: VideoInfo | None = None,
    change: Callable[[Pixels, Pixels], NDArray[np.bool_]] | None = None,
    geometry: str | None = None,
) -> VideoComparison:
    """Frame-by-frame comparison of two videos of equal frame size (within Start/End Time).

    Shapes that differ make the whole range one segment without spatial masks; with ``geometry``
    (the operation's image comparison: crop, resize, rotate, flip, …) the first frames are compared
    by the image code to record the crop location or transform matrix for the probes.
    """
    args = dict(arguments or {})
    src_info = source_info or media_video.probe_video(source)
    tgt_info = target_info or media_video.probe_video(target)
    lo, hi = _frame_range(src_info, args)
    if src_info.shape != tgt_info.shape:
        result = VideoComparison([Segment.of_frames(lo, hi, src_info.rate)])
        if geometry is not None:
            result.analysis = _geometry_of_first_frames(source, target, geometry, args)
        else:
            result.errors.append(
                f"frame size changed {src_info.shape} → {tgt_info.shape}: whole range recorded"
            )
        return result
    settings = DiffSettings.from_arguments(args)
    # both H.264-style 4:2:0 streams: compare the planes as decoded (no RGB conversion)
    native = (
        change is None and src_info.pix_fmt == tgt_info.pix_fmt == "yuv420p" and settings.aggregate == "max"
    )
    yuv = src_info.shape if native and src_info.height % 2 == 0 and src_info.width % 2 == 0 else None

    def differ(a: Pixels, b: Pixels) -> NDArray[np.bool_]:
        if change is not None:
            return change(a, b)
        return frame_change(a, b, settings, yuv_shape=yuv if a.shape[:2] != src_info.shape else None)

    files = _SegmentFiles(Path(directory), prefix, src_info.rate, src_info.shape)
    try:
        count = 0
        for a, b in zip(
            media_video.iter_frames(source, start=lo, end=hi, native=yuv is not None),
            media_video.prefetched(media_video.iter_frames(target, start=lo, end=hi, native=yuv is not None)),
            strict=False,
        ):
            count += 1
            changed = differ(a.pixels, b.pixels)
            if changed.any():
                files.add(a, changed)
        files.close_run()
    except BaseException:
        files.abort()
        raise
    files.result.frames_compared = count
    return files.result


def _geometry_of_first_frames(
    source: PathLike, target: PathLike, method: str, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """The image comparison of the first frames: ``location``, ``transform matrix``, ``shape change``."""
    from masksmith.journal.compare import compare

    first_source = media_video.read_frame(source, 1)
    first_target = media_video.read_frame(target, 1)
    analysis = compare(method, first_source, first_target, arguments).analysis
    keys = ("location", "transform matrix", "shape change")
    return {k: analysis[k] for k in keys if k in analysis}


def _first_mismatch(
    source: Iterator[Frame], target: Iterator[Frame], differ: Callable[[Pixels, Pixels], bool]
) -> tuple[int | None, Frame | None, Iterator[Frame]]:
    """Walk both streams until they differ; the 1-based index, the source frame there, the target rest."""
    for a in source:
        b = next(target, None)
        if b is None:
            return a.index, a, target
        if differ(a.pixels, b.pixels):
            return a.index, a, _chain(b, target)
    return None, None, target


def _chain(first: Frame, rest: Iterator[Frame]) -> Iterator[Frame]:
    yield first
    yield from rest


def _frames_differ(settings: DiffSettings) -> Callable[[Pixels, Pixels], bool]:
    """Whether two frames show different pictures (for insert/cut alignment, not for masks).

    More than 0.1% of pixels differing by more than ``MATCH_TOLERANCE`` (or the minimum threshold,
    plus gain) makes frames different, so re-encoding noise does not break the alignment.
    """
    tolerance = max(settings.minimum_threshold, MATCH_TOLERANCE) + settings.gain

    def differ(a: Pixels, b: Pixels) -> bool:
        if a.shape != b.shape:
            return True
        diff = _difference(a, b, "max")
        _, hot = cv2.threshold(diff, tolerance, 255, cv2.THRESH_BINARY)
        return cv2.countNonZero(hot) > MATCH_FRACTION * diff.size

    return differ


def detect_insert(
    source: PathLike,
    target: PathLike,
    *,
    arguments: Mapping[str, Any] | None = None,
    source_info: VideoInfo | None = None,
    target_info: VideoInfo | None = None,
) -> VideoComparison:
    """Frames added to the target: where the streams part, advance the target until they match again."""
    src_info = source_info or media_video.probe_video(source)
    tgt_info = target_info or media_video.probe_video(target)
    result = VideoComparison()
    added = tgt_info.frames - src_info.frames
    if added <= 0:
        result.errors.append(
            f"an insert needs more frames in the target ({tgt_info.frames}) than the source ({src_info.frames})"
        )
    differ = _frames_differ(DiffSettings.from_arguments(arguments or {}))
    src_iter = media_video.iter_frames(source)
    at, frame, rest = _first_mismatch(src_iter, media_video.iter_frames(target), differ)
    if at is None or frame is None:
        at = src_info.frames + 1
        count = max(0, added)
    else:
        count = 0
        for b in rest:
            if not differ(frame.pixels, b.pixels):
                break
            count += 1
        if added > 0 and count != added:
            result.errors.append(f"{count} frames differ where the frame counts say {added} were added")
    if count > 0:
        result.segments.append(Segment.of_frames(at, at + count - 1, tgt_info.rate))
    return result


def detect_cut(
    source: PathLike,
    target: PathLike,
    *,
    arguments: Mapping[str, Any] | None = None,
    source_info: VideoInfo | None = None,
    target_info: VideoInfo | None = None,
) -> VideoComparison:
    """Frames removed from the source: the first mismatch (after Start Time) starts the cut, the
    difference in frame counts is its length; the audio track must lose the same time."""
    args = dict(arguments or {})
    src_info = source_info or media_video.probe_video(source)
    tgt_info = target_info or media_video.probe_video(target)
    result = VideoComparison()
    removed = src_info.frames - tgt_info.frames
    if removed <= 0:
        result.errors.append(
            f"a cut needs fewer frames in the target ({tgt_info.frames}) than the source ({src_info.frames})"
        )
        return result
    first = parse_user_time(args.get("Start Time"))
    skip = max(1, first.frame(src_info.rate)) if first else 1
    differ = _frames_differ(DiffSettings.from_arguments(args))
    at, _, _ = _first_mismatch(
        media_video.iter_frames(source, start=skip), media_video.iter_frames(target, start=skip), differ
    )
    start = at if at is not None else tgt_info.frames + 1
    cut_segment = Segment.of_frames(start, start + removed - 1, src_info.rate)
    result.segments.append(cut_segment)
    if src_info.audio is not None:
        audio_result = compare_audio_files(source, target, mode="delete")
        if audio_result.segments:
            result.segments.extend(audio_result.segments)
            expected = audio_segment_for(cut_segment, src_info.audio.sample_rate)
            found = audio_result.segments[0]
            tolerance = src_info.audio.sample_rate / max(src_info.rate, 1.0)
            if abs(found.frames - expected.frames) > tolerance:
                result.errors.append(
                    f"video cut of {cut_segment.frames} frames ({expected.frames} samples) but the audio "
                    f"lost {found.frames} samples"
                )
        else:
            result.errors.append("video frames were cut but the audio track was not")
    return result


def detect_drops(
    source: PathLike,
    target: PathLike,
    *,
    arguments: Mapping[str, Any] | None = None,
    source_info: VideoInfo | None = None,
) -> VideoComparison:
    """Frames dropped anywhere (duplicate-frame drops): the target is aligned greedily as a
    subsequence of the source; every source frame without a partner is dropped."""
    src_info = source_info or media_video.probe_video(source)
    differ = _frames_differ(DiffSettings.from_arguments(arguments or {}))
    dropped: list[int] = []
    target_frames = media_video.iter_frames(target)
    pending = next(target_frames, None)
    for frame in media_video.iter_frames(source):
        if pending is not None and not differ(frame.pixels, pending.pixels):
            pending = next(target_frames, None)
        else:
            dropped.append(frame.index)
    result = VideoComparison([Segment.of_frames(a, b, src_info.rate) for a, b in group_runs(dropped)])
    if pending is not None:
        result.errors.append(
            "the target has frames the source lacks; it is not the source with frames dropped"
        )
    return result


def locate_audio_sample(source: PathLike, target: PathLike) -> VideoComparison:
    """Where a clip of audio was taken from: the target's first 4 s matched exactly in the source."""
    src, tgt = media_audio.read_pcm(source), media_audio.read_pcm(target)
    result = VideoComparison()
    at = audio_sample_located(src, tgt)
    if at is None:
        result.errors.append("the audio clip was not found in the source")
        return result
    result.segments.append(Segment.of_frames(at, at + tgt.count - 1, float(src.rate), type=AUDIO))
    return result


def whole_segments(info: VideoInfo, arguments: Mapping[str, Any], *, audio: bool = False) -> VideoComparison:
    """No comparison (``generateMask`` meta/frames): the whole stream, clipped to Start/End Time."""
    segment = whole_stream(
        info.frames, info.rate, start=arguments.get("Start Time"), end=arguments.get("End Time")
    )
    result = VideoComparison([segment])
    if audio and info.audio is not None and info.audio.sample_rate:
        result.segments.append(audio_segment_for(segment, info.audio.sample_rate))
    return result


# --- audio ---------------------------------------------------------------------------------------


def _moving_average(values: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    if values.size < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="same")


def changed_spans(
    a: NDArray[np.int16], b: NDArray[np.int16], *, block: int = AUDIO_BLOCK
) -> list[tuple[int, int]]:
    """1-based inclusive sample spans where two equal-length PCM arrays differ audibly.

    Worked through in blocks of ``block`` samples (overlapping by the averaging window) so long
    streams never need more than a block's temporaries.
    """
    n = min(len(a), len(b))
    spans: list[tuple[int, int]] = []
    half = AUDIO_WINDOW
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        left, right = max(0, lo - half), min(n, hi + half)
        diff = np.abs(a[left:right].astype(np.int32) - b[left:right].astype(np.int32))
        level = diff.max(axis=1) if diff.ndim == 2 else diff
        if not level.any():
            continue
        hot = _moving_average(level.astype(np.float64), AUDIO_WINDOW) > AUDIO_LEVEL
        hot = hot[lo - left : lo - left + (hi - lo)]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
        spans += [(lo + int(s) + 1, lo + int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] <= AUDIO_GAP:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _first_sample_mismatch(a: NDArray[np.int16], b: NDArray[np.int16]) -> int | None:
    n = min(len(a), len(b))
    differs = np.flatnonzero(np.any((a[:n] != b[:n]).reshape(n, -1), axis=1))
    return int(differs[0]) + 1 if differs.size else None


def compare_pcm(source: media_audio.Pcm, target: media_audio.Pcm, *, mode: str = "auto") -> VideoComparison:
    """Audio segments between two PCM streams.

    ``mode``: ``delete`` (samples removed from the source), ``add`` (samples inserted in the target),
    ``change`` (equal lengths, changed spans) or ``auto`` (by the lengths).
    """
    result = VideoComparison()
    rate = float(source.rate)
    if source.rate != target.rate:
        result.errors.append(f"sample rate changed {source.rate} → {target.rate}")
        result.segments.append(Segment.of_frames(1, max(1, target.count), float(target.rate), type=AUDIO))
        return result
    delta = target.count - source.count
    if mode == "auto":
        mode = "change" if delta == 0 else ("add" if delta > 0 else "delete")
    if mode == "change" or delta == 0:
        for start, end in changed_spans(source.samples, target.samples):
            result.segments.append(Segment.of_frames(start, end, rate, type=AUDIO))
        return result
    at = _first_sample_mismatch(source.samples, target.samples)
    if at is None:
        at = min(source.count, target.count) + 1
    if mode == "delete":
        if delta >= 0:
            result.errors.append("no audio samples were deleted")
            return result
        result.segments.append(Segment.of_frames(at, at - delta - 1, rate, type=AUDIO))
    else:
        if delta <= 0:
            result.errors.append("no audio samples were added")
            return result
        result.segments.append(Segment.of_frames(at, at + delta - 1, rate, type=AUDIO))
    return result


def compare_audio_files(source: PathLike, target: PathLike, *, mode: str = "auto") -> VideoComparison:
    """Decode both files' audio and compare it (see :func:`compare_pcm`)."""
    if not media_audio.has_audio(source) or not media_audio.has_audio(target):
        result = VideoComparison()
        result.errors.append("audio comparison needs an audio track on both sides")
        return result
    return compare_pcm(media_audio.read_pcm(source), media_audio.read_pcm(target), mode=mode)


def audio_sample_located(
    source: media_audio.Pcm, target: media_audio.Pcm, *, seconds: float = 4.0
) -> int | None:
    """Where the target's first ``seconds`` occur exactly in the source (1-based sample), if anywhere."""
    probe_len = min(target.count, int(seconds * target.rate))
    if probe_len == 0 or source.count < probe_len:
        return None
    head = target.samples[:probe_len]
    first = head[0]
    candidates = np.flatnonzero(np.all(source.samples == first, axis=1))
    for index in candidates:
        end = int(index) + probe_len
        if end <= source.count and np.array_equal(source.samples[index:end], head):
            return int(index) + 1
    return None
