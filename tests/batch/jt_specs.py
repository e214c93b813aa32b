"""Specifications shaped like the Journaling Tool's own (its tests and examples), written for these tests,
with scikit-image's photos as media, and a helper that runs one through the batch executor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from masksmith.batch.executor import BatchExecutor, RunSummary
from masksmith.batch.project import BatchProject
from masksmith.media import io as media_io
from tests.plugins.plugin_cases import photo

GRAPH = {
    "username": "tester",
    "name": "sample",
    "organization": "test",
    "projectDescription": "test",
    "technicalSummary": "Automated",
    "semanticrestaging": "no",
    "semanticrepurposing": "no",
    "semanticrefabrication": "no",
    "recompress": False,
}


def value(v: Any) -> dict[str, Any]:
    return {"type": "value", "value": v}


def plugin(node_id: str, name: str, arguments: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "op_type": "PluginOperation",
        "plugin": name,
        "id": node_id,
        "arguments": arguments or {},
        **extra,
    }


def selector(node_id: str, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "op_type": "InputMaskPluginOperation",
        "plugin": name,
        "id": node_id,
        "arguments": arguments or {},
    }


def base(node_id: str = "0", directory: str = "{image_dir}") -> dict[str, Any]:
    return {"op_type": "BaseSelection", "image_directory": directory, "picklist": "imageset", "id": node_id}


def image(node_id: str, directory: str = "{donorImages}") -> dict[str, Any]:
    return {"op_type": "ImageSelection", "image_directory": directory, "picklist": "donorset", "id": node_id}


def spec(
    nodes: list[dict[str, Any]], links: list[tuple[int, int] | dict[str, Any]], **graph: Any
) -> dict[str, Any]:
    """A node-link spec; links by position, as the original's files write them."""
    out_links = [link if isinstance(link, dict) else {"source": link[0], "target": link[1]} for link in links]
    return {
        "directed": True,
        "graph": {**GRAPH, **graph},
        "nodes": nodes,
        "links": out_links,
        "multigraph": False,
    }


def basic_example() -> dict[str, Any]:
    """base → OutputPNG → PasteSplice (donor: a SelectRegion of another image) → local blur → CompressAs."""
    return spec(
        [
            base(),
            image("1"),
            plugin("2", "OutputPNG", {"Image Rotated": value("yes"), "foo": {"type": "int[10:100]"}}),
            plugin("3", "OutputPNG", {"Image Rotated": value("yes")}),
            plugin("4", "SelectRegion", {"alpha": value("yes")}),
            plugin("5", "PasteSplice", {"approach": value("random"), "donor": {"type": "donor", "source": "4"}}),
            plugin(
                "6", "GaussianLocalBlur",
                {"inputmaskname": {"type": "mask", "source": "2", "target": "5", "invert": True}},
            ),
            plugin("7", "CompressAs", {"donor": {"type": "donor", "source": "0"}, "rotate": value("yes")}, experiment_id="1a"),
        ],
        [(0, 2), (1, 3), (3, 4), (2, 5), {"source": 4, "target": 5, "donor": True}, (5, 6), (6, 7)],
    )  # fmt: skip


def smart_mask_example() -> dict[str, Any]:
    """The original's batch_process shape: SmartMaskSelector with randomly drawn size classes as donor."""
    sizes = {
        "mediumh": {"type": "int[64:128]"},
        "smallw": {"type": "int[32:64]"},
        "largew": {"type": "int[128:512]"},
        "largeh": {"type": "int[128:512]"},
        "op": {"type": "list", "values": ["box", "slic"]},
        "smallh": {"type": "int[32:64]"},
        "size": {"type": "int[1:3]"},
        "mediumw": {"type": "int[64:128]"},
        "alpha": value("yes"),
    }
    data = basic_example()
    data["nodes"][4] = plugin("4", "SmartMaskSelector", sizes)
    data["nodes"][5] = plugin(
        "5",
        "PasteSplice",
        {"approach": value("random"), "segment": value("slic"), "donor": {"type": "donor", "source": "4"}},
    )
    return data  # fmt: skip


def media_pools(
    folder: Path, *, bases: tuple[str, ...] = ("coffee", "chelsea", "astronaut", "rocket")
) -> dict[str, str]:
    """``image_dir`` (JPEG bases) and ``donorImages`` (PNG donors) filled with scikit-image photos."""
    base_dir, donor_dir = folder / "images", folder / "donors"
    base_dir.mkdir(parents=True, exist_ok=True)
    donor_dir.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(bases):
        media_io.write_image(base_dir / f"{name}{index}.jpg", photo(name), quality=88)
    for index, name in enumerate(("astronaut", "coffee", "rocket", "chelsea")):
        media_io.write_image(donor_dir / f"donor_{name}{index}.png", photo(name, 200, 260))
    return {"image_dir": str(base_dir), "donorImages": str(donor_dir)}


def write_spec(folder: Path, data: dict[str, Any], name: str = "spec.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def run_spec(
    folder: Path, data: dict[str, Any], globals_: dict[str, Any], *, count: int = 1, seed: int = 1
) -> RunSummary:
    executor = BatchExecutor(
        folder / "projects", workdir=folder / "work", global_variables=globals_, seed=seed
    )
    try:
        executor.run_project(BatchProject(write_spec(folder, data)), count)
    finally:
        summary = executor.finish()
    return summary
