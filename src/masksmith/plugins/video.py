"""Video plugins: cut, drop and paste frames, frame rate, reversal, per-frame geometry and filters.

Each streams the source's frames, writes the target with the source's audio (cut or shifted with
the frames where the timeline changes) and returns what it drew: ``Start Time``/``End Time`` as
frame numbers plus their display times, so the journal's comparison and a reader agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import PluginError
from masksmith.journal.segments import frame_map_for_rate
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult
from masksmith.plugins.video_common import (
    FrameStore,
    Source,
    frame_number,
    frame_range,
    open_video,
    sample_range,
    start_end_arguments,
    time_variables,
    write_clip,
)

Frame = NDArray[np.uint8]


def _cut_audio(source: Source, start: int, end: int) -> NDArray[np.int16] | None:
    if source.pcm is None:
        return None
    first, last = sample_range(start, end, source.rate, source.pcm.rate)
    return np.concatenate([source.pcm.samples[:first], source.pcm.samples[last:]])


class FrameDrop(Plugin):
    name = "FrameDrop"
    operation = "SelectCutFrames"
    description = "Remove frames Start Time..End Time, and the audio playing over them, from the video."
    arguments = (
        *start_end_arguments(default_span=" (default: Start Time + Frames − 1; Frames defaults to a tenth)"),
        Argument("Frames", "int[1:100000]", None, "How many frames to remove when End Time is not given."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        total = source.info.frames
        if total < 2:
            raise PluginError("the video has too few frames to cut", file=context.source)
        span = int(args["Frames"]) if args.get("Frames") else max(1, total // 10)
        start, end = frame_range(args, total, source.rate, rng=context.rng, span=span)
        if end - start + 1 >= total:
            end = total - 1 if start < total else end
            start = min(start, end)
        kept = (f for i, f in enumerate(source.frames(), 1) if not start <= i <= end)
        write_clip(context, source, kept, audio=_cut_audio(source, start, end))
        return PluginResult(variables={**time_variables(start, end, source.rate), "Frames": end - start + 1})


class FrameDuplicateDrop(Plugin):
    name = "FrameDuplicateDrop"
    operation = "DuplicateFrameDrop"
    description = (
        "Drop every frame whose mean absolute difference from the last kept frame is at most "
        "Threshold/10 levels (near-duplicates); the audio is kept as it is."
    )
    arguments = (Argument("Threshold", "int[0:100]", 3, "Duplicate threshold in tenths of a grey level."),)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        limit = int(args["Threshold"]) / 10.0
        dropped: list[int] = []

        def kept() -> Iterator[Frame]:
            last: Frame | None = None
            for index, frame in enumerate(source.frames(), 1):
                if last is not None and float(cv2.absdiff(frame, last).mean()) <= limit:
                    dropped.append(index)
                    continue
                last = frame
                yield frame

        write_clip(context, source, kept())
        return PluginResult(variables={"Threshold": int(args["Threshold"]), "dropped frames": len(dropped)})


class VideoCopyPasteFrames(Plugin):
    name = "VideoCopyPasteFrames"
    operation = "CopyPaste"
    description = (
        "Copy 'Number of Frames' frames from 'Select Start Time' and insert them so the first copy is "
        "frame 'Dest Paste Time' (or paint them over the frames from there with add type replace); "
        "inserted frames carry their audio along."
    )
    arguments = (
        Argument("Select Start Time", "any", None, "First copied frame (number or time; drawn if unset)."),
        Argument(
            "Number of Frames",
            "int[1:1000000000]",
            None,
            "Frames to copy (default a tenth, at most half the clip).",
        ),
        Argument("Dest Paste Time", "any", None, "Frame number or time the first copy becomes (drawn)."),
        Argument(
            "add type", "list", "insert", "insert (the clip gets longer) or replace.", ("insert", "replace")
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        total = source.info.frames
        span = int(args["Number of Frames"]) if args.get("Number of Frames") else None
        if span is not None:  # at most half the clip, so the copies land elsewhere (a spec may draw 10⁵)
            span = min(span, max(1, total // 2))
        picked = {"Start Time": args.get("Select Start Time") or args.get("Start Time")}
        start, end = frame_range(
            picked, total, source.rate, rng=context.rng, span=span or max(1, total // 10)
        )
        count = end - start + 1
        mode = str(args["add type"]) if str(args["add type"]) in ("insert", "replace") else "insert"
        dest = frame_number(args.get("Dest Paste Time"), source.rate, name="Dest Paste Time")
        if dest is not None:
            at = dest - 1
        else:  # not adjacent to the copied run, so the paste is visible
            choices = [i for i in range(1, total + 1) if not start - 1 <= i <= end]
            if mode == "replace":
                choices = [i for i in choices if i + count <= total and (i + count < start or i > end)]
            if not choices:
                raise PluginError("the video is too short to paste frames elsewhere", file=context.source)
            at = int(context.rng.choice(choices))
        at = min(max(0, at), total - (count if mode == "replace" else 0))
        copies = FrameStore(f for i, f in enumerate(source.frames(), 1) if start <= i <= end)

        def frames() -> Iterator[Frame]:
            skip = 0
            if at == 0:
                yield from (copies[k] for k in range(len(copies)))
                skip = count if mode == "replace" else 0
            for index, frame in enumerate(source.frames(), 1):
                if skip:
                    skip -= 1
                else:
                    yield frame
                if index == at:
                    yield from (copies[k] for k in range(len(copies)))
                    if mode == "replace":
                        skip = count

        audio = None
        if source.pcm is not None and mode == "insert":
            rate, sr = source.rate, source.pcm.rate
            first, last = sample_range(start, end, rate, sr)
            split = sample_range(1, at, rate, sr)[1] if at else 0
            samples = source.pcm.samples
            audio = np.concatenate([samples[:split], samples[first:last], samples[split:]])
        with copies:
            write_clip(context, source, frames(), audio=audio)
        # Start/End Time name the pasted frames in the target: the journal compares from there
        return PluginResult(
            variables={
                **time_variables(at + 1, at + count, source.rate),
                "Select Start Time": str(start),
                "Number of Frames": count,
                "Dest Paste Time": str(at + 1),
                "add type": mode,
            }
        )


class SetNumberOfFramesToCopy(Plugin):
    name = "SetNumberOfFramesToCopy"
    operation = "CopyPaste"
    kind = PluginKind.SELECTOR
    description = "Choose a run of frames to copy (for VideoCopyPasteFrames through variables)."
    arguments = (
        Argument(
            "Number of Frames", "int[1:1000000000]", None, "Frames to copy (default: drawn, up to a tenth)."
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        total = source.info.frames
        count = int(args["Number of Frames"] or context.rng.integers(1, max(2, total // 10 + 1)))
        count = min(count, max(1, total // 2))
        start, end = frame_range({}, total, source.rate, rng=context.rng, span=count)
        return PluginResult(
            variables={
                **time_variables(start, end, source.rate),
                "Number of Frames": end - start + 1,
                "Select Start Time": str(start),
            }
        )


class VideoFrameRate(Plugin):
    name = "VideoFrameRate"
    operation = "TimeAlterationFrameRate"
    description = "Change the frame rate, keeping the duration: frames are dropped or repeated evenly."
    arguments = (Argument("Frame Rate", "float[1:240]", None, "New frames per second.", required=True),)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        new_rate = float(args["Frame Rate"])
        total = source.info.frames
        count = max(1, round(total * new_rate / source.rate))
        mapping = frame_map_for_rate(total, count)

        def frames() -> Iterator[Frame]:
            wanted = iter(mapping)
            want = next(wanted, None)
            for index, frame in enumerate(source.frames(), 1):
                while want == index:
                    yield frame
                    want = next(wanted, None)

        write_clip(context, source, frames(), rate=new_rate)
        return PluginResult(variables={"Frame Rate": new_rate, "source rate": round(source.rate, 6)})


class VideoReverse(Plugin):
    name = "VideoReverse"
    operation = "TransformReverse"
    description = "Play frames Start Time..End Time (default: all) backwards, with their audio."
    arguments = (
        *start_end_arguments(),
        Argument(
            "Channels", "list", "all", "Recorded; every audio channel is reversed.", ("left", "right", "all")
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        total = source.info.frames
        given = args.get("Start Time") not in (None, "")
        start, end = frame_range(args, total, source.rate, rng=context.rng) if given else (1, total)
        block = FrameStore(f for i, f in enumerate(source.frames(), 1) if start <= i <= end)

        def frames() -> Iterator[Frame]:
            for index, frame in enumerate(source.frames(), 1):
                if index == start:
                    yield from (block[k] for k in range(len(block) - 1, -1, -1))
                if not start <= index <= end:
                    yield frame

        audio = None
        if source.pcm is not None:
            first, last = sample_range(start, end, source.rate, source.pcm.rate)
            audio = source.pcm.samples.copy()
            audio[first:last] = audio[first:last][::-1]
        with block:
            write_clip(context, source, frames(), audio=audio)
        return PluginResult(variables={**time_variables(start, end, source.rate), "Channels": "all"})


class _PerFrame(Plugin):
    """A change applied to every frame (geometry) or to frames Start..End (filters)."""

    timed: ClassVar[bool] = False

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        raise NotImplementedError

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        """Draw per-clip choices before the frames run; returns the variables to report."""
        return {}

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        variables = self.prepare(args, source, context)
        start, end = 1, source.info.frames
        if self.timed:
            start, end = frame_range(args, source.info.frames, source.rate, rng=context.rng)
            variables.update(time_variables(start, end, source.rate))
        frames = (
            self.edit(f, args, context) if start <= i <= end else f for i, f in enumerate(source.frames(), 1)
        )
        write_clip(context, source, frames)
        return PluginResult(variables=variables)


class VideoCrop(_PerFrame):
    name = "VideoCrop"
    operation = "TransformCrop"
    description = "Crop every frame to the box at 'location' (row,col), of height×width (drawn if unset)."
    arguments = (
        Argument("location", "any", None, "Top-left corner 'row,col'."),
        Argument("height", "int[2:100000]", None, "Height of the kept box."),
        Argument("width", "int[2:100000]", None, "Width of the kept box."),
    )

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        h, w = source.info.height, source.info.width
        height = int(args.get("height") or max(2, int(h * context.rng.uniform(0.6, 0.9)) // 2 * 2))
        width = int(args.get("width") or max(2, int(w * context.rng.uniform(0.6, 0.9)) // 2 * 2))
        if height > h or width > w:
            raise PluginError(f"crop {height}×{width} is larger than the frame {h}×{w}", argument="height")
        if args.get("location"):
            row, col = (int(float(v)) for v in str(args["location"]).strip("()[] ").split(","))
        else:
            row = int(context.rng.integers(0, h - height + 1))
            col = int(context.rng.integers(0, w - width + 1))
        row, col = min(max(0, row), h - height), min(max(0, col), w - width)
        args["_box"] = (row, col, height, width)
        return {"location": f"({row}, {col})", "height": height, "width": width}

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        row, col, height, width = args["_box"]
        return np.ascontiguousarray(frame[row : row + height, col : col + width])


_INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "cubic": cv2.INTER_CUBIC,
                  "nearest": cv2.INTER_NEAREST, "lanczos": cv2.INTER_LANCZOS4}  # fmt: skip


_RESIZE_NAMES = (
    "none-canvas expanded",
    "bicubic",
    "bilinear",
    "cubic",
    "mesh",
    "lanczos",
    "nearest",
    "other",
)


class VideoResize(_PerFrame):
    name = "VideoResize"
    operation = "TransformResize"
    description = "Resize every frame to 'width'×'height' (even sizes; drawn within ±30% if unset)."
    arguments = (
        Argument("width", "int[2:100000]", None, "New frame width."),
        Argument("height", "int[2:100000]", None, "New frame height."),
        Argument(
            "interpolation", "list", "bilinear", "Resampling (others fall back to bilinear).", _RESIZE_NAMES
        ),
    )

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        scale = float(context.rng.uniform(0.7, 1.3))
        width = int(args.get("width") or max(2, round(source.info.width * scale / 2) * 2))
        height = int(args.get("height") or max(2, round(source.info.height * scale / 2) * 2))
        args["_size"] = (width, height)
        used = str(args["interpolation"]) if str(args["interpolation"]) in _INTERPOLATION else "bilinear"
        args["interpolation"] = used
        return {"width": width, "height": height, "interpolation": used, "Start Time": "1"}

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        flag = _INTERPOLATION.get(str(args["interpolation"]), cv2.INTER_LINEAR)
        return np.asarray(cv2.resize(frame, args["_size"], interpolation=flag), np.uint8)


class VideoRotate(_PerFrame):
    name = "VideoRotate"
    operation = "TransformRotate"
    description = (
        "Rotate every frame counter-clockwise by 'rotation' snapped to a quarter turn (90, 180 or 270)."
    )
    arguments = (Argument("rotation", "int[-360:360]", None, "Degrees counter-clockwise (snapped to 90s)."),)

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        given = args.get("rotation")
        degrees = int(given) if given is not None else int(context.rng.choice([90, 180, 270]))
        turns = round((degrees % 360) / 90) % 4 or 1  # a spec's drawn angle becomes the nearest quarter turn
        args["_turns"] = turns
        return {"rotation": turns * 90, "local": "no", "Start Time": "1"}

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        return np.ascontiguousarray(np.rot90(frame, args["_turns"]))


class VideoFlip(_PerFrame):
    name = "VideoFlip"
    operation = "TransformFlip"
    description = "Mirror frames Start Time..End Time (default all) horizontally, vertically or both."
    timed = True
    arguments = (
        *start_end_arguments(),
        Argument("flip direction", "list", None, "Mirror axis.", ("horizontal", "vertical", "both")),
    )

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        direction = str(args.get("flip direction") or context.rng.choice(["horizontal", "vertical", "both"]))
        args["_code"] = {"horizontal": 1, "vertical": 0, "both": -1}[direction]
        if args.get("Start Time") in (None, ""):
            args["Start Time"], args["End Time"] = 1, source.info.frames
        return {"flip direction": direction}

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        return np.asarray(cv2.flip(frame, args["_code"]), np.uint8)


def _mask_for(context: PluginContext, shape: tuple[int, int]) -> NDArray[np.bool_]:
    if context.input_mask is None:
        return np.ones(shape, bool)
    mask = np.asarray(context.input_mask, bool)
    if mask.shape != shape:
        raise PluginError(
            f"the input mask is {mask.shape[1]}×{mask.shape[0]}, the frames {shape[1]}×{shape[0]}"
        )
    return mask


class VideoBlur(_PerFrame):
    name = "VideoBlur"
    operation = "Blur"
    description = "Gaussian-blur the input mask's area (default: whole frame) in frames Start..End Time."
    timed = True
    arguments = (
        *start_end_arguments(),
        Argument("kernelsize", "int[3:101]", None, "Odd kernel size (drawn 9..31 if unset)."),
    )

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        size = int(args.get("kernelsize") or context.rng.integers(4, 16) * 2 + 1) | 1
        args["_size"] = size
        args["_mask"] = _mask_for(context, source.info.shape)
        return {"kernelsize": size, "Blur Type": "Gaussian", "Laundering": "no"}

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        size = args["_size"]
        blurred = cv2.GaussianBlur(frame, (size, size), 0)
        return np.where(args["_mask"][:, :, None], blurred, frame).astype(np.uint8)


class VideoNoise(_PerFrame):
    name = "VideoNoise"
    operation = "AddNoise"
    description = (
        "Add Gaussian noise (seeded) inside the input mask (default: whole frame) in frames Start..End."
    )
    timed = True
    arguments = (
        *start_end_arguments(),
        Argument("sigma", "float[1:100]", None, "Noise standard deviation in grey levels (drawn 8..30)."),
    )

    def prepare(self, args: dict[str, Any], source: Source, context: PluginContext) -> dict[str, Any]:
        sigma = float(args.get("sigma") or round(float(context.rng.uniform(8, 30)), 2))
        args["_sigma"] = sigma
        args["_mask"] = _mask_for(context, source.info.shape)
        args["_rng"] = np.random.default_rng(int(context.rng.integers(0, 2**31)))
        return {"sigma": sigma, "Noise Type": "gaussian"}

    def edit(self, frame: Frame, args: dict[str, Any], context: PluginContext) -> Frame:
        noise = args["_rng"].normal(0.0, args["_sigma"], frame.shape)
        noisy = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        return np.where(args["_mask"][:, :, None], noisy, frame).astype(np.uint8)


class VideoPropertySelector(Plugin):
    name = "VideoPropertySelector"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    description = (
        "Read the video stream's properties (width, height, frame rates, frames, duration, codec, pixel "
        "format, rotation, audio) into variables for later nodes ({width@node})."
    )
    arguments = ()

    def transform(self, context: PluginContext) -> PluginResult:
        self.resolve_arguments(context.arguments)
        source = open_video(context)
        return PluginResult(variables=dict(source.info.to_attributes()))


class VideoPasteDonorFrames(Plugin):
    name = "VideoPasteDonorFrames"
    operation = "PasteFrames"
    description = (
        "Put 'Number of Frames' frames of the donor video (resized to the source's size) into the source "
        "so the first is frame Start Time: inserted (the clip gets longer, silence in the audio) or "
        "painted over the frames there (replace)."
    )
    arguments = (
        Argument("donor", "donor", None, "The video the frames come from.", required=True),
        Argument("Start Time", "any", None, "Frame number or time of the first pasted frame (drawn)."),
        Argument("Number of Frames", "int[1:1000000000]", None, "Donor frames to use (default a tenth)."),
        Argument("add type", "list", "insert", "insert or replace.", ("insert", "replace")),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        if context.donor is None:
            raise PluginError("VideoPasteDonorFrames needs a donor video", argument="donor")
        source = open_video(context)
        donor = open_video(context, context.donor)
        total = source.info.frames
        mode = str(args["add type"]) if str(args["add type"]) in ("insert", "replace") else "insert"
        wanted = int(args["Number of Frames"] or max(1, total // 10))
        count = max(1, min(wanted, donor.info.frames, total // 2 if mode == "replace" else wanted))
        first = frame_number(args.get("Start Time"), source.rate, name="Start Time")
        if first is None:
            first = int(context.rng.integers(2, max(3, total - count + 2)))
        first = min(max(1, first), total - count + 1 if mode == "replace" else total + 1)
        size = (source.info.width, source.info.height)

        def pasted() -> Iterator[Frame]:
            for index, frame in enumerate(donor.frames(), 1):
                if index > count:
                    return
                if frame.shape[1::-1] != size:
                    frame = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), np.uint8)
                yield frame

        def frames() -> Iterator[Frame]:
            skip = 0
            for index, frame in enumerate(source.frames(), 1):
                if index == first:
                    yield from pasted()
                    skip = count if mode == "replace" else 0
                if skip:
                    skip -= 1
                    continue
                yield frame
            if first == total + 1:
                yield from pasted()

        audio = None
        if source.pcm is not None and mode == "insert":
            split = sample_range(1, first - 1, source.rate, source.pcm.rate)[1]
            gap = sample_range(1, count, source.rate, source.pcm.rate)[1]
            samples = source.pcm.samples
            audio = np.concatenate(
                [samples[:split], np.zeros((gap, source.pcm.channels), np.int16), samples[split:]]
            )
        write_clip(context, source, frames(), audio=audio)
        return PluginResult(
            variables={
                **time_variables(first, first + count - 1, source.rate),
                "Number of Frames": count,
                "add type": mode,
            }
        )
