"""CocoMaskSelector, its initializer and the area-based image pruning helper, on a synthetic COCO file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from masksmith.errors import PluginError
from masksmith.media import io as media_io
from masksmith.plugins import PluginContext, get_plugin
from masksmith.plugins.coco import MAX_AREA, create_global_state, move_valid_images
from tests.plugins.plugin_cases import coco_annotations, photo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools vs numpy 2


@pytest.fixture
def coco_setup(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    source = tmp_path / "scene.png"
    media_io.write_image(source, photo())
    state = create_global_state({"coco.annotations": str(coco_annotations(tmp_path, source.name))})
    return source, state


def _select(source: Path, state: dict[str, object], seed: int, **bounds: int):  # type: ignore[no-untyped-def]
    arguments = {"coco": state["coco"], "coco.index": state["coco.index"], **bounds}
    context = PluginContext(
        source=source,
        target=source.with_name("unused.png"),
        arguments=arguments,
        rng=np.random.default_rng(seed),
    )
    return get_plugin("CocoMaskSelector").transform(context)


def test_initializer_builds_the_index(coco_setup: tuple[Path, dict[str, object]]) -> None:
    source, state = coco_setup
    assert state["coco.index"] == {source.name: 7}
    assert state["coco.subject"] == {1: "person", 2: "car"}
    assert hasattr(state["coco"], "annToMask")


@pytest.mark.parametrize(("lower", "upper"), [(0, MAX_AREA), (1000, 2000), (5000, 20000), (1100, 1300)])
def test_mask_is_pycocotools_mask_of_an_annotation_within_bounds(
    lower: int, upper: int, coco_setup: tuple[Path, dict[str, object]]
) -> None:
    source, state = coco_setup
    coco = state["coco"]
    chosen_ids = set()
    for seed in range(8):
        result = _select(source, state, seed, **{"area.lower.bound": lower, "area.upper.bound": upper})
        annotation = coco.loadAnns([result.variables["annotation_id"]])[0]  # type: ignore[attr-defined]
        assert lower <= annotation["area"] <= upper
        expected = coco.annToMask(annotation) > 0  # type: ignore[attr-defined]
        assert result.mask is not None and np.array_equal(result.mask, expected)
        category = "person" if annotation["category_id"] == 1 else "car"
        assert result.variables["category"] == category
        assert result.variables["subject"] == ("people" if category == "person" else "man-made object")
        chosen_ids.add(annotation["id"])
    assert not (source.with_name("unused.png")).exists()
    if (lower, upper) == (0, MAX_AREA):
        assert len(chosen_ids) > 1  # the seed picks among the valid annotations


def test_no_annotation_within_bounds_is_an_error(coco_setup: tuple[Path, dict[str, object]]) -> None:
    source, state = coco_setup
    with pytest.raises(PluginError) as caught:
        _select(source, state, 0, **{"area.lower.bound": 50000, "area.upper.bound": 60000})
    assert caught.value.argument == "area.lower.bound"


def test_an_image_missing_from_the_annotations_is_named(
    tmp_path: Path, coco_setup: tuple[Path, dict[str, object]]
) -> None:
    _, state = coco_setup
    other = tmp_path / "elsewhere.png"
    media_io.write_image(other, photo())
    with pytest.raises(PluginError, match=r"elsewhere\.png"):
        _select(other, state, 0)


def test_initializer_needs_the_annotations_variable() -> None:
    with pytest.raises(PluginError) as caught:
        create_global_state({})
    assert caught.value.argument == "coco.annotations"


def _dataset(folder: Path) -> Path:
    images = folder / "images"
    images.mkdir()
    entries, annotations = [], []
    for index, area in enumerate([500, 1500, 3000, 9000, 1200], start=1):
        name = f"img{index}.png"
        media_io.write_image(images / name, photo("coffee", 40, 60))
        entries.append({"id": index, "file_name": name, "height": 40, "width": 60})
        annotations.append(
            {
                "id": 10 + index,
                "image_id": index,
                "category_id": 1,
                "area": area,
                "segmentation": [[0, 0, 10, 0, 10, 10]],
                "bbox": [0, 0, 10, 10],
                "iscrowd": 0,
            }
        )
    path = folder / "instances.json"
    path.write_text(
        json.dumps(
            {
                "images": entries,
                "annotations": annotations,
                "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
            }
        )
    )
    return path


def test_move_valid_images_moves_qualifying_images_and_writes_a_smaller_file(tmp_path: Path) -> None:
    annotations = _dataset(tmp_path)
    subset = tmp_path / "subset"
    new_annotations = tmp_path / "subset.json"
    moved = move_valid_images(
        tmp_path / "images",
        subset,
        annotations,
        area_constraint=(1000, 5000),
        max_count=2,
        new_annotation_path=new_annotations,
    )
    assert [p.name for p in moved] == ["img2.png", "img3.png"]
    assert sorted(p.name for p in subset.iterdir()) == ["img2.png", "img3.png"]
    assert not (tmp_path / "images" / "img2.png").exists() and (tmp_path / "images" / "img5.png").exists()
    written = json.loads(new_annotations.read_text())
    assert sorted(i["file_name"] for i in written["images"]) == ["img2.png", "img3.png"]
    assert {a["image_id"] for a in written["annotations"]} == {2, 3}


def test_move_valid_images_in_place_removes_the_others(tmp_path: Path) -> None:
    annotations = _dataset(tmp_path)
    images = tmp_path / "images"
    kept = move_valid_images(images, images, annotations, area_constraint=(1000, 5000))
    assert [p.name for p in kept] == ["img2.png", "img3.png", "img5.png"]
    assert sorted(p.name for p in images.iterdir()) == ["img2.png", "img3.png", "img5.png"]
