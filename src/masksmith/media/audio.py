"""Audio as PCM: read (soundfile for WAV/FLAC/OGG, PyAV for everything else, including the audio
track of a video), write WAV/FLAC, and sample-accurate slicing.

Samples are int16 arrays of shape (samples, channels); sample numbers in segments are 1-based.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith import atomic_io
from masksmith.errors import MediaError, UnsupportedMediaError

PathLike = str | os.PathLike[str]
Samples = NDArray[np.int16]

SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff"})


@dataclass(frozen=True)
class Pcm:
    """Decoded audio: ``samples`` (n × channels, int16) at ``rate`` samples per second."""

    samples: Samples
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def count(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.count / self.rate if self.rate else 0.0

    def slice(self, start: int, end: int) -> Pcm:
        """Samples ``start..end`` (1-based, inclusive) as a new Pcm."""
        return Pcm(self.samples[max(0, start - 1) : max(0, end)].copy(), self.rate)


def read_pcm(path: PathLike) -> Pcm:
    """Decode a file's first audio stream to int16 PCM."""
    source = Path(path)
    if not source.is_file():
        raise MediaError(source, "not found")
    if source.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            import soundfile

            data, rate = soundfile.read(str(source), dtype="int16", always_2d=True)
            return Pcm(np.asarray(data, dtype=np.int16), int(rate))
        except ImportError:
            pass
        except Exception as exc:  # soundfile raises its own error type (LibsndfileError)
            raise MediaError(source, "not readable audio", str(exc)) from None
    return _read_with_av(source)


def _read_with_av(source: Path) -> Pcm:
    try:
        import av
    except ImportError:
        raise UnsupportedMediaError(source, "audio decoding needs PyAV; install masksmith[video]") from None
    try:
        container = av.open(str(source))
    except av.FFmpegError as exc:
        raise MediaError(source, "not readable audio", str(exc)) from None
    with container:
        if not container.streams.audio:
            raise MediaError(source, "unreadable", "no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate)
        channels = int(stream.codec_context.channels or 1)
        layout = "stereo" if channels == 2 else ("mono" if channels == 1 else None)
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        chunks: list[NDArray[Any]] = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, channels))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1, channels))
    samples = np.concatenate(chunks) if chunks else np.zeros((0, channels), np.int16)
    return Pcm(samples.astype(np.int16, copy=False), rate)


def has_audio(path: PathLike) -> bool:
    """Whether a media file carries an audio stream (audio files always do)."""
    source = Path(path)
    if source.suffix.lower() in SOUNDFILE_SUFFIXES:
        return True
    try:
        import av
    except ImportError:
        return False
    try:
        with av.open(str(source)) as container:
            return bool(container.streams.audio)
    except av.FFmpegError:
        return False


def write_pcm(path: PathLike, pcm: Pcm) -> Path:
    """Write WAV or FLAC (by suffix) atomically."""
    import soundfile

    target = Path(path)
    with atomic_io.atomic_path(target, durable=False, keep_suffix=True) as temp:
        soundfile.write(temp, pcm.samples, pcm.rate)
    return target
