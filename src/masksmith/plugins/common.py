"""Helpers shared by the built-in plugins: arguments, input masks, donors, targets, layouts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.plugins.base import PluginContext

Image = NDArray[Any]
BoolMask = NDArray[np.bool_]

#: Subjects the catalogue's SelectRegion/PasteSplice ``subject`` parameter accepts (the JT list).
SUBJECTS = (
    "people",
    "face",
    "natural object",
    "man-made object",
    "large man-made object",
    "landscape",
    "other",
)


def is_yes(value: Any) -> bool:
    """A yes/no argument (already normalised to ``'yes'``/``'no'`` or a bool) as a bool."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return str(value).strip().lower() in ("yes", "true", "y", "1")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def odd(value: int, *, minimum: int = 1) -> int:
    """The nearest odd integer ≥ ``value`` (and ≥ ``minimum``): kernel sizes must be odd."""
    number = max(minimum, int(value))
    return number if number % 2 else number + 1


def to_rgb8(image: Image) -> Image:
    """8-bit RGB (gray expanded, alpha dropped, 16-bit scaled down) — for segmentation and JPEG."""
    out = image
    if out.dtype == np.uint16:
        out = (out >> 8).astype(np.uint8)
    if out.ndim == 2:
        return np.asarray(cv2.cvtColor(out, cv2.COLOR_GRAY2RGB))
    if out.shape[2] == 4:
        return np.ascontiguousarray(out[:, :, :3])
    return out


def with_alpha(image: Image, selected: BoolMask) -> Image:
    """RGBA copy of ``image`` whose alpha is full inside ``selected`` and 0 elsewhere."""
    top = 65535 if image.dtype == np.uint16 else 255
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[:, :, :3]
    alpha = np.where(selected, top, 0).astype(image.dtype)
    return np.ascontiguousarray(np.dstack([rgb, alpha]))


def donor_path(context: PluginContext, arguments: Mapping[str, Any], *, name: str = "donor") -> Path:
    """The donor file: ``context.donor`` or the ``donor`` argument; PluginError when neither exists."""
    candidate = context.donor if context.donor is not None else arguments.get(name)
    if candidate is None or candidate == "":
        raise PluginError("needs a donor image", argument=name)
    path = Path(os.fspath(candidate))
    if not path.is_file():
        raise PluginError("donor image not found", file=path, argument=name)
    return path


def selection_mask(
    context: PluginContext,
    arguments: Mapping[str, Any],
    shape: tuple[int, int],
    *,
    name: str = "inputmaskname",
    invert_name: str | None = None,
    required: bool = True,
) -> BoolMask | None:
    """The input selection (True = select): ``context.input_mask`` or the ``inputmaskname`` argument.

    The argument may be a file path (255 = select; an RGBA file selects by alpha) or an array.
    ``invert_name`` names a yes/no argument that flips the selection.
    """
    raw: Any = context.input_mask if context.input_mask is not None else arguments.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise PluginError("needs an input mask (255 = select)", argument=name)
        return None
    if isinstance(raw, np.ndarray):
        selected = raw.astype(bool) if raw.dtype == np.bool_ else masks.from_input_mask(raw)
    else:
        try:
            loaded = media_io.read_image(os.fspath(raw)).pixels
        except MediaError as exc:
            raise PluginError(
                f"cannot read the input mask: {exc.message}", file=exc.file, argument=name
            ) from None
        selected = masks.from_input_mask(loaded)
    if selected.shape != shape:
        raise PluginError(
            f"input mask is {selected.shape[1]}×{selected.shape[0]}, the image is {shape[1]}×{shape[0]}",
            argument=name,
        )
    if invert_name is not None and is_yes(arguments.get(invert_name, "no")):
        selected = ~selected
    return np.asarray(selected, dtype=bool)


def write_target(context: PluginContext, pixels: Image, **options: Any) -> Path:
    """Write the target atomically (``media.io.write_image``); a MediaError becomes a PluginError."""
    try:
        return media_io.write_image(context.target, pixels, **options)
    except MediaError as exc:
        raise PluginError(f"cannot write the target: {exc.message}", file=context.target) from None


def largest_component(mask: BoolMask) -> BoolMask:
    """The largest 4-connected component of ``mask`` (empty stays empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.asarray(labels == best)


def paste_position(
    rng: np.random.Generator, image_shape: tuple[int, int], region: masks.BBox
) -> tuple[int, int]:
    """A random top-left ``(x, y)`` where a box the size of ``region`` fits inside the image."""
    rows, cols = image_shape
    x = int(rng.integers(0, max(0, cols - region.width) + 1))
    y = int(rng.integers(0, max(0, rows - region.height) + 1))
    return x, y
