"""Video and audio plugins: the contract (seeded, inputs untouched, atomic target, bad arguments named)
and accuracy through the journal (the recorded segments and masks match what the plugin did)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.errors import PluginError
from masksmith.journal import hdf5, segments
from masksmith.journal.project import Journal
from masksmith.media import audio, video
from masksmith.operations import default_catalogue
from masksmith.plugins import PluginKind, all_plugins, get_plugin
from masksmith.plugins.base import PASS_THROUGH_TYPES, PluginResult
from tests import media_clips as clips
from tests.plugins.video_cases import ALL, FRAMES, VideoCase, case, make_media


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("video_inputs"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content(path: Path) -> str:
    """A digest of what a media file decodes to (containers such as MKV write a random segment id)."""
    digest = hashlib.sha256()
    if video.media_kind(path) == "video":
        for frame in video.iter_frames(path):
            digest.update(frame.pixels.tobytes())
    if audio.has_audio(path):
        digest.update(audio.read_pcm(path).samples.tobytes())
    return digest.hexdigest()


def _run(item: VideoCase, folder: Path, seed: int = 5) -> tuple[PluginResult, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    context = item.context(folder, seed)
    return get_plugin(item.name).transform(context), context.target


# --- contract ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_declares_a_catalogued_operation(name: str) -> None:
    cls = all_plugins()[name]
    operation = default_catalogue().find(cls.operation)
    assert operation is not None
    if cls.kind is PluginKind.TRANSFORM:  # selectors add no edge
        assert any(t.startswith(("video.", "audio.")) for t in operation.transitions)


@pytest.mark.parametrize("name", ALL)
def test_seeded_runs_agree(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    item = case(name, media)
    first, target_a = _run(item, tmp_path / "a")
    second, target_b = _run(item, tmp_path / "b")
    assert first.variables == second.variables
    if target_a.exists() and target_a.suffix != ".mp4":
        assert _content(target_a) == _content(target_b)
    elif target_a.exists():  # multi-threaded x264 rate control under load is not bit-exact run to run
        pairs = list(zip(video.iter_frames(target_a), video.iter_frames(target_b), strict=True))
        # seldom (under heavy load) the rate control settles differently: same frames, other noise
        assert max(np.abs(a.pixels.astype(int) - b.pixels.astype(int)).mean() for a, b in pairs) < 10.0


@pytest.mark.parametrize("name", ["FrameDrop", "VideoCrop", "VideoNoise", "ReplaceAudioSamples", "VideoFlip"])
def test_unset_arguments_are_drawn_from_the_seed(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    item = case(name, media)
    bare = VideoCase(name, item.source, {}, item.donor, item.input_mask)
    draws = [_run(bare, tmp_path / str(seed), seed)[0].variables for seed in (1, 2, 3)]
    assert draws[0] == _run(bare, tmp_path / "again", 1)[0].variables
    assert len({repr(sorted(d.items())) for d in draws}) > 1


@pytest.mark.parametrize("name", ALL)
def test_never_mutates_its_inputs(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    item = case(name, media)
    files = [p for p in media.values()]
    before = {p: (_digest(p), p.stat().st_mtime_ns) for p in files}
    mask_before = None if item.input_mask is None else item.input_mask.copy()
    arguments_before = dict(item.arguments)
    context = item.context(tmp_path)
    get_plugin(name).transform(context)
    assert {p: (_digest(p), p.stat().st_mtime_ns) for p in files} == before
    assert dict(context.arguments) == arguments_before
    if mask_before is not None:
        assert np.array_equal(context.input_mask, mask_before)


@pytest.mark.parametrize("name", ALL)
def test_writes_its_target_atomically(
    name: str, media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = case(name, media).context(tmp_path)
    replaced: list[tuple[Path, Path, bool]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        replaced.append((Path(src), Path(dst), Path(dst).exists()))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    result = get_plugin(name).transform(context)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir() if p != context.target) == []
    if result.operation is not None:
        assert default_catalogue().find(result.operation) is not None
    if all_plugins()[name].kind is not PluginKind.TRANSFORM:
        assert not context.target.exists() and result.variables
        return
    into_target = [(s, d, existed) for s, d, existed in replaced if d == context.target]
    assert len(into_target) == 1
    src, _, existed = into_target[0]
    assert src.parent == context.target.parent and src != context.target and not existed
    if video.media_kind(context.target) == "video":
        assert video.probe_video(context.target).frames > 0
    else:
        assert audio.read_pcm(context.target).count > 0


def _bad(type_text: str) -> Any:
    if type_text.startswith(("int", "float")):
        return "twelve"
    if type_text == "yesno":
        return "perhaps"
    return "__no_such_value__"


@pytest.mark.parametrize(
    "name", [n for n in ALL if any(a.type not in PASS_THROUGH_TYPES for a in all_plugins()[n].arguments)]
)
def test_rejects_a_bad_argument_naming_it(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    item = case(name, media)
    for index, arg in enumerate(a for a in all_plugins()[name].arguments if a.type not in PASS_THROUGH_TYPES):
        bad = VideoCase(
            name, item.source, {**item.arguments, arg.name: _bad(arg.type)}, item.donor, item.input_mask
        )
        folder = tmp_path / str(index)
        folder.mkdir()
        with pytest.raises(PluginError) as caught:
            get_plugin(name).transform(bad.context(folder))
        assert caught.value.argument == arg.name and arg.name in str(caught.value)
        assert list(folder.iterdir()) == []


def test_a_bad_time_is_named(media: dict[str, Path], tmp_path: Path) -> None:
    bad = VideoCase("FrameDrop", media["av.mkv"], {"Start Time": "noon"})
    with pytest.raises(PluginError, match="Start Time"):
        get_plugin("FrameDrop").transform(bad.context(tmp_path))
    assert list(tmp_path.iterdir()) == []


# --- accuracy through the journal ------------------------------------------------------------------------


def _record(item: VideoCase, tmp_path: Path) -> tuple[Journal, dict[str, Any], PluginResult, Path]:
    result, target = _run(item, tmp_path / "out")
    journal = Journal.create(item.source, tmp_path / "journal")
    base = journal.graph.base_node()
    plugin = get_plugin(item.name)
    arguments = {k: v for k, v in {**item.arguments, **result.variables}.items() if k != "donor"}
    ref = journal.record(
        base, target, op=result.operation or plugin.operation, arguments=arguments,
        plugin_name=item.name, software_name="masksmith", software_version="test",
    )  # fmt: skip
    edge = dict(journal.graph.edge(ref.start, ref.end))
    edge["_ends"] = (ref.start, ref.end)  # for the tests' own look-ups
    return journal, edge, result, target


def _spans(edge: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(s.type, s.startframe, s.endframe) for s in segments.segments_of(edge)]


def test_frame_drop_cuts_video_and_audio_together(media: dict[str, Path], tmp_path: Path) -> None:
    _journal, edge, _result, target = _record(case("FrameDrop", media), tmp_path)
    assert video.probe_video(target).frames == FRAMES - 10
    # frames 11..20 at 30 fps are samples 14700..29399 (0-based) at 44.1 kHz
    assert _spans(edge) == [("video", 11, 20), ("audio", 14701, 29400)]
    assert not edge.get("errors")
    assert audio.read_pcm(target).count == audio.read_pcm(media["av.mkv"]).count - 14700


def test_duplicate_frame_drop_records_the_dropped_frames(media: dict[str, Path], tmp_path: Path) -> None:
    _journal, edge, result, _target = _record(case("FrameDuplicateDrop", media), tmp_path)
    assert result.variables["dropped frames"] == 3
    dropped = {f for _, a, b in _spans(edge) for f in range(a, b + 1)}
    assert dropped == {22, 23, 43}


@pytest.mark.parametrize("mode", ["replace", "insert"])
def test_pasted_frames_are_the_recorded_segment(media: dict[str, Path], tmp_path: Path, mode: str) -> None:
    item = case("VideoCopyPasteFrames", media)
    item.arguments["add type"] = mode
    _journal, edge, _result, target = _record(item, tmp_path)
    assert _spans(edge)[0] == ("video", 31, 35)
    expected = FRAMES + (5 if mode == "insert" else 0)
    assert video.probe_video(target).frames == expected
    pasted = [f.pixels for f in video.iter_frames(target, start=31, end=35)]
    originals = [f.pixels for f in video.iter_frames(media["av.mkv"], start=5, end=9)]
    assert all(np.array_equal(a, b) for a, b in zip(pasted, originals, strict=True))


def test_blur_inside_the_mask_over_the_time_range(media: dict[str, Path], tmp_path: Path) -> None:
    journal, edge, _, _ = _record(case("VideoBlur", media), tmp_path)
    (item,) = segments.segments_of(edge)
    assert (item.startframe, item.endframe) == (10, 20)
    assert item.videosegment
    frame_masks = hdf5.frame_masks(journal.directory / item.videosegment)
    box = clips.truth_mask()
    for mask in frame_masks.values():
        assert mask.any() and not (mask & ~box).any()  # changes only inside the input mask


def test_noise_inside_the_mask_over_the_time_range(media: dict[str, Path], tmp_path: Path) -> None:
    journal, edge, _, _ = _record(case("VideoNoise", media), tmp_path)
    (item,) = segments.segments_of(edge)
    assert (item.startframe, item.endframe) == (10, 20)
    union = journal.edge_mask(*edge["_ends"])
    assert union.any() and not (union & ~clips.truth_mask()).any()


def test_flip_changes_exactly_its_frames(media: dict[str, Path], tmp_path: Path) -> None:
    _, edge, _, _ = _record(case("VideoFlip", media), tmp_path)
    assert _spans(edge) == [("video", 5, 15)]


def test_reverse_mirrors_the_range(media: dict[str, Path], tmp_path: Path) -> None:
    _, edge, _, target = _record(case("VideoReverse", media), tmp_path)
    assert _spans(edge) == [("video", 11, 30)]
    frames = [f.pixels for f in video.iter_frames(target)]
    source = [f.pixels for f in video.iter_frames(media["av.mkv"])]
    assert np.array_equal(frames[10], source[29]) and np.array_equal(frames[29], source[10])


def test_frame_rate_keeps_the_duration(media: dict[str, Path], tmp_path: Path) -> None:
    _, edge, _, target = _record(case("VideoFrameRate", media), tmp_path)
    info = video.probe_video(target)
    assert info.frames == 50 and info.rate == pytest.approx(25.0)
    assert _spans(edge) == [("video", 1, 50)]


def test_deleted_samples_are_the_recorded_segment(media: dict[str, Path], tmp_path: Path) -> None:
    _, edge, result, target = _record(case("DeleteAudioSamples", media), tmp_path)
    removed = result.variables["samples"]
    assert removed == 4411  # 0.5 s .. 0.6 s inclusive at 44.1 kHz
    assert _spans(edge) == [("audio", 22051, 22050 + removed)]
    assert audio.read_pcm(target).count == clips.SAMPLE_RATE - removed


def test_added_donor_samples_are_the_recorded_segment(media: dict[str, Path], tmp_path: Path) -> None:
    _, edge, result, _target = _record(case("AudioAddSampleDonor", media), tmp_path)
    added = result.variables["samples"]
    assert (
        added == clips.SAMPLE_RATE // 2
    )  # 11,025 samples at 22.05 kHz (half a second) resampled to 44.1 kHz
    ((kind, first, last),) = _spans(edge)
    assert kind == "audio" and first == 8821 and abs(last - (8820 + added)) <= 1


def test_sample_rate_change_and_extraction(media: dict[str, Path], tmp_path: Path) -> None:
    _, _edge, _result, target = _record(case("AudioSampleRate", media), tmp_path / "rate")
    pcm = audio.read_pcm(target)
    assert pcm.rate == 22050 and pcm.count == 22050
    _, _, _, extracted = _record(case("ExtractAudio", media), tmp_path / "extract")
    assert np.array_equal(audio.read_pcm(extracted).samples, audio.read_pcm(media["av.mkv"]).samples)


def test_overwritten_audio_is_the_donors(media: dict[str, Path], tmp_path: Path) -> None:
    _result, target = _run(case("OverwriteAudioStream", media), tmp_path)
    new = audio.read_pcm(target)
    assert new.count == audio.read_pcm(media["av.mkv"]).count
    assert new.samples[: clips.SAMPLE_RATE // 2].any()
    assert not new.samples[clips.SAMPLE_RATE // 2 + 10 :].any()  # padded with silence after the donor
    assert video.probe_video(target).frames == FRAMES


def test_compress_as_video_matches_the_donor(media: dict[str, Path], tmp_path: Path) -> None:
    result, target = _run(case("CompressAsVideo", media), tmp_path)
    assert target.suffix == ".mp4" and result.operation is None
    assert result.variables["codec"] == "h264" and result.variables["GOP"] == 12
    assert video.probe_video(target).codec == "h264"
    import av

    with av.open(str(target)) as container:
        keys = [
            i for i, p in enumerate(container.demux(container.streams.video[0])) if p.size and p.is_keyframe
        ]
    assert keys[:3] == [0, 12, 24]


@pytest.mark.parametrize(("name", "codec"), [("OutputX264", "h264"), ("OutputRawVideo", "utvideo"),
                                             ("OutputLosslessMOV", "png")])  # fmt: skip
def test_outputs_record_the_whole_stream(
    media: dict[str, Path], tmp_path: Path, name: str, codec: str
) -> None:
    _, edge, _, target = _record(case(name, media), tmp_path)
    assert video.probe_video(target).codec == codec
    assert _spans(edge) == [("video", 1, FRAMES)]
    if codec != "h264":  # lossless: every frame decodes to the source's pixels
        pairs = zip(video.iter_frames(target), video.iter_frames(media["av.mkv"]), strict=True)
        assert all(np.array_equal(a.pixels, b.pixels) for a, b in pairs)


@pytest.mark.parametrize(("given", "recorded"), [(-349, 90), (137, 180), (100, 90), (180, 180), (-90, 270)])
def test_rotation_snaps_a_drawn_angle_to_a_quarter_turn(
    media: dict[str, Path], tmp_path: Path, given: int, recorded: int
) -> None:
    result, target = _run(VideoCase("VideoRotate", media["av.mkv"], {"rotation": given}), tmp_path)
    assert result.variables["rotation"] == recorded
    first = next(video.iter_frames(target)).pixels
    source = next(video.iter_frames(media["av.mkv"])).pixels
    assert np.array_equal(first, np.rot90(source, recorded // 90))


def test_flow_driven_drop_cuts_where_nothing_moves(media: dict[str, Path], tmp_path: Path) -> None:
    _journal, edge, result, _target = _record(case("FlowDrivenVideoFrameDrop", media), tmp_path)
    start, end = int(result.variables["Start Time"]), int(result.variables["End Time"])
    assert result.variables["Frames Dropped"] == result.variables["Frames to Add"] == 6 == end - start + 1
    assert start >= 31 and end <= 40  # inside the still run (the rest moves a pixel a frame)
    spans = _spans(edge)
    assert spans[0] == ("video", start, end) and spans[1][0] == "audio"
    assert not edge.get("errors")


def test_flow_driven_warp_inserts_the_recorded_frames(media: dict[str, Path], tmp_path: Path) -> None:
    _journal, edge, _result, target = _record(case("FlowDrivenVideoTimeWarp", media), tmp_path)
    assert video.probe_video(target).frames == FRAMES + 4
    assert _spans(edge)[0] == ("video", 25, 28)
    frames = [f.pixels for f in video.iter_frames(target, start=24, end=29)]
    source = [f.pixels for f in video.iter_frames(media["av.mkv"], start=24, end=25)]
    assert np.array_equal(frames[0], source[0]) and np.array_equal(frames[5], source[1])
    # the synthesised frames lie between their neighbours, not copies of either
    middle = frames[2].astype(int)
    assert not np.array_equal(frames[2], source[0]) and not np.array_equal(frames[2], source[1])
    assert np.abs(middle - source[0]).mean() < np.abs(source[1].astype(int) - source[0]).mean() + 1


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [("addOneFrame", "11", "12"), ("addOneFrame", 11, 12), ("subtractOneFrame", "1", "1"),
     ("addOneFrame", "00:00:01.5", "00:00:01.5:1"), ("subtractOneFrame", "00:00:01.5:1", "00:00:01.5"),
     ("addTwo", "5", 7)],
)  # fmt: skip
def test_frame_arithmetic_spec_functions(function: str, value: Any, expected: Any) -> None:
    from masksmith.batch.selectors import apply_function

    assert apply_function(f"maskgen.tool_set.{function}", value) == expected


def test_frame_drop_from_a_start_removes_a_tenth(media: dict[str, Path], tmp_path: Path) -> None:
    result, target = _run(
        VideoCase("FrameDrop", media["av.mkv"], {"Start Time": "00:00:01.000000"}), tmp_path
    )
    assert (result.variables["Start Time"], result.variables["End Time"]) == ("31", "36")
    assert video.probe_video(target).frames == FRAMES - 6


def test_audio_edits_inside_a_video_keep_its_frames(media: dict[str, Path], tmp_path: Path) -> None:
    item = VideoCase(
        "DeleteAudioSamples",
        media["av.mkv"],
        {"Start Time": "00:00:01.000000", "End Time": "00:00:01.010000"},
    )
    _, edge, result, target = _record(item, tmp_path)
    assert result.variables["samples"] == 442  # 1.000 s .. 1.010 s inclusive at 44.1 kHz
    assert _spans(edge) == [("audio", 44101, 44542)]
    pairs = zip(video.iter_frames(target), video.iter_frames(media["av.mkv"]), strict=True)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in pairs)


def test_paste_caps_a_huge_drawn_count_at_half_the_clip(media: dict[str, Path], tmp_path: Path) -> None:
    item = VideoCase(
        "VideoCopyPasteFrames", media["av.mkv"], {"Number of Frames": 636962, "add type": "insert"}
    )
    result, target = _run(item, tmp_path)
    assert result.variables["Number of Frames"] == FRAMES // 2
    assert video.probe_video(target).frames == FRAMES + FRAMES // 2


def test_frame_store_keeps_frames_on_disk_and_cleans_up() -> None:
    from masksmith.plugins.video_common import FrameStore

    frames = clips.frames(40)  # grows its file past the first 16 frames
    with FrameStore(iter(frames)) as store:
        folder = Path(store._folder.name)
        assert len(store) == 40 and any(folder.iterdir())
        assert all(np.array_equal(store[i], frames[i]) for i in (0, 15, 16, 39))
    assert not folder.exists()


@pytest.mark.parametrize("mode", ["insert", "replace"])
def test_donor_frames_pasted_are_the_recorded_segment(
    media: dict[str, Path], tmp_path: Path, mode: str
) -> None:
    item = case("VideoPasteDonorFrames", media)
    item.arguments["add type"] = mode
    result, target = _run(item, tmp_path / "out")
    journal = Journal.create(item.source, tmp_path / "journal")
    base = journal.graph.base_node()
    donor = journal.add_image(media["donor.mkv"], nodetype="donor")
    arguments = {k: v for k, v in {**item.arguments, **result.variables}.items() if k != "donor"}
    ref = journal.record(base, target, op="PasteFrames", arguments=arguments, donor=donor,
                         software_name="masksmith", software_version="test")  # fmt: skip
    assert _spans(dict(journal.graph.edge(ref.start, ref.end)))[0] == ("video", 21, 28)
    assert video.probe_video(target).frames == FRAMES + (8 if mode == "insert" else 0)
    pasted = next(video.iter_frames(target, start=21, end=21)).pixels
    assert pasted.shape == (clips.H, clips.W, 3) and int(pasted.mean()) == 30
    assert set(journal.graph.donors_of(ref.end)) == {donor}
