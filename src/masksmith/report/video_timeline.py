"""The viewer's timeline of a video/audio link: its segments along the stream, with sample mask frames.

For each segment the page gets its place on the stream (percent of the source's length), its
frames and times, and up to :data:`SAMPLES` sample frames: the source frame and an overlay of that
frame's spatial mask from the segment's HDF5 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from masksmith.errors import MasksmithError
from masksmith.journal import hdf5, paths
from masksmith.journal import segments as seg
from masksmith.media import video as media_video
from masksmith.report.page_assets import AssetFolder, fit_within, web_pixels, write_overlay

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

SAMPLES = 3


def _stream_length(data: dict[str, Any], kind: str) -> int:
    if kind == seg.AUDIO:
        return int(data.get("nb_samples") or 0)
    return int(data.get("nb_frames") or 0)


def _sample_positions(run: hdf5.MaskRun) -> list[int]:
    count = run.frames
    picks = {0, count // 2, count - 1} if count > 2 else set(range(count))
    return sorted(picks)[:SAMPLES]


def timeline_entry(
    journal: Journal, start: str, end: str, assets: AssetFolder, key: str, *, max_side: int
) -> dict[str, Any] | None:
    """The timeline of one link for the page, or None when the link has no segments."""
    data = journal.graph.edge(start, end)
    if "videomasks" not in data:
        return None
    try:
        items = seg.segments_of(data)
    except MasksmithError as exc:
        return {"problem": str(exc), "segments": []}
    source = journal.graph.node(start)
    rows = []
    for number, item in enumerate(items):
        total = _stream_length(source, item.type) or max(item.endframe, 1)
        entry: dict[str, Any] = {
            "type": item.type,
            "start": item.startframe,
            "end": item.endframe,
            "frames": item.frames,
            "starttime": seg.format_user_time(item.starttime),
            "endtime": seg.format_user_time(item.endtime),
            "error": item.error,
            "left": round(100.0 * (item.startframe - 1) / total, 3),
            "width": round(max(0.4, 100.0 * item.frames / total), 3),
            "total": total,
            "samples": [],
            "problem": "",
        }
        if item.videosegment:
            entry["samples"], entry["problem"] = _samples(
                journal,
                start,
                item,
                assets,
                f"{key}_s{number}",
                max_side,
                fit_within,
                web_pixels,
                write_overlay,
            )
        rows.append(entry)
    return {"segments": rows, "problem": ""}


def _samples(
    journal: Journal,
    start: str,
    item: seg.Segment,
    assets: AssetFolder,
    key: str,
    max_side: int,
    fit_within: Any,
    web_pixels: Any,
    write_overlay: Any,
) -> tuple[list[dict[str, Any]], str]:
    name = str(item.videosegment)
    if Path(name).name != name or not paths.contained(journal.directory, name):
        return [], f"mask file refused (not a plain name inside the journal folder): {name}"
    path = journal.file_path(name, attribute="videomasks.videosegment", node=start)
    if not path.is_file():
        return [], f"mask file missing: {name}"
    samples: list[dict[str, Any]] = []
    try:
        runs = hdf5.read_runs(path)
        wanted: dict[int, Any] = {}
        for run in runs:
            for offset in _sample_positions(run):
                wanted[run.start_frame + offset] = run.masks[offset]
        source = journal.path_of(start)
        frames = sorted(wanted)[:SAMPLES]
        pictures = {}
        if frames and journal.graph.node(start).get("filetype") == "video":
            for frame in media_video.iter_frames(source, start=frames[0], end=frames[-1]):
                if frame.index in wanted:
                    pictures[frame.index] = frame.pixels
        for index, frame_number in enumerate(frames):
            picture = pictures.get(frame_number)
            image = (
                assets.write_image(
                    f"{key}_{index}_frame", fit_within(web_pixels(picture), max_side), jpeg=True
                )
                if picture is not None
                else None
            )
            overlay = write_overlay(assets, f"{key}_{index}_mask", wanted[frame_number], max_side=max_side)
            samples.append({"frame": frame_number, "image": image, "overlay": overlay})
    except MasksmithError as exc:
        return samples, f"mask file unreadable: {exc}"
    return samples, ""
