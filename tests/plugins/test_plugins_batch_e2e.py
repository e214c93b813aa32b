"""End to end: a specification using the built-in plugins runs as a batch project, and its journal's
edges and masks are what the plugins promised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.executor import BatchExecutor
from masksmith.batch.project import BatchProject
from masksmith.journal.project import Journal
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from tests.plugins.plugin_cases import photo

GRAPH = {"name": "plugins-e2e", "organization": "test", "projectdescription": "d", "technicalsummary": "t"}


def _node(
    node_id: str, plugin: str, arguments: dict[str, Any], op_type: str = "PluginOperation"
) -> dict[str, Any]:
    return {"id": node_id, "op_type": op_type, "plugin": plugin, "arguments": arguments}


SPEC: dict[str, Any] = {
    "directed": True,
    "multigraph": False,
    "graph": GRAPH,
    "nodes": [
        {"id": "base", "op_type": "BaseSelection", "image_directory": "{bases}", "picklist": "bases"},
        {"id": "donor", "op_type": "ImageSelection", "image_directory": "{donors}", "picklist": "donors"},
        _node("png", "OutputPNG", {"Image Rotated": "yes"}),
        _node("donorpng", "OutputPNG", {"Image Rotated": "yes"}),
        _node(
            "select",
            "SmartMaskSelector",
            {"op": "slic", "size": 2, "mediumw": 60, "mediumh": 60, "alpha": "yes"},
        ),
        _node("paste", "PasteSplice", {"approach": "random", "donor": {"type": "donor", "source": "select"}}),
        _node(
            "blur",
            "GaussianLocalBlur",
            {
                "kernelsize": 9,
                "inputmaskname": {"type": "mask", "source": "png", "target": "paste", "invert": True},
            },
        ),
        _node(
            "median",
            "MedianBlur",
            {
                "kernelSize": {"type": "plugin", "name": "kernelSpecs", "parameters": [2, 5]},
                "percentageChange": 0.5,
            },
        ),
        _node(
            "cropsizes",
            "CropPermutations",
            {"percentage_width": 0.1, "percentage_height": 0.1},
            op_type="InputMaskPluginOperation",
        ),
        _node(
            "crop",
            "Crop",
            {
                "pixel_width": {"type": "variable", "source": "cropsizes", "name": "crop_width"},
                "pixel_height": {"type": "variable", "source": "cropsizes", "name": "crop_height"},
                "crop_x": {
                    "type": "variable",
                    "source": "cropsizes",
                    "name": "crop_x",
                    "permutegroup": "crops",
                },
                "crop_y": {
                    "type": "variable",
                    "source": "cropsizes",
                    "name": "crop_y",
                    "permutegroup": "crops",
                },
            },
        ),
        _node("compress", "CompressAs", {"donor": {"type": "donor", "source": "base"}, "rotate": "yes"}),
    ],
    "links": [
        {"source": "base", "target": "png"},
        {"source": "donor", "target": "donorpng"},
        {"source": "donorpng", "target": "select"},
        {"source": "png", "target": "paste"},
        {"source": "select", "target": "paste", "donor": True},
        {"source": "paste", "target": "blur"},
        {"source": "blur", "target": "median"},
        {"source": "median", "target": "cropsizes"},
        {"source": "median", "target": "crop"},
        {"source": "cropsizes", "target": "crop"},
        {"source": "crop", "target": "compress"},
        {"source": "base", "target": "compress", "donor": True},
    ],
}


def _pools(folder: Path) -> dict[str, str]:
    bases, donors = folder / "bases", folder / "donors"
    bases.mkdir()
    donors.mkdir()
    for index, name in enumerate(["coffee", "chelsea"]):
        media_io.write_image(bases / f"base{index}.jpg", photo(name), quality=83, subsampling="4:2:0")
    for index, name in enumerate(["astronaut", "rocket"]):
        media_io.write_image(donors / f"donor{index}.png", photo(name, 200, 260))
    return {"bases": str(bases), "donors": str(donors)}


@pytest.mark.slow
def test_specification_with_built_in_plugins_gives_the_promised_journal(tmp_path: Path) -> None:
    executor = BatchExecutor(
        tmp_path / "projects", workdir=tmp_path / "work", global_variables=_pools(tmp_path), seed=11
    )
    try:
        summary = executor.run_project(BatchProject(SPEC), 2)
    finally:
        executor.finish()
    assert (summary.made, summary.failed) == (2, 0)
    for folder in summary.projects:
        _check_journal(Journal.open(folder))


def _check_journal(journal: Journal) -> None:
    edges = {data.get("plugin_name", data["op"]): (s, e, data) for s, e, data in journal.graph.edges()}
    for _, _, data in edges.values():
        assert (journal.directory / data["maskname"]).is_file()

    # PasteSplice: the recorded mask is the donor's alpha carried by the recorded matrix
    start, end, paste = edges["PasteSplice"]
    assert paste["op"] == "PasteSplice"
    donor_node = next(s for s, e, d in journal.graph.edges() if e == end and d["op"] == "Donor")
    donor = journal.pixels(donor_node)
    assert donor.ndim == 3 and donor.shape[2] == 4
    matrix = geometry.matrix_from_jt(paste["arguments"]["transform matrix"])
    assert matrix is not None
    paste_mask = journal.edge_mask(start, end)
    expected = geometry.warp_mask(masks.alpha_mask(donor), matrix, paste_mask.shape)
    assert masks.iou(paste_mask, expected) >= 0.98

    # the local blur stayed inside the pasted region (the inverted edge mask it was given)
    start, end, _ = edges["GaussianLocalBlur"]
    blurred = journal.edge_mask(start, end)
    assert blurred.any() and not (blurred & ~masks.dilate(paste_mask, 1)).any()

    # the kernel came from the kernelSpecs spec function
    assert edges["MedianBlur"][2]["arguments"]["kernelSize"] in (3, 5)

    # Crop: an 8-pixel offset from CropPermutations, recorded at its exact location
    start, end, crop = edges["Crop"]
    args = crop["arguments"]
    assert args["crop_x"] % 8 == 0 and args["crop_y"] % 8 == 0
    assert crop["location"] == f"({args['crop_y']}, {args['crop_x']})"
    source_rows, source_cols = journal.pixels(start).shape[:2]
    assert journal.pixels(end).shape[:2] == (
        source_rows - args["pixel_height"],
        source_cols - args["pixel_width"],
    )

    # CompressAs: the base JPEG's quantisation tables, exactly
    _, end, compress = edges["CompressAs"]
    assert compress["op"] == "AntiForensicExifQuantizationTable"
    base = journal.path_of(journal.graph.base_node())
    assert media_io.jpeg_quantization_tables(journal.path_of(end)) == media_io.jpeg_quantization_tables(base)
    assert np.array_equal(np.array(media_io.jpeg_subsampling(journal.path_of(end))), np.array("4:2:0"))
