"""Small plugins, image pools and spec builders shared by the batch tests.

The plugins are defined here (not the built-ins) so the batch machinery is tested against a fixed
contract; ``register()`` adds them to the plugin registry.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from masksmith.media import io as media_io
from masksmith.plugins import Argument, Plugin, PluginContext, PluginKind, PluginResult, register_plugin
from tests.synthetic import textured


class ToPng(Plugin):
    name = "TestOutputPNG"
    operation = "OutputPng"
    suffix = ".png"

    def transform(self, context: PluginContext) -> PluginResult:
        pixels = context.pixels()
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels)


class Median(Plugin):
    """Median blur; records every argument it got in ``seen`` so tests can see what was passed."""

    name = "TestMedian"
    operation = "Blur"
    arguments = (Argument("kernel", "int[1:31]", default=3),)
    seen: list[dict[str, Any]] = []  # noqa: RUF012 - a deliberate shared record for tests

    def transform(self, context: PluginContext) -> PluginResult:
        Median.seen.append(dict(context.arguments))
        k = int(context.arguments["kernel"])
        k = k if k % 2 else k + 1
        pixels = cv2.medianBlur(np.ascontiguousarray(context.pixels()), k)
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels, variables={"kernel used": k})


class Slow(Plugin):
    """Writes a changed copy slowly (for kill tests)."""

    name = "TestSlow"
    operation = "Blur"

    def transform(self, context: PluginContext) -> PluginResult:
        pixels = context.pixels().copy()
        time.sleep(0.15)
        pixels[:8, :8] = 255 - pixels[:8, :8]
        media_io.write_image(context.target, pixels)
        time.sleep(0.15)
        return PluginResult(target_pixels=pixels)


class BoxSelector(Plugin):
    """A selector: selects a box and returns its corner and the values crop positions may take."""

    name = "TestBoxSelector"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    arguments = (Argument("size", "int[2:100]", default=10),)

    def transform(self, context: PluginContext) -> PluginResult:
        size = int(context.arguments["size"])
        rows, cols = context.pixels().shape[:2]
        mask = np.zeros((rows, cols), bool)
        mask[:size, :size] = True
        return PluginResult(
            mask=mask,
            variables={"box_x": 0, "box_y": 0, "positions": {"type": "list", "values": [1, 2, 3]}},
        )


class MaskedInvert(Plugin):
    """Inverts the pixels an input mask selects (checks masks reach plugins as booleans)."""

    name = "TestMaskedInvert"
    operation = "Blur"

    def transform(self, context: PluginContext) -> PluginResult:
        if context.input_mask is None:
            raise ValueError("needs an input mask")
        pixels = context.pixels().copy()
        pixels[context.input_mask] = 255 - pixels[context.input_mask]
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels, variables={"selected": int(context.input_mask.sum())})


class Paste(Plugin):
    """Pastes the donor's top-left corner into the source."""

    name = "TestPaste"
    operation = "PasteSplice"

    def transform(self, context: PluginContext) -> PluginResult:
        if context.donor is None:
            raise ValueError("needs a donor")
        donor = media_io.read_image(context.donor, mode="RGB").pixels
        pixels = context.pixels().copy()
        pixels[:10, :10] = donor[:10, :10]
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels)


class PickFile(Plugin):
    """A file selector returning the file named by argument ``file``."""

    name = "TestPickFile"
    operation = "SelectRegion"
    kind = PluginKind.FILE_SELECTOR
    arguments = (Argument("file", "text", required=True),)

    def transform(self, context: PluginContext) -> PluginResult:
        return PluginResult(file=Path(str(context.arguments["file"])), variables={"picked": "yes"})


class Fails(Plugin):
    name = "TestFails"
    operation = "Blur"

    def transform(self, context: PluginContext) -> PluginResult:
        raise RuntimeError("deliberate failure")


class Echo(Plugin):
    """Copies the source and returns its arguments as variables (to inspect resolved values)."""

    name = "TestEcho"
    operation = "OutputPng"
    seen: list[dict[str, Any]] = []  # noqa: RUF012

    def transform(self, context: PluginContext) -> PluginResult:
        Echo.seen.append(dict(context.arguments))
        pixels = context.pixels()
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels)


PLUGINS = (ToPng, Median, Slow, BoxSelector, MaskedInvert, Paste, PickFile, Fails, Echo)


def register() -> None:
    for cls in PLUGINS:
        register_plugin(cls)


def make_pool(
    folder: Path, count: int, *, rows: int = 48, cols: int = 64, seed: int = 5, suffix: str = ".png"
) -> list[Path]:
    """``count`` distinct textured images ``img00.png`` … in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"img{i:02d}{suffix}"
        media_io.write_image(path, textured(rng, rows, cols))
        paths.append(path)
    return paths


GRAPH = {"name": "testspec", "organization": "test", "projectdescription": "d", "technicalsummary": "t"}


def spec(
    nodes: list[dict[str, Any]], links: list[tuple[str, str] | dict[str, Any]], **graph: Any
) -> dict[str, Any]:
    """A node-link spec; links are (source, target) id pairs or dicts."""
    return {
        "directed": True,
        "multigraph": False,
        "graph": {**GRAPH, **graph},
        "nodes": nodes,
        "links": [
            {"source": link[0], "target": link[1]} if isinstance(link, tuple) else link for link in links
        ],
    }


def write_spec(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def base_node(pool: Path | str = "{pool}", **extra: Any) -> dict[str, Any]:
    return {
        "id": "base",
        "op_type": "BaseSelection",
        "image_directory": str(pool),
        "picklist": "pool",
        **extra,
    }


def plugin_node(
    node_id: str, plugin: str, arguments: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": node_id,
        "op_type": "PluginOperation",
        "plugin": plugin,
        "arguments": arguments or {},
        **extra,
    }
