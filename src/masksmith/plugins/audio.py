"""Audio plugins: delete, add and replace samples, extract or overwrite a video's audio, resample.

Sources are audio files (WAV/FLAC written back in the same format) or videos (frames copied, the
audio track replaced). Times are ``HH:MM:SS.ffffff`` or a bare 1-based sample number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith.errors import PluginError
from masksmith.journal.segments import format_user_time
from masksmith.media import audio as media_audio
from masksmith.media import video as media_video
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.video_common import ms_to_sample, open_video, read_audio, write_audio, write_clip

Samples = NDArray[np.int16]


def _time(sample: int, rate: int) -> str:
    return format_user_time(1000.0 * sample / rate)


def _load(context: PluginContext) -> media_audio.Pcm:
    return read_audio(context.source)


def _save(context: PluginContext, samples: Samples, rate: int) -> None:
    """Write the new samples: an audio target directly, a video target with the source's frames."""
    if media_video.media_kind(context.target) == "video":
        source = open_video(context)
        write_clip(context, source, source.frames(), audio=samples)
        return
    write_audio(context, media_audio.Pcm(samples, rate))


def _span(
    args: dict[str, Any], pcm: media_audio.Pcm, rng: np.random.Generator, *, default_ms: float
) -> tuple[int, int]:
    """0-based half-open ``[start, end)`` from Start Time/End Time (drawn when unset)."""
    start = ms_to_sample(args.get("Start Time"), pcm.rate, name="Start Time")
    end = ms_to_sample(args.get("End Time"), pcm.rate, name="End Time")
    length = max(1, int(default_ms * pcm.rate / 1000.0))
    if start is None:
        start = int(rng.integers(0, max(1, pcm.count - length)))
    end = start + length if end is None else end + 1
    start, end = max(0, min(start, pcm.count - 1)), min(pcm.count, max(end, start + 1))
    return start, end


def _span_variables(start: int, end: int, rate: int) -> dict[str, Any]:
    return {"Start Time": _time(start, rate), "End Time": _time(end - 1, rate), "samples": end - start}


class DeleteAudioSamples(Plugin):
    name = "DeleteAudioSamples"
    operation = "DeleteAudioSample"
    description = "Remove the samples Start Time..End Time (default: a drawn half second) from all channels."
    arguments = (
        Argument("Start Time", "any", None, "First removed sample: time or 1-based sample number."),
        Argument("End Time", "any", None, "Last removed sample (inclusive)."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        pcm = _load(context)
        start, end = _span(args, pcm, context.rng, default_ms=500.0)
        samples = np.concatenate([pcm.samples[:start], pcm.samples[end:]])
        _save(context, samples, pcm.rate)
        return PluginResult(
            variables={**_span_variables(start, end, pcm.rate), "Stream": "all", "Type": "splice"}
        )


def _fit_channels(samples: Samples, channels: int) -> Samples:
    if samples.shape[1] == channels:
        return samples
    mono = samples.mean(axis=1, keepdims=True).astype(np.int16)
    return np.repeat(mono, channels, axis=1)


class AudioAddSampleDonor(Plugin):
    name = "AudioAddSampleDonor"
    operation = "AddAudioSample"
    description = (
        "Put the donor's audio into the source at Start Time: 'insert' makes it longer, 'replace' "
        "writes over the samples there (the donor is resampled to the source's rate)."
    )
    arguments = (
        Argument("donor", "donor", None, "Audio or video whose audio is added.", required=True),
        Argument("Start Time", "any", None, "Where the donor's audio goes (time or sample number)."),
        Argument("add type", "list", "insert", "insert or replace.", ("insert", "replace")),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        if context.donor is None:
            raise PluginError("AudioAddSampleDonor needs a donor", argument="donor")
        pcm = _load(context)
        donor = resample(read_audio(context.donor), pcm.rate)
        added = _fit_channels(donor.samples, pcm.channels)
        start = ms_to_sample(args.get("Start Time"), pcm.rate, name="Start Time")
        if start is None:
            start = int(context.rng.integers(0, max(1, pcm.count)))
        start = max(0, min(start, pcm.count))
        mode = str(args["add type"])
        if mode == "insert":
            samples = np.concatenate([pcm.samples[:start], added, pcm.samples[start:]])
        else:
            added = added[: pcm.count - start]
            samples = pcm.samples.copy()
            samples[start : start + len(added)] = added
        _save(context, samples, pcm.rate)
        return PluginResult(
            variables={
                **_span_variables(start, start + len(added), pcm.rate),
                "add type": mode,
                "voice": "no",
                "synchronization": "none",
                "Stream": "all",
                "Direct from PC": "no",
            }
        )


class ReplaceAudioSamples(Plugin):
    name = "ReplaceAudioSamples"
    operation = "ReplaceAudioSample"
    description = "Replace samples Start Time..End Time with seeded low-level noise (same length)."
    arguments = (
        Argument("Start Time", "any", None, "First replaced sample: time or 1-based sample number."),
        Argument("End Time", "any", None, "Last replaced sample (inclusive)."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        pcm = _load(context)
        start, end = _span(args, pcm, context.rng, default_ms=500.0)
        samples = pcm.samples.copy()
        samples[start:end] = context.rng.normal(0, 2000, samples[start:end].shape).astype(np.int16)
        _save(context, samples, pcm.rate)
        return PluginResult(
            variables={
                **_span_variables(start, end, pcm.rate),
                "voice": "no",
                "filter type": "Other",
                "Stream": "all",
            }
        )


def resample(pcm: media_audio.Pcm, rate: int) -> media_audio.Pcm:
    """Linear-interpolation resampling (enough for splicing; the journal records the rate change)."""
    if pcm.rate == rate or pcm.count == 0:
        return pcm
    count = max(1, round(pcm.count * rate / pcm.rate))
    old = np.arange(pcm.count)
    new = np.linspace(0, pcm.count - 1, count)
    out = np.stack([np.interp(new, old, pcm.samples[:, c]) for c in range(pcm.channels)], axis=1)
    return media_audio.Pcm(np.round(out).astype(np.int16), rate)


class AudioSampleRate(Plugin):
    name = "AudioSampleRate"
    operation = "TransformSampleRate"
    description = "Resample the audio to 'sample rate' samples per second (same duration)."
    arguments = (
        Argument(
            "sample rate", "list", None, "New rate.", ("8000", "16000", "22050", "32000", "44100", "48000")
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        if media_video.media_kind(context.source) != "audio":
            raise PluginError("AudioSampleRate changes audio files (extract a video's audio first)")
        pcm = _load(context)
        choices = [r for r in (8000, 16000, 22050, 32000, 44100, 48000) if r != pcm.rate]
        rate = int(args.get("sample rate") or context.rng.choice(choices))
        out = resample(pcm, rate)
        write_audio(context, out)
        return PluginResult(variables={"sample rate": rate, "source sample rate": pcm.rate, "Stream": "all"})


class ExtractAudio(Plugin):
    name = "ExtractAudio"
    operation = "OutputAudioPCM"
    description = "Write a video's audio track as a WAV file (16-bit PCM)."
    suffix = ".wav"
    arguments = ()

    def transform(self, context: PluginContext) -> PluginResult:
        self.resolve_arguments(context.arguments)
        if not media_audio.has_audio(context.source):
            raise PluginError("the source has no audio stream", file=context.source)
        pcm = _load(context)
        write_audio(context, pcm)
        return PluginResult(variables={"sample rate": pcm.rate, "channels": pcm.channels})


class OverwriteAudioStream(Plugin):
    name = "OverwriteAudioStream"
    operation = "AddAudioSample"
    description = (
        "Replace the video's audio with the donor's (resampled to the source's rate, cut or padded "
        "with silence to the video's length)."
    )
    arguments = (Argument("donor", "donor", None, "Audio or video whose audio is used.", required=True),)

    def transform(self, context: PluginContext) -> PluginResult:
        self.resolve_arguments(context.arguments)
        if context.donor is None:
            raise PluginError("OverwriteAudioStream needs a donor", argument="donor")
        source = open_video(context)
        rate = source.pcm.rate if source.pcm is not None else 44100
        channels = source.pcm.channels if source.pcm is not None else 2
        donor = resample(read_audio(context.donor), rate)
        length = source.pcm.count if source.pcm is not None else int(source.info.duration_ms * rate / 1000.0)
        samples = _fit_channels(donor.samples, channels)[:length]
        if len(samples) < length:
            samples = np.concatenate([samples, np.zeros((length - len(samples), channels), np.int16)])
        write_clip(context, source, source.frames(), audio=np.ascontiguousarray(samples))
        return PluginResult(
            variables={
                **_span_variables(0, length, rate),
                "add type": "replace",
                "voice": "no",
                "synchronization": "none",
                "Stream": "all",
                "Direct from PC": "no",
            }
        )
