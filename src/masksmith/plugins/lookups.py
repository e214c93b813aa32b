"""Selectors that look their answer up in files: JSONSelector (a JSON list or dict of argument sets) and
DirMaskSelect (a folder of ready-made masks named after the images)."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise PluginError(
            f"cannot read the JSON file: {exc.strerror}", file=path, argument="Json File"
        ) from None
    except json.JSONDecodeError as exc:
        raise PluginError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno})", file=path, argument="Json File"
        ) from None


def pick_entry(content: Any, index: Any, rng: np.random.Generator) -> Any:
    """The entry named by ``index``: a position (digits), a key, or the first key containing it (or contained
    in it, as the original matched); a random entry when ``index`` is empty."""
    if isinstance(content, dict):
        keys = list(content)
        if index in (None, ""):
            return content[keys[int(rng.integers(len(keys)))]] if keys else None
        text = str(index)
        if text in content:
            return content[text]
        if text.isdigit() and int(text) < len(keys):
            return content[keys[int(text)]]
        for key in keys:
            if text in key or key in text:
                return content[key]
        return None
    if isinstance(content, list):
        if index in (None, ""):
            return content[int(rng.integers(len(content)))] if content else None
        text = str(index)
        return content[int(text)] if text.isdigit() and int(text) < len(content) else None
    return None


def _referenced_file(value: Any, json_file: Path) -> Path | None:
    """A file an entry names: as written, else next to the JSON file (a bare name only, no climbing out)."""
    if not isinstance(value, str) or not value:
        return None
    given = Path(value)
    if given.is_file():
        return given
    beside = json_file.parent / given.name
    return beside if beside.is_file() else None


class JSONSelector(Plugin):
    name = "JSONSelector"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    description = (
        "Selector: one entry of a JSON list or dict of argument sets (by 'index' — position, key or part of "
        "a key — or at random); its keys become variables. With 'File Key', the file that key names "
        "becomes the selector's output ('file')."
    )
    arguments = (
        Argument(
            "Json File", "text", None, "JSON file: a list or dict of argument dictionaries.", required=True
        ),
        Argument("index", "text", None, "Which entry (position, key, or part of a key); random if absent."),
        Argument("Index", "text", None, "Same as 'index' (the original declared both spellings)."),
        Argument("File Key", "text", None, "Key whose value names an image to output."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        json_file = Path(os.fspath(args["Json File"]))
        content = _load_json(json_file)
        index = args.get("index") if args.get("index") not in (None, "") else args.get("Index")
        entry = pick_entry(content, index, context.rng)
        if not isinstance(entry, dict):
            raise PluginError(
                f"entry {index!r} not found (or not a dictionary)", file=json_file, argument="index"
            )
        variables = dict(entry)
        key = args.get("File Key")
        if key:
            referenced = _referenced_file(entry.get(str(key)), json_file)
            if referenced is None:
                raise PluginError(
                    f"entry's {key!r} names no existing file", file=json_file, argument="File Key"
                )
            variables["override_target"] = str(referenced)  # the selector's output, as in the original
            variables["file"] = str(referenced)
        return PluginResult(
            variables=variables, file=Path(variables["file"]) if "file" in variables else None
        )


class DirMaskSelect(Plugin):
    name = "DirMaskSelect"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    description = "Selector: the mask '<directory>/<source stem>*' (white = selected) made elsewhere."
    suffix = ".png"
    arguments = (
        Argument("directory", "text", None, "Folder of masks named after the images.", required=True),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        folder = Path(os.fspath(args["directory"]))
        if not folder.is_dir():
            raise PluginError("not a folder", file=folder, argument="directory")
        found = sorted(
            glob.glob(os.path.join(glob.escape(str(folder)), glob.escape(context.source.stem) + "*"))
        )
        found = [f for f in found if Path(f).is_file()]
        if not found:
            raise PluginError(f"no mask named {context.source.stem}*", file=folder, argument="directory")
        path = Path(found[0])
        try:
            pixels = media_io.read_image(path).pixels
        except MediaError as exc:
            raise PluginError(
                f"cannot read the mask: {exc.message}", file=path, argument="directory"
            ) from None
        selected = masks.from_input_mask(pixels)
        rows, cols = context.pixels().shape[:2]
        if selected.shape != (rows, cols):
            raise PluginError(
                f"mask is {selected.shape[1]}×{selected.shape[0]}, the image is {cols}×{rows}", file=path
            )
        return PluginResult(variables={"override_target": str(path)}, mask=np.asarray(selected, bool))
