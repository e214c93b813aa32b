"""Edge-level rules run on every link: operation known, masks present and sized, arguments, donors.

They have the operation-rule signature ``(operation, journal, start, end)`` and are registered in
the rule registry too, so a catalogue may also name them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from masksmith.journal.compare import shape_change
from masksmith.journal.model import DONOR_OP, yes_no
from masksmith.journal.rules_base import (
    RuleOutcome,
    Severity,
    edge_rule,
    inspect,
    regenerate_mask,
)
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.operations import Operation, rule

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

NO_MASK_KINDS = frozenset({"meta", "frames", "audio"})


def _edge(journal: Journal, start: str, end: str) -> dict[str, Any]:
    return journal.graph.edge(start, end)


def _is_donor(journal: Journal, start: str, end: str) -> bool:
    return _edge(journal, start, end).get("op") == DONOR_OP


@edge_rule("edge_unknown_operation", Severity.ERROR)
@rule("edge_unknown_operation")
def edge_unknown_operation(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """The link's operation is in the catalogue."""
    if operation is None and not _is_donor(journal, start, end):
        return f"unknown operation {_edge(journal, start, end).get('op')!r}"
    return None


@edge_rule("edge_deprecated_operation", Severity.WARNING)
@rule("edge_deprecated_operation")
def edge_deprecated_operation(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """The link's operation is not deprecated."""
    if operation is not None and operation.deprecated:
        return (Severity.WARNING, f"operation {operation.name!r} is deprecated")
    return None


def _fix_regenerate(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None and end is not None
    return regenerate_mask(journal, start, end)


def _media_present(journal: Journal, *nodes: str) -> bool:
    info = inspect(journal)
    return all(info.size(n) is not None for n in nodes)


@edge_rule("edge_mask_missing", Severity.ERROR)
@rule("edge_mask_missing")
def edge_mask_missing(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A link that generates a mask has its mask file (fix: regenerate it from the media)."""
    data = _edge(journal, start, end)
    if operation is not None and operation.generate_mask in NO_MASK_KINDS and not data.get("maskname"):
        return None
    kind = journal.graph.node(start).get("filetype")
    if not data.get("maskname") and (kind == "audio" or (kind == "video" and data.get("op") == "Donor")):
        return None  # audio has no pixels, and a donated stream is its segments: no mask file
    name = data.get("maskname")
    if inspect(journal).exists(name) or (name and not inspect(journal).contained(name)):
        return None  # a name leading out is reported by paths_contained, and never regenerated
    message = f"mask file {name!r} is missing" if name else "link has no mask file"
    fixable = _media_present(journal, start, end)
    return (Severity.ERROR, message, _fix_regenerate) if fixable else (Severity.ERROR, message)


@edge_rule("edge_mask_size", Severity.ERROR)
@rule("edge_mask_size")
def edge_mask_size(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A link's mask has the size of its source media (fix: regenerate it)."""
    info = inspect(journal)
    if not info.exists(_edge(journal, start, end).get("maskname")):
        return None
    mask = info.edge_mask(start, end)
    size = info.size(start)
    if mask is None:
        return (Severity.ERROR, "mask file cannot be read", _fix_regenerate)
    if size is not None and mask.shape[:2] != size:
        return (
            Severity.ERROR,
            f"mask is {mask.shape[0]}x{mask.shape[1]} but its source is {size[0]}x{size[1]} (rows x cols)",
            _fix_regenerate,
        )
    return None


@edge_rule("edge_input_mask_missing", Severity.ERROR)
@rule("edge_input_mask_missing")
def edge_input_mask_missing(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """A link's input mask file exists."""
    name = _edge(journal, start, end).get("inputmaskname")
    if name and inspect(journal).contained(name) and not inspect(journal).exists(name):
        return f"input mask {name!r} is missing"
    return None


def _fix_input_mask_size(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None and end is not None
    name = str(_edge(journal, start, end)["inputmaskname"])
    size = inspect(journal).size(start)
    assert size is not None
    path = journal.mask_path(start, end, attribute="inputmaskname")
    pixels = media_io.read_image(path).pixels
    resized = cv2.resize(pixels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    media_io.write_image(path, np.ascontiguousarray(resized))
    return f"resized input mask {name} to {size[0]}x{size[1]}"


@edge_rule("edge_input_mask_size", Severity.ERROR)
@rule("edge_input_mask_size")
def edge_input_mask_size(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A link's input mask has the size of its source (fix: resize it)."""
    name = _edge(journal, start, end).get("inputmaskname")
    info = inspect(journal)
    if not info.exists(name):
        return None
    size = info.size(start)
    path = journal.mask_path(start, end, attribute="inputmaskname")
    width, height = media_io.read_image_size(path, oriented=True)
    if size is not None and (height, width) != size:
        return (
            Severity.ERROR,
            f"input mask is {height}x{width} but its source is {size[0]}x{size[1]}",
            _fix_input_mask_size,
        )
    return None


@edge_rule("edge_mask_errors", Severity.WARNING)
@rule("edge_mask_errors")
def edge_mask_errors(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The comparison that made the mask reported no errors."""
    errors = _edge(journal, start, end).get("errors") or []
    if errors:
        return (Severity.WARNING, f"link has mask processing errors: {'; '.join(map(str, errors))}")
    return None


def _argument_problems(operation: Operation, journal: Journal, start: str, end: str) -> list[Any]:
    data = _edge(journal, start, end)
    arguments = dict(data.get("arguments") or {})
    if data.get("inputmaskname") and "inputmaskname" not in arguments:
        arguments["inputmaskname"] = data["inputmaskname"]
    info = inspect(journal)
    _, problems = operation.argument_problems(arguments, media_type="image", file_exists=info.exists)
    return problems


@edge_rule("edge_mandatory_arguments", Severity.ERROR)
@rule("edge_mandatory_arguments")
def edge_mandatory_arguments(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """Mandatory arguments (and optional ones a rule makes mandatory) are present."""
    if operation is None or operation.name == DONOR_OP:
        return None
    missing = [
        p.argument for p in _argument_problems(operation, journal, start, end) if "missing" in p.message
    ]
    if missing:
        return f"missing mandatory arguments: {', '.join(str(m) for m in missing)}"
    return None


@edge_rule("edge_argument_types", Severity.ERROR)
@rule("edge_argument_types")
def edge_argument_types(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Argument values fit their declared types."""
    if operation is None or operation.name == DONOR_OP:
        return None
    bad = [p for p in _argument_problems(operation, journal, start, end) if "missing" not in p.message]
    if bad:
        return "; ".join(p.one_line() for p in bad)
    return None


@edge_rule("edge_software", Severity.WARNING)
@rule("edge_software")
def edge_software(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """Operation links name the software and version that made them."""
    data = _edge(journal, start, end)
    if data.get("op") == DONOR_OP:
        return None
    missing = [k for k in ("softwareName", "softwareVersion") if not str(data.get(k) or "").strip()]
    if missing:
        return (Severity.WARNING, f"link lacks {', '.join(missing)}")
    return None


def _takes_donor(operation: Operation | None) -> bool:
    if operation is None:
        return False
    return (
        operation.category in ("Paste", "AntiForensic")
        or operation.donor_processor is not None
        or any(r.startswith("donor:") for r in operation.rules)
    )


@edge_rule("edge_donor_link", Severity.ERROR)
@rule("edge_donor_link")
def edge_donor_link(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """A donor link goes into a node made by an operation that takes a donor, and is its only donor."""
    if not _is_donor(journal, start, end):
        return None
    graph = journal.graph
    made_by = graph.operation_predecessor(end)
    if made_by is None:
        return "donor link into a node that no operation made"
    target_op = journal.catalogue.find(str(graph.edge(made_by, end).get("op", "")))
    if not _takes_donor(target_op):
        made = graph.edge(made_by, end)
        name = target_op.name if target_op else made.get("op")
        plugin = made.get("plugin_name")
        if (
            plugin
        ):  # a plugin with a donor argument links its donor, as the original did (e.g. CropToFitDonor)
            return (
                Severity.WARNING,
                f"donor link into the result of {name!r} (plugin {plugin}), which takes no donor",
            )
        return f"donor link into the result of {name!r}, which takes no donor"
    donors = graph.donors_of(end)
    if len(donors) > 1:
        return f"node has {len(donors)} donor links: {', '.join(sorted(donors))}"
    return None


def _fix_record(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None and end is not None
    data = _edge(journal, start, end)
    operation = journal.catalogue.find(str(data.get("op", "")))
    value = yes_no(operation.include_in_mask("image")) if operation else "no"
    data["recordMaskInComposite"] = value
    return f"set recordMaskInComposite={value} on {start}->{end}"


@edge_rule("edge_record_in_composite", Severity.WARNING)
@rule("edge_record_in_composite")
def edge_record_in_composite(
    operation: Operation | None, journal: Journal, start: str, end: str
) -> RuleOutcome:
    """``recordMaskInComposite`` is present and ``yes`` or ``no``."""
    value = _edge(journal, start, end).get("recordMaskInComposite")
    if value not in ("yes", "no"):
        return (Severity.WARNING, f"recordMaskInComposite is {value!r}, expected 'yes' or 'no'", _fix_record)
    return None


def _fix_shape_change(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None and end is not None
    info = inspect(journal)
    src, tgt = info.size(start), info.size(end)
    assert src is not None and tgt is not None
    value = shape_change(src, tgt)
    _edge(journal, start, end)["shape change"] = value
    return f"set shape change={value} on {start}->{end}"


@edge_rule("edge_shape_change", Severity.ERROR)
@rule("edge_shape_change")
def edge_shape_change(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The recorded ``shape change`` agrees with the media sizes (fix: record the true one)."""
    data = _edge(journal, start, end)
    if data.get("op") == DONOR_OP:
        return None
    info = inspect(journal)
    src, tgt = info.size(start), info.size(end)
    if src is None or tgt is None:
        return None
    actual = shape_change(src, tgt)
    recorded = data.get("shape change")
    if recorded is None or str(recorded).replace(" ", "") != actual.replace(" ", ""):
        return (
            Severity.ERROR,
            f"shape change is recorded as {recorded!r}, the media say {actual}",
            _fix_shape_change,
        )
    return None


def _fix_empty_flag(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None and end is not None
    mask = inspect(journal).edge_mask(start, end)
    assert mask is not None
    value = "no" if masks.count(mask) else "yes"
    _edge(journal, start, end)["empty mask"] = value
    return f"set empty mask={value} on {start}->{end}"


@edge_rule("edge_empty_mask_flag", Severity.WARNING)
@rule("edge_empty_mask_flag")
def edge_empty_mask_flag(operation: Operation | None, journal: Journal, start: str, end: str) -> RuleOutcome:
    """The recorded ``empty mask`` flag agrees with the mask file (fix: record the true one)."""
    data = _edge(journal, start, end)
    recorded = data.get("empty mask")
    if recorded is None or data.get("op") == DONOR_OP or "videomasks" in data:
        return None  # video/audio links: 'empty mask' speaks of the segments
    mask = inspect(journal).edge_mask(start, end)
    if mask is None:
        return None
    actual = "no" if masks.count(mask) else "yes"
    if recorded != actual:
        return (
            Severity.WARNING,
            f"empty mask is recorded as {recorded!r} but the mask says {actual!r}",
            _fix_empty_flag,
        )
    return None
