"""Probes for video and audio journals: segments carried to the final media through time.

Each included video/audio link's segments are pushed through every later link with that link's
temporal transform (the catalogue's ``maskTransformFunction`` for ``video``/``audio``): cuts move
later frames back and split straddling segments, inserts move them on, rate changes rescale frames
and grow ``error``, reversal mirrors within the reversed range, trimming keeps a window. Spatial
masks (the HDF5 frames) go along frame by frame and through per-frame crops, resizes, rotations
and flips, using the image transforms of :mod:`masksmith.journal.probes`. Donor segments are
carried back to the donor's base the same way with the roles swapped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from masksmith.errors import JournalError
from masksmith.journal import hdf5, paths, store
from masksmith.journal import segments as seg
from masksmith.journal.model import DONOR_OP
from masksmith.journal.probes import EXCLUDED_CATEGORIES, TransformStep, carry_back, carry_forward
from masksmith.journal.segments import AUDIO, VIDEO, Segment

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

BoolMask = NDArray[np.bool_]
FrameMasks = dict[int, BoolMask]
TEMPORAL = frozenset({"video", "audio"})
SPATIAL_FALLBACK = {
    "crop": "crop",
    "resize": "resize",
    "rotate": "rotate",
    "flip": "flip",
    "affine": "affine",
}
# Operations shared with images whose catalogue entry names no video transform.
DEFAULT_VIDEO_TRANSFORMS = {"CopyPaste": "copy_paste_frames", "DuplicateFrameDrop": "cut_frames"}


@dataclass
class Track:
    """Segments on one node's timeline and, for video, the spatial mask of each covered frame."""

    segments: list[Segment]
    masks: FrameMasks = field(default_factory=dict)


@dataclass(frozen=True)
class VideoProbe:
    """One video/audio manipulation as seen on one final node."""

    edge_id: tuple[str, str]
    operation: str
    target_base_node: str
    final_node: str
    target_segments: tuple[Segment, ...]
    donor_base_node: str | None = None
    donor_segments: tuple[Segment, ...] = ()
    frame_masks: Mapping[int, BoolMask] = field(default_factory=dict, repr=False)

    @property
    def task_designation(self) -> str:
        return "spatial-temporal" if self.frame_masks else "temporal"

    def summary(self) -> dict[str, Any]:
        return {
            "edge": list(self.edge_id),
            "operation": self.operation,
            "target_base_node": self.target_base_node,
            "final_node": self.final_node,
            "target_segments": [s.to_dict() for s in self.target_segments],
            "donor_base_node": self.donor_base_node,
            "donor_segments": [s.to_dict() for s in self.donor_segments],
            "task_designation": self.task_designation,
            "masked_frames": len(self.frame_masks),
        }


def is_temporal_edge(journal: Journal, start: str, end: str) -> bool:
    kinds = {str(journal.graph.node(n).get("filetype", "image")) for n in (start, end)}
    return bool(kinds & TEMPORAL)


def _node_rate(data: Mapping[str, Any]) -> float:
    return float(data.get("avg_frame_rate") or data.get("sample_rate") or 0.0)


def _node_frames(data: Mapping[str, Any]) -> int:
    return int(data.get("nb_frames") or data.get("nb_samples") or 0)


def _shape(data: Mapping[str, Any]) -> tuple[int, int]:
    return int(data.get("height") or 0), int(data.get("width") or 0)


class _Carrier:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.graph = journal.graph

    def transform(self, start: str, end: str, media: str) -> str:
        data = self.graph.edge(start, end)
        operation = self.journal.catalogue.find(str(data.get("op", "")))
        if operation is None:
            return "copy"
        named = operation.mask_transforms.get(media) or DEFAULT_VIDEO_TRANSFORMS.get(operation.base_name)
        if named and media != "image":
            return named
        image = operation.mask_transforms.get("image")
        return SPATIAL_FALLBACK.get(image or "", "copy")

    def changes(self, start: str, end: str, kind: str) -> list[Segment]:
        return [s for s in seg.segments_of(self.graph.edge(start, end)) if s.type == kind]

    def step(self, start: str, end: str, *, reverse: bool = False) -> TransformStep:
        return TransformStep(self.graph.edge(start, end), self._shape(start), self._shape(end))

    def _shape(self, node: str) -> tuple[int, int]:
        """(rows, cols) of a node: recorded for video, read from the file for a still image."""
        data = self.graph.node(node)
        if data.get("filetype", "image") == "image" and not data.get("height"):
            from masksmith.errors import MasksmithError
            from masksmith.media import io as media_io

            try:
                width, height = media_io.read_image_size(self.journal.path_of(node), oriented=True)
                return height, width
            except MasksmithError:
                return 0, 0
        return _shape(data)

    def forward(self, track: Track, start: str, end: str) -> Track:
        """Carry a track on ``start``'s timeline through the link ``start → end``."""
        video = [s for s in track.segments if s.type != AUDIO]
        audio = [s for s in track.segments if s.type == AUDIO]
        name = self.transform(start, end, "video")
        moved_video, frame_map = self._temporal(video, start, end, name, VIDEO)
        audio_name = self.transform(start, end, "audio")
        moved_audio, _ = self._temporal(
            audio, start, end, audio_name if audio_name != "copy" else name, AUDIO
        )
        masks = self._move_masks(track.masks, frame_map, start, end, name)
        return Track(moved_video + moved_audio, masks)

    def _temporal(
        self, segments: list[Segment], start: str, end: str, name: str, kind: str
    ) -> tuple[list[Segment], dict[int, list[int]] | None]:
        """Segments through one link, and for video the map old frame → new frames (None = same)."""
        if not segments:
            return [], None
        changes = self.changes(start, end, kind)
        args = self.graph.edge(start, end).get("arguments") or {}
        if name in ("cut_frames", "audio_delete") and changes:
            out = list(segments)
            for change in sorted(changes, key=lambda c: -c.startframe):
                out = seg.cut(out, change, keep_time=str(args.get("add type", "")) == "overlay")
            return out, _frame_map_cut(changes)
        if name in ("insert_frames", "audio_add", "audio_copy_add", "copy_paste_frames") and changes:
            if name == "copy_paste_frames" and str(args.get("add type", "insert")) != "insert":
                return list(segments), None
            if name in ("audio_add", "audio_copy_add") and str(args.get("add type", "insert")) != "insert":
                return list(segments), None
            out = list(segments)
            for change in sorted(changes, key=lambda c: -c.startframe):
                out = seg.insert(out, change)
            return out, _frame_map_insert(changes)
        if name == "reverse" and changes:
            out = list(segments)
            for change in changes:
                out = seg.reverse(out, change)
            return out, _frame_map_reverse(changes)
        if name == "select_crop_frames" and changes:
            window = changes[0]
            kept = seg.cut_to_end(list(segments), window.endframe + 1)
            if window.startframe > 1:
                head = Segment.of_frames(1, window.startframe - 1, window.rate, type=window.type)
                kept = seg.cut(kept, head)
            return kept, {
                f: [f - window.startframe + 1] for f in range(window.startframe, window.endframe + 1)
            }
        if name == "rate_change":
            return self._rate_change(segments, start, end, kind)
        if name == "frame_selection" and changes:
            # video → still image: what was in the chosen frame is the image's; the image is "frame 1"
            chosen = changes[0]
            picked = [s for s in segments if s.startframe <= chosen.startframe <= s.endframe]
            if not picked:
                return [], {0: []}  # a non-empty map: every frame's mask is dropped
            still = Segment.of_frames(1, 1, 1.0, type=kind, error=picked[0].error)
            return [still], {chosen.startframe: [1]}
        return list(segments), None

    def _rate_change(
        self, segments: list[Segment], start: str, end: str, kind: str
    ) -> tuple[list[Segment], dict[int, list[int]] | None]:
        source, target = self.graph.node(start), self.graph.node(end)
        if kind == AUDIO:
            src_rate = float(source.get("sample_rate") or 0)
            tgt_rate = float(target.get("sample_rate") or 0)
            if not src_rate or not tgt_rate or src_rate == tgt_rate:
                return list(segments), None
            src_n = int(
                source.get("nb_samples") or round(float(source.get("duration_ms", 0)) * src_rate / 1000)
            )
            tgt_n = int(
                target.get("nb_samples") or round(float(target.get("duration_ms", 0)) * tgt_rate / 1000)
            )
        else:
            src_rate, tgt_rate = _node_rate(source), _node_rate(target)
            src_n, tgt_n = _node_frames(source), _node_frames(target)
            if src_n == tgt_n and abs(src_rate - tgt_rate) < 1e-6:
                return list(segments), None
        if not src_n or not tgt_n:
            return list(segments), None
        moved = seg.change_rate(
            segments,
            source_frames=src_n,
            target_frames=tgt_n,
            source_duration_ms=float(source.get("duration_ms") or src_n * 1000 / src_rate),
            target_duration_ms=float(target.get("duration_ms") or tgt_n * 1000 / tgt_rate),
            target_rate=tgt_rate,
            target_times=self._frame_times(end) if target.get("variable frame rate") == "yes" else None,
        )
        if kind == AUDIO:
            return moved, None
        mapping: dict[int, list[int]] = {}
        for new, old in enumerate(seg.frame_map_for_rate(src_n, tgt_n), start=1):
            mapping.setdefault(old, []).append(new)
        return moved, mapping

    def _frame_times(self, node: str) -> list[float] | None:
        """Display times of a variable-rate video's frames (segments snap to them)."""
        from masksmith.errors import MasksmithError
        from masksmith.media import video as media_video

        try:
            return media_video.frame_times(self.journal.path_of(node))
        except MasksmithError:
            return None

    def _move_masks(
        self, masks: FrameMasks, frame_map: dict[int, list[int]] | None, start: str, end: str, name: str
    ) -> FrameMasks:
        if not masks:
            return {}
        spatial = self.transform(start, end, "image") if name not in SPATIAL_FALLBACK else name
        step = self.step(start, end)
        out: FrameMasks = {}
        for frame, mask in masks.items():
            targets = [frame] if frame_map is None else frame_map.get(frame, [] if frame_map else [frame])
            if not targets:
                continue
            moved = carry_forward(spatial, mask, step) if spatial in SPATIAL_FALLBACK else mask
            for new in targets:
                out[new] = moved
        return out

    def back(self, track: Track, start: str, end: str) -> Track:
        """Carry a track on ``end``'s timeline back to ``start`` (donors): the inverse temporal maps."""
        name = self.transform(start, end, "video")
        changes = self.changes(start, end, VIDEO)
        segments = list(track.segments)
        if name in ("cut_frames",) and changes:
            for change in sorted(changes, key=lambda c: c.startframe):
                segments = seg.insert(segments, change)
        elif name in ("insert_frames",) and changes:
            for change in sorted(changes, key=lambda c: -c.startframe):
                segments = seg.cut(segments, change)
        elif name == "reverse" and changes:
            for change in changes:
                segments = seg.reverse(segments, change)
        masks = {f: carry_back(self.transform(start, end, "image"), m, self.step(start, end))
                 for f, m in track.masks.items()}  # fmt: skip
        return Track(segments, masks)


def _frame_map_cut(changes: list[Segment]) -> dict[int, list[int]]:
    removed = {f for c in changes for f in range(c.startframe, c.endframe + 1)}
    last = max(c.endframe for c in changes)
    mapping: dict[int, list[int]] = {}
    shift = 0
    for frame in range(1, last + 1):
        if frame in removed:
            shift += 1
            mapping[frame] = []
        else:
            mapping[frame] = [frame - shift]
    return _extend(mapping, last, -shift)


def _frame_map_insert(changes: list[Segment]) -> dict[int, list[int]]:
    mapping: dict[int, list[int]] = {}
    ordered = sorted(changes, key=lambda c: c.startframe)
    last = ordered[-1].startframe
    shift = 0
    for frame in range(1, last + 1):
        for change in ordered:
            if change.startframe == frame:
                shift += change.frames
        mapping[frame] = [frame + shift]
    return _extend(mapping, last, shift)


class _Shifted(dict[int, list[int]]):
    """A frame map that shifts every frame past ``after`` by ``shift``."""

    def __init__(self, base: dict[int, list[int]], after: int, shift: int) -> None:
        super().__init__(base)
        self.after, self.shift = after, shift

    def get(self, key: int, default: Any = None) -> Any:
        if key in self:
            return self[key]
        if key > self.after:
            return [key + self.shift]
        return default


def _extend(mapping: dict[int, list[int]], after: int, shift: int) -> dict[int, list[int]]:
    return _Shifted(mapping, after, shift)


def _frame_map_reverse(changes: list[Segment]) -> dict[int, list[int]]:
    mapping: dict[int, list[int]] = {}
    for change in changes:
        for frame in range(change.startframe, change.endframe + 1):
            mapping[frame] = [change.startframe + change.endframe - frame]
    return _Shifted(mapping, 0, 0)


def edge_track(journal: Journal, start: str, end: str, *, load_masks: bool = True) -> Track:
    """The link's own segments (on its target's timeline for inserts, else its source's) and masks."""
    data = journal.graph.edge(start, end)
    segments = seg.segments_of(data)
    masks: FrameMasks = {}
    if load_masks:
        for item in segments:
            if item.videosegment:
                path = _segment_file(journal, item.videosegment)
                masks.update(hdf5.frame_masks(path))
    return Track(segments, masks)


def _segment_file(journal: Journal, name: str) -> Path:
    """An HDF5 file named by a segment, inside the journal folder (anything else is refused)."""
    if Path(name).name != name or not paths.contained(journal.directory, name):
        raise JournalError(f"segment file {name!r} is not a plain file name in the journal folder")
    candidate = journal.file_path(name, attribute="videomasks.videosegment")
    if not candidate.is_file():
        raise JournalError(f"segment file {name!r} is missing", file=journal.directory)
    return candidate


def _included(journal: Journal, start: str, end: str) -> bool:
    data = journal.graph.edge(start, end)
    if data.get("op") == DONOR_OP or not data.get("videomasks"):
        return False
    operation = journal.catalogue.find(str(data.get("op", "")))
    if operation is not None and operation.category in EXCLUDED_CATEGORIES:
        return False
    return data.get("recordMaskInComposite") == "yes" or (
        operation is not None and operation.category in ("Paste", "Select", "Audio")
    )


def _successors(journal: Journal, node: str) -> list[str]:
    return [t for _, t, d in journal.graph.graph.out_edges(node, data=True) if d.get("op") != DONOR_OP]


def _root(journal: Journal, node: str) -> str:
    current, seen = node, set()
    while current not in seen:
        seen.add(current)
        previous = journal.graph.operation_predecessor(current)
        if previous is None:
            return current
        current = previous
    return current


def _starting_track(carrier: _Carrier, journal: Journal, start: str, end: str) -> Track:
    """The link's segments placed on ``end``'s timeline."""
    track = edge_track(journal, start, end)
    name = carrier.transform(start, end, "video")
    if name in ("cut_frames", "audio_delete"):
        # the removed frames do not exist in the target: the probe marks where they were
        cut_points = [
            Segment.of_frames(max(1, s.startframe - 1), s.startframe, s.rate, type=s.type, error=s.error)
            for s in track.segments
        ]
        return Track(cut_points, {})
    return track


def generate_video_probes(journal: Journal, *, donors: bool = True) -> list[VideoProbe]:
    """Probes of every included video/audio link on every final node it reaches."""
    carrier = _Carrier(journal)
    finals = set(journal.graph.final_nodes())
    probes: list[VideoProbe] = []
    for start, end, data in sorted(journal.graph.edges(), key=lambda e: (e[0], e[1])):
        if not is_temporal_edge(journal, start, end) or not _included(journal, start, end):
            continue
        seed = _starting_track(carrier, journal, start, end)
        donor_base, donor_segments = _donor_track(carrier, journal, end) if donors else (None, [])
        stack: list[tuple[str, Track, frozenset[str]]] = [(end, seed, frozenset({end}))]
        while stack:
            node, track, seen = stack.pop()
            nexts = [s for s in _successors(journal, node) if s not in seen]
            if not nexts:
                if node in finals and track.segments:
                    probes.append(
                        VideoProbe(
                            edge_id=(start, end),
                            operation=str(data.get("op", "")),
                            target_base_node=_root(journal, start),
                            final_node=node,
                            target_segments=tuple(track.segments),
                            donor_base_node=donor_base,
                            donor_segments=tuple(donor_segments),
                            frame_masks=dict(track.masks),
                        )
                    )
                continue
            for successor in nexts:
                stack.append((successor, carrier.forward(track, node, successor), seen | {successor}))
    return sorted(probes, key=lambda p: (p.edge_id, p.final_node))


def _donor_track(carrier: _Carrier, journal: Journal, end: str) -> tuple[str | None, list[Segment]]:
    for donor in journal.graph.donors_of(end):
        track = edge_track(journal, donor, end, load_masks=False)
        current, seen = donor, {donor}
        while True:
            previous = journal.graph.operation_predecessor(current)
            if previous is None or previous in seen:
                break
            track = carrier.back(track, previous, current)
            seen.add(previous)
            current = previous
        return current, track.segments
    return None, []


def write_video_probes(
    journal: Journal, probes: list[VideoProbe], folder: str | os.PathLike[str]
) -> list[Path]:
    """Write ``video_probes.json`` and, for probes with spatial masks, one HDF5 file each."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    entries = []
    for probe in probes:
        entry = probe.summary()
        if probe.frame_masks:
            frames = sorted(probe.frame_masks)
            shape = probe.frame_masks[frames[0]].shape
            rate = probe.target_segments[0].rate if probe.target_segments else 30.0
            name = f"{probe.edge_id[0]}_{probe.edge_id[1]}_{probe.final_node}_probe.hdf5"
            with hdf5.MaskWriter(
                out / name, fps=rate, prefix=probe.final_node, shape=(shape[0], shape[1])
            ) as w:
                for frame in frames:
                    w.add(frame, seg.time_of(frame, rate), probe.frame_masks[frame])
            written.append(out / name)
            entry["target_mask_file"] = name
        entries.append(entry)
    path = out / "video_probes.json"
    import json

    store.atomic_write_text(path, json.dumps({"journal": journal.name, "probes": entries}, indent=2) + "\n")
    written.append(path)
    return written
