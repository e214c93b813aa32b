"""Permute groups as odometers with persisted cursors (masksmith.batch.permutations)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from masksmith.batch.permutations import (
    PermutationExhausted,
    PermutationGroup,
    PermutationManager,
    SelectionElement,
    SequenceElement,
)
from masksmith.batch.spec import load_spec
from masksmith.batch.state import Picklist

# Seed §3.9: x in int[1:4] then y in list [1,2,3], same permute group, over 13 projects. The seed lists
# the first five and the last two and elides the middle with "..."; the middle follows its pattern.
SEED_SEQUENCE = [
    (1, 1), (1, 2), (1, 3), (2, 1), (2, 2),
    (2, 3), (3, 1), (3, 2), (3, 3), (4, 1), (4, 2),
    (4, 3), (1, 1),
]  # fmt: skip

SEED_SPEC = {
    "directed": True,
    "graph": {"name": "s", "organization": "o", "projectdescription": "d", "technicalsummary": "t"},
    "nodes": [
        {"op_type": "BaseSelection", "image_directory": "/pool", "id": "0"},
        {
            "op_type": "PluginOperation",
            "plugin": "P",
            "id": "1",
            "arguments": {
                "x": {"permutegroup": "example_group", "type": "int[1:4]"},
                "y": {"permutegroup": " example_group ", "type": "list", "values": [1, 2, 3]},
            },
        },
    ],
    "links": [{"source": 0, "target": 1}],
}


def seed_manager(workdir: Path) -> PermutationManager:
    return PermutationManager.from_spec(load_spec(SEED_SPEC), workdir, pools={})


def test_seed_example_sequence_from_a_spec(tmp_path: Path) -> None:
    manager = seed_manager(tmp_path)
    got = [tuple(manager.advance("example_group").values()) for _ in range(13)]
    assert got == SEED_SEQUENCE


def test_seed_example_sequence_in_memory() -> None:
    group = PermutationGroup("g", [SequenceElement("x", range(1, 5)), SequenceElement("y", [1, 2, 3])])
    got = [(v["x"], v["y"]) for v in (group.next() for _ in range(13))]
    assert got == SEED_SEQUENCE


@pytest.mark.parametrize("first_run", [1, 4, 7, 12])
def test_restart_continues_not_repeats(tmp_path: Path, first_run: int) -> None:
    manager = seed_manager(tmp_path)
    before = [tuple(manager.advance("example_group").values()) for _ in range(first_run)]
    manager.save()
    restarted = seed_manager(tmp_path)
    after = [tuple(restarted.advance("example_group").values()) for _ in range(13 - first_run)]
    assert before + after == SEED_SEQUENCE
    assert restarted.current("example_group", "1.y") == SEED_SEQUENCE[-1][1]


def test_cursor_file_is_json_per_group(tmp_path: Path) -> None:
    manager = seed_manager(tmp_path)
    manager.advance("example_group")
    manager.advance("example_group")
    files = sorted(p.name for p in tmp_path.glob("permutegroup-*.json"))
    assert files == ["permutegroup-example_group.json"]
    state = json.loads((tmp_path / files[0]).read_text())
    assert state["elements"]["1.x"] == {"index": 0, "value": 1}
    assert state["elements"]["1.y"] == {"index": 1, "value": 2}


def test_two_managers_share_the_sequence(tmp_path: Path) -> None:
    a, b = seed_manager(tmp_path), seed_manager(tmp_path)
    got = [tuple((a if i % 2 == 0 else b).advance("example_group").values()) for i in range(13)]
    assert got == SEED_SEQUENCE


def test_threads_get_distinct_combinations(tmp_path: Path) -> None:
    manager = seed_manager(tmp_path)
    results: list[tuple[Any, ...]] = []
    guard = threading.Lock()

    def work() -> None:
        for _ in range(3):
            values = tuple(manager.advance("example_group").values())
            with guard:
                results.append(values)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(SEED_SEQUENCE[:12])


def _pool(tmp_path: Path, count: int) -> list[str]:
    return [str(tmp_path / "pool" / f"img{i}.jpg") for i in range(count)]


def test_selection_is_reused_until_others_exhausted_and_never_reset(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 2)
    picklist = Picklist(tmp_path / "work", "imageset")
    group = PermutationGroup(
        "image", [SelectionElement("0", pool, picklist), SequenceElement("2.h", [0.1, 0.2])]
    )
    got = [(Path(v["0"]).name, v["2.h"]) for v in (group.next() for _ in range(4))]
    assert got == [("img0.jpg", 0.1), ("img0.jpg", 0.2), ("img1.jpg", 0.1), ("img1.jpg", 0.2)]
    with pytest.raises(PermutationExhausted, match="'0'"):
        group.next()
    assert picklist.used() == {"img0.jpg", "img1.jpg"}


def test_selection_group_from_spec_restarts_on_same_image(tmp_path: Path) -> None:
    raw = {
        **SEED_SPEC,
        "nodes": [
            {
                "op_type": "BaseSelection",
                "permutegroup": "image",
                "image_directory": "/p",
                "picklist": "set",
                "id": "0",
            },
            {
                "op_type": "InputMaskPluginOperation",
                "plugin": "CropPermutations",
                "id": "2",
                "arguments": {
                    "percentage_height": {"permutegroup": "image", "type": "float[0.04:0.08:0.02]"},
                    "crop_x": {"permutegroup": "image", "type": "variable", "source": "0", "name": "crop_x"},
                },
            },
        ],
    }
    spec = load_spec(raw)
    pool = _pool(tmp_path, 3)
    work = tmp_path / "work"
    first = PermutationManager.from_spec(spec, work, pools={"0": pool})
    assert [e.name for e in first.group("image").elements] == ["0", "2.percentage_height"]
    seen = [first.advance("image") for _ in range(2)]
    assert [v["2.percentage_height"] for v in seen] == pytest.approx([0.04, 0.06])
    assert {Path(v["0"]).name for v in seen} == {"img0.jpg"}
    second = PermutationManager.from_spec(spec, work, pools={"0": pool})
    nxt = second.advance("image")
    assert Path(nxt["0"]).name == "img0.jpg"
    assert nxt["2.percentage_height"] == pytest.approx(0.08)
    assert Path(second.advance("image")["0"]).name == "img1.jpg"
    assert Picklist(work, "set").used() == {"img0.jpg", "img1.jpg"}


def test_deferred_element_registered_late_varies_fastest(tmp_path: Path) -> None:
    manager = PermutationManager(tmp_path)
    manager.register("image", SequenceElement("2.h", [1, 2]))
    assert manager.advance("image") == {"2.h": 1}
    manager.register("image", SequenceElement("3.crop_x", [0, 8, 16]))
    assert manager.current("image", "3.crop_x") == 0
    # values are fixed on first registration: a second list is ignored
    manager.register("image", SequenceElement("3.crop_x", [100, 200]))
    got = [tuple(manager.advance("image").values()) for _ in range(5)]
    assert got == [(1, 8), (1, 16), (2, 0), (2, 8), (2, 16)]


def test_restore_follows_the_value_when_the_list_changes(tmp_path: Path) -> None:
    manager = PermutationManager(tmp_path)
    manager.register("g", SequenceElement("a", [10, 20, 30]))
    manager.advance("g")
    manager.advance("g")
    edited = PermutationManager(tmp_path)
    edited.register("g", SequenceElement("a", [5, 7, 20, 30]))
    assert edited.advance("g") == {"a": 30}


def test_snapshot_for_failure_files(tmp_path: Path) -> None:
    manager = seed_manager(tmp_path)
    manager.advance_all()
    assert manager.snapshot() == {"example_group": {"1.x": 1, "1.y": 1}}
