"""End to end: video specifications run as batch projects (video/audio selection by file type, seeded
time ranges, the original's flow-driven shape unchanged) and make valid journals with probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.executor import BatchExecutor
from masksmith.batch.project import BatchProject
from masksmith.journal import segments
from masksmith.journal.project import Journal
from masksmith.journal.validate import validate
from masksmith.journal.video_probes import generate_video_probes
from masksmith.media import audio
from masksmith.media import io as media_io
from tests import media_clips as clips

GRAPH = {"name": "video-e2e", "organization": "test", "projectdescription": "d", "technicalsummary": "t"}
RATE = 10  # 6 s clips of 60 frames: long enough for drops of whole seconds, quick to encode


def _plugin(node_id: str, plugin: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "op_type": "PluginOperation", "plugin": plugin, "arguments": arguments}


def _pools(folder: Path) -> dict[str, str]:
    videos, sounds = folder / "videos", folder / "sounds"
    videos.mkdir(parents=True)
    sounds.mkdir(parents=True)
    for index in range(2):
        base = clips.frames(60, seed=20 + index)
        clips.write(videos / f"clip{index}.mkv", base, rate=RATE, audio=clips.tone(6.0, seed=index))
    # not picked: other media types in the same folder
    media_io.write_image(videos / "still.png", np.zeros((8, 8, 3), np.uint8))
    audio.write_pcm(videos / "loose.wav", audio.Pcm(clips.tone(0.5), clips.SAMPLE_RATE))
    for index in range(2):
        audio.write_pcm(
            sounds / f"voice{index}.wav", audio.Pcm(clips.tone(0.5, seed=40 + index), clips.SAMPLE_RATE)
        )
    return {"image_dir": str(videos), "sound_dir": str(sounds)}


EIGHT_NODES: dict[str, Any] = {
    "directed": True,
    "multigraph": False,
    "graph": GRAPH,
    "nodes": [
        {"id": "base", "op_type": "BaseSelection", "image_directory": "{image_dir}", "picklist": "videos",
         "filetypes": ["mkv"]},
        {"id": "voice", "op_type": "ImageSelection", "image_directory": "{sound_dir}", "picklist": "voices",
         "filetypes": ".WAV"},
        _plugin("cut", "FrameDrop", {"Start Time": {"type": "int[5:15]"}, "Frames": {"type": "int[3:6]"}}),
        _plugin("paste", "VideoCopyPasteFrames", {"add type": "replace", "Select Start Time": {"type": "int[1:4]"},
                                                  "Number of Frames": 3, "Dest Paste Time": 41}),
        _plugin("blur", "VideoBlur", {"Start Time": {"type": "int[10:20]"}, "End Time": {"type": "int[21:30]"},
                                      "kernelsize": 15}),
        _plugin("silence", "DeleteAudioSamples", {"Start Time": "00:00:01.000000", "End Time": "00:00:01.100000"}),
        _plugin("addvoice", "AudioAddSampleDonor", {"add type": "replace", "Start Time": "00:00:02.000000",
                                                    "donor": {"type": "donor", "source": "voice"}}),
        _plugin("avi", "OutputRawVideo", {}),
    ],
    "links": [
        {"source": "base", "target": "cut"},
        {"source": "cut", "target": "paste"},
        {"source": "paste", "target": "blur"},
        {"source": "blur", "target": "silence"},
        {"source": "silence", "target": "addvoice"},
        {"source": "voice", "target": "addvoice", "donor": True},
        {"source": "addvoice", "target": "avi"},
    ],
}  # fmt: skip

# the shape of the original's optical-flow drop-and-restore specification: its plugin, argument
# and function names, value types and links, unchanged
FLOW_SHAPE: dict[str, Any] = {
    "directed": True,
    "graph": {**GRAPH, "name": "video_audio_flow", "username": "unicorn", "recompress": False},
    "nodes": [
        {"op_type": "BaseSelection", "image_directory": "{image_dir}", "picklist": "videoset", "id": "Base"},
        {"op_type": "PluginOperation", "plugin": "OutputX264", "id": "AviBase", "arguments": {}},
        {"op_type": "PluginOperation", "plugin": "FlowDrivenVideoFrameDrop", "id": "Drop", "arguments": {
            "seconds to drop": {"type": "int[2:4]"}, "Start Time": {"type": "value", "value": 0},
            "save histograms": {"type": "value", "value": "no"}, "codec": {"type": "value", "value": "0"},
            "Audio": {"type": "value", "value": "yes"}}},
        {"op_type": "PluginOperation", "plugin": "FlowDrivenVideoTimeWarp", "id": "Add", "arguments": {
            "Frames to Add": {"type": "variable", "source": "Drop", "name": "Frames to Add"},
            "Start Time": {"type": "variable", "source": "Drop", "name": "End Time",
                           "function": "maskgen.tool_set.addOneFrame"},
            "End Time": {"type": "variable", "source": "Drop", "name": "End Time",
                         "function": "maskgen.tool_set.addOneFrame"},
            "codec": {"type": "value", "value": "0"}, "Audio": {"type": "value", "value": "yes"}}},
        {"op_type": "PluginOperation", "plugin": "CompressAsVideo", "id": "DropExport",
         "arguments": {"donor": {"type": "donor", "source": "Base"}}},
        {"op_type": "PluginOperation", "plugin": "CompressAsVideo", "id": "AddExport",
         "arguments": {"donor": {"type": "donor", "source": "Base"}}},
    ],
    "links": [
        {"source": "Base", "target": "AviBase"},
        {"source": "AviBase", "target": "Drop"},
        {"source": "Drop", "target": "Add"},
        {"source": "Drop", "target": "DropExport"},
        {"source": "Add", "target": "AddExport"},
    ],
}  # fmt: skip


def _run(spec: dict[str, Any], folder: Path, *, seed: int, count: int = 2) -> list[Journal]:
    executor = BatchExecutor(
        folder / "projects", workdir=folder / "work", global_variables=_pools(folder), seed=seed
    )
    try:
        summary = executor.run_project(BatchProject(spec), count)
    finally:
        executor.finish()
    assert (summary.made, summary.failed) == (count, 0), summary.failures
    return [Journal.open(p) for p in sorted(summary.projects)]


def _edges(journal: Journal) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        d.get("plugin_name", d["op"]): (s, e, d) for s, e, d in journal.graph.edges() if d["op"] != "Donor"
    }


def _valid_with_probes(journal: Journal) -> None:
    errors = [f for f in validate(journal) if str(getattr(f, "severity", "")).lower().endswith("error")]
    assert errors == [], errors
    probes = generate_video_probes(journal)
    assert probes and all(p.final_node in journal.graph.final_nodes() for p in probes)


@pytest.mark.slow
def test_eight_node_video_spec_makes_valid_journals_with_probes(tmp_path: Path) -> None:
    journals = _run(EIGHT_NODES, tmp_path / "a", seed=3)
    picked = {Path(str(j.path_of(j.graph.base_node()))).suffix for j in journals}
    assert picked == {".mkv"}  # the .png and .wav beside the clips are not video
    drawn = []
    for journal in journals:
        assert journal.graph.attributes["projecttype"] == "video"
        _valid_with_probes(journal)
        edges = _edges(journal)
        _start, _end, cut = edges["FrameDrop"]
        first, frames = int(cut["arguments"]["Start Time"]), int(cut["arguments"]["Frames"])
        assert 5 <= first <= 15 and 3 <= frames <= 6
        spans = [(s.type, s.startframe, s.endframe) for s in segments.segments_of(cut)]
        assert spans[0] == ("video", first, first + frames - 1) and spans[1][0] == "audio"
        _, _, blur = edges["VideoBlur"]
        b_first, b_last = int(blur["arguments"]["Start Time"]), int(blur["arguments"]["End Time"])
        assert 10 <= b_first <= 20 and 21 <= b_last <= 30
        assert [(s.startframe, s.endframe) for s in segments.segments_of(blur)] == [(b_first, b_last)]
        _, _, silence = edges["DeleteAudioSamples"]
        assert [(s.type, s.startframe) for s in segments.segments_of(silence)] == [("audio", 44101)]
        assert "AudioAddSampleDonor" in edges and edges["OutputRawVideo"][2]["op"] == "OutputAVI"
        donors = [s for s, e, d in journal.graph.edges() if d["op"] == "Donor"]
        assert len(donors) == 1 and journal.graph.node(donors[0])["filetype"] == "audio"
        drawn.append((first, frames, b_first, b_last))
    again = _run(EIGHT_NODES, tmp_path / "b", seed=3)
    assert [
        (int(_edges(j)["FrameDrop"][2]["arguments"]["Start Time"]), int(_edges(j)["FrameDrop"][2]["arguments"]["Frames"]),
         int(_edges(j)["VideoBlur"][2]["arguments"]["Start Time"]), int(_edges(j)["VideoBlur"][2]["arguments"]["End Time"]))
        for j in again
    ] == drawn  # fmt: skip


@pytest.mark.slow
def test_the_originals_flow_driven_video_shape_runs_unchanged(tmp_path: Path) -> None:
    (journal,) = _run(FLOW_SHAPE, tmp_path, seed=5, count=1)
    _valid_with_probes(journal)
    edges = _edges(journal)
    _, _, drop = edges["FlowDrivenVideoFrameDrop"]
    dropped = int(drop["arguments"]["Frames Dropped"])
    assert 20 <= dropped <= 40 and drop["op"] == "SelectCutFrames"
    _, _, warp = edges["FlowDrivenVideoTimeWarp"]
    assert int(warp["arguments"]["Frames to Add"]) == dropped and warp["op"] == "TimeAlterationWarp"
    exports = [d for s, e, d in journal.graph.edges() if d.get("plugin_name") == "CompressAsVideo"]
    assert len(exports) == 2 and {d["op"] for d in exports} == {"AntiForensicCopyExif"}
    for _start, end, data in journal.graph.edges():
        if data.get("plugin_name") == "CompressAsVideo":  # the base donated its encoding
            assert set(journal.graph.donors_of(end)) == {journal.graph.base_node()}


SHORT: dict[str, Any] = {
    "directed": True,
    "multigraph": False,
    "graph": {**GRAPH, "name": "video-short"},
    "nodes": [
        {"id": "base", "op_type": "BaseSelection", "image_directory": "{image_dir}", "picklist": "videos",
         "filetypes": ["mkv"]},
        {"id": "props", "op_type": "InputMaskPluginOperation", "plugin": "VideoPropertySelector"},
        {**_plugin("paste", "VideoCopyPasteFrames", {"add type": "replace", "Select Start Time": 2,
                                                     "Number of Frames": 4, "Dest Paste Time": 30}),
         "description": "pasted in a {width@props}x{height@props} clip of {nb_frames@props} frames"},
    ],
    "links": [{"source": "base", "target": "props"}, {"source": "base", "target": "paste"},
              {"source": "props", "target": "paste", "connect": False}],
}  # fmt: skip


def _attachment(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "directed": True, "multigraph": False, "graph": {**GRAPH, "name": "video-extension"},
        "nodes": [{"id": "0", "op_type": "NodeAttachment"}, step],
        "links": [{"source": "0", "target": step["id"]}],
    }  # fmt: skip


@pytest.mark.slow
def test_video_journals_extend_through_a_picker_and_export_with_their_hdf5_files(tmp_path: Path) -> None:
    import json
    import tarfile

    from masksmith.batch.export import export_projects
    from masksmith.batch.extend import extend_projects

    journals = _run(SHORT, tmp_path, seed=2)
    for journal in journals:  # the selector's properties reached the paste's description; it made no node
        (paste,) = [d for *_, d in journal.graph.edges() if d.get("plugin_name") == "VideoCopyPasteFrames"]
        assert paste["description"] == f"pasted in a {clips.W}x{clips.H} clip of 60 frames"
        assert len(list(journal.graph.nodes())) == 2
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "flip.json").write_text(json.dumps(_attachment(
        _plugin("flip", "VideoFlip", {"Start Time": {"type": "int[3:8]"}, "End Time": 12, "flip direction": "vertical"})
    )))  # fmt: skip
    (specs / "never.json").write_text(json.dumps(_attachment(_plugin("x", "OutputRawVideo", {}))))
    picker = specs / "picker.json"
    picker.write_text(json.dumps({"picks": {".MKV": "flip.json", "audio": "never.json"}}))
    summary = extend_projects(tmp_path / "projects", picker, rules="final", workdir=tmp_path / "work", seed=4)
    assert summary.failed == 0 and summary.extended == len(journals)
    for folder in sorted((tmp_path / "projects").iterdir()):
        journal = Journal.open(folder)
        flips = [(s, e, d) for s, e, d in journal.graph.edges() if d.get("plugin_name") == "VideoFlip"]
        assert len(flips) == 1 and not [
            d for *_, d in journal.graph.edges() if d.get("plugin_name") == "OutputRawVideo"
        ]
        first = int(flips[0][2]["arguments"]["Start Time"])
        assert 3 <= first <= 8
        assert [(s.startframe, s.endframe) for s in segments.segments_of(flips[0][2])] == [(first, 12)]
        _valid_with_probes(journal)
    exported = export_projects(tmp_path / "projects", tmp_path / "out")
    archives = sorted((tmp_path / "out").glob("*.tgz"))
    assert len(archives) == len(journals), exported
    for archive in archives:
        with tarfile.open(archive) as tar:
            names = {n.split("/", 1)[-1] for n in tar.getnames()}
        reopened = Journal.open_archive(archive, tmp_path / "reopened" / archive.stem)
        named = {
            s.videosegment
            for *_, d in reopened.graph.edges()
            for s in segments.segments_of(d)
            if s.videosegment
        }
        assert (
            named and named <= names
        )  # the paste's frame masks travel (the flip records no masks: 'frames')
        _valid_with_probes(reopened)


def test_a_picker_refuses_an_escaping_path_and_names_unpicked_media(tmp_path: Path) -> None:
    import json

    from masksmith.batch.picks import SpecPicker
    from masksmith.errors import SpecError

    (tmp_path / "picker.json").write_text(json.dumps({"picks": {"mp4": "../elsewhere.json"}}))
    with pytest.raises(SpecError, match="inside the picker's folder"):
        SpecPicker.load(tmp_path / "picker.json")
    (tmp_path / "ext.json").write_text(json.dumps(_attachment(_plugin("x", "OutputRawVideo", {}))))
    (tmp_path / "picker.json").write_text(json.dumps({"picks": {"video": "ext.json"}}))
    picker = SpecPicker.load(tmp_path / "picker.json")
    assert picker is not None
    assert picker.project_for("clip.MOV") is picker.projects["video"]  # by media type
    with pytest.raises(SpecError, match=r"'song\.wav'"):
        picker.project_for("song.wav")
    assert SpecPicker.load(tmp_path / "ext.json") is None  # an ordinary specification


@pytest.mark.slow
def test_jtbatch_extend_takes_a_picker_and_names_journals_nothing_picks(tmp_path: Path, capsys: Any) -> None:
    import json

    from masksmith.cli.jtbatch import jtbatch
    from masksmith.cli.runner import run_group

    base = clips.frames(20)
    for name, suffix in (("a", ".mkv"), ("b", ".avi")):
        clip = clips.write(tmp_path / f"{name}{suffix}", base, rate=clips.RATE)
        journal = Journal.create(clip, tmp_path / "projects" / name)
        journal.save()
    (tmp_path / "flip.json").write_text(
        json.dumps(_attachment(_plugin("flip", "VideoFlip", {"Start Time": 2, "End Time": 5})))
    )
    (tmp_path / "picker.json").write_text(json.dumps({"picks": {"mkv": "flip.json"}}))
    args = ["extend", "--projects", str(tmp_path / "projects"), "--specification", str(tmp_path / "picker.json"),
            "--extensionRules", "basenode", "--workdir", str(tmp_path / "work")]  # fmt: skip
    code = run_group(jtbatch, args, prog_name="jtbatch")
    err = capsys.readouterr().err
    assert code == 1
    assert "no specification picked for base media 'b.avi'" in err
    flipped = Journal.open(tmp_path / "projects" / "a")
    assert [d["op"] for *_, d in flipped.graph.edges()] == ["TransformFlip"]
    assert not list(Journal.open(tmp_path / "projects" / "b").graph.edges())
