"""The Journaling Tool's specification conventions and its Python plugins, through ``batch create``:
specifications shaped like the original's (written for these tests) make valid journals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

from masksmith.cli.batch_cmds import batch
from masksmith.cli.runner import run_group
from masksmith.journal.project import Journal
from masksmith.journal.validate import has_errors, validate
from masksmith.media import io as media_io
from tests.batch.jt_specs import (
    base,
    basic_example,
    image,
    media_pools,
    plugin,
    run_spec,
    selector,
    smart_mask_example,
    spec,
    value,
    write_spec,
)
from tests.plugins.plugin_cases import box_mask, photo, qt_file


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return media_pools(tmp_path_factory.mktemp("media"))


def _journals(summary: Any) -> list[Journal]:
    return [Journal.open(p) for p in summary.projects]


def _edge(journal: Journal, plugin_name: str) -> tuple[str, str, dict[str, Any]]:
    return next((s, e, d) for s, e, d in journal.graph.edges() if d.get("plugin_name") == plugin_name)


# --- the original's basic example ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 13))
def test_basic_example_makes_valid_journals_for_every_seed(
    seed: int, pools: dict[str, str], tmp_path: Path
) -> None:
    summary = run_spec(tmp_path, basic_example(), pools, count=2, seed=seed)
    assert (summary.made, summary.failed) == (2, 0), summary.failures
    for journal in _journals(summary):
        assert not has_errors(validate(journal))
        _start, end, _ = _edge(journal, "SelectRegion")
        selected = journal.pixels(end)[:, :, 3] > 0
        assert 0 < selected.mean() < 0.5  # a region, never the whole image


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 13))
def test_smart_mask_example_makes_valid_journals_for_every_seed(
    seed: int, pools: dict[str, str], tmp_path: Path
) -> None:
    """Large size classes drawn bigger than the donor must still select a part of it."""
    summary = run_spec(tmp_path, smart_mask_example(), pools, count=2, seed=seed)
    assert (summary.made, summary.failed) == (2, 0), summary.failures


# --- conventions -----------------------------------------------------------------------------------


def test_plugin_variant_runs_the_plugin_and_records_the_variant(
    pools: dict[str, str], tmp_path: Path
) -> None:
    data = spec([base(), plugin("1", "OutputPNG::Test", {"Image Rotated": value("yes")})], [(0, 1)])
    summary = run_spec(tmp_path, data, pools)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = _journals(summary)[0]
    edge = next(d for _, _, d in journal.graph.edges())
    assert edge["op"] == "OutputPng::Test" and edge["plugin_name"] == "OutputPNG"
    assert not has_errors(validate(journal))


def test_donor_argument_without_source_takes_the_other_predecessor(
    pools: dict[str, str], tmp_path: Path
) -> None:
    """The COCO example's shape: the paste has two plain links and a donor argument naming no source."""
    data = spec(
        [
            base(),
            image("1"),
            plugin("3", "OutputPNG", {"Image Rotated": value("yes")}),
            plugin("4", "OutputPNG", {"Image Rotated": value("yes")}),
            plugin("5", "SelectRegion", {"alpha": value("yes")}),
            plugin("6", "PasteSplice", {"approach": value("random"), "donor": {"type": "donor"}}),
        ],
        [(1, 3), (0, 2), (3, 4), (2, 5), (4, 5)],
    )
    # positions: the donor branch (4) is listed before the base branch would be; the base path still wins
    data["links"] = [{"source": s, "target": t} for s, t in [(0, 2), (1, 3), (3, 4), (4, 5), (2, 5)]]
    summary = run_spec(tmp_path, data, pools)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = _journals(summary)[0]
    start, end, _ = _edge(journal, "PasteSplice")
    assert journal.graph.donors_of(end) == [_edge(journal, "SelectRegion")[1]]
    assert nx.has_path(journal.graph.graph, journal.graph.base_node(), start)  # pasted into the base path
    assert not has_errors(validate(journal))


def test_connect_false_link_into_an_image_selection_orders_without_an_edge(
    pools: dict[str, str], tmp_path: Path
) -> None:
    data = spec(
        [
            base(),
            plugin("1", "OutputPNG", {"Image Rotated": value("yes")}),
            image("2"),
            plugin("3", "OutputPNG", {"Image Rotated": value("yes")}),
            plugin("4", "SelectRegion", {"alpha": value("yes")}),
            plugin(
                "5", "PasteSplice", {"approach": value("random"), "donor": {"type": "donor", "source": "4"}}
            ),
        ],
        [
            (0, 1),
            {"source": 1, "target": 2, "connect": False},
            (2, 3),
            (3, 4),
            (1, 5),
            {"source": 4, "target": 5, "donor": True},
        ],
    )
    summary = run_spec(tmp_path, data, pools)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = _journals(summary)[0]
    donors = journal.graph.nodes_of_type("donor")
    assert len(donors) == 1 and journal.graph.graph.in_degree(donors[0]) == 0  # no edge into the selection
    assert len([1 for _, _, d in journal.graph.edges() if d["op"] == "OutputPng"]) == 2


def test_create_refuses_an_extension_spec_up_front(pools: dict[str, str], tmp_path: Path) -> None:
    data = spec(
        [{"op_type": "NodeAttachment", "id": "0"}, plugin("1", "MedianBlur", {"kernelSize": value(5)})],
        [(0, 1)],
    )
    path = write_spec(tmp_path, data)
    projects = tmp_path / "projects"
    code = run_group(batch, ["create", "--specification", str(path), "--projects", str(projects),
                             "--workdir", str(tmp_path / "w"), "--global_variables", f"image_dir={pools['image_dir']}"],
                     prog_name="masksmith batch")  # fmt: skip
    assert code == 2
    assert not projects.exists() or not any(projects.iterdir())


def test_create_refusal_names_batch_extend(pools: dict[str, str], tmp_path: Path) -> None:
    data = spec(
        [{"op_type": "NodeAttachment", "id": "0"}, plugin("1", "MedianBlur", {"kernelSize": value(5)})],
        [(0, 1)],
    )
    path = write_spec(tmp_path, data)
    result = CliRunner().invoke(
        batch, ["create", "--specification", str(path), "--projects", str(tmp_path / "p")]
    )
    assert "batch extend" in str(result.exception) and "NodeAttachment" in str(result.exception)


# --- one specification per plugin ported from the original -----------------------------------------


def _plugin_specs(folder: Path) -> dict[str, tuple[dict[str, Any], dict[str, str], str]]:
    """plugin name → (spec, extra globals, operation recorded)."""
    folder.mkdir(parents=True, exist_ok=True)
    rotated = {"Image Rotated": value("yes")}
    choices = folder / "crops.json"
    choices.write_text(
        json.dumps({"left": {"crop_x": 8, "crop_y": 16, "pixel_width": 200, "pixel_height": 150}})
    )
    masks_dir = folder / "masks"
    masks_dir.mkdir(exist_ok=True)
    for stem in ("coffee0", "chelsea1", "astronaut2", "rocket3"):
        media_io.write_image(masks_dir / f"{stem}_mask.png", (box_mask() * 255).astype(np.uint8))
    finals = folder / "final.png"
    pasted = photo("coffee")
    pasted[40:120, 60:160] = photo("astronaut", 80, 100)
    media_io.write_image(finals, pasted)
    out: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
        "JSONSelector": (
            spec(
                [base(), plugin("1", "OutputPNG", rotated), selector("2", "JSONSelector", {"Json File": value("{choices}"), "index": value("left")}),
                 plugin("3", "CropTo", {k: {"type": "variable", "source": "2", "name": k} for k in ("crop_x", "crop_y", "pixel_width", "pixel_height")})],
                [(0, 1), (1, 2), (1, 3), (2, 3)],
            ),
            {"choices": str(choices)},
            "TransformCrop",
        ),
        "DirMaskSelect": (
            spec(
                [base(), selector("1", "DirMaskSelect", {"directory": value("{masks}")}), plugin("2", "OutputPNG", rotated),
                 plugin("3", "GaussianLocalBlur", {"kernelsize": value(9), "inputmaskname": {"type": "input", "source": "1"}})],
                [(0, 1), (0, 2), (2, 3), (1, 3)],
            ),
            {"masks": str(masks_dir)},
            "Blur",
        ),
        "JpgFromCamera": (
            spec([base(), plugin("1", "OutputPNG", rotated), plugin("2", "JpgFromCamera", {"qtfile": value("{qt}")})], [(0, 1), (1, 2)]),
            {"qt": str(qt_file(folder))},
            "AntiForensicJPGCompression",
        ),
        "OutputJpg": (spec([base(), plugin("1", "OutputPNG", rotated), plugin("2", "OutputJpg", {"quality": value(80)})], [(0, 1), (1, 2)]), {}, "OutputJpg"),
        "DetermineImageParameters": (
            spec(
                [base(), plugin("1", "OutputPNG", rotated),
                 selector("2", "DetermineImageParameters", {"percentage_width": value(0.5), "percentage_height": value(0.5)}),
                 plugin("3", "CropTo", {"pixel_width": {"type": "variable", "source": "2", "name": "selected_width"},
                                        "pixel_height": {"type": "variable", "source": "2", "name": "selected_height"}})],
                [(0, 1), (1, 2), (1, 3), (2, 3)],
            ),
            {},
            "TransformCrop",
        ),
        "CropTo": (spec([base(), plugin("1", "OutputPNG", rotated), plugin("2", "CropTo", {"crop_x": value(24), "crop_y": value(8), "pixel_width": value(160), "pixel_height": value(120)})], [(0, 1), (1, 2)]), {}, "TransformCrop"),
        "CropToFitDonor": (
            spec([base(), image("1"), plugin("2", "OutputPNG", rotated), plugin("3", "CropToFitDonor", {"donor": {"type": "donor", "source": "1"}})],
                 [(0, 2), (2, 3), {"source": 1, "target": 3, "donor": True}]),
            {},
            "TransformCrop",
        ),
        "FaceCrop": (spec([base(), plugin("1", "OutputPNG", rotated), plugin("2", "FaceCrop", {"crop dimensions": value("128,96"), "chin position": value("170,150"), "right eye position": value("150,100")})], [(0, 1), (1, 2)]), {}, "TransformCrop"),
        "SeamCarve": (spec([base(), plugin("1", "OutputPNG", rotated), plugin("2", "SeamCarve", {"percentage_width": value(0.9)})], [(0, 1), (1, 2)]), {}, "TransformSeamCarving"),
        "ConvertToColor": (spec([base(), plugin("1", "OutputPNG", rotated), plugin("2", "ConvertToColor", {"channel": value("red")})], [(0, 1), (1, 2)]), {}, "Blend"),
        "PasteSpliceDonor": (
            spec([base(directory="{single}"), image("1"), plugin("2", "OutputPNG", rotated),
                  plugin("3", "PasteSpliceDonor", {"Final Image": value("{final}"), "donor": {"type": "donor"}, "purpose": value("add"), "subject": value("people")})],
                 [(0, 2), (2, 3), {"source": 1, "target": 3, "donor": True}]),
            {"final": str(finals)},
            "PasteSplice",
        ),
        "SIPStoPNG": (spec([base(), plugin("1", "SIPStoPNG")], [(0, 1)]), {}, "OutputPng"),
    }  # fmt: skip
    return out


PLUGINS = ["JSONSelector", "DirMaskSelect", "JpgFromCamera", "OutputJpg", "DetermineImageParameters", "CropTo",
           "CropToFitDonor", "FaceCrop", "SeamCarve", "ConvertToColor", "PasteSpliceDonor", "SIPStoPNG"]  # fmt: skip


@pytest.mark.parametrize("name", PLUGINS)
def test_a_specification_using_the_plugin_makes_a_valid_journal(
    name: str, pools: dict[str, str], tmp_path: Path
) -> None:
    data, extra, op = _plugin_specs(tmp_path / "inputs")[name]
    single = tmp_path / "single"
    single.mkdir()
    media_io.write_image(single / "coffee0.jpg", photo("coffee"), quality=88)
    summary = run_spec(tmp_path, data, {**pools, **extra, "single": str(single)}, count=1, seed=3)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = _journals(summary)[0]
    ops = [d["op"] for _, _, d in journal.graph.edges()]
    assert op in ops
    assert not has_errors(validate(journal))


def test_extension_with_a_json_selected_donor_crop_and_camera_tables(tmp_path: Path) -> None:
    """The shape of the original's GAN/CFA extension specs: a JSON-selected image (connect: false links)
    donates its size to CropToFitDonor, and its camera table file to JpgFromCamera."""
    from masksmith.batch.extend import extend_projects
    from tests.batch import extend_fixtures as ef

    projects = tmp_path / "projects"
    ef.simple_journal(projects / "s")
    sized = tmp_path / "prnu.png"
    media_io.write_image(sized, photo("chelsea", 32, 48))
    entries = tmp_path / "cameras.json"
    entries.write_text(
        json.dumps({"cam": {"prnu": str(sized), "qtable": str(qt_file(tmp_path))}}), encoding="utf-8"
    )
    data = spec(
        [
            {"op_type": "NodeAttachment", "id": "base_PNG"},
            {"op_type": "ImageSelectionPluginOperation", "plugin": "JSONSelector", "id": "Selector", "global": True,
             "arguments": {"Json File": str(entries), "File Key": "prnu", "index": "cam"}},
            plugin("CropCFA", "CropToFitDonor", {"donor": {"type": "donor", "source": "Selector"}}),
            plugin("CameraAdded", "JpgFromCamera", {"qtfile": "{qtable@Selector}", "rotate": "no"}),
        ],
        [{"source": "base_PNG", "target": "Selector", "connect": False},
         {"source": "Selector", "target": "CropCFA", "connect": False},
         {"source": "base_PNG", "target": "CropCFA"}, {"source": "CropCFA", "target": "CameraAdded"}],
    )  # fmt: skip
    summary = extend_projects(projects, write_spec(tmp_path, data), workdir=tmp_path / "w")
    assert (summary.failed, summary.extended) == (0, 1), summary.failures
    journal = Journal.open(projects / "s")
    _, cropped, crop = _edge(journal, "CropToFitDonor")
    assert crop["op"] == "TransformCrop" and journal.pixels(cropped).shape[:2] == (32, 48)
    _, jpeg, _ = _edge(journal, "JpgFromCamera")
    assert media_io.jpeg_quantization_tables(journal.path_of(jpeg))[0][:3] == [8, 6, 5]
    assert not has_errors(validate(journal))


@pytest.mark.parametrize(
    ("name", "named"),
    [("PRNU-AddFromDonor", "PRNU"), ("MagickAddNoise", "ImageMagick"), ("CameraModelGan", "GAN"),
     ("SaveAsTIFF", "OutputTIFF"), ("ExifGPSChange", "exiftool")],
)  # fmt: skip
def test_refusals_name_what_the_original_plugin_needed(name: str, named: str) -> None:
    from masksmith.batch.project import BatchProject
    from masksmith.errors import SpecError

    data = spec([base(), plugin("1", name)], [(0, 1)])
    with pytest.raises(SpecError, match=named) as caught:
        BatchProject(data)
    assert "nodes[1].plugin" in str(caught.value)


def test_json_selector_answers_to_the_spelling_some_specs_use() -> None:
    from masksmith.plugins import get_plugin

    assert type(get_plugin("JsonSelector")) is type(get_plugin("JSONSelector"))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on numpy 2
def test_the_coco_example_runs_unchanged(pools: dict[str, str], tmp_path: Path) -> None:
    """Seed §3.10.2's example (COCO mask → donor selection → paste with a source-less donor argument)."""
    from masksmith.batch.executor import BatchExecutor
    from masksmith.batch.project import BatchProject
    from tests.plugins.plugin_cases import coco_annotations

    coco_dir = tmp_path / "coco"
    coco_dir.mkdir()
    media_io.write_image(coco_dir / "coco_train_7.png", photo("astronaut"))
    annotations = coco_annotations(tmp_path, "coco_train_7.png")
    rotated = {"Image Rotated": value("yes")}
    data = spec(
        [
            base(),
            image("1", "{coco_images}"),
            {"op_type": "InputMaskPluginOperation", "id": "2", "plugin": "CocoMaskSelector", "experiment_id": "MFC18",
             "arguments": {"coco": {"type": "global", "name": "coco"}, "coco.index": {"type": "global", "name": "coco.index"}}},
            plugin("3", "OutputPNG", {**rotated, "foo": {"type": "int[10:100]"}}),
            plugin("4", "OutputPNG", rotated),
            plugin("5", "SelectRegionWithMask", {"inputmaskname": {"type": "input", "source": "2"},
                                                 "subject": {"type": "variable", "source": "2", "name": "subject"}}),
            plugin("6", "PasteSplice", {"approach": value("random"), "segment": value("slic"), "donor": {"type": "donor"}}),
            plugin("7", "GaussianLocalBlur", {"inputmaskname": {"type": "mask", "source": "3", "target": "6"}, "invertmask": value(True)}),
            plugin("8", "CompressAs", {"donor": {"type": "donor", "source": "0"}, "rotate": value("yes")}, experiment_id="1a"),
        ],
        [(0, 3), (1, 2), (1, 4), (4, 5), (3, 6), (5, 6), (6, 7), (7, 8)],
    )  # fmt: skip
    executor = BatchExecutor(
        tmp_path / "projects",
        workdir=tmp_path / "w",
        global_variables={**pools, "coco_images": str(coco_dir), "coco.annotations": str(annotations)},
        initializers=["masksmith.plugins.coco.create_global_state"],
        seed=4,
    )
    try:
        executor.run_project(BatchProject(write_spec(tmp_path, data)), 1)
    finally:
        summary = executor.finish()
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = _journals(summary)[0]
    _, pasted, _ = _edge(journal, "PasteSplice")
    assert journal.graph.donors_of(pasted) == [_edge(journal, "SelectRegionWithMask")[1]]
    assert not has_errors(validate(journal))


def test_the_executor_refuses_an_extension_spec_before_making_anything(
    pools: dict[str, str], tmp_path: Path
) -> None:
    from masksmith.batch.executor import BatchExecutor
    from masksmith.batch.project import BatchProject
    from masksmith.errors import SpecError

    data = spec(
        [{"op_type": "NodeAttachment", "id": "0"}, plugin("1", "MedianBlur", {"kernelSize": value(5)})],
        [(0, 1)],
    )
    executor = BatchExecutor(tmp_path / "projects", workdir=tmp_path / "w", global_variables=pools)
    try:
        with pytest.raises(SpecError, match="batch extend"):
            executor.run_project(BatchProject(data), 2)
    finally:
        summary = executor.finish()
    assert summary.made == summary.failed == 0
    assert not list((tmp_path / "w").glob("failures-*"))


def test_face_crop_specification_with_a_face_map_global(pools: dict[str, str], tmp_path: Path) -> None:
    """The original's Face_Crop shape: the face map is a global JSON, the base is the (donor) name to look up."""
    faces = [
        {"file_name": f"{stem}.jpg", "faces": [{"chin_x": 160, "right_eye_y": 120, "face_width": 40,
                                                "face_height": 48, "face_yaw": 3, "face_pitch": 2}]}
        for stem in ("coffee0", "chelsea1", "astronaut2", "rocket3")
    ]  # fmt: skip
    face_file = tmp_path / "faces.json"
    face_file.write_text(json.dumps(faces), encoding="utf-8")
    data = spec(
        [
            {**base("Base"), "arguments": {"isgan": "yes"}},
            {"op_type": "PluginOperation", "plugin": "OutputPNG", "id": "ToPNG"},
            plugin("Cropped", "FaceCrop", {"crop dimensions": value("96,96"),
                                           "filemap": {"type": "global", "name": "faces.json"},
                                           "donor": {"type": "donor", "source": "Base"}}),
            plugin("Output", "CompressAs", {"donor": {"type": "donor", "source": "Base"}}),
        ],
        [{"source": "Base", "target": "ToPNG"}, {"source": "ToPNG", "target": "Cropped"},
         {"source": "Cropped", "target": "Output"}],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, {**pools, "faces.json.load": str(face_file)})
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = _journals(summary)[0]
    _start, end, crop = _edge(journal, "FaceCrop")
    assert (crop["arguments"]["left"], crop["arguments"]["top"]) == (112, 72)  # (160-48, 120-48) on 8s
    assert journal.pixels(end).shape[:2] == (96, 96)
    assert journal.graph.node(journal.graph.base_node())["isgan"] == "yes"
    assert not has_errors(validate(journal))


def test_object_crop_specification_looks_the_window_up_by_image(
    pools: dict[str, str], tmp_path: Path
) -> None:
    """The original's Object_Crop shape: JsonSelector keyed by image name (index = the base's file path)."""
    windows = {
        stem: {"x": 8 * i, "y": 16, "w": 96}
        for i, stem in enumerate(("coffee0", "chelsea1", "astronaut2", "rocket3"))
    }
    listing = tmp_path / "objects.json"
    listing.write_text(json.dumps(windows), encoding="utf-8")
    variable = lambda name: {"type": "variable", "source": "Selector", "name": name}  # noqa: E731
    data = spec(
        [
            base("Base"),
            plugin("BasePng", "OutputPNG", {"Image Rotated": value("no")}),
            {"op_type": "InputMaskPluginOperation", "plugin": "JsonSelector", "id": "Selector",
             "arguments": {"Json File": "{json_path}", "index": {"type": "imagefile", "source": "Base"}}},
            plugin("cropMagic", "CropTo", {"crop_x": variable("x"), "crop_y": variable("y"),
                                           "pixel_width": variable("w"), "pixel_height": variable("w")}),
            plugin("final", "CompressAs", {"donor": {"type": "donor", "source": "Base"}, "rotate": value("no")}),
        ],
        [{"source": "Base", "target": "Selector"}, {"source": "Selector", "target": "cropMagic", "connect": False},
         {"source": "Base", "target": "BasePng"}, {"source": "BasePng", "target": "cropMagic"},
         {"source": "cropMagic", "target": "final"}],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, {**pools, "json_path": str(listing)}, count=2)
    assert (summary.made, summary.failed) == (2, 0), summary.failures
    for journal in _journals(summary):
        stem = Path(journal.graph.node(journal.graph.base_node())["file"]).stem
        _, end, crop = _edge(journal, "CropTo")
        assert crop["arguments"]["crop_x"] == windows[stem]["x"]
        assert journal.pixels(end).shape[:2] == (96, 96)
        assert not has_errors(validate(journal))


def test_donor_path_extension_recompresses_with_its_own_root(tmp_path: Path) -> None:
    """`donorpath` with recompress: the new donor-path final is re-saved like its donor root, and the
    project base is not linked to it."""
    from masksmith.batch.extend import extend_projects
    from tests.batch import extend_fixtures as ef

    scratch = tmp_path / "src"
    scratch.mkdir()
    media_io.write_image(scratch / "B.jpg", photo("coffee"), quality=90)
    media_io.write_image(scratch / "D.jpg", photo("chelsea"), quality=75)
    journal = Journal.create(scratch / "B.jpg", tmp_path / "projects" / "j", name="j")
    journal.add_image(scratch / "D.jpg", nodetype="donor", node_id="D")
    media_io.write_image(scratch / "d1.png", media_io.read_image(scratch / "D.jpg").pixels)
    journal.record("D", scratch / "d1.png", op="OutputPng", arguments={"Image Rotated": "no"})
    d1 = next(e for s, e, _ in journal.graph.edges() if s == "D")
    media_io.write_image(scratch / "b1.png", media_io.read_image(scratch / "B.jpg").pixels)
    journal.record(
        journal.graph.base_node(), scratch / "b1.png", op="OutputPng", arguments={"Image Rotated": "no"}
    )
    b1 = next(e for s, e, _ in journal.graph.edges() if s == journal.graph.base_node())
    pasted = journal.pixels(b1).copy()
    pasted[20:60, 30:90] = journal.pixels(d1)[20:60, 30:90]
    media_io.write_image(scratch / "p.png", pasted)
    args = {"purpose": "add", "subject": "other", "donor rotated": "no", "donor resized": "no",
            "donor cropped": "yes", "donor flipped": "no"}  # fmt: skip
    journal.record(b1, scratch / "p.png", op="PasteSplice", arguments=args, donor=d1)
    data = ef.attachment_spec(plugin("blur", "MedianBlur", {"kernelSize": value(5)}), recompress=True)
    summary = extend_projects(
        tmp_path / "projects",
        write_spec(tmp_path, data),
        rules="donorpath,outputop,~:+Output:",
        workdir=tmp_path / "w",
    )
    assert summary.failed == 0, summary.failures
    after = Journal.open(tmp_path / "projects" / "j")
    blurred = [e for s, e, d in after.graph.edges() if s == d1 and d.get("plugin_name") == "MedianBlur"]
    assert len(blurred) == 1
    recompressed = [
        (s, e)
        for s, e, d in after.graph.edges()
        if s == blurred[0] and d["op"] == "AntiForensicExifQuantizationTable"
    ]
    assert len(recompressed) == 1
    final = recompressed[0][1]
    assert after.graph.donors_of(final) == ["D"]  # its own root, not the project base
    assert media_io.jpeg_quantization_tables(after.path_of(final)) == media_io.jpeg_quantization_tables(
        after.path_of("D")
    )
    assert not has_errors(validate(after))
