"""Splicing and cloning: PasteSplice (donor region into the source) and DesignPasteClone (paste sampled).

PasteSplice places the donor's opaque region (alpha > 0; the whole donor without alpha) with one 3×3
donor → target matrix and pastes exactly the pixels that matrix carries the region onto, so the journal's
paste comparison (the donor alpha warped by the returned ``transform matrix``) is the true change.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from masksmith.plugins import segment
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import BoolMask, Image, donor_path, selection_mask, write_target, yes_no

Matrix = geometry.Matrix


def _placement(
    centre: tuple[float, float], scale: float, degrees: float, target: tuple[float, float]
) -> Matrix:
    """Donor → target: move ``centre`` to the origin, scale, turn counter-clockwise, move to ``target``."""
    rad = math.radians(degrees)
    cos, sin = math.cos(rad) * scale, math.sin(rad) * scale
    turn = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    matrix: Matrix = geometry.translation(*target) @ turn @ geometry.translation(-centre[0], -centre[1])
    return matrix


def _extent(width: int, height: int, scale: float, degrees: float) -> tuple[float, float]:
    """Width and height of a ``width`` × ``height`` box after scaling and turning."""
    rad = math.radians(degrees)
    c, s = abs(math.cos(rad)), abs(math.sin(rad))
    return scale * (width * c + height * s), scale * (width * s + height * c)


def _match_layout(donor: Image, like: Image) -> Image:
    """Donor pixels in the source's channel layout and dtype (alpha dropped or made opaque)."""
    out = donor
    if out.dtype != like.dtype:
        out = (out >> 8).astype(np.uint8) if out.dtype == np.uint16 else out.astype(np.uint16) * 257
    rgb = out if out.ndim == 2 else out[:, :, :3]
    if like.ndim == 2:
        return (
            rgb if rgb.ndim == 2 else np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
        )
    if rgb.ndim == 2:
        rgb = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB))
    if like.shape[2] == 4:
        top = 65535 if like.dtype == np.uint16 else 255
        return np.dstack([rgb, np.full(rgb.shape[:2], top, like.dtype)])
    return np.ascontiguousarray(rgb)


class PasteSplice(Plugin):
    name = "PasteSplice"
    operation = "PasteSplice"
    description = (
        "Paste the donor's selected region (alpha > 0) into the source. 'approach': simple (as is, shrunk "
        "only to fit), random (scale 0.5–1.5, rotation ±90°), texture (into a uniform region found by "
        "'segment' slic or felzenszwalb on a reduced copy). Returns the donor → target 'transform matrix'."
    )
    suffix = ".png"
    arguments = (
        Argument(
            "donor", "donor", None, "The image (usually RGBA from SelectRegion) to paste.", required=True
        ),
        Argument("approach", "list", "simple", "Placement strategy.", values=("simple", "random", "texture")),
        Argument("segment", "list", "slic", "Texture segmentation.", values=("slic", "felzenszwalb", "none")),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(
            {**context.arguments, "donor": context.donor or context.arguments.get("donor")}
        )
        path = donor_path(context, args)
        try:
            donor = media_io.read_image(path).pixels
        except MediaError as exc:
            raise PluginError(f"cannot read the donor: {exc.message}", file=path, argument="donor") from None
        region = masks.alpha_mask(donor)
        box = masks.bbox(region)
        if box is None:
            raise PluginError(
                "the donor selects no pixels (alpha is 0 everywhere)", file=path, argument="donor"
            )
        source = context.pixels()
        shape = (source.shape[0], source.shape[1])
        approach = str(args["approach"])
        placed = None
        if approach == "texture":
            placed = self._texture(context.rng, source, box, str(args["segment"]))
        if placed is None:
            placed = self._free(context.rng, shape, box, randomise=approach == "random")
        matrix, scale, degrees = placed
        pasted = geometry.warp_mask(region, matrix, shape)
        if not pasted.any():
            raise PluginError("the donor region landed outside the image", argument="donor")
        warped = geometry.warp_image(
            _match_layout(donor, source), matrix, shape, interpolation=cv2.INTER_LINEAR
        )
        out = source.copy()
        out[pasted] = warped[pasted]
        write_target(context, out)
        variables: dict[str, Any] = {
            "transform matrix": geometry.matrix_to_jt(matrix),
            "donor rotated": yes_no(abs(degrees) > 1e-9),
            "donor resized": yes_no(abs(scale - 1.0) > 1e-9),
            "donor cropped": "no",
            "donor flipped": "no",
            "approach": approach,
        }
        return PluginResult(variables=variables, target_pixels=out, transform_matrix=matrix, donor=path)

    @staticmethod
    def _centre(box: masks.BBox) -> tuple[float, float]:
        return (box.left + box.right - 1) / 2.0, (box.top + box.bottom - 1) / 2.0

    def _free(
        self, rng: np.random.Generator, shape: tuple[int, int], box: masks.BBox, *, randomise: bool
    ) -> tuple[Matrix, float, float]:
        """Anywhere it fits: as is (shrunk to fit), or randomly scaled and turned first."""
        rows, cols = shape
        scale, degrees = 1.0, 0.0
        if randomise:
            scale = float(rng.uniform(0.5, 1.5))
            degrees = float(rng.uniform(-90.0, 90.0))
        w, h = _extent(box.width, box.height, scale, degrees)
        fit = min(1.0, (cols - 2) / max(w, 1e-9), (rows - 2) / max(h, 1e-9))
        scale *= fit
        w, h = w * fit, h * fit
        tx = float(rng.uniform(w / 2.0, max(w / 2.0, cols - w / 2.0)))
        ty = float(rng.uniform(h / 2.0, max(h / 2.0, rows - h / 2.0)))
        # whole pixels for an unscaled, unturned paste keep the donor pixels exact
        if scale == 1.0 and degrees == 0.0:
            cx, cy = self._centre(box)
            tx, ty = cx + round(tx - cx), cy + round(ty - cy)
        return _placement(self._centre(box), scale, degrees, (tx, ty)), scale, degrees

    def _texture(
        self, rng: np.random.Generator, source: Image, box: masks.BBox, method: str
    ) -> tuple[Matrix, float, float] | None:
        """Into a region of uniform texture: the calmest segments, at a point deep inside them."""
        if method == "none":
            return None
        small, factor = segment.reduce(source, 480)
        if method == "felzenszwalb":
            labels = segment.felzenszwalb(small, scale=300.0)
        else:
            labels = segment.slic(small, segments=80, compactness=20.0)
        gray = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        scores = segment.texture_scores(gray, labels)
        present = np.flatnonzero(segment.label_areas(labels) > 0)
        calm_labels = present[scores[present] <= np.percentile(scores[present], 35)]
        calm = np.isin(labels, calm_labels)
        depth = segment.depth_map(calm)
        deepest = float(depth.max())
        if deepest < 2:
            return None
        rows, cols = np.nonzero(depth >= 0.8 * deepest)
        pick = int(rng.integers(len(rows)))
        cy, cx, radius = int(rows[pick]), int(cols[pick]), float(depth[rows[pick], cols[pick]]) / factor
        diagonal = math.hypot(box.width, box.height)
        scale = min(1.0, 2.0 * radius / max(diagonal, 1e-9))
        if scale * min(box.width, box.height) < 4:
            return None
        degrees = float(rng.uniform(-15.0, 15.0))
        target = ((cx + 0.5) / factor - 0.5, (cy + 0.5) / factor - 0.5)
        return _placement(self._centre(box), scale, degrees, target), scale, degrees


class DesignPasteClone(Plugin):
    name = "DesignPasteClone"
    operation = "PasteSampled"
    description = (
        "Clone the pixels under the input mask (255 = sampled) to 'paste_x', 'paste_y' (the new top-left of "
        "the mask's bounding box) in the same image."
    )
    arguments = (
        Argument("inputmaskname", "mask", None, "Input mask of the sampled pixels (255 = sample)."),
        Argument("paste_x", "int[0:100000]", None, "Column of the pasted region's left edge.", required=True),
        Argument("paste_y", "int[0:100000]", None, "Row of the pasted region's top edge.", required=True),
        Argument(
            "purpose", "list", "clone", "Why the pixels were pasted.", values=("clone", "remove", "heal")
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = context.pixels()
        rows, cols = source.shape[:2]
        selected = selection_mask(context, args, (rows, cols))
        assert selected is not None
        box = masks.bbox(selected)
        if box is None:
            raise PluginError("the input mask selects nothing", argument="inputmaskname")
        x, y = int(args["paste_x"]), int(args["paste_y"])
        if x >= cols or y >= rows:
            raise PluginError(f"({x}, {y}) lies outside the {cols}×{rows} image", argument="paste_x")
        dx, dy = x - box.left, y - box.top
        moved = _shift(selected, dx, dy)
        out = source.copy()
        shifted_pixels = _shift_image(source, dx, dy)
        out[moved] = shifted_pixels[moved]
        write_target(context, out)
        return PluginResult(
            variables={"purpose": args["purpose"], "paste_x": x, "paste_y": y},
            target_pixels=out,
            mask=selected,
        )


def _shift(mask: BoolMask, dx: int, dy: int) -> BoolMask:
    out = np.zeros_like(mask)
    rows, cols = mask.shape
    src_r = slice(max(0, -dy), min(rows, rows - dy))
    src_c = slice(max(0, -dx), min(cols, cols - dx))
    dst_r = slice(max(0, dy), min(rows, rows + dy))
    dst_c = slice(max(0, dx), min(cols, cols + dx))
    if src_r.start < src_r.stop and src_c.start < src_c.stop:
        out[dst_r, dst_c] = mask[src_r, src_c]
    return out


def _shift_image(image: Image, dx: int, dy: int) -> Image:
    out = np.zeros_like(image)
    rows, cols = image.shape[:2]
    src_r = slice(max(0, -dy), min(rows, rows - dy))
    src_c = slice(max(0, -dx), min(cols, cols - dx))
    dst_r = slice(max(0, dy), min(rows, rows + dy))
    dst_c = slice(max(0, dx), min(cols, cols + dx))
    if src_r.start < src_r.stop and src_c.start < src_c.stop:
        out[dst_r, dst_c] = image[src_r, src_c]
    return out
