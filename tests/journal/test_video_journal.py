"""Video and audio journals end to end on synthetic media: comparisons with analytic truth, probes
through temporal transforms, validation, archives, the CLI and the viewer."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from masksmith.cli.main import cli
from masksmith.errors import OperationError
from masksmith.journal import hdf5, segments
from masksmith.journal.project import Journal
from masksmith.journal.validate import validate
from masksmith.journal.video_compare import compare_pcm, frame_change
from masksmith.journal.video_probes import generate_video_probes
from masksmith.media import audio, masks, video
from tests import media_clips as clips


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every clip the tests need, made once: lossless FFV1 unless the name says otherwise."""
    folder = tmp_path_factory.mktemp("clips")
    base = clips.frames()
    out: dict[str, Path] = {}

    def put(name: str, frames: list[np.ndarray], **options: object) -> None:
        out[name] = clips.write(folder / name, frames, **options)

    put("src.avi", base, rate=30)
    put("replaced.avi", clips.painted(base, 20, 39), rate=30)
    inserted = base[:20] + [np.full_like(base[0], 10 * i) for i in range(19)] + base[20:]
    put("inserted.avi", inserted, rate=30)
    put("cut.avi", base[:70] + base[90:], rate=30)
    # 30 → 25 fps over the same duration: target frame j shows source frame floor(1.2·(j−1)) + 1
    painted = clips.painted(base, 20, 39)
    put("rate25.avi", [painted[int(np.floor(1.2 * j))] for j in range(83)], rate=25)
    put("src.mp4", base, rate=30, codec="libx264", options={"qp": "0"})
    put("replaced.mp4", clips.painted(base, 20, 39), rate=30, codec="libx264", options={"qp": "0"})
    put("src.mkv", base, rate=30, codec="ffv1")
    put("replaced.mkv", clips.painted(base, 20, 39), rate=30, codec="ffv1")
    times = [round(i * 1000 / 30) + (12 if i % 4 == 1 else 0) for i in range(clips.FRAMES)]
    put("vfr.mkv", base, codec="ffv1", frame_times_ms=times)
    put("vfr_replaced.mkv", clips.painted(base, 20, 39), codec="ffv1", frame_times_ms=times)
    sound = clips.tone(clips.FRAMES / 30)
    put("av.mkv", base, rate=30, codec="ffv1", audio=sound)
    cut_sound = np.concatenate([sound[:102900], sound[132300:]])
    put("av_cut.mkv", base[:70] + base[90:], rate=30, codec="ffv1", audio=cut_sound)
    put("av_cut_video_only.mkv", base[:70] + base[90:], rate=30, codec="ffv1", audio=sound)
    wav = clips.tone(2.0)
    out["tone.wav"] = audio.write_pcm(folder / "tone.wav", audio.Pcm(wav, clips.SAMPLE_RATE))
    deleted = np.concatenate([wav[:44100], wav[44100 + 4410 :]])
    out["deleted.wav"] = audio.write_pcm(folder / "deleted.wav", audio.Pcm(deleted, clips.SAMPLE_RATE))
    return out


def _journal(tmp_path: Path, media: dict[str, Path], base: str) -> Journal:
    return Journal.create(media[base], tmp_path / "j")


def _segments(journal: Journal, start: str, end: str) -> list[segments.Segment]:
    return segments.segments_of(journal.graph.edge(start, end))


def _spatial_iou(journal: Journal, item: segments.Segment) -> list[float]:
    assert item.videosegment
    frame_masks = hdf5.frame_masks(journal.directory / item.videosegment)
    assert sorted(frame_masks) == list(range(item.startframe, item.endframe + 1))
    return [masks.iou(mask, clips.truth_mask()) for mask in frame_masks.values()]


REPLACE = {"add type": "replace", "Start Time": 1}


@pytest.mark.parametrize(("base", "edited"), [("src.avi", "replaced.avi"), ("src.mkv", "replaced.mkv"),
                                              ("src.mp4", "replaced.mp4")])  # fmt: skip
def test_replaced_frames_20_to_39_are_one_segment_with_exact_masks(tmp_path, media, base, edited):
    journal = _journal(tmp_path, media, base)
    node = journal.graph.base_node()
    assert journal.graph.node(node)["filetype"] == "video"
    assert journal.graph.attributes["projecttype"] == "video"
    edge = journal.record(node, media[edited], op="PasteFrames", arguments=REPLACE)
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.startframe, item.endframe, item.frames, item.type) == (20, 39, 20, "video")
    assert item.starttime == pytest.approx(633.333, abs=1.0)  # MKV stores whole milliseconds
    assert item.endtime == pytest.approx(1266.667, abs=1.0)
    ious = _spatial_iou(journal, item)
    assert min(ious) >= (0.99 if base != "src.mp4" else 0.9)
    data = journal.graph.edge(edge.start, edge.end)
    assert data["masks count"] == 1 and data["empty mask"] == "no"
    union = journal.edge_mask(edge.start, edge.end)
    # H.264 (lossless, but yuv420p) smears chroma at the box's edges: the union grows a little
    assert masks.iou(union, clips.truth_mask()) >= (0.99 if base != "src.mp4" else 0.8)


def test_variable_frame_rate_clip_uses_its_own_timestamps(tmp_path, media):
    journal = _journal(tmp_path, media, "vfr.mkv")
    node = journal.graph.base_node()
    assert journal.graph.node(node)["variable frame rate"] == "yes"
    edge = journal.record(node, media["vfr_replaced.mkv"], op="PasteFrames", arguments=REPLACE)
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.startframe, item.endframe) == (20, 39)
    times = video.frame_times(media["vfr.mkv"])
    assert item.starttime == pytest.approx(times[19]) and item.endtime == pytest.approx(times[38])
    assert min(_spatial_iou(journal, item)) >= 0.99


def test_inserted_frames_after_frame_20(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record(
        "src", media["inserted.avi"], op="PasteFrames", arguments={**REPLACE, "add type": "insert"}
    )
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.startframe, item.endframe, item.frames) == (21, 39, 19)
    assert journal.graph.edge(edge.start, edge.end)["errors"] == []
    assert not [f for f in validate(journal) if f.rule == "check_paste_frame_length"]


def test_cut_frames_71_to_90(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record("src", media["cut.avi"], op="SelectCutFrames", arguments={"Start Time": 1})
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.startframe, item.endframe) == (71, 90)
    assert item.starttime == pytest.approx(2333.333, abs=0.01)
    assert not [f for f in validate(journal) if f.start == edge.start and f.rule.startswith("check_")]


def test_a_video_cut_needs_an_audio_cut(tmp_path, media):
    journal = _journal(tmp_path, media, "av.mkv")
    node = journal.graph.base_node()
    good = journal.record(node, media["av_cut.mkv"], op="SelectCutFrames", arguments={"Start Time": 1})
    video_part, audio_part = _segments(journal, good.start, good.end)
    assert (video_part.startframe, video_part.endframe) == (71, 90)
    assert (audio_part.type, audio_part.startframe, audio_part.endframe) == ("audio", 102901, 132300)
    assert journal.graph.edge(good.start, good.end)["errors"] == []
    bad = journal.record(
        node, media["av_cut_video_only.mkv"], op="SelectCutFrames", arguments={"Start Time": 1}
    )
    assert any("audio" in e for e in journal.graph.edge(bad.start, bad.end)["errors"])
    findings = [f for f in validate(journal) if f.rule == "check_cut_frames"]
    assert [(f.start, f.end) for f in findings] == [(bad.start, bad.end)]
    assert "no audio was cut" in findings[0].message


def test_deleting_4410_samples_at_one_second(tmp_path, media):
    journal = _journal(tmp_path, media, "tone.wav")
    node = journal.graph.base_node()
    assert journal.graph.node(node)["filetype"] == "audio"
    edge = journal.record(
        node,
        media["deleted.wav"],
        op="DeleteAudioSample",
        arguments={"Start Time": "00:00:01", "Stream": "all", "Type": "splice"},
    )
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.type, item.startframe, item.endframe, item.rate) == ("audio", 44101, 48510, 44100)
    assert item.starttime == pytest.approx(1000.0)


def test_audio_changed_spans_on_pcm():
    rate = clips.SAMPLE_RATE
    a = clips.tone(1.0)
    b = a.copy()
    b[10000:12000] = 0
    result = compare_pcm(audio.Pcm(a, rate), audio.Pcm(b, rate))
    (item,) = result.segments
    assert abs(item.startframe - 10001) <= 32 and abs(item.endframe - 12000) <= 32
    added = np.concatenate([a[:5000], a[:300], a[5000:]])
    (inserted,) = compare_pcm(audio.Pcm(a, rate), audio.Pcm(added, rate)).segments
    assert (inserted.startframe, inserted.frames) == (5001, 300)


def test_frame_rate_change_carries_a_segment_with_the_right_frames_and_error(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    second = journal.record(
        first.end, media["rate25.avi"], op="TimeAlterationFrameRate", arguments={"Frame Rate": 25}
    )
    (whole,) = _segments(journal, second.start, second.end)  # generateMask 'frames': the whole stream
    assert (whole.startframe, whole.endframe, whole.rate) == (1, 83, 25)
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    (carried,) = probe.target_segments
    assert (carried.startframe, carried.endframe, carried.rate) == (17, 33, 25)
    assert 0 < carried.error <= 40.0  # within one target frame
    assert probe.final_node == second.end and probe.task_designation == "spatial-temporal"
    assert min(probe.frame_masks) >= 16 and max(probe.frame_masks) <= 34
    assert not [f for f in validate(journal) if f.rule == "check_frame_rate_did_change"]


def test_probes_follow_a_later_cut_and_reversal(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    replaced = [f.pixels for f in video.iter_frames(media["replaced.avi"])]
    cut_file = clips.write(tmp_path / "later_cut.avi", replaced[:5] + replaced[15:], rate=30)
    second = journal.record(first.end, cut_file, op="SelectCutFrames", arguments={"Start Time": 1})
    reversed_file = clips.write(
        tmp_path / "reversed.avi", list(reversed([f.pixels for f in video.iter_frames(cut_file)])), rate=30
    )
    third = journal.record(second.end, reversed_file, op="TransformReverse", arguments={"Channels": "video"})
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    (item,) = probe.target_segments
    # 20–39, minus 10 frames cut before it → 10–29, then mirrored in 1..90 → 62–81
    assert (item.startframe, item.endframe) == (62, 81)
    assert sorted(probe.frame_masks) == list(range(62, 82))
    truth = [masks.iou(m, clips.truth_mask()) for m in probe.frame_masks.values()]
    assert min(truth) >= 0.99
    cut_probe = [p for p in generate_video_probes(journal) if p.edge_id == (second.start, second.end)]
    # the cut leaves frames 5 and 6 meeting at the gap; mirrored in 1..90 they are 86 and 85
    assert [(s.startframe, s.endframe) for s in cut_probe[0].target_segments] == [(85, 86)]
    assert third.end == probe.final_node


def test_meta_operations_record_the_whole_stream(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record(
        "src", media["src.mkv"], op="OutputMP4", arguments={"pixel aspect": "Square Pixels (1.0)"}
    )
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.startframe, item.endframe) == (1, 100)


def test_arguments_are_checked_for_video(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    with pytest.raises(OperationError, match="Start Time"):
        journal.record("src", media["replaced.avi"], op="PasteFrames", arguments={"add type": "replace"})
    with pytest.raises(OperationError, match="does not apply to video"):
        journal.record("src", media["replaced.avi"], op="OutputPng", arguments={"Image Rotated": "no"})


def test_missing_hdf5_file_is_found_by_validation_and_archives_carry_them(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    (item,) = _segments(journal, edge.start, edge.end)
    archive = journal.archive(tmp_path / "out")
    with tarfile.open(archive) as tar:
        assert f"j/{item.videosegment}" in tar.getnames()
    reopened = Journal.open_archive(archive, tmp_path / "x")
    assert not [f for f in validate(reopened) if f.rule == "edge_video_segments"]
    (reopened.directory / str(item.videosegment)).unlink()
    findings = [f for f in validate(reopened) if f.rule == "edge_video_segments"]
    assert len(findings) == 1 and "missing" in findings[0].message
    journal.graph.edge(edge.start, edge.end)["videomasks"][0]["videosegment"] = "../escape.hdf5"
    assert (
        "not a plain file name"
        in next(f for f in validate(journal) if f.rule == "edge_video_segments").message
    )


def test_frame_change_threshold_and_morphology():
    a = np.zeros((40, 40, 3), np.uint8)
    b = a.copy()
    b[10:20, 10:20] = 90
    b[30, 30] = 90  # a speck the opening removes
    changed = frame_change(a, b)
    assert changed[10:20, 10:20].all() and not changed[30, 30] and changed.sum() == 100
    assert not frame_change(a, a).any()


def test_cli_new_add_show_probes_and_viewer(tmp_path, media):
    runner = CliRunner()
    folder = tmp_path / "cli"
    result = runner.invoke(cli, ["journal", "new", str(media["src.avi"]), "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        ["journal", "add", str(folder), "--from", "src", "--image", str(media["replaced.avi"]),
         "--op", "PasteFrames", "-a", "add type=replace", "-a", "Start Time=1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "video 20–39" in result.output
    data = json.loads((folder / "cli.json").read_text())
    assert data["links"][0]["videomasks"][0]["startframe"] == 20
    result = runner.invoke(cli, ["journal", "probes", str(folder), "--out", str(tmp_path / "probes")])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "probes" / "video_probes.json").read_text())
    assert document["probes"][0]["target_segments"][0]["endframe"] == 39
    probe_file = tmp_path / "probes" / document["probes"][0]["target_mask_file"]
    assert [(r.start_frame, r.end_frame) for r in hdf5.read_runs(probe_file)] == [(20, 39)]
    from masksmith.report.viewer import build_journal_report

    report = build_journal_report(folder, tmp_path / "view" / "cli.html")
    page = report.html.read_text()
    embedded = json.loads(page.split('id="journal-data"', 1)[1].split(">", 1)[1].split("</script>", 1)[0])
    (timeline,) = [e["timeline"] for e in embedded["edges"] if e.get("timeline")]
    (row,) = timeline["segments"]
    assert (row["start"], row["end"], len(row["samples"])) == (20, 39, 3)
    assert all((report.html.parent / s["overlay"]).is_file() for s in row["samples"])
    assert "timelineSection" in page


def test_a_later_crop_crops_the_spatial_masks(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    window = (slice(8, 64), slice(16, 80))
    cropped = [f.pixels[window] for f in video.iter_frames(media["replaced.avi"])]
    second = journal.record(
        first.end, clips.write(tmp_path / "crop.avi", cropped, rate=30), op="TransformCrop"
    )
    data = journal.graph.edge(second.start, second.end)
    assert data["location"] == "(8, 16)" and data["shape change"] == "(-16, -32)"
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    assert sorted(probe.frame_masks) == list(range(20, 40))
    truth = clips.truth_mask()[window]
    assert all(np.array_equal(m, truth) for m in probe.frame_masks.values())


def test_duplicate_frame_drops_anywhere_are_found_and_carried(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    replaced = [f.pixels for f in video.iter_frames(media["replaced.avi"])]
    kept = [f for i, f in enumerate(replaced, start=1) if i not in (5, 6, 50, 51, 52)]
    second = journal.record(first.end, clips.write(tmp_path / "drop.avi", kept, rate=30), op="DuplicateFrameDrop",
                            arguments={"Threshold": 1})  # fmt: skip
    assert [(s.startframe, s.endframe) for s in _segments(journal, second.start, second.end)] == [
        (5, 6),
        (50, 52),
    ]
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    assert [(s.startframe, s.endframe) for s in probe.target_segments] == [(18, 37)]


def test_copy_paste_within_a_video(tmp_path, media):
    base = [f.pixels for f in video.iter_frames(media["src.avi"])]
    pasted = base[:60] + base[10:20] + base[70:]  # frames 10–19 copied over 61–70
    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record(
        "src",
        clips.write(tmp_path / "copypaste.avi", pasted, rate=30),
        op="CopyPaste",
        arguments={
            "Select Start Time": 10,
            "add type": "replace",
            "Number of Frames": 10,
            "Dest Paste Time": 61,
        },
    )
    assert [(s.startframe, s.endframe) for s in _segments(journal, edge.start, edge.end)] == [(61, 70)]


def test_audio_sample_is_located_in_its_source(tmp_path, media):
    journal = _journal(tmp_path, media, "tone.wav")
    clip = audio.read_pcm(media["tone.wav"]).slice(22051, 22050 + 30000)
    sample = audio.write_pcm(tmp_path / "sample.wav", clip)
    edge = journal.record(
        journal.graph.base_node(),
        sample,
        op="AudioSample",
        arguments={"Start Time": "00:00:00.5", "Copy Stream": "all"},
    )
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.type, item.startframe, item.endframe) == ("audio", 22051, 52050)


def test_donor_segments_are_carried_back_to_the_donor_base(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record(
        "src", media["inserted.avi"], op="PasteFrames", arguments={**REPLACE, "add type": "insert"},
        donor=media["src.mkv"],
    )  # fmt: skip
    donor = journal.graph.donors_of(edge.end)[0]
    assert journal.graph.node(donor)["nodetype"] == "donor"
    (probe,) = generate_video_probes(journal)
    assert probe.donor_base_node == donor
    assert [(s.startframe, s.endframe) for s in probe.donor_segments] == [(1, 100)]
    assert not [f for f in validate(journal) if f.rule == "check_for_donor"]


def test_every_rule_the_catalogue_names_is_registered():
    from masksmith.operations import default_catalogue
    from masksmith.operations.rules import registry

    names = {r.removeprefix("donor:") for op in default_catalogue() for r in op.rules}
    assert sorted(n for n in names if n not in registry) == []


def test_audio_rules_on_a_deletion(tmp_path, media):
    journal = _journal(tmp_path, media, "tone.wav")
    edge = journal.record(
        journal.graph.base_node(),
        media["deleted.wav"],
        op="DeleteAudioSample",
        arguments={"Start Time": "00:00:01", "Stream": "all", "Type": "splice"},
    )
    from masksmith.journal import rules_video

    op = journal.operation("DeleteAudioSample")
    assert rules_video.check_audio_length_strict(op, journal, edge.start, edge.end) == (
        "audio length changed from 88200 to 83790 samples"
    )
    assert rules_video.check_audio_length_loose(op, journal, edge.start, edge.end)[0].name == "WARNING"
    assert rules_video.check_duration_audio(op, journal, edge.start, edge.end) is None  # 100 ms tolerance
    assert rules_video.check_sample_rate(op, journal, edge.start, edge.end) is None


@pytest.mark.parametrize(
    ("op", "arguments", "transform"),
    [
        ("TransformFlip", {"flip direction": "horizontal"}, lambda f: f[:, ::-1]),
        ("TransformResize", {"interpolation": "nearest", "Start Time": 1},
         lambda f: cv2.resize(f, (clips.W // 2, clips.H // 2), interpolation=cv2.INTER_NEAREST)),
    ],
)  # fmt: skip
def test_per_frame_flip_and_resize_move_the_spatial_masks(tmp_path, media, op, arguments, transform):
    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    moved = [np.ascontiguousarray(transform(f.pixels)) for f in video.iter_frames(media["replaced.avi"])]
    journal.record(first.end, clips.write(tmp_path / "moved.avi", moved, rate=30), op=op, arguments=arguments)
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    assert sorted(probe.frame_masks) == list(range(20, 40))
    truth = transform(clips.truth_mask().astype(np.uint8)).astype(bool)
    assert all(masks.iou(m, truth) >= 0.95 for m in probe.frame_masks.values())


def test_audio_segments_move_back_through_a_later_deletion(tmp_path, media):
    wav = audio.read_pcm(media["tone.wav"]).samples
    louder = wav.copy()
    louder[60000:70000] = np.clip(louder[60000:70000].astype(int) * 2, -32768, 32767).astype(np.int16)
    loud = audio.write_pcm(tmp_path / "loud.wav", audio.Pcm(louder, clips.SAMPLE_RATE))
    shorter = audio.write_pcm(
        tmp_path / "short.wav", audio.Pcm(np.concatenate([louder[:44100], louder[48510:]]), clips.SAMPLE_RATE)
    )
    journal = _journal(tmp_path, media, "tone.wav")
    first = journal.record(journal.graph.base_node(), loud, op="AudioAmplify",
                           arguments={"PreGain": 6, "Fading": "none", "Left Pan": 0, "Right Pan": 0,
                                      "Start Time": "00:00:01.36"})  # fmt: skip
    (span,) = _segments(journal, first.start, first.end)
    assert abs(span.startframe - 60001) <= 32 and abs(span.endframe - 70000) <= 32
    journal.record(first.end, shorter, op="DeleteAudioSample",
                   arguments={"Start Time": "00:00:01", "Stream": "all", "Type": "splice"})  # fmt: skip
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    (moved,) = probe.target_segments
    assert (moved.type, moved.startframe, moved.endframe) == (
        "audio",
        span.startframe - 4410,
        span.endframe - 4410,
    )


def test_a_broken_video_is_refused_before_anything_is_copied(tmp_path, media):
    from masksmith.errors import MediaError

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(MediaError, match="not a readable video"):
        Journal.create(broken, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    journal = _journal(tmp_path, media, "src.avi")
    before = sorted(p.name for p in journal.directory.iterdir())
    with pytest.raises(MediaError):
        journal.record("src", broken, op="PasteFrames", arguments=REPLACE)
    assert sorted(p.name for p in journal.directory.iterdir()) == before


def test_audio_spans_do_not_depend_on_the_block_size():
    from masksmith.journal.video_compare import changed_spans

    a = clips.tone(3.0)
    b = a.copy()
    b[50_000:70_000] = 0  # straddles the 65,536-sample block edge below
    b[120_000:120_500] = 0
    assert changed_spans(a, b, block=65_536) == changed_spans(a, b, block=10**9)
    assert len(changed_spans(a, b)) == 2


def test_rate_change_to_a_variable_rate_target_snaps_to_its_timestamps(tmp_path, media):
    painted = clips.painted(clips.frames(), 20, 39)
    times = [i * 40 + (10 if i % 2 else 0) for i in range(83)]  # 25 fps on average, uneven
    shown = [painted[int(np.floor(t * 30 / 1000))] for t in times]
    target = clips.write(tmp_path / "vfr25.mkv", shown, codec="ffv1", frame_times_ms=times)
    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    second = journal.record(first.end, target, op="TimeAlterationFrameRate", arguments={"Frame Rate": 25})
    assert journal.graph.node(second.end)["variable frame rate"] == "yes"
    (probe,) = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    (carried,) = probe.target_segments
    # the frames of the target that show source frames 20..39 are 17..33
    assert (carried.startframe, carried.endframe) == (17, 33)
    assert 0 < carried.error < 40.0


def test_a_journal_in_the_originals_older_form_still_probes(tmp_path, media):
    """Segments with only times and rate, and an HDF5 file in the older single-dataset layout."""
    import h5py

    journal = _journal(tmp_path, media, "src.avi")
    edge = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    data = journal.graph.edge(edge.start, edge.end)
    (item,) = data["videomasks"]
    runs = hdf5.read_runs(journal.directory / item["videosegment"])
    old_name = "legacy_mask_633.333.hdf5"
    with h5py.File(journal.directory / old_name, "w") as handle:
        handle.attrs["fps"] = 30.0
        handle.attrs["start_frame"] = runs[0].start_frame
        handle.attrs["start_time"] = runs[0].start_time
        handle.create_dataset("masks", data=np.where(runs[0].masks, 0, 255).astype(np.uint8))
    data["videomasks"] = [
        {"starttime": item["starttime"], "endtime": item["endtime"], "rate": 30, "videosegment": old_name}
    ]
    journal.save()
    reopened = Journal.open(journal.directory)
    (probe,) = generate_video_probes(reopened)
    (carried,) = probe.target_segments
    assert (carried.startframe, carried.endframe, carried.type) == (20, 39, "video")
    assert sorted(probe.frame_masks) == list(range(20, 40))
    assert min(masks.iou(m, clips.truth_mask()) for m in probe.frame_masks.values()) >= 0.99
    assert not [f for f in validate(reopened) if f.rule == "edge_video_segments"]


def test_an_input_mask_is_kept_on_a_video_edge(tmp_path, media):
    journal = _journal(tmp_path, media, "src.avi")
    selected = clips.truth_mask().astype(np.uint8) * 255
    edge = journal.record("src", media["replaced.avi"], op="Blur",
                          arguments={"Start Time": 20, "End Time": 39, "Blur Type": "Gaussian", "Laundering": "no"},
                          input_mask=selected)  # fmt: skip
    name = journal.graph.edge(edge.start, edge.end)["inputmaskname"]
    assert (journal.directory / name).is_file()
    (item,) = _segments(journal, edge.start, edge.end)
    assert (item.startframe, item.endframe) == (20, 39)
    assert not [f for f in validate(journal) if f.start == edge.start and f.severity.name == "ERROR"]


def test_a_frame_taken_as_a_still_image_carries_its_mask(tmp_path, media):
    from masksmith.media import io as media_io

    journal = _journal(tmp_path, media, "src.avi")
    first = journal.record("src", media["replaced.avi"], op="PasteFrames", arguments=REPLACE)
    frames = {f.index: f.pixels for f in video.iter_frames(media["replaced.avi"], start=25, end=50)}
    inside = media_io.write_image(tmp_path / "still25.png", frames[25])
    outside = media_io.write_image(tmp_path / "still50.png", frames[50])
    taken = journal.record(first.end, inside, op="SelectImageFromFrame", arguments={"Frame Time": 25})
    assert journal.graph.node(taken.end)["filetype"] == "image"
    assert [(s.startframe, s.endframe) for s in _segments(journal, taken.start, taken.end)] == [(25, 25)]
    cropped = media_io.write_image(tmp_path / "still25_crop.png", frames[25][8:64, 16:80])
    final = journal.record(taken.end, cropped, op="TransformCrop")
    journal.record(first.end, outside, op="SelectImageFromFrame", arguments={"Frame Time": 50})
    probes = [p for p in generate_video_probes(journal) if p.edge_id == (first.start, first.end)]
    assert [p.final_node for p in probes] == [final.end]  # frame 50 was not edited: no probe there
    (mask,) = probes[0].frame_masks.values()
    assert np.array_equal(mask, clips.truth_mask()[8:64, 16:80])
    from masksmith.journal.probes import generate_probes

    assert generate_probes(journal) == []  # the image links here are not localized; nothing breaks
    errors = [f for f in validate(journal) if f.severity.name == "ERROR" and f.rule != "check_for_donor"]
    assert errors == []
