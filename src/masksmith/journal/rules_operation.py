"""Operation rules named by the catalogue (``operations.json`` ``rules``), registered with ``@rule``.

Each has the Journaling Tool signature ``(operation, journal, start, end)``. ``donor:`` rules (the
prefix lives in the catalogue, not here) only run in full validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from masksmith.journal.compare import GLOBAL_RATIO, parse_pair
from masksmith.journal.rules_base import RuleOutcome, Severity, inspect, mask_ratio
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from masksmith.operations import Operation, rule

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

SUFFIX_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
OUTPUT_FORMATS = {"OutputPng": "PNG", "OutputTif": "TIFF", "OutputBmp": "BMP", "OutputJpg": "JPEG"}
_FILE_SYSTEM_TAGS = ("File ", "File:", "System:")
_EXIF_DATE = re.compile(r"^\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}")


def _edge(journal: Journal, start: str, end: str) -> dict[str, Any]:
    return journal.graph.edge(start, end)


def _arguments(journal: Journal, start: str, end: str) -> dict[str, Any]:
    return dict(_edge(journal, start, end).get("arguments") or {})


def _sizes(journal: Journal, start: str, end: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    info = inspect(journal)
    src, tgt = info.size(start), info.size(end)
    if src is None or tgt is None:
        return None
    return src, tgt


def _change(journal: Journal, start: str, end: str) -> tuple[int, int] | None:
    """``(d_rows, d_cols)``, target minus source, from the media (else the recorded value)."""
    sizes = _sizes(journal, start, end)
    if sizes is not None:
        src, tgt = sizes
        return tgt[0] - src[0], tgt[1] - src[1]
    pair = parse_pair(_edge(journal, start, end).get("shape change"))
    return (int(pair[0]), int(pair[1])) if pair else None


def _yes(value: object) -> bool:
    return str(value).strip().lower() in ("yes", "true", "1")


def _donor(journal: Journal, end: str) -> str | None:
    donors = journal.graph.donors_of(end)
    return donors[0] if donors else None


def _mask(journal: Journal, start: str, end: str) -> np.ndarray | None:
    return inspect(journal).edge_mask(start, end)


# --- size and shape --------------------------------------------------------------------------------


@rule("check_size")
def check_size(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation keeps the image size (unless its ``Approach`` was a crop)."""
    change = _change(journal, start, end)
    if change and change != (0, 0) and _arguments(journal, start, end).get("Approach") != "Crop":
        return f"operation should not change the size; it changed by {change} (rows, cols)"
    return None


@rule("check_crop_size")
def check_crop_size(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A crop never grows a dimension."""
    change = _change(journal, start, end)
    if change and (change[0] > 0 or change[1] > 0):
        return "crop cannot increase a dimension of the image"
    return None


@rule("check_crop_mask")
def check_crop_mask(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Pixels inside the kept window are unchanged by a crop."""
    mask, sizes = _mask(journal, start, end), _sizes(journal, start, end)
    location = parse_pair(_edge(journal, start, end).get("location"))
    if mask is None or sizes is None or location is None:
        return None
    row, col = int(location[0]), int(location[1])
    h, w = sizes[1]
    inside = int(np.count_nonzero(mask[row : row + h, col : col + w]))
    if inside:
        return f"crop changed {inside} pixels inside the kept window"
    return None


def _size_and_exif(journal: Journal, start: str, end: str, kind: str) -> RuleOutcome:
    sizes = _sizes(journal, start, end)
    if sizes is None or sizes[0] == sizes[1]:
        return None
    src, tgt = sizes
    args = _arguments(journal, start, end)
    rotated = _yes(args.get("Image Rotated", "no")) or _yes(args.get("rotate", "no"))
    if src == tgt[::-1] and rotated:
        return None
    if src == tgt[::-1]:
        return f"{kind} turned the image ({src} to {tgt}) but 'Image Rotated' is not yes"
    return f"{kind} changed the size from {src} to {tgt} (rows, cols)"


@rule("check_size_and_exif")
def check_size_and_exif(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The size is kept, except for a turn explained by EXIF orientation."""
    return _size_and_exif(journal, start, end, "operation")


@rule("check_size_and_exif_png")
def check_size_and_exif_png(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """As check_size_and_exif, for PNG output (which carries the turn in its pixels)."""
    return _size_and_exif(journal, start, end, "PNG output")


@rule("rotation_check")
def rotation_check(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """``Image Rotated`` says yes exactly when the output is turned a quarter."""
    sizes = _sizes(journal, start, end)
    if sizes is None:
        return None
    src, tgt = sizes
    turned = src != tgt and src == tgt[::-1]
    claimed = _yes(_arguments(journal, start, end).get("Image Rotated", "no"))
    if claimed and not turned and src[0] != src[1]:
        return "'Image Rotated' is yes but the output is not turned"
    if turned and not claimed:
        return "output is turned but 'Image Rotated' is not yes"
    return None


@rule("seam_carving_check")
def seam_carving_check(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Seam carving shrinks one direction at a time."""
    change = _change(journal, start, end)
    if change and change[0] != 0 and change[1] != 0:
        return (Severity.WARNING, f"seam carving changed both dimensions {change}; compared as a crop")
    return None


# --- file types ----------------------------------------------------------------------------------


def _format(journal: Journal, node: str) -> str | None:
    return inspect(journal).format(node)


@rule("check_file_type_change")
def check_file_type_change(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation keeps the file type (format changes belong to Output operations)."""
    a, b = _format(journal, start), _format(journal, end)
    if a and b and a != b:
        return f"file type changed from {a} to {b}"
    return None


@rule("check_file_type_change_for_donor")
def check_file_type_change_for_donor(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The result has the file type of the donor it copies from."""
    donor = _donor(journal, end)
    if donor is None:
        return None
    a, b = _format(journal, donor), _format(journal, end)
    if a and b and a != b:
        return f"result is {b} but its donor is {a}"
    return None


@rule("check_file_type_unchanged")
def check_file_type_unchanged(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A copy keeps the file type, and the copy's suffix names its true format."""
    a, b = _format(journal, start), _format(journal, end)
    if a and b and a != b:
        return f"copy changed the file type from {a} to {b}"
    suffix = Path(str(journal.graph.node(end).get("file", ""))).suffix.lower()
    if b and SUFFIX_FORMATS.get(suffix, b) != b:
        return f"file suffix {suffix!r} does not match its content ({b})"
    return None


@rule("check_output_type")
def check_output_type(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """An Output operation writes the format it is named after."""
    expected = OUTPUT_FORMATS.get(op.base_name)
    actual = _format(journal, end)
    if expected and actual and actual != expected:
        return f"{op.name} should write {expected}, the result is {actual}"
    return None


@rule("check_eight_bit")
def check_eight_bit(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A JPEG result has dimensions that are multiples of 8 (whole DCT blocks)."""
    size = inspect(journal).size(end)
    if _format(journal, end) == "JPEG" and size and (size[0] % 8 or size[1] % 8):
        return (Severity.WARNING, f"JPEG result {size[0]}x{size[1]} is not aligned to 8-pixel blocks")
    return None


@rule("check_uncompressed")
def check_uncompressed(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The manipulation starts from uncompressed media."""
    if _format(journal, start) == "JPEG":
        return (Severity.WARNING, "starting node appears to be compressed (JPEG)")
    return None


@rule("check_same_channels")
def check_same_channels(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation keeps the number of colour channels."""
    info = inspect(journal)
    a, b = info.channels(start), info.channels(end)
    if a and b and a != b:
        return f"number of channels changed from {a} to {b}"
    return None


# --- masks ---------------------------------------------------------------------------------------


@rule("check_empty")
def check_empty(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A local manipulation changed something (its mask is not empty)."""
    mask = _mask(journal, start, end)
    empty = (
        masks.count(mask) == 0 if mask is not None else _edge(journal, start, end).get("empty mask") == "yes"
    )
    if empty:
        return "operation mask is empty: nothing changed"
    return None


def _add_to_composite(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None and end is not None
    _edge(journal, start, end)["recordMaskInComposite"] = "yes"
    return f"set recordMaskInComposite=yes on {start}->{end}"


def _local_unrecorded(journal: Journal, start: str, end: str) -> bool:
    mask = _mask(journal, start, end)
    if mask is None or _yes(_edge(journal, start, end).get("recordMaskInComposite", "no")):
        return False
    ratio = mask_ratio(mask)
    return 0 < ratio <= GLOBAL_RATIO


@rule("check_local")
def check_local(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A local change is included in the composite (fix: include it)."""
    if _local_unrecorded(journal, start, end):
        return (
            Severity.ERROR,
            "link changes a local area; it should be included in the composite",
            _add_to_composite,
        )
    return None


@rule("check_local_warn")
def check_local_warn(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """As check_local, as a warning for operations that are usually global."""
    if _local_unrecorded(journal, start, end):
        return (
            Severity.WARNING,
            "link changes a local area; consider including it in the composite",
            _add_to_composite,
        )
    return None


def _input_mask(journal: Journal, start: str, end: str) -> np.ndarray | None:
    name = _edge(journal, start, end).get("inputmaskname")
    if not inspect(journal).exists(name):
        return None
    path = journal.mask_path(start, end, attribute="inputmaskname")
    return masks.from_input_mask(media_io.read_image(path).pixels)


@rule("check_move_mask")
def check_move_mask(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A move names the moved region (input mask), and the change covers it."""
    if not _edge(journal, start, end).get("inputmaskname"):
        return "move has no input mask naming the moved region"
    selected, mask = _input_mask(journal, start, end), _mask(journal, start, end)
    if selected is None or mask is None or selected.shape != mask.shape or not selected.any():
        return None
    covered = masks.count(selected & masks.dilate(mask, 2)) / masks.count(selected)
    if covered < 0.5:
        return (Severity.WARNING, f"only {covered:.0%} of the moved region shows in the change mask")
    return None


@rule("check_paste_mask")
def check_paste_mask(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A paste changes about as much as its donor gave (not far more)."""
    donor = _donor(journal, end)
    mask = _mask(journal, start, end)
    if donor is None or mask is None:
        return None
    donated = inspect(journal).edge_mask(donor, end)
    if donated is None:
        return None
    changed, given = masks.count(mask), masks.count(donated)
    if changed > 2 * given + 64:
        return (
            Severity.WARNING,
            f"paste changed {changed} pixels, more than twice the {given} its donor gave",
        )
    return None


@rule("sampled_input_mask")
def sampled_input_mask(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A sampled paste names the region it sampled from (input mask)."""
    if not _edge(journal, start, end).get("inputmaskname"):
        return (Severity.WARNING, "sampled paste has no input mask naming the sampled region")
    return None


# --- transforms and donors --------------------------------------------------------------------------


@rule("check_resize_interpolation")
def check_resize_interpolation(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The interpolation is known and suits the direction of the resize."""
    value = str(_arguments(journal, start, end).get("interpolation") or "")
    if value in ("", "other", "none-canvas expanded"):
        return None
    try:
        geometry.interpolation_flag(value)
    except ValueError:
        return f"unknown interpolation {value!r}"
    change = _change(journal, start, end)
    if change is None:
        return None
    shrinking, growing = change[0] < 0 or change[1] < 0, change[0] > 0 or change[1] > 0
    if shrinking and value.lower() == "nearest":
        return (Severity.WARNING, "nearest-neighbour interpolation when shrinking aliases the image")
    if growing and value.lower() in ("mesh", "area"):
        return (Severity.WARNING, f"{value} interpolation is meant for shrinking, not enlarging")
    return None


@rule("check_homography")
def check_homography(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A recorded transform matrix is usable (invertible, keeps orientation of the canvas)."""
    data = _edge(journal, start, end)
    raw = data.get("transform matrix", _arguments(journal, start, end).get("transform matrix"))
    if raw is None:
        if op.mask_transform("image") in ("affine", "warp") and not _yes(data.get("empty mask", "no")):
            return (Severity.WARNING, "no transform matrix recorded: probes cannot follow this warp")
        return None
    try:
        matrix = geometry.matrix_from_jt(raw)
    except ValueError as exc:
        return f"transform matrix is malformed: {exc}"
    if matrix is None:
        return None
    det = float(np.linalg.det(matrix[:2, :2]))
    if not np.all(np.isfinite(matrix)) or abs(det) < 1e-6 or abs(float(np.linalg.det(matrix))) < 1e-9:
        return "transform matrix is degenerate (not invertible)"
    return None


@rule("check_sift")
def check_sift(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A paste records where its donor landed (a transform or an offset) when the sizes differ."""
    donor = _donor(journal, end)
    if donor is None:
        return None
    data, args = _edge(journal, start, end), _arguments(journal, start, end)
    placed = (
        "transform matrix" in args or ("paste_x" in args and "paste_y" in args) or "transform matrix" in data
    )
    same = inspect(journal).size(donor) == inspect(journal).size(end)
    if not placed and not same:
        return (Severity.WARNING, "donor placement is not recorded; donor masks will be estimated")
    return None


@rule("check_for_donor")
def check_for_donor(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation has a donor link."""
    if _donor(journal, end) is None:
        return f"{op.name} needs a donor link into {end}"
    return None


def _has_select_region_upstream(journal: Journal, node: str) -> bool:
    graph = journal.graph
    current: str | None = node
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        previous = graph.operation_predecessor(current)
        if previous is None:
            return False
        operation = journal.catalogue.find(str(graph.edge(previous, current).get("op", "")))
        if operation is not None and operation.category == "Select":
            return True
        current = previous
    return False


@rule("check_for_donor_with_region")
def check_for_donor_with_region(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The operation has a donor, and the donated region is selected (alpha or a SelectRegion)."""
    donor = _donor(journal, end)
    if donor is None:
        return f"{op.name} needs a donor link into {end}"
    channels = inspect(journal).channels(donor)
    if channels != 4 and not _has_select_region_upstream(journal, donor):
        return (Severity.WARNING, "donor has no selected region (no alpha and no SelectRegion on its path)")
    return None


# --- metadata ------------------------------------------------------------------------------------


def _date_changes(journal: Journal, start: str, end: str) -> dict[str, object]:
    diff = _edge(journal, start, end).get("exifdiff") or {}
    out: dict[str, object] = {}
    if isinstance(diff, dict):
        for tag, change in diff.items():
            if str(tag).startswith(_FILE_SYSTEM_TAGS):  # exiftool's file-system times, not metadata
                continue
            if "date" in str(tag).lower() and isinstance(change, (list, tuple)) and change:
                out[str(tag)] = change[-1]
    return out


@rule("check_meta_date")
def check_meta_date(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Dates written into the metadata use the EXIF form ``YYYY:MM:DD HH:MM:SS``."""
    bad = [
        tag for tag, value in _date_changes(journal, start, end).items() if not _EXIF_DATE.match(str(value))
    ]
    if bad:
        return f"metadata dates not in EXIF form (YYYY:MM:DD HH:MM:SS): {', '.join(sorted(bad))}"
    return None


@rule("check_time_stamp")
def check_time_stamp(op: Operation, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Notes timestamps the operation changed."""
    changed = _date_changes(journal, start, end)
    if changed:
        return (Severity.INFO, f"timestamps changed: {', '.join(sorted(changed))}")
    return None
