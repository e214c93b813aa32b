"""Inputs for the video and audio plugins: small synthetic clips made with PyAV (see media_clips)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.media import audio
from masksmith.plugins.base import PluginContext
from masksmith.plugins.registry import get_plugin
from tests import media_clips as clips

FRAMES = 60
VIDEO_PLUGINS = (
    "FrameDrop", "FrameDuplicateDrop", "VideoCopyPasteFrames", "SetNumberOfFramesToCopy", "VideoFrameRate",
    "VideoReverse", "VideoCrop", "VideoResize", "VideoRotate", "VideoFlip", "VideoBlur", "VideoNoise",
    "OutputX264", "OutputRawVideo", "OutputLosslessMOV", "CompressAsVideo", "FlowDrivenVideoFrameDrop",
    "FlowDrivenVideoTimeWarp", "VideoPropertySelector", "VideoPasteDonorFrames",
)  # fmt: skip
AUDIO_PLUGINS = (
    "DeleteAudioSamples", "AudioAddSampleDonor", "ReplaceAudioSamples", "AudioSampleRate", "ExtractAudio",
    "OverwriteAudioStream",
)  # fmt: skip
ALL = VIDEO_PLUGINS + AUDIO_PLUGINS


def make_media(folder: Path) -> dict[str, Path]:
    """Every input the video/audio plugin tests use (lossless video with PCM audio unless named)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = clips.frames(FRAMES)
    sound = clips.tone(FRAMES / clips.RATE)
    out = {
        "av.mkv": clips.write(folder / "av.mkv", base, rate=clips.RATE, audio=sound),
        "h264.mp4": clips.write(
            folder / "h264.mp4", base[:30], rate=clips.RATE, codec="libx264", options={"g": "12", "crf": "23"}
        ),
        "tone.wav": audio.write_pcm(folder / "tone.wav", audio.Pcm(clips.tone(1.0), clips.SAMPLE_RATE)),
        "voice.wav": audio.write_pcm(folder / "voice.wav", audio.Pcm(clips.tone(0.25, seed=11), 22050)),
    }
    # frames 22, 23 and 43 repeat their predecessor exactly
    duplicated = [*base[:21], base[20], base[20], *base[21:40], base[39], *base[40:]]
    out["dup.mkv"] = clips.write(folder / "dup.mkv", duplicated, rate=clips.RATE)
    out["donor.mkv"] = clips.write(
        folder / "donor.mkv",
        [np.full((36, 48, 3), 30 + 20 * i, np.uint8) for i in range(10)],
        rate=clips.RATE,
    )
    out["still.mkv"] = clips.write(folder / "still.mkv", still_run(base), rate=clips.RATE, audio=sound)
    return out


def still_run(base: list[np.ndarray]) -> list[np.ndarray]:
    """The clip with frames 31..40 standing still (only the frame-counter stripe changes)."""
    out = [f.copy() for f in base]
    for index in range(30, 40):
        out[index] = base[29].copy()
        out[index][0:4] = (index * 47) % 256  # far apart, so every frame is told from its neighbours
    return out


@dataclass
class VideoCase:
    name: str
    source: Path
    arguments: dict[str, Any]
    donor: Path | None = None
    input_mask: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def context(self, folder: Path, seed: int = 5) -> PluginContext:
        plugin = get_plugin(self.name)
        target = folder / f"target{plugin.target_suffix(self.source, self.donor)}"
        return PluginContext(
            source=self.source,
            target=target,
            arguments=dict(self.arguments),
            rng=np.random.default_rng(seed),
            workdir=folder,
            donor=self.donor,
            input_mask=self.input_mask,
        )


def case(name: str, media: dict[str, Path]) -> VideoCase:
    """Inputs that make plugin ``name`` succeed."""
    av_clip, wav = media["av.mkv"], media["tone.wav"]
    box = clips.truth_mask()
    table = {
        "FrameDrop": VideoCase(name, av_clip, {"Start Time": 11, "End Time": 20}),
        "FrameDuplicateDrop": VideoCase(name, media["dup.mkv"], {"Threshold": 0}),
        "VideoCopyPasteFrames": VideoCase(
            name,
            av_clip,
            {"Select Start Time": 5, "Number of Frames": 5, "Dest Paste Time": 31, "add type": "replace"},
        ),
        "SetNumberOfFramesToCopy": VideoCase(name, av_clip, {"Number of Frames": 6}),
        "VideoFrameRate": VideoCase(name, av_clip, {"Frame Rate": 25}),
        "VideoReverse": VideoCase(name, av_clip, {"Start Time": 11, "End Time": 30}),
        "VideoCrop": VideoCase(name, av_clip, {"location": "8,12", "height": 40, "width": 60}),
        "VideoResize": VideoCase(name, av_clip, {"width": 64, "height": 48, "interpolation": "bicubic"}),
        "VideoRotate": VideoCase(name, av_clip, {"rotation": 90}),
        "VideoFlip": VideoCase(
            name, av_clip, {"Start Time": 5, "End Time": 15, "flip direction": "horizontal"}
        ),
        "VideoBlur": VideoCase(
            name, av_clip, {"Start Time": 10, "End Time": 20, "kernelsize": 15}, input_mask=box
        ),
        "VideoNoise": VideoCase(
            name, av_clip, {"Start Time": 10, "End Time": 20, "sigma": 20}, input_mask=box
        ),
        "OutputX264": VideoCase(name, av_clip, {"crf": 20}),
        "OutputRawVideo": VideoCase(name, av_clip, {}),
        "OutputLosslessMOV": VideoCase(name, av_clip, {}),
        "CompressAsVideo": VideoCase(
            name, av_clip, {"donor": str(media["h264.mp4"])}, donor=media["h264.mp4"]
        ),
        "FlowDrivenVideoFrameDrop": VideoCase(
            name, media["still.mkv"], {"seconds to drop": 0.2, "Start Time": 0}
        ),
        "VideoPropertySelector": VideoCase(name, av_clip, {}),
        "VideoPasteDonorFrames": VideoCase(
            name,
            av_clip,
            {"donor": str(media["donor.mkv"]), "Start Time": 21, "Number of Frames": 8},
            donor=media["donor.mkv"],
        ),
        "FlowDrivenVideoTimeWarp": VideoCase(name, av_clip, {"Frames to Add": 4, "Start Time": 25}),
        "DeleteAudioSamples": VideoCase(name, wav, {"Start Time": "00:00:00.5", "End Time": "00:00:00.6"}),
        "AudioAddSampleDonor": VideoCase(
            name,
            wav,
            {"Start Time": "00:00:00.2", "donor": str(media["voice.wav"])},
            donor=media["voice.wav"],
        ),
        "ReplaceAudioSamples": VideoCase(name, wav, {"Start Time": "00:00:00.3", "End Time": "00:00:00.4"}),
        "AudioSampleRate": VideoCase(name, wav, {"sample rate": "22050"}),
        "ExtractAudio": VideoCase(name, av_clip, {}),
        "OverwriteAudioStream": VideoCase(
            name, av_clip, {"donor": str(media["voice.wav"])}, donor=media["voice.wav"]
        ),
    }
    return table[name]
