"""COCO: the batch initializer, the CocoMaskSelector selector, and pruning images by annotation area.

Run a batch with ``--global_variables coco.annotations=FILE --initializers
masksmith.plugins.coco.create_global_state``; the initializer adds ``coco`` (a pycocotools COCO),
``coco.index`` (file name → image id) and ``coco.subject`` (category id → name) to the global state,
which CocoMaskSelector receives through ``global`` arguments.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import ModelUnavailable, PluginError
from masksmith.media import io as media_io
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult

MAX_AREA = 2**31 - 1

# COCO supercategory → the catalogue's ``subject`` values
_SUBJECTS = {
    "person": "people",
    "animal": "natural object",
    "food": "natural object",
    "vehicle": "man-made object",
    "outdoor": "large man-made object",
    "furniture": "man-made object",
    "electronic": "man-made object",
    "appliance": "man-made object",
    "kitchen": "man-made object",
    "accessory": "man-made object",
    "sports": "man-made object",
    "indoor": "man-made object",
}


def _coco_class() -> Any:
    try:
        from pycocotools.coco import COCO
    except ImportError as exc:
        raise ModelUnavailable("COCO support needs pycocotools: install masksmith[coco]") from exc
    return COCO


def load_coco(annotations: str | os.PathLike[str]) -> Any:
    """A pycocotools ``COCO`` index of an annotations file (its progress prints are swallowed)."""
    path = Path(annotations)
    if not path.is_file():
        raise PluginError("COCO annotations file not found", file=path, argument="coco.annotations")
    coco_class = _coco_class()
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_class(os.fspath(path))


def create_global_state(global_state: Mapping[str, Any]) -> dict[str, Any]:
    """Batch initializer: build the COCO index from the global ``coco.annotations``."""
    annotations = global_state.get("coco.annotations")
    if not annotations:
        raise PluginError(
            "the COCO initializer needs the global variable 'coco.annotations'", argument="coco.annotations"
        )
    coco = load_coco(str(annotations))
    index = {str(img["file_name"]): int(img_id) for img_id, img in coco.imgs.items()}
    subject = {int(cat_id): str(cat["name"]) for cat_id, cat in coco.cats.items()}
    return {"coco": coco, "coco.index": index, "coco.subject": subject}


def subject_of(category: Mapping[str, Any]) -> str:
    """The catalogue subject for a COCO category (by supercategory; 'other' when unknown)."""
    return _SUBJECTS.get(str(category.get("supercategory", "")).lower(), "other")


def _image_id(index: Mapping[str, int], source: Path) -> int | None:
    if source.name in index:
        return index[source.name]
    for name, image_id in index.items():
        if Path(name).stem == source.stem:
            return image_id
    return None


class CocoMaskSelector(Plugin):
    name = "CocoMaskSelector"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    description = (
        "Select the mask of one COCO annotation of the source image whose area lies within the bounds; "
        "returns its category as 'subject'. Needs the COCO initializer's globals 'coco' and 'coco.index'."
    )
    arguments = (
        Argument("coco", "any", None, "The pycocotools COCO instance (global 'coco').", required=True),
        Argument("coco.index", "any", None, "File name → image id (global 'coco.index').", required=True),
        Argument("area.lower.bound", f"int[0:{MAX_AREA}]", 0, "Smallest annotation area in pixels."),
        Argument("area.upper.bound", f"int[0:{MAX_AREA}]", MAX_AREA, "Largest annotation area in pixels."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        coco, index = args["coco"], args["coco.index"]
        if not hasattr(coco, "getAnnIds") or not isinstance(index, Mapping):
            raise PluginError("needs the COCO initializer's 'coco' and 'coco.index' globals", argument="coco")
        lower, upper = int(args["area.lower.bound"]), int(args["area.upper.bound"])
        if lower > upper:
            raise PluginError(f"{lower} is above area.upper.bound {upper}", argument="area.lower.bound")
        image_id = _image_id(index, context.source)
        if image_id is None:
            raise PluginError(
                f"{context.source.name!r} is not in the COCO annotations", argument="coco.index"
            )
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))
        valid = sorted(
            (a for a in annotations if lower <= float(a.get("area", 0)) <= upper), key=lambda a: int(a["id"])
        )
        if not valid:
            raise PluginError(
                f"no annotation of {context.source.name!r} has an area in [{lower}, {upper}]",
                argument="area.lower.bound",
            )
        chosen = valid[int(context.rng.integers(len(valid)))]
        mask = np.asarray(coco.annToMask(chosen) > 0)
        shape = context.pixels().shape[:2]
        if mask.shape != shape:
            raise PluginError(
                f"the annotation is for a {mask.shape[1]}×{mask.shape[0]} image, the source is "
                f"{shape[1]}×{shape[0]}",
                argument="coco",
            )
        category = coco.loadCats([chosen["category_id"]])[0]
        variables = {
            "subject": subject_of(category),
            "category": str(category["name"]),
            "annotation_id": int(chosen["id"]),
            "area": float(chosen.get("area", 0)),
        }
        return PluginResult(variables=variables, mask=mask)


def move_valid_images(
    source_dir: str | os.PathLike[str],
    target_dir: str | os.PathLike[str],
    annotations: str | os.PathLike[str],
    *,
    area_constraint: tuple[int, int] = (0, MAX_AREA),
    max_count: int | None = None,
    new_annotation_path: str | os.PathLike[str] | None = None,
    rng: np.random.Generator | None = None,
) -> list[Path]:
    """Move images with at least one annotation whose area is within ``area_constraint`` to ``target_dir``.

    With ``source_dir`` = ``target_dir`` the images that do not qualify are deleted instead. At most
    ``max_count`` images are taken (a random subset when ``rng`` is given, else by name).
    ``new_annotation_path`` receives an annotations file limited to the selected images (atomically).
    Returns the selected images' new paths.
    """
    src, dst = Path(source_dir), Path(target_dir)
    with open(annotations, encoding="utf-8") as handle:
        data: MutableMapping[str, Any] = json.load(handle)
    lower, upper = area_constraint
    qualifying = {
        int(a["image_id"]) for a in data.get("annotations", []) if lower <= float(a.get("area", 0)) <= upper
    }
    by_name = {str(img["file_name"]): img for img in data.get("images", [])}
    present = sorted(name for name in by_name if (src / name).is_file())
    good = [name for name in present if int(by_name[name]["id"]) in qualifying]
    if rng is not None:
        good = [good[i] for i in rng.permutation(len(good))]
    if max_count is not None:
        good = good[: max(0, max_count)]
    same = src.resolve() == dst.resolve()
    selected: list[Path] = []
    if same:
        for name in present:
            if int(by_name[name]["id"]) not in qualifying:
                (src / name).unlink()
        selected = [src / name for name in sorted(good)]
    else:
        dst.mkdir(parents=True, exist_ok=True)
        for name in sorted(good):
            shutil.move(os.fspath(src / name), os.fspath(dst / name))
            selected.append(dst / name)
    if new_annotation_path is not None:
        keep_ids = {int(by_name[p.name]["id"]) for p in selected}
        subset = dict(data)
        subset["images"] = [img for img in data.get("images", []) if int(img["id"]) in keep_ids]
        subset["annotations"] = [a for a in data.get("annotations", []) if int(a["image_id"]) in keep_ids]
        media_io.atomic_write_bytes(new_annotation_path, json.dumps(subset).encode("utf-8"))
    return selected


moveValidImages = move_valid_images
