"""Optical-flow driven frame drops and time warps (OpenCV Farnebäck flow on downscaled gray frames).

``FlowDrivenVideoFrameDrop`` removes the run of frames whose motion is smallest (so the cut is hard
to see); ``FlowDrivenVideoTimeWarp`` adds frames synthesised by warping halfway along the flow
between two neighbours. Both report ``Start Time``/``End Time`` (frame numbers) and the counts the
original's specifications pass between them (``Frames Dropped``, ``Frames to Add``).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import PluginError
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.video_common import (
    frame_number,
    open_video,
    sample_range,
    start_end_arguments,
    time_variables,
    write_clip,
)

Frame = NDArray[np.uint8]
FLOW_WIDTH = 160  # flow on small frames: motion magnitude is all the drop needs


def _gray(frame: Frame) -> NDArray[np.uint8]:
    height, width = frame.shape[:2]
    small = cv2.resize(
        frame, (FLOW_WIDTH, max(2, round(height * FLOW_WIDTH / width))), interpolation=cv2.INTER_AREA
    )
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), np.uint8)


def _flow(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.float32]:
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
    return np.asarray(flow, np.float32)


def motion_profile(frames: Iterator[Frame]) -> list[float]:
    """Mean flow magnitude between each frame and the next (length = frames − 1)."""
    out: list[float] = []
    previous: NDArray[np.uint8] | None = None
    for frame in frames:
        gray = _gray(frame)
        if previous is not None:
            out.append(float(np.linalg.norm(_flow(previous, gray), axis=2).mean()))
        previous = gray
    return out


class FlowDrivenVideoFrameDrop(Plugin):
    name = "FlowDrivenVideoFrameDrop"
    operation = "SelectCutFrames"
    description = (
        "Drop 'seconds to drop' of frames (and their audio) where the optical flow shows the least "
        "motion, searching from Start Time on."
    )
    arguments = (
        Argument("seconds to drop", "float[0:3600]", None, "Duration to remove (drawn 0.1–0.3 of the clip)."),
        Argument("Start Time", "any", None, "Search from this frame or time (0 or unset: the start)."),
        Argument("save histograms", "yesno", "no", "Accepted for compatibility; nothing is saved."),
        Argument("codec", "any", None, "Accepted for compatibility (the output keeps the source's encoder)."),
        Argument("Audio", "yesno", "yes", "Cut the audio with the frames."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        total, rate = source.info.frames, source.rate
        seconds = args.get("seconds to drop")
        count = round(float(seconds) * rate) if seconds else int(total * context.rng.uniform(0.1, 0.3))
        count = max(1, min(count, total - 2))
        first = max(2, frame_number(args.get("Start Time") or None, rate, name="Start Time") or 2)
        motion = motion_profile(source.frames())
        if first + count > total:
            raise PluginError(
                f"cannot drop {count} frames after frame {first} of {total}", argument="seconds to drop"
            )
        # cost of dropping frames s..s+count-1: the motion across the joint plus inside the run
        costs = [sum(motion[s - 2 : s + count - 1]) for s in range(first, total - count + 1)]
        start = first + int(np.argmin(costs))
        end = start + count - 1
        keep_audio = str(args["Audio"]) == "yes"
        audio = None
        if source.pcm is not None and keep_audio:
            a, b = sample_range(start, end, rate, source.pcm.rate)
            audio = np.concatenate([source.pcm.samples[:a], source.pcm.samples[b:]])
        write_clip(
            context,
            source,
            (f for i, f in enumerate(source.frames(), 1) if not start <= i <= end),
            audio=audio,
        )
        return PluginResult(
            variables={
                **time_variables(start, end, rate),
                "Frames Dropped": count,
                "Frames to Add": count,
                "seconds to drop": round(count / rate, 6),
            }
        )


def _midway(a: Frame, b: Frame, t: float) -> Frame:
    """Frame at fraction ``t`` between ``a`` and ``b``: both warped along the flow and blended."""
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
    height, width = ga.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    from_a = cv2.remap(a, grid_x - t * flow[..., 0], grid_y - t * flow[..., 1], cv2.INTER_LINEAR)
    from_b = cv2.remap(b, grid_x + (1 - t) * flow[..., 0], grid_y + (1 - t) * flow[..., 1], cv2.INTER_LINEAR)
    return np.asarray(cv2.addWeighted(from_a, 1 - t, from_b, t, 0), np.uint8)


class FlowDrivenVideoTimeWarp(Plugin):
    name = "FlowDrivenVideoTimeWarp"
    operation = "TimeAlterationWarp"
    description = (
        "Insert 'Frames to Add' frames synthesised along the optical flow between frame Start Time − 1 "
        "and Start Time (audio: the same time of silence is inserted)."
    )
    arguments = (
        Argument("Frames to Add", "int[1:100000]", None, "How many frames to synthesise (drawn 1–10)."),
        *start_end_arguments(),
        Argument("Direction", "list", "forward", "Accepted for compatibility.", ("forward", "backward")),
        Argument("codec", "any", None, "Accepted for compatibility (the output keeps the source's encoder)."),
        Argument("Audio", "yesno", "yes", "Insert silence into the audio to keep it in step."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        total, rate = source.info.frames, source.rate
        add = int(args.get("Frames to Add") or context.rng.integers(1, 11))
        at = frame_number(args.get("Start Time") or None, rate, name="Start Time")
        if at is None:
            at = int(context.rng.integers(2, total + 1))
        at = min(max(2, at), total)  # new frames go between frames at−1 and at

        def frames() -> Iterator[Frame]:
            previous: Frame | None = None
            for index, frame in enumerate(source.frames(), 1):
                if index == at and previous is not None:
                    for k in range(1, add + 1):
                        yield _midway(previous, frame, k / (add + 1))
                yield frame
                previous = frame

        audio = None
        if source.pcm is not None and str(args["Audio"]) == "yes":
            split = sample_range(1, at - 1, rate, source.pcm.rate)[1]
            gap = sample_range(1, add, rate, source.pcm.rate)[1]
            silence = np.zeros((gap, source.pcm.channels), np.int16)
            audio = np.concatenate([source.pcm.samples[:split], silence, source.pcm.samples[split:]])
        write_clip(context, source, frames(), audio=audio)
        return PluginResult(
            variables={
                **time_variables(at, at + add - 1, rate),
                "Frames to Add": add,
                "Method": "Pixel Motion",
                "Vector Detail": 100,
            }
        )
