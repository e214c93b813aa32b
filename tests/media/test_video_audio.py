"""PyAV video and soundfile/PyAV audio: metadata, frame iteration, PCM, on synthetic media."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from masksmith.errors import MediaError
from masksmith.media import audio, video
from tests import media_clips as clips


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("av")


@pytest.mark.parametrize(
    ("name", "codec", "options"),
    [("clip.avi", "ffv1", None), ("clip.mkv", "ffv1", None), ("clip.mp4", "libx264", {"qp": "0"})],
)
def test_probe_and_decode(folder: Path, name: str, codec: str, options: dict[str, str] | None):
    frames = clips.frames(40)
    path = clips.write(folder / name, frames, rate=30, codec=codec, options=options)
    info = video.probe_video(path)
    assert (info.width, info.height, info.frames) == (clips.W, clips.H, 40)  # MKV: counted by demuxing
    assert info.rate == pytest.approx(30.0)
    assert info.duration_ms == pytest.approx(40 * 1000 / 30, abs=1.0)
    assert not info.variable_rate
    assert info.rotation == 0
    decoded = list(video.iter_frames(path, start=10, end=12))
    assert [f.index for f in decoded] == [10, 11, 12]
    assert decoded[0].time_ms == pytest.approx(300.0, abs=0.5)
    if codec == "ffv1":
        assert np.array_equal(decoded[1].pixels, frames[10])  # lossless
    else:
        # lossless H.264 in yuv420p: luma survives, chroma is subsampled
        gray = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY).astype(int) for p in (decoded[1].pixels, frames[10])]
        assert np.abs(gray[0] - gray[1]).mean() < 4
    assert video.media_kind(path) == "video"
    attrs = info.to_attributes()
    assert attrs["nb_frames"] == 40 and attrs["variable frame rate"] == "no"


def test_variable_frame_rate_is_detected(folder: Path):
    times = [i * 33 + (15 if i % 3 == 1 else 0) for i in range(30)]
    path = clips.write(folder / "vfr.mkv", clips.frames(30), codec="ffv1", frame_times_ms=times)
    info = video.probe_video(path)
    assert info.variable_rate
    assert video.frame_times(path)[:4] == pytest.approx([0, 48, 66, 99])
    assert [round(f.time_ms) for f in video.iter_frames(path, end=3)] == [0, 48, 66]


def test_audio_from_wav_and_from_a_video_track(folder: Path):
    samples = clips.tone(1.0)
    wav = audio.write_pcm(folder / "tone.wav", audio.Pcm(samples, clips.SAMPLE_RATE))
    pcm = audio.read_pcm(wav)
    assert (pcm.count, pcm.rate, pcm.channels) == (44100, 44100, 2)
    assert np.array_equal(pcm.samples, samples)
    assert pcm.duration_ms == pytest.approx(1000.0)
    part = pcm.slice(101, 200)
    assert part.count == 100 and np.array_equal(part.samples, samples[100:200])
    with_audio = clips.write(folder / "av.mkv", clips.frames(30), codec="ffv1", audio=samples)
    assert audio.has_audio(with_audio)
    assert np.array_equal(audio.read_pcm(with_audio).samples, samples)  # PCM track: sample-exact
    info = video.probe_video(with_audio)
    assert info.audio is not None and info.audio.sample_rate == 44100 and info.audio.channels == 2


def test_bad_media_is_one_clear_error(folder: Path):
    with pytest.raises(MediaError, match="not found"):
        video.probe_video(folder / "absent.mp4")
    junk = folder / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="not a readable video"):
        video.probe_video(junk)
    text = folder / "junk.wav"
    text.write_text("not audio")
    with pytest.raises(MediaError, match="audio"):
        audio.read_pcm(text)


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [("clip.webm", "libvpx-vp9", "yuv420p"), ("clip.mov", "mjpeg", "yuvj420p")],
)
def test_webm_and_mov(folder: Path, name: str, codec: str, pix_fmt: str):
    path = clips.write(folder / name, clips.frames(12), rate=25, codec=codec, pix_fmt=pix_fmt)
    info = video.probe_video(path)
    assert (info.frames, info.width, info.height) == (12, clips.W, clips.H)
    assert info.rate == pytest.approx(25.0)
    assert len(list(video.iter_frames(path))) == 12


def test_rotation_is_read_from_the_display_matrix(folder: Path):
    path = clips.write(folder / "turned.mp4", clips.frames(5), codec="libx264", rotation=90)
    assert video.probe_video(path).rotation == 90
    assert (
        video.probe_video(clips.write(folder / "upright.mp4", clips.frames(5), codec="libx264")).rotation == 0
    )


@pytest.mark.parametrize(
    ("name", "codec"), [("tone.flac", None), ("tone.mp3", "libmp3lame"), ("tone.m4a", "aac")]
)
def test_compressed_audio_formats(folder: Path, name: str, codec: str | None):
    samples = clips.tone(0.5)
    if codec is None:
        path = audio.write_pcm(folder / name, audio.Pcm(samples, clips.SAMPLE_RATE))
        assert np.array_equal(audio.read_pcm(path).samples, samples)  # FLAC is lossless
        return
    import av

    path = folder / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=clips.SAMPLE_RATE)
        stream.layout = "stereo"
        for start in range(0, len(samples), 1152):
            part = np.ascontiguousarray(samples[start : start + 1152].reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(part, format="s16", layout="stereo")
            frame.sample_rate = clips.SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    pcm = audio.read_pcm(path)
    assert pcm.rate == clips.SAMPLE_RATE and pcm.channels == 2
    assert abs(pcm.count - len(samples)) < 4096  # encoder priming and padding
