"""Recording video and audio edges: pick the comparison for the operation, write the segments.

An edge between video (or audio) nodes carries ``videomasks`` (the segments, see
:mod:`masksmith.journal.segments`), ``masks count`` and, for video, an edge mask PNG that is the
union of every frame's changed pixels (0 = changed) so image tools and the viewer have a picture
of it. Spatial masks per frame live in the HDF5 files the segments name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from masksmith.errors import OperationError
from masksmith.journal import video_compare as vc
from masksmith.journal.model import DONOR_OP, EdgeRef
from masksmith.journal.segments import AUDIO, Segment, whole_stream
from masksmith.media import audio as media_audio
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.media import video as media_video
from masksmith.operations import Operation

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

TEMPORAL_TYPES = frozenset({"video", "audio"})

# The comparison behind each ``video_function`` name of the catalogue.
VIDEO_FUNCTIONS = frozenset(
    {
        "detect",
        "paste_frames",
        "cut",
        "warp",
        "audio",
        "audio_delete",
        "audio_add",
        "audio_sample",
        "crop",
        "drop",
    }
)
# Operations whose catalogue entry (shared with images) names no video comparison.
DEFAULT_VIDEO_FUNCTIONS = {"CopyPaste": "paste_frames", "DuplicateFrameDrop": "drop"}


def media_attributes(path: Path) -> dict[str, Any]:
    """Node attributes of a media file: ``filetype`` and, for video/audio, the stream facts."""
    kind = media_video.media_kind(path)
    if kind == "video":
        info = media_video.probe_video(path)
        return {"filetype": "video", **info.to_attributes()}
    if kind == "audio":
        pcm = media_audio.read_pcm(path)
        return {
            "filetype": "audio",
            "sample_rate": pcm.rate,
            "channels": pcm.channels,
            "nb_samples": pcm.count,
            "duration_ms": round(pcm.duration_ms, 3),
        }
    return {"filetype": "image"}


def is_temporal(journal: Journal, node: str) -> bool:
    return str(journal.graph.node(node).get("filetype", "image")) in TEMPORAL_TYPES


def _prefix(start: str, end: str) -> str:
    return f"{start}_{end}"


def _pcm_segments(journal: Journal, start: str, end: str, mode: str) -> vc.VideoComparison:
    return vc.compare_audio_files(journal.path_of(start), journal.path_of(end), mode=mode)


def compare_temporal(
    journal: Journal, start: str, end: str, operation: Operation, arguments: Mapping[str, Any]
) -> vc.VideoComparison:
    """Run the comparison an operation calls for between two video/audio nodes."""
    source, target = journal.path_of(start), journal.path_of(end)
    kind = str(journal.graph.node(start).get("filetype"))
    function = operation.compare_function("video") or DEFAULT_VIDEO_FUNCTIONS.get(operation.base_name)
    generate = operation.generate_mask
    if function == "audio_sample":
        return vc.locate_audio_sample(source, target)
    if kind == "audio" or str(journal.graph.node(end).get("filetype")) == "audio":
        mode = {"audio_delete": "delete", "audio_add": "add"}.get(function or "", "auto")
        if generate in ("meta", "frames") and kind == "audio":
            pcm = media_audio.read_pcm(target)
            return vc.VideoComparison([Segment.of_frames(1, max(1, pcm.count), float(pcm.rate), type=AUDIO)])
        return _pcm_segments(journal, start, end, mode)
    src_info = media_video.probe_video(source)
    if str(journal.graph.node(end).get("filetype")) == "image":
        return _frame_selection(src_info, arguments)
    tgt_info = media_video.probe_video(target)
    if function in ("audio", "audio_delete", "audio_add", "audio_sample") or generate == "audio":
        mode = {"audio_delete": "delete", "audio_add": "add"}.get(function or "", "auto")
        return _pcm_segments(journal, start, end, mode)
    if generate in ("meta", "frames"):
        return vc.whole_segments(tgt_info if generate == "frames" else src_info, arguments)
    if function == "drop":
        return vc.detect_drops(source, target, arguments=arguments, source_info=src_info)
    if function == "cut":
        return vc.detect_cut(source, target, arguments=arguments, source_info=src_info, target_info=tgt_info)
    add_type = str(arguments.get("add type", "")).lower()
    if function == "warp" or (function == "paste_frames" and add_type == "insert"):
        return vc.detect_insert(
            source, target, arguments=arguments, source_info=src_info, target_info=tgt_info
        )
    if src_info.frames != tgt_info.frames and src_info.shape == tgt_info.shape:
        if tgt_info.frames > src_info.frames:
            return vc.detect_insert(
                source, target, arguments=arguments, source_info=src_info, target_info=tgt_info
            )
        return vc.detect_cut(source, target, arguments=arguments, source_info=src_info, target_info=tgt_info)
    return vc.detect_changes(
        source,
        target,
        directory=journal.directory,
        prefix=_prefix(start, end),
        arguments=arguments,
        source_info=src_info,
        target_info=tgt_info,
        geometry=operation.compare_function("image"),
    )


def _frame_selection(info: media_video.VideoInfo, arguments: Mapping[str, Any]) -> vc.VideoComparison:
    """Video → still image: the frame named by ``Frame Time`` (else Start/End Time, else the first)."""
    chosen = arguments.get("Frame Time", arguments.get("Start Time"))
    end = arguments.get("End Time") if "Frame Time" not in arguments else None
    segment = whole_stream(info.frames, info.rate, start=chosen, end=end if end is not None else chosen)
    return vc.VideoComparison([segment])


def _frame_shape(journal: Journal, node: str) -> tuple[int, int] | None:
    data = journal.graph.node(node)
    if data.get("filetype") != "video":
        return None
    return int(data.get("height", 0)), int(data.get("width", 0))


def record_temporal(
    journal: Journal,
    start: str,
    end: str,
    operation: Operation,
    arguments: Mapping[str, Any],
    *,
    software_name: str,
    software_version: str,
    description: str = "",
    plugin_name: str | None = None,
    donor: str | None = None,
    segments: list[Segment] | None = None,
    input_mask: str | None = None,
) -> EdgeRef:
    """Compare (unless ``segments`` are given), write the edge mask and add the edge."""
    if segments is not None:
        result = vc.VideoComparison(list(segments))
    else:
        result = compare_temporal(journal, start, end, operation, arguments)
    shape = _frame_shape(journal, start)
    maskname = ""
    analysis: dict[str, Any] = {}
    if shape is not None and all(shape):
        union = result.union if result.union is not None else np.zeros(shape, bool)
        if result.union is None and operation.generate_mask == "frames" and result.segments:
            union = np.ones(shape, bool)
        maskname = journal.graph.mask_file_name(start, end)
        media_io.write_image(journal.directory / maskname, masks.to_edge_file(union), png_compression=1)
        end_shape = _frame_shape(journal, end) or shape
        analysis["shape change"] = f"({end_shape[0] - shape[0]}, {end_shape[1] - shape[1]})"
        analysis["change size ratio"] = float(union.mean()) if union.size else 0.0
    analysis.update(result.analysis)
    analysis["empty mask"] = "no" if result.segments else "yes"
    kind = str(journal.graph.node(start).get("filetype"))
    edge = journal.graph.add_operation_edge(
        start,
        end,
        op=operation.name,
        maskname=maskname,
        arguments=dict(arguments),
        software_name=software_name,
        software_version=software_version,
        record_in_composite=operation.include_in_mask(kind),
        analysis=analysis,
        description=description,
        plugin_name=plugin_name,
        input_mask=input_mask,
        errors=result.errors,
        extra={"videomasks": [s.to_dict() for s in result.segments], "masks count": len(result.segments)},
    )
    if donor is not None:
        add_temporal_donor_edge(journal, donor, end)
    return edge


def add_temporal_donor_edge(journal: Journal, donor: str, target: str) -> EdgeRef:
    """A donor link between media with streams: the donor's whole stream is the donated part."""
    data = journal.graph.node(donor)
    segments: list[dict[str, Any]] = []
    if data.get("filetype") == "video" and data.get("nb_frames"):
        rate = float(data.get("avg_frame_rate") or 30.0)
        segments.append(Segment.of_frames(1, int(data["nb_frames"]), rate).to_dict())
    elif data.get("filetype") == "audio" and data.get("nb_samples"):
        segments.append(
            Segment.of_frames(1, int(data["nb_samples"]), float(data["sample_rate"]), type=AUDIO).to_dict()
        )
    return journal.graph.add_operation_edge(
        donor,
        target,
        op=DONOR_OP,
        maskname="",
        record_in_composite=False,
        extra={"videomasks": segments, "masks count": len(segments)},
    )


def check_arguments(operation: Operation, arguments: Mapping[str, Any], media_type: str) -> dict[str, Any]:
    """Arguments checked for a new edge between ``media_type`` nodes, or OperationError."""
    if f"{media_type}.{media_type}" not in operation.transitions and not any(
        t.startswith(f"{media_type}.") for t in operation.transitions
    ):
        raise OperationError(
            f"operation {operation.name!r} does not apply to {media_type} (transitions: "
            f"{', '.join(operation.transitions)})",
            operation=operation.name,
        )
    return operation.check_new_edge(arguments, media_type=media_type, use_defaults=True)
