"""SeamCarve: content-aware shrinking by removing least-energy seams (Avidan & Shamir).

Vertical seams (one pixel per row, 8-connected) are removed until the width is reached, then horizontal
seams likewise. The source pixels removed are tracked exactly and returned as ``changed``: the journal records them as the edge's
change mask. With ``keepSize`` (the original's object removal) as many seams are then added back, each a
doubled least-energy seam, and the added pixels join the change mask.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import PluginError
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import is_yes, selection_mask, to_rgb8, write_target

# an input mask ('remove') makes its pixels far cheaper than any seam elsewhere, so seams go through it
_REMOVE_BONUS = -1e6


def energy(image: NDArray[Any], *, kind: str = "Sobel") -> NDArray[np.float64]:
    """Gradient magnitude of the gray image (Sobel or Scharr)."""
    gray = cv2.cvtColor(to_rgb8(image), cv2.COLOR_RGB2GRAY).astype(np.float64)
    if kind == "Scharr":
        dx, dy = cv2.Scharr(gray, cv2.CV_64F, 1, 0), cv2.Scharr(gray, cv2.CV_64F, 0, 1)
    else:
        dx, dy = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3)
    return np.asarray(np.abs(dx) + np.abs(dy))


def vertical_seam(cost: NDArray[np.float64]) -> NDArray[np.intp]:
    """Column of the least-cost 8-connected top-to-bottom path, per row."""
    rows, cols = cost.shape
    total = cost.copy()
    back = np.zeros((rows, cols), np.intp)
    offsets = np.arange(cols)
    for r in range(1, rows):
        prev = total[r - 1]
        left = np.concatenate(([np.inf], prev[:-1]))
        right = np.concatenate((prev[1:], [np.inf]))
        choices = np.stack([left, prev, right])
        step = np.argmin(choices, axis=0)
        back[r] = offsets + step - 1
        total[r] += choices[step, offsets]
    seam = np.empty(rows, np.intp)
    seam[-1] = int(np.argmin(total[-1]))
    for r in range(rows - 1, 0, -1):
        seam[r - 1] = back[r, seam[r]]
    return seam


def _drop(array: NDArray[Any], seam: NDArray[np.intp]) -> NDArray[Any]:
    rows, cols = array.shape[:2]
    keep = np.ones((rows, cols), bool)
    keep[np.arange(rows), seam] = False
    return array[keep].reshape(rows, cols - 1, *array.shape[2:])


def remove_vertical(
    image: NDArray[Any], count: int, *, kind: str = "Sobel", bias: NDArray[np.float64] | None = None
) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """Remove ``count`` vertical seams; returns the result and the removed source pixels."""
    rows, cols = image.shape[:2]
    origin = np.tile(np.arange(cols), (rows, 1))  # source column of every remaining pixel
    removed = np.zeros((rows, cols), bool)
    out = image
    extra = bias
    for _ in range(count):
        cost = energy(out, kind=kind)
        if extra is not None:
            cost = cost + extra
        seam = vertical_seam(cost)
        removed[np.arange(rows), origin[np.arange(rows), seam]] = True
        out, origin = _drop(out, seam), _drop(origin, seam)
        extra = _drop(extra, seam) if extra is not None else None
    return np.ascontiguousarray(out), removed


def carve(
    image: NDArray[Any],
    size: tuple[int, int],
    *,
    kind: str = "Sobel",
    remove: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """Shrink ``image`` to ``size`` (rows, cols); returns the result and the removed source pixels."""
    rows, cols = image.shape[:2]
    bias = None if remove is None else np.where(remove, _REMOVE_BONUS, 0.0)
    narrowed, removed_v = remove_vertical(image, cols - size[1], kind=kind, bias=bias)
    if size[0] == rows:
        return narrowed, removed_v
    # horizontal seams: carve the transposed image, then map back through the vertical removal
    bias_t = None
    if bias is not None:
        bias_t = bias[~removed_v].reshape(rows, size[1]).T
    flipped, removed_h_t = remove_vertical(narrowed.swapaxes(0, 1), rows - size[0], kind=kind, bias=bias_t)
    removed = removed_v.copy()
    kept_cols = np.nonzero(~removed_v)  # row-major: per row, the source columns kept after vertical carving
    removed[kept_cols[0], kept_cols[1]] = removed_h_t.T.reshape(-1)
    return np.ascontiguousarray(flipped.swapaxes(0, 1)), removed


def insert_vertical(
    image: NDArray[Any], count: int, *, kind: str = "Sobel"
) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """Widen by ``count`` columns: the ``count`` least-energy seams (found one after another on a shrinking
    copy) are each doubled by a pixel averaging them with their right neighbour. Returns the result and the
    inserted pixels (in the result)."""
    rows, cols = image.shape[:2]
    if count >= cols:
        raise PluginError(f"cannot add {count} seams back to {cols} columns", argument="keepSize")
    work, origin = image, np.tile(np.arange(cols), (rows, 1))
    chosen = np.empty((count, rows), np.intp)
    for index in range(count):
        seam = vertical_seam(energy(work, kind=kind))
        chosen[index] = origin[np.arange(rows), seam]
        work, origin = _drop(work, seam), _drop(origin, seam)
    chosen.sort(axis=0)
    out = np.empty((rows, cols + count, *image.shape[2:]), image.dtype)
    inserted = np.zeros((rows, cols + count), bool)
    for r in range(rows):
        at = chosen[:, r]
        row = image[r].astype(np.float64)
        added = (row[at] + row[np.minimum(at + 1, cols - 1)]) / 2
        out[r] = np.insert(row, at + 1, added, axis=0).round().astype(image.dtype)
        inserted[r, at + 1 + np.arange(count)] = True
    return out, inserted


def restore_size(
    image: NDArray[Any], size: tuple[int, int], *, kind: str = "Sobel"
) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """Add seams back to ``image`` until it is ``size`` (rows, cols): vertical seams, then horizontal ones.
    Returns the result and the inserted pixels."""
    widened, inserted_v = insert_vertical(image, size[1] - image.shape[1], kind=kind)
    if size[0] == image.shape[0]:
        return widened, inserted_v
    flipped, inserted_h_t = insert_vertical(widened.swapaxes(0, 1), size[0] - image.shape[0], kind=kind)
    inserted_h = inserted_h_t.T
    # every column keeps its pixels in order around the new rows: carry the vertical insertions along
    inserted = inserted_h.T.copy()
    inserted[~inserted_h.T] = inserted_v.T.reshape(-1)
    return np.ascontiguousarray(flipped.swapaxes(0, 1)), inserted.T


class SeamCarve(Plugin):
    name = "SeamCarve"
    operation = "TransformSeamCarving"
    description = (
        "Shrink by removing least-energy seams to 'percentage_width' × 'percentage_height' of the size "
        "('percentage bounds' sets both, in percent); an input mask's pixels are removed first; 'keepSize' adds "
        "seams back to the source size. The edge mask is exactly the removed (and added) pixels."
    )
    suffix = ".png"
    arguments = (
        Argument("percentage bounds", "int[1:100]", None, "Percent of width and height to keep."),
        Argument("percentage_width", "float[0.1:1]", 0.9, "Fraction of the width to keep."),
        Argument("percentage_height", "float[0.1:1]", 1.0, "Fraction of the height to keep."),
        Argument("energy", "list", "Sobel", "Gradient used as energy.", values=("Sobel", "Scharr")),
        Argument("approach", "list", "backward", "Seam energy approach.", values=("forward", "backward")),
        Argument("keepSize", "yesno", "no", "Add seams back afterwards, to the source size."),
        Argument("inputmaskname", "mask", None, "Pixels to remove (white)."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = context.pixels()
        rows, cols = source.shape[:2]
        if args.get("percentage bounds") is not None:
            fw = fh = int(args["percentage bounds"]) / 100
        else:
            fw, fh = float(args["percentage_width"]), float(args["percentage_height"])
        size = (max(1, round(rows * fh)), max(1, round(cols * fw)))
        if size == (rows, cols):
            raise PluginError(
                "the kept size is the whole image: no seam to remove", argument="percentage_width"
            )
        remove = selection_mask(context, args, (rows, cols), required=False)
        out, changed = carve(source, size, kind=str(args["energy"]), remove=remove)
        if is_yes(args["keepSize"]):  # the original's object removal: seams added back to the source size
            out, inserted = restore_size(out, (rows, cols), kind=str(args["energy"]))
            changed = changed | inserted
        write_target(context, out, format="PNG")
        variables: dict[str, Any] = {
            "inputmasktype": "remove" if remove is not None else "keep",
            "apply mask": "yes" if remove is not None else "no",
            "energy": args["energy"],
        }
        return PluginResult(variables=variables, target_pixels=out, changed=changed)
