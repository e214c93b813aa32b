"""Per-operation comparison: source and target pixels → the edge's change mask and analysis.

Each comparison returns a boolean mask in *source* coordinates (True = changed) and the edge
attributes it measured, under the original names (``shape change``, ``location``, ``empty mask``,
``transform matrix``, ``global``, ``change size ratio``, ``change size category``).

Geometric operations (resize, rotate, flip, warps) are compared *through* their transform: the
source is carried into the target frame, differences there are carried back, and source pixels
that leave the canvas count as changed. A pure flip therefore has an empty mask and a transform
matrix, while a local edit on top of it shows up exactly.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.media import geometry, masks
from masksmith.media.masks import BoolMask

Image = NDArray[Any]

SMALL_CHANGE_PIXELS = 2500
MEDIUM_CHANGE_PIXELS = 10000
GLOBAL_RATIO = 0.75


@dataclass(frozen=True)
class Comparison:
    """The result of comparing an edge's source and target."""

    changed: BoolMask
    analysis: dict[str, Any]
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.analysis.get("empty mask") == "yes"


@dataclass(frozen=True)
class CompareInput:
    source: Image
    target: Image
    arguments: Mapping[str, Any]
    donor: Image | None = None
    tolerance: float = masks.DEFAULT_TOLERANCE


CompareFunction = Callable[[CompareInput], Comparison]


def shape_change(source: tuple[int, ...], target: tuple[int, ...]) -> str:
    return f"({target[0] - source[0]}, {target[1] - source[1]})"


def analyse(
    changed: BoolMask,
    source_shape: tuple[int, ...],
    target_shape: tuple[int, ...],
    *,
    location: tuple[int, int] = (0, 0),
    matrix: geometry.Matrix | None = None,
) -> dict[str, Any]:
    """The analysis attributes every comparison records."""
    n_changed = int(np.count_nonzero(changed))
    total = max(1, changed.size)
    ratio = n_changed / total
    if n_changed < SMALL_CHANGE_PIXELS:
        category = "small"
    elif n_changed < MEDIUM_CHANGE_PIXELS:
        category = "medium"
    else:
        category = "large"
    out: dict[str, Any] = {
        "shape change": shape_change(source_shape, target_shape),
        "location": f"({location[0]}, {location[1]})",
        "empty mask": "yes" if n_changed == 0 else "no",
        "change size ratio": ratio,
        "change size category": category,
        "global": "yes" if ratio > GLOBAL_RATIO else "no",
    }
    if matrix is not None:
        out["transform matrix"] = geometry.matrix_to_jt(matrix)
    return out


def parse_pair(value: object) -> tuple[float, float] | None:
    """Parse ``"(a, b)"``, ``"a,b"``, ``[a, b]`` or ``(a, b)`` into two numbers."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return None


# --- comparison functions -----------------------------------------------------------------------


def compare_diff(data: CompareInput) -> Comparison:
    """The default: a pixel difference with tolerance; a smaller target is treated as a crop."""
    src, tgt = data.source, data.target
    if src.shape[:2] == tgt.shape[:2]:
        changed = masks.diff_mask(src, tgt, tolerance=data.tolerance)
        return Comparison(changed, analyse(changed, src.shape, tgt.shape))
    if tgt.shape[0] <= src.shape[0] and tgt.shape[1] <= src.shape[1]:
        return compare_crop(data)
    if src.shape[:2] == tgt.shape[1::-1]:
        return compare_convert(data)
    return compare_resize(data)


def compare_crop(data: CompareInput) -> Comparison:
    """Locate the target inside the source; everything outside the kept window is changed."""
    src, tgt = data.source, data.target
    errors: list[str] = []
    if tgt.shape[0] > src.shape[0] or tgt.shape[1] > src.shape[1]:
        errors.append(f"crop target {tgt.shape[:2]} is larger than its source {src.shape[:2]}")
        return compare_resize(data)
    location = _given_crop_location(data) or geometry.locate_crop(src, tgt)
    row, col = location
    h, w = tgt.shape[:2]
    changed = np.ones(src.shape[:2], bool)
    changed[row : row + h, col : col + w] = masks.diff_mask(
        src[row : row + h, col : col + w], tgt, tolerance=data.tolerance
    )
    matrix = geometry.translation(-col, -row)
    analysis = analyse(changed, src.shape, tgt.shape, location=(row, col), matrix=matrix)
    return Comparison(changed, analysis, errors)


def _given_crop_location(data: CompareInput) -> tuple[int, int] | None:
    """A crop location stated in the arguments, if it fits exactly (``crop_x``/``crop_y`` or ``location``)."""
    args = data.arguments
    candidates: list[tuple[int, int]] = []
    if "crop_x" in args and "crop_y" in args:
        candidates.append((int(args["crop_y"]), int(args["crop_x"])))
    pair = parse_pair(args.get("location"))
    if pair is not None:
        # JT documents (x, y) for the argument but records (row, col) in the analysis: try both.
        candidates += [(int(pair[1]), int(pair[0])), (int(pair[0]), int(pair[1]))]
    src, tgt = data.source, data.target
    h, w = tgt.shape[:2]
    for row, col in candidates:
        if 0 <= row <= src.shape[0] - h and 0 <= col <= src.shape[1] - w:
            window = src[row : row + h, col : col + w]
            if window.shape == tgt.shape and np.array_equal(window, tgt):
                return row, col
    return None


def _through_transform(
    data: CompareInput,
    matrix: geometry.Matrix,
    *,
    interpolation: int,
    exact: bool,
    predicted: Image | None = None,
) -> Comparison:
    """Carry the source into the target frame, compare there, and carry the differences back."""
    src, tgt = data.source, data.target
    target_shape = (tgt.shape[0], tgt.shape[1])
    source_shape = (src.shape[0], src.shape[1])
    if predicted is None:
        predicted = geometry.warp_image(src, matrix, target_shape, interpolation=interpolation)
    if exact:
        diff_t = masks.diff_mask(predicted, tgt, tolerance=data.tolerance)
    else:
        diff_t = masks.smoothed_diff_mask(predicted, tgt)
    inverse = _inverse(matrix)
    changed = geometry.warp_mask(diff_t, inverse, source_shape)
    changed |= ~geometry.coverage(source_shape, matrix, target_shape)
    return Comparison(changed, analyse(changed, src.shape, tgt.shape, matrix=matrix))


def compare_resize(data: CompareInput) -> Comparison:
    src, tgt = data.source, data.target
    try:
        flag = geometry.interpolation_flag(data.arguments.get("interpolation"), default="linear")
    except ValueError as exc:
        return _failed(data, str(exc))
    matrix = geometry.resize_matrix(src.shape[:2], tgt.shape[:2])
    predicted = np.asarray(cv2.resize(src, (tgt.shape[1], tgt.shape[0]), interpolation=flag))
    return _through_transform(data, matrix, interpolation=flag, exact=False, predicted=predicted)


def compare_rotate(data: CompareInput) -> Comparison:
    src, tgt = data.source, data.target
    degrees = _number(data.arguments.get("rotation"))
    if degrees is None:
        return _failed(data, "rotation needs a numeric 'rotation' argument (degrees, counter-clockwise)")
    expand = src.shape[:2] != tgt.shape[:2]
    matrix, shape = geometry.rotation_matrix(src.shape[:2], degrees, expand=expand)
    if shape != tgt.shape[:2]:
        return _failed(
            data, f"rotating {src.shape[:2]} by {degrees}° gives {shape}, target is {tgt.shape[:2]}"
        )
    quarter = degrees / 90.0
    if abs(quarter - round(quarter)) < 1e-9 and expand:
        predicted = np.ascontiguousarray(np.rot90(src, k=round(quarter) % 4))
        return _through_transform(
            data, matrix, interpolation=cv2.INTER_NEAREST, exact=True, predicted=predicted
        )
    exact = abs(quarter - round(quarter)) < 1e-9
    return _through_transform(data, matrix, interpolation=cv2.INTER_LINEAR, exact=exact)


def compare_flip(data: CompareInput) -> Comparison:
    src, tgt = data.source, data.target
    direction = str(data.arguments.get("flip direction", data.arguments.get("direction", "horizontal")))
    codes = {"horizontal": 1, "vertical": 0, "both": -1}
    if direction not in codes:
        return _failed(data, f"unknown flip direction {direction!r}; expected horizontal, vertical or both")
    if src.shape[:2] != tgt.shape[:2]:
        return _failed(data, f"a flip keeps the size, but {src.shape[:2]} became {tgt.shape[:2]}")
    matrix = geometry.flip_matrix(src.shape[:2], direction)
    predicted = np.asarray(cv2.flip(src, codes[direction]))
    return _through_transform(data, matrix, interpolation=cv2.INTER_NEAREST, exact=True, predicted=predicted)


def compare_warp(data: CompareInput) -> Comparison:
    """Affine or perspective warps given by a ``transform matrix`` argument (source → target)."""
    try:
        matrix = geometry.matrix_from_jt(data.arguments.get("transform matrix"))
    except ValueError as exc:
        return _failed(data, str(exc))
    if matrix is None:
        return _failed(data, "a warp needs a 'transform matrix' argument")
    return _through_transform(data, matrix, interpolation=cv2.INTER_LINEAR, exact=False)


def compare_convert(data: CompareInput) -> Comparison:
    """Format changes and re-compression: differences that survive compression noise.

    A target with transposed shape (``Image Rotated``) is compared after turning it back.
    """
    src, tgt = data.source, data.target
    matrix: geometry.Matrix | None = None
    if src.shape[:2] != tgt.shape[:2]:
        if src.shape[:2] == tgt.shape[1::-1]:
            for k in (1, 3):
                candidate = np.ascontiguousarray(np.rot90(src, k=k))
                if (
                    np.count_nonzero(masks.smoothed_diff_mask(candidate, tgt))
                    < 0.01 * tgt.shape[0] * tgt.shape[1]
                ):
                    matrix, _ = geometry.rotation_matrix(src.shape[:2], 90.0 * k, expand=True)
                    diff_t = masks.smoothed_diff_mask(candidate, tgt)
                    changed = geometry.warp_mask(diff_t, _inverse(matrix), (src.shape[0], src.shape[1]))
                    return Comparison(changed, analyse(changed, src.shape, tgt.shape, matrix=matrix))
        return compare_resize(data)
    changed = masks.compression_tolerant_diff_mask(src, tgt)
    return Comparison(changed, analyse(changed, src.shape, tgt.shape, matrix=matrix))


def compare_paste(data: CompareInput) -> Comparison:
    """A paste with a donor: the mask is the donor's alpha carried to where it was pasted.

    Placement comes from a ``transform matrix`` (donor → target) or ``paste_x``/``paste_y`` (top-left);
    a donor the size of the target is placed as is. Without an alpha or a placement, a plain difference.
    """
    src, tgt, donor = data.source, data.target, data.donor
    if donor is None or src.shape[:2] != tgt.shape[:2]:
        return compare_diff(data)
    has_alpha = donor.ndim == 3 and donor.shape[2] == 4
    try:
        matrix = geometry.matrix_from_jt(data.arguments.get("transform matrix"))
    except ValueError:
        matrix = None
    if matrix is None and "paste_x" in data.arguments and "paste_y" in data.arguments:
        matrix = geometry.translation(float(data.arguments["paste_x"]), float(data.arguments["paste_y"]))
    if matrix is None and donor.shape[:2] == tgt.shape[:2]:
        matrix = geometry.identity()
    if matrix is None or not has_alpha:
        return compare_diff(data)
    region = masks.alpha_mask(donor)
    changed = geometry.warp_mask(region, matrix, (tgt.shape[0], tgt.shape[1]))
    return Comparison(changed, analyse(changed, src.shape, tgt.shape))


def compare_crop_resize(data: CompareInput) -> Comparison:
    """A crop of ``crop width`` × ``crop height`` scaled to the target's size in one step."""
    src, tgt = data.source, data.target
    w = _number(data.arguments.get("crop width"))
    h = _number(data.arguments.get("crop height"))
    if w is None or h is None or not (0 < w <= src.shape[1] and 0 < h <= src.shape[0]):
        return _failed(data, "crop+resize needs 'crop width' and 'crop height' within the source")
    size = (int(w), int(h))
    small = np.asarray(cv2.resize(tgt, size, interpolation=cv2.INTER_AREA))
    row, col = geometry.locate_crop(src, small)
    changed = np.ones(src.shape[:2], bool)
    changed[row : row + size[1], col : col + size[0]] = masks.smoothed_diff_mask(
        src[row : row + size[1], col : col + size[0]], small
    )
    matrix = geometry.resize_matrix((size[1], size[0]), tgt.shape[:2]) @ geometry.translation(-col, -row)
    return Comparison(changed, analyse(changed, src.shape, tgt.shape, location=(row, col), matrix=matrix))


def compare_seam(data: CompareInput) -> Comparison:
    """Seam carving is not traced seam by seam yet: compared as a crop, and the edge says so."""
    result = compare_crop(data)
    result.errors.append("seam carving is compared as a crop; removed seams are not traced")
    return result


def compare_select_region(data: CompareInput) -> Comparison:
    """SelectRegion: pixels made transparent in the target were removed (changed)."""
    tgt = data.target
    if tgt.ndim == 3 and tgt.shape[2] == 4 and data.source.shape[:2] == tgt.shape[:2]:
        changed = np.asarray(tgt[:, :, 3] == 0)
        return Comparison(changed, analyse(changed, data.source.shape, tgt.shape))
    return compare_diff(data)


def donor_mask(donor: Image) -> BoolMask:
    """The donated pixels of a donor image: its opaque region (everything without alpha)."""
    return masks.alpha_mask(donor)


def _inverse(matrix: geometry.Matrix) -> geometry.Matrix:
    return np.asarray(np.linalg.inv(matrix), dtype=np.float64)


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _failed(data: CompareInput, message: str) -> Comparison:
    """Fall back to a plain difference (or an all-changed mask) and record why."""
    src, tgt = data.source, data.target
    if src.shape[:2] == tgt.shape[:2]:
        changed = masks.diff_mask(src, tgt, tolerance=data.tolerance)
    else:
        changed = np.ones(src.shape[:2], bool)
    return Comparison(changed, analyse(changed, src.shape, tgt.shape), [message])


COMPARISONS: dict[str, CompareFunction] = {
    "diff": compare_diff,
    "crop": compare_crop,
    "resize": compare_resize,
    "rotate": compare_rotate,
    "flip": compare_flip,
    "warp": compare_warp,
    "affine": compare_warp,
    "convert": compare_convert,
    "crop_resize": compare_crop_resize,
    "seam": compare_seam,
    "paste": compare_paste,
    "paste_splice": compare_paste,
    "select_region": compare_select_region,
}


def normalise_name(name: str | None) -> str:
    """Map catalogue spellings (``cropCompare``, ``maskgen.tool_set.cropCompare``, ``crop``) to a key."""
    if not name:
        return "diff"
    key = name.rsplit(".", 1)[-1]
    key = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
    key = key.removesuffix("_compare").removeprefix("compare_")
    aliases = {"extract_alpha": "select_region", "default": "diff", "output": "convert"}
    return aliases.get(key, key)


def compare(
    method: str | None,
    source: Image,
    target: Image,
    arguments: Mapping[str, Any] | None = None,
    *,
    donor: Image | None = None,
    tolerance: float | None = None,
) -> Comparison:
    """Compare ``source`` and ``target`` with the named method (unknown names use the default)."""
    key = normalise_name(method)
    function = COMPARISONS.get(key, compare_diff)
    data = CompareInput(
        source=source,
        target=target,
        arguments=arguments or {},
        donor=donor,
        tolerance=masks.DEFAULT_TOLERANCE if tolerance is None else tolerance,
    )
    result = function(data)
    if key not in COMPARISONS:
        result.errors.append(f"unknown comparison {method!r}; used a plain difference")
    return result
