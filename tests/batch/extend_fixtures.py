"""Journals and extension specs for the extension tests.

``build_journal`` records a journal whose nodes cover every case the extension rules tell apart::

    B --OutputPng--> o1 --PasteSplice--> p1 --Blur--> b1 --AntiForensicJPGCompression--> a1
                                         ^             \\--OutputPng--> f1 (final .png)
    D --SelectRegion--> d1 --TransformCrop--> d2 --Donor--/
    a1 --ColorBalance--> c1 --AntiForensicExifQuantizationTable--> f2 (final .jpg)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.journal.project import Journal
from masksmith.journal.store import create_archive
from masksmith.media import io as media_io
from tests.batch import batch_fixtures as fx
from tests.synthetic import textured

ROWS, COLS = 40, 56

# (start, end, op, file suffix); the donor edge d2 -> p1 is added with the paste
CHAIN: list[tuple[str, str, str, str]] = [
    ("B", "o1", "OutputPng", ".png"),
    ("D", "d1", "SelectRegion", ".png"),
    ("d1", "d2", "TransformCrop", ".png"),
    ("o1", "p1", "PasteSplice", ".png"),
    ("p1", "b1", "Blur", ".png"),
    ("b1", "a1", "AntiForensicJPGCompression", ".png"),
    ("b1", "f1", "OutputPng", ".png"),
    ("a1", "c1", "ColorBalance", ".png"),
    ("c1", "f2", "AntiForensicExifQuantizationTable", ".jpg"),
]


def _image(rng: np.random.Generator) -> np.ndarray:
    return textured(rng, ROWS, COLS)


def build_journal(folder: Path, *, seed: int = 0, name: str | None = None) -> Journal:
    """The journal of the module docstring in ``folder`` (every manipulation inverts a small block)."""
    rng = np.random.default_rng(seed)
    scratch = folder.parent / f".{folder.name}-sources"
    scratch.mkdir(parents=True, exist_ok=True)
    base = scratch / "B.png"
    media_io.write_image(base, _image(rng))
    journal = Journal.create(base, folder, name=name or folder.name, username="builder")
    donor = scratch / "D.png"
    media_io.write_image(donor, _image(rng))
    journal.add_image(donor, nodetype="donor", node_id="D")
    for index, (start, end, op, suffix) in enumerate(CHAIN):
        pixels = journal.pixels(start).copy()
        changed = np.zeros((ROWS, COLS), bool)
        if not op.startswith(("Output", "AntiForensic")):
            changed[index * 4 : index * 4 + 6, :6] = True  # a different block each time: no two images alike
            pixels[changed] = 255 - pixels[changed]
        target = journal.directory / f"{end}{suffix}"
        media_io.write_image(target, pixels)
        journal.record(
            start,
            target,
            op=op,
            changed=changed,
            donor="d2" if op == "PasteSplice" else None,
            check_arguments=False,
            save=False,
        )
    journal.save()
    shutil.rmtree(scratch)
    return journal


def build_archive(folder: Path, **kwargs: Any) -> Path:
    """``build_journal`` packed as ``<folder>.tgz`` (the folder is removed)."""
    journal = build_journal(folder, **kwargs)
    made = create_archive(journal.directory, folder.parent)
    made.chmod(0o644)
    shutil.rmtree(folder)
    return made


def simple_journal(folder: Path, *, seed: int = 0) -> Journal:
    """base --Blur--> m --Blur--> final: exactly one node (``m``) to extend by default."""
    rng = np.random.default_rng(seed)
    scratch = folder.parent / f".{folder.name}-sources"
    scratch.mkdir(parents=True, exist_ok=True)
    base = scratch / "base.png"
    media_io.write_image(base, _image(rng))
    journal = Journal.create(base, folder, name=folder.name, username="builder")
    for offset, (start, end) in enumerate((("base", "m"), ("m", "final"))):
        pixels = journal.pixels(start).copy()
        changed = np.zeros((ROWS, COLS), bool)
        changed[2 + 10 * offset : 9 + 10 * offset, 3:12] = True
        pixels[changed] = 255 - pixels[changed]
        target = journal.directory / f"{end}.png"
        media_io.write_image(target, pixels)
        journal.record(
            start,
            target,
            op="Blur",
            arguments={"Blur Type": "Gaussian", "Laundering": "no"},
            changed=changed,
            save=False,
        )
    journal.save()
    shutil.rmtree(scratch)
    return journal


def attachment_spec(*steps: dict[str, Any], **graph: Any) -> dict[str, Any]:
    """NodeAttachment ``0`` followed by ``steps`` in a chain."""
    nodes = [{"id": "0", "op_type": "NodeAttachment"}, *steps]
    links = [(nodes[i]["id"], nodes[i + 1]["id"]) for i in range(len(nodes) - 1)]
    return fx.spec(nodes, links, **graph)


def median_spec(**graph: Any) -> dict[str, Any]:
    """The built-in MedianBlur from the attachment point."""
    return attachment_spec(
        fx.plugin_node("blur", "MedianBlur", {"kernelSize": {"type": "int[3:5:2]"}}), **graph
    )


def seed_spec(**graph: Any) -> dict[str, Any]:
    """Seed §5: SmartMaskSelector picks a region, GaussianLocalBlur blurs it."""
    nodes = [
        {"id": "0", "op_type": "NodeAttachment"},
        {
            "id": "1",
            "op_type": "InputMaskPluginOperation",
            "plugin": "SmartMaskSelector",
            "arguments": {
                "smallw": {"type": "int[8:12]"},
                "smallh": {"type": "int[8:12]"},
                "size": {"type": "value", "value": 1},
                "op": {"type": "list", "values": ["box"]},
            },
        },
        {
            "id": "2",
            "op_type": "PluginOperation",
            "plugin": "GaussianLocalBlur",
            "arguments": {
                "inputmaskname": {"type": "input", "source": "1"},
                "kernelsize": {"type": "value", "value": 7},
            },
        },
    ]
    return fx.spec(nodes, [("0", "1"), ("1", "2"), ("0", "2")], **graph)
