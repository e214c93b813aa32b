"""Every video/audio rule: clear on a consistent link, firing on a broken one (media-free where the
rule reads only node attributes and segments)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from masksmith.journal import rules_video
from masksmith.journal.model import JournalGraph
from masksmith.journal.project import Journal
from masksmith.journal.rules_base import Severity
from masksmith.journal.segments import Segment


def _video(frames: int = 100, rate: float = 30.0, **extra: Any) -> dict[str, Any]:
    return {
        "filetype": "video",
        "nb_frames": frames,
        "avg_frame_rate": rate,
        "duration_ms": frames * 1000 / rate,
        "width": 96,
        "height": 72,
        **extra,
    }


def _audio(samples: int = 88200, rate: int = 44100) -> dict[str, Any]:
    return {
        "filetype": "audio",
        "nb_samples": samples,
        "sample_rate": rate,
        "duration_ms": samples * 1000 / rate,
    }


@dataclass
class Link:
    journal: Journal
    start: str = "a"
    end: str = "b"

    @property
    def edge(self) -> dict[str, Any]:
        return self.journal.graph.edge(self.start, self.end)

    def node(self, name: str) -> dict[str, Any]:
        return self.journal.graph.node(name)


def _link(
    tmp_path: Path, a: dict[str, Any], b: dict[str, Any], op: str, segments: list[Segment], **args: Any
) -> Link:
    graph = JournalGraph.create("v")
    graph.add_media("a", "a.avi", nodetype="base", **a)
    graph.add_media("b", "b.avi", **b)
    graph.add_operation_edge(
        "a", "b", op=op, maskname="", arguments=args,
        extra={"videomasks": [s.to_dict() for s in segments], "masks count": len(segments)},
    )  # fmt: skip
    return Link(Journal(tmp_path, graph))


Build = Callable[[Path], Link]
Break = Callable[[Link], None]


def _same(tmp_path: Path) -> Link:
    return _link(tmp_path, _video(), _video(), "Blur", [Segment.of_frames(20, 39, 30)], **{"Start Time": 20})


def _cut(tmp_path: Path) -> Link:
    a = _video(sample_rate=44100)
    b = _video(80, sample_rate=44100)
    cut = Segment.of_frames(71, 90, 30)
    audio = Segment.of_frames(102901, 132300, 44100, type="audio")
    return _link(tmp_path, a, b, "SelectCutFrames", [cut, audio], **{"Start Time": 1})


def _insert(tmp_path: Path) -> Link:
    return _link(
        tmp_path,
        _video(),
        _video(119),
        "PasteFrames",
        [Segment.of_frames(21, 39, 30)],
        **{"add type": "insert"},
    )


def _rate(tmp_path: Path) -> Link:
    return _link(tmp_path, _video(), _video(83, 25.0), "TimeAlterationFrameRate", [Segment.of_frames(1, 83, 25)],
                 **{"Frame Rate": 25})  # fmt: skip


def _audio_link(tmp_path: Path) -> Link:
    return _link(
        tmp_path, _audio(), _audio(), "AudioAmplify", [Segment.of_frames(100, 200, 44100, type="audio")]
    )


def _set(node: str, **values: Any) -> Break:
    return lambda link: link.node(node).update(values)


def _edge_args(**values: Any) -> Break:
    return lambda link: link.edge["arguments"].update(values)


def _drop_audio_segment(link: Link) -> None:
    link.edge["videomasks"] = link.edge["videomasks"][:1]
    link.edge["masks count"] = 1


def _add_video_segment(link: Link) -> None:
    link.edge["videomasks"].append(Segment.of_frames(1, 2, 30).to_dict())
    link.edge["masks count"] += 1


def _missing_hdf5(link: Link) -> None:
    link.edge["videomasks"][0]["videosegment"] = "a_b_mask_633.333.hdf5"


CASES: list[tuple[str, Build, Break]] = [
    ("check_length_same", _same, _set("b", nb_frames=99)),
    ("check_length_smaller", _cut, _set("b", nb_frames=100)),
    ("check_length_same_or_bigger", _insert, _set("b", nb_frames=90)),
    ("check_duration", _same, _set("b", duration_ms=2000.0)),
    ("check_frame_rate_change_strict", _same, _set("b", avg_frame_rate=25.0)),
    ("check_frame_rate_change_lenient", _same, _set("b", avg_frame_rate=25.0)),
    ("check_frame_rate_did_change", _rate, _set("b", avg_frame_rate=30.0)),
    ("check_sample_rate", _audio_link, _set("b", sample_rate=48000)),
    ("check_audio_only", _audio_link, _add_video_segment),
    ("check_frame_times", _same, _edge_args(**{"Start Time": 500})),
    ("check_cut_frames", _cut, _drop_audio_segment),
    ("check_paste_frame_length", _insert, _set("b", nb_frames=130)),
    ("check_audio_length_strict", _audio_link, _set("b", nb_samples=80000)),
    ("check_audio_length_loose", _audio_link, _set("b", nb_samples=80000)),
    ("check_duration_audio", _audio_link, _set("b", duration_ms=1500.0)),
    ("edge_video_segments", _same, _missing_hdf5),
]
TESTED_RULES = frozenset(name for name, _, _ in CASES) | {"node_stream_unreadable"}


@pytest.mark.parametrize(("name", "build", "breaks"), CASES, ids=[c[0] for c in CASES])
def test_video_rule_is_clear_then_fires(tmp_path: Path, name: str, build: Build, breaks: Break) -> None:
    rule = getattr(rules_video, name)
    link = build(tmp_path)
    operation = link.journal.catalogue.find(str(link.edge["op"]))
    assert rule(operation, link.journal, link.start, link.end) is None
    breaks(link)
    outcome = rule(operation, link.journal, link.start, link.end)
    message = outcome[1] if isinstance(outcome, tuple) else outcome
    assert isinstance(message, str) and message
    if name.endswith("lenient") or name.endswith("loose"):
        assert outcome[0] is Severity.WARNING


def test_frame_rate_did_change_checks_the_argument(tmp_path: Path) -> None:
    link = _rate(tmp_path)
    link.edge["arguments"]["Frame Rate"] = 24
    assert "Frame Rate argument says 24" in rules_video.check_frame_rate_did_change(
        None, link.journal, "a", "b"
    )


def test_stream_node_rule_reads_the_file(tmp_path: Path) -> None:
    link = _same(tmp_path)
    (tmp_path / "a.avi").write_bytes(b"not a video")
    assert "cannot be read as video" in rules_video.node_stream_unreadable(link.journal, "a")
    assert rules_video.node_stream_unreadable(link.journal, "b") is None  # missing: another rule's job
