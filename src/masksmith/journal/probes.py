"""Probes and composites: edge masks carried to the final media, donor masks carried back to their base.

For every link the inclusion function accepts (by default :func:`is_edge_localized`, the Journaling
Tool's rule), the link's change mask is brought into its target's frame and pushed through every
later operation on the way to each final node with that operation's *mask transform* (the
catalogue's ``maskTransformFunction``): crops slice, resizes / rotations / flips / affine and
perspective warps follow the link's ``transform matrix`` (falling back to the operation's
arguments), format changes and colour edits pass the mask through, and a later paste splice hides
what it covered (unless its ``purpose`` is ``blend``). Seam carving is approximate: seams are not
traced, the link's recorded transform (a crop of the kept window) or a resize is used instead.

Donor masks go the other way: the donor link's mask (the donated pixels, in donor coordinates) is
walked up the donor's own history with the reverse transforms to the donor's base node.

A link parameter flagged ``use as composite`` that names a file replaces the computed mask (read
like an edge mask file, 0 = changed; in the link's source or target frame) and the probe says so.
Everything here is pure apart from reading masks through the journal and :func:`write_probe_set`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import JournalError
from masksmith.journal import paths, store
from masksmith.journal.compare import parse_pair
from masksmith.journal.model import DONOR_OP
from masksmith.journal.rules_base import inspect
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from masksmith.media.masks import BoolMask

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

__all__ = [
    "EXCLUDED_CATEGORIES",
    "FORWARD",
    "REVERSE",
    "Composite",
    "Probe",
    "ProbeSetFiles",
    "TransformStep",
    "build_composites",
    "carry_back",
    "carry_forward",
    "generate_probes",
    "is_edge_composite",
    "is_edge_localized",
    "write_probe_set",
]

Shape = tuple[int, int]
U8 = NDArray[np.uint8]

EXCLUDED_CATEGORIES = frozenset({"Output", "AntiForensic", "PostProcessing", "Laundering", "TimeAlteration"})
NOT_LOCALIZED_OPS = frozenset(
    {
        "TransformSeamCarving",
        "TransformCrop",
        "SelectCropFrames",
        DONOR_OP,
        "TransformDownSample",
        "TransformReverse",
        "DeleteAudioSample",
    }
)


# --- inclusion ------------------------------------------------------------------------------------


def is_edge_localized(journal: Journal, start: str, end: str) -> bool:
    """Blue links, and local non-empty links, outside the output / anti-forensic / laundering categories."""
    data = journal.graph.edge(start, end)
    op_name = str(data.get("op", ""))
    if op_name == DONOR_OP:
        return False
    operation = journal.catalogue.find(op_name)
    if operation is not None and operation.category in EXCLUDED_CATEGORIES:
        return False
    if data.get("recordMaskInComposite") == "yes":
        return True
    base_name = op_name.split("::", 1)[0]
    return (
        base_name not in NOT_LOCALIZED_OPS and data.get("empty mask") != "yes" and data.get("global") != "yes"
    )


def is_edge_composite(journal: Journal, start: str, end: str) -> bool:
    """Blue links only (``recordMaskInComposite`` yes)."""
    data = journal.graph.edge(start, end)
    return data.get("op") != DONOR_OP and data.get("recordMaskInComposite") == "yes"


# --- pure mask transforms -------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformStep:
    """What a mask transform knows about one link: its attributes, frame sizes and its own mask."""

    edge: Mapping[str, Any]
    source_shape: Shape
    target_shape: Shape
    edge_mask: Callable[[], BoolMask | None] = field(default=lambda: None)

    @property
    def arguments(self) -> Mapping[str, Any]:
        return self.edge.get("arguments") or {}

    def matrix(self) -> geometry.Matrix | None:
        """The link's source → target matrix (analysis first, then the ``transform matrix`` argument)."""
        for raw in (self.edge.get("transform matrix"), self.arguments.get("transform matrix")):
            try:
                matrix = geometry.matrix_from_jt(raw)
            except ValueError:
                matrix = None
            if matrix is not None and abs(float(np.linalg.det(matrix))) > 1e-12:
                return matrix
        return None

    def location(self) -> tuple[int, int] | None:
        pair = parse_pair(self.edge.get("location"))
        return (int(pair[0]), int(pair[1])) if pair else None


MaskTransform = Callable[[BoolMask, TransformStep], BoolMask]


def _warp(mask: BoolMask, matrix: geometry.Matrix, shape: Shape) -> BoolMask:
    if not mask.any():
        return np.zeros(shape, bool)
    return geometry.warp_mask(mask, matrix, shape)


def _inverse(matrix: geometry.Matrix) -> geometry.Matrix:
    return np.asarray(np.linalg.inv(matrix), np.float64)


def _fallback_matrix(step: TransformStep, kind: str) -> geometry.Matrix:
    """A source → target matrix when the link recorded none, from the operation's arguments."""
    src, tgt = step.source_shape, step.target_shape
    args = step.arguments
    if kind == "rotate":
        try:
            degrees = float(args.get("rotation", 0))
        except (TypeError, ValueError):
            degrees = 0.0
        matrix, shape = geometry.rotation_matrix(src, degrees, expand=src != tgt)
        if shape == tgt:
            return matrix
    if kind == "flip" and src == tgt:
        try:
            return geometry.flip_matrix(src, str(args.get("flip direction", "horizontal")))
        except ValueError:
            pass
    location = step.location()
    if kind in ("crop", "seam") and location is not None:
        return geometry.translation(-location[1], -location[0])
    return geometry.resize_matrix(src, tgt) if src != tgt else geometry.identity()


def _matrix(step: TransformStep, kind: str) -> geometry.Matrix:
    return step.matrix() if step.matrix() is not None else _fallback_matrix(step, kind)  # type: ignore[return-value]


def _geometric_forward(kind: str) -> MaskTransform:
    def forward(mask: BoolMask, step: TransformStep) -> BoolMask:
        if (
            step.source_shape == step.target_shape
            and step.matrix() is None
            and kind not in ("flip", "rotate")
        ):
            return mask.copy()
        return _warp(mask, _matrix(step, kind), step.target_shape)

    return forward


def _geometric_reverse(kind: str) -> MaskTransform:
    def reverse(mask: BoolMask, step: TransformStep) -> BoolMask:
        if (
            step.source_shape == step.target_shape
            and step.matrix() is None
            and kind not in ("flip", "rotate")
        ):
            return mask.copy()
        return _warp(mask, _inverse(_matrix(step, kind)), step.source_shape)

    return reverse


def _crop_forward(mask: BoolMask, step: TransformStep) -> BoolMask:
    location = step.location()
    if location is None:
        return _geometric_forward("crop")(mask, step)
    row, col = location
    h, w = step.target_shape
    out = np.zeros((h, w), bool)
    window = mask[max(0, row) : row + h, max(0, col) : col + w]
    out[: window.shape[0], : window.shape[1]] = window
    return out


def _crop_reverse(mask: BoolMask, step: TransformStep) -> BoolMask:
    location = step.location()
    if location is None:
        return _geometric_reverse("crop")(mask, step)
    row, col = location
    out = np.zeros(step.source_shape, bool)
    h = min(mask.shape[0], step.source_shape[0] - row)
    w = min(mask.shape[1], step.source_shape[1] - col)
    out[row : row + h, col : col + w] = mask[:h, :w]
    return out


def _identity_forward(mask: BoolMask, step: TransformStep) -> BoolMask:
    if mask.shape == step.target_shape and step.source_shape == step.target_shape:
        return mask.copy()
    return _geometric_forward("copy")(mask, step)


def _identity_reverse(mask: BoolMask, step: TransformStep) -> BoolMask:
    if mask.shape == step.source_shape and step.source_shape == step.target_shape:
        return mask.copy()
    return _geometric_reverse("copy")(mask, step)


def _paste_splice_forward(mask: BoolMask, step: TransformStep) -> BoolMask:
    """A later paste hides what it covers, unless it only blends."""
    moved = _identity_forward(mask, step)
    if str(step.arguments.get("purpose", "")).lower() == "blend":
        return moved
    covered = step.edge_mask()
    if covered is None or covered.shape != moved.shape:
        return moved
    return moved & ~covered


FORWARD: dict[str, MaskTransform] = {
    "copy": _identity_forward,
    "output": _identity_forward,
    "exif": _identity_forward,
    "donor": _identity_forward,
    "select_region": _identity_forward,
    "select_remove": _identity_forward,
    "ca_fill": _identity_forward,
    "paste_sampled": _identity_forward,
    "move": _identity_forward,
    "paste_splice": _paste_splice_forward,
    "crop": _crop_forward,
    "resize": _geometric_forward("resize"),
    "rotate": _geometric_forward("rotate"),
    "flip": _geometric_forward("flip"),
    "affine": _geometric_forward("affine"),
    "warp": _geometric_forward("warp"),
    "crop_resize": _geometric_forward("crop_resize"),
    "seam": _geometric_forward("seam"),
}

REVERSE: dict[str, MaskTransform] = {
    **{name: _identity_reverse for name in FORWARD},
    "crop": _crop_reverse,
    "resize": _geometric_reverse("resize"),
    "rotate": _geometric_reverse("rotate"),
    "flip": _geometric_reverse("flip"),
    "affine": _geometric_reverse("affine"),
    "warp": _geometric_reverse("warp"),
    "crop_resize": _geometric_reverse("crop_resize"),
    "seam": _geometric_reverse("seam"),
}


def carry_forward(transform: str, mask: BoolMask, step: TransformStep) -> BoolMask:
    """Carry a mask in a link's source frame into its target frame (unknown names pass it through)."""
    return FORWARD.get(transform, _identity_forward)(mask, step)


def carry_back(transform: str, mask: BoolMask, step: TransformStep) -> BoolMask:
    """Carry a mask in a link's target frame back into its source frame."""
    return REVERSE.get(transform, _identity_reverse)(mask, step)


# --- probes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One manipulation as seen on one final node (seed 001's Probe; masks 255 = manipulated)."""

    edge_id: tuple[str, str]
    operation: str
    target_base_node: str
    final_node: str
    target_mask: U8 = field(repr=False)
    target_mask_file: str
    donor_base_node: str | None = None
    donor_mask: U8 | None = field(default=None, repr=False)
    donor_mask_file: str | None = None
    change_size: tuple[int, int] = (0, 0)
    level: int = 1
    task_designation: str = "spatial"
    uses_substitute: bool = False

    @property
    def pixels(self) -> int:
        return int(cv2.countNonZero(self.target_mask))

    @property
    def empty(self) -> bool:
        return self.pixels == 0

    def summary(self) -> dict[str, Any]:
        """The probe without its images (for probes.json / probes.csv)."""
        return {
            "edge": list(self.edge_id),
            "operation": self.operation,
            "target_base_node": self.target_base_node,
            "final_node": self.final_node,
            "target_mask_file": self.target_mask_file,
            "donor_base_node": self.donor_base_node,
            "donor_mask_file": self.donor_mask_file,
            "change_size": list(self.change_size),
            "level": self.level,
            "task_designation": self.task_designation,
            "uses_substitute": self.uses_substitute,
            "pixels": self.pixels,
        }


@dataclass(frozen=True)
class Composite:
    """All probes of one final node in one image: pixel value = the probe's level (0 = untouched)."""

    final_node: str
    image: U8 = field(repr=False)
    levels: Mapping[int, tuple[tuple[str, str], ...]]
    file: str


class _Walker:
    """Shared state of one probe generation: shapes, masks, levels."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.graph = journal.graph
        self.info = inspect(journal)
        self.levels = self._levels()

    def shape(self, node: str) -> Shape:
        size = self.info.size(node)
        if size is None:
            raise JournalError("media file is missing or unreadable; cannot build probes", node=node)
        return size

    def transform_name(self, start: str, end: str) -> str:
        op_name = str(self.graph.edge(start, end).get("op", ""))
        if op_name == DONOR_OP:
            return "donor"
        operation = self.journal.catalogue.find(op_name)
        return operation.mask_transform("image") if operation is not None else "copy"

    def step(self, start: str, end: str) -> TransformStep:
        return TransformStep(
            edge=self.graph.edge(start, end),
            source_shape=self.shape(start),
            target_shape=self.shape(end),
            edge_mask=lambda: self.info.edge_mask(start, end),
        )

    def operation_successors(self, node: str) -> list[str]:
        return [t for _, t, d in self.graph.graph.out_edges(node, data=True) if d.get("op") != DONOR_OP]

    def root_of(self, node: str) -> str:
        current, seen = node, set()
        while current not in seen:
            seen.add(current)
            previous = self.graph.operation_predecessor(current)
            if previous is None:
                return current
            current = previous
        return current

    def _levels(self) -> dict[tuple[str, str], int]:
        """Edge level: 1 for links out of a root, else one more than the deepest link into the source."""
        import networkx as nx

        depth: dict[str, int] = {}
        levels: dict[tuple[str, str], int] = {}
        try:
            order = list(nx.topological_sort(self.graph.graph))
        except nx.NetworkXUnfeasible:
            raise JournalError("journal graph has a cycle; cannot build probes") from None
        for node in order:
            incoming = [
                depth.get(s, 0)
                for s, _, d in self.graph.graph.in_edges(node, data=True)
                if d.get("op") != DONOR_OP
            ]
            depth[node] = max(incoming) + 1 if incoming else 0
        for start, end, data in self.graph.edges():
            if data.get("op") != DONOR_OP:
                levels[(start, end)] = depth[start] + 1
        return levels

    def seed(self, start: str, end: str) -> tuple[BoolMask, bool]:
        """The link's mask in its target frame, and whether a substitute replaced the computed one."""
        source_shape, target_shape = self.shape(start), self.shape(end)
        substitute = self.substitute(start, end)
        if substitute is not None:
            if substitute.shape == target_shape:
                return substitute, True
            if substitute.shape != source_shape:
                substitute = _resize_mask(substitute, source_shape)
            mask, used = substitute, True
        else:
            computed = self.info.edge_mask(start, end)
            if computed is None:
                raise JournalError(f"mask of {start}->{end} is missing; regenerate it first", node=start)
            if computed.shape != source_shape:
                computed = _resize_mask(computed, source_shape)
            mask, used = computed, False
        name = self.transform_name(start, end)
        step = self.step(start, end)
        if name == "paste_splice":
            return _identity_forward(mask, step), used
        return carry_forward(name, mask, step), used

    def substitute(self, start: str, end: str) -> BoolMask | None:
        data = self.graph.edge(start, end)
        operation = self.journal.catalogue.find(str(data.get("op", "")))
        if operation is None:
            return None
        arguments = data.get("arguments") or {}
        for name, param in operation.parameters.items():
            value = arguments.get(name)
            if param.use_as_composite and self.info.exists(value):
                path = self.journal.file_path(value, attribute=f"arguments.{name}", node=f"{start}->{end}")
                pixels = media_io.read_image(path).pixels
                return masks.from_edge_file(pixels)
        return None

    def forward_to_finals(self, node: str, mask: BoolMask) -> list[tuple[str, BoolMask]]:
        """Push a mask in ``node``'s frame through every later link; one result per final reached."""
        out: list[tuple[str, BoolMask]] = []
        stack: list[tuple[str, BoolMask, frozenset[str]]] = [(node, mask, frozenset({node}))]
        finals = set(self.graph.final_nodes())
        while stack:
            current, current_mask, seen = stack.pop()
            successors = [s for s in self.operation_successors(current) if s not in seen]
            if not successors:
                if current in finals:
                    out.append((current, current_mask))
                continue
            for successor in successors:
                moved = carry_forward(
                    self.transform_name(current, successor), current_mask, self.step(current, successor)
                )
                stack.append((successor, moved, seen | {successor}))
        return sorted(out, key=lambda item: item[0])

    def donor_masks(self, end: str) -> list[tuple[str, BoolMask]]:
        """For each donor link into ``end``: the donated region walked back to the donor's base."""
        out = []
        for donor in self.graph.donors_of(end):
            mask = self.info.edge_mask(donor, end)
            if mask is None:
                continue
            current = donor
            seen = {donor}
            while True:
                previous = self.graph.operation_predecessor(current)
                if previous is None or previous in seen:
                    break
                mask = carry_back(self.transform_name(previous, current), mask, self.step(previous, current))
                seen.add(previous)
                current = previous
            out.append((current, mask))
        return out


def _resize_mask(mask: BoolMask, shape: Shape) -> BoolMask:
    resized = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.asarray(resized >= 128)


def generate_probes(
    journal: Journal,
    *,
    inclusion: Callable[[Journal, str, str], bool] = is_edge_localized,
    donors: bool = True,
) -> list[Probe]:
    """Probes for every included link and every final node it reaches, ordered by level then edge.

    Raises JournalError when a needed mask or media file is missing (validate and regenerate first).
    """
    walker = _Walker(journal)
    probes: list[Probe] = []
    edges = sorted(
        ((s, e) for s, e, d in journal.graph.edges() if d.get("op") != DONOR_OP),
        key=lambda edge: (walker.levels.get(edge, 0), edge),
    )
    for start, end in edges:
        if journal.graph.node(start).get("filetype", "image") in ("video", "audio"):
            continue  # video and audio links have their own probes (journal/video_probes.py)
        if not inclusion(journal, start, end):
            continue
        seed, substitute = walker.seed(start, end)
        donor_items = walker.donor_masks(end) if donors else []
        donor_base, donor_mask = donor_items[0] if donor_items else (None, None)
        for extra_base, extra in donor_items[1:]:
            if extra_base == donor_base and donor_mask is not None and extra.shape == donor_mask.shape:
                donor_mask = donor_mask | extra
        base = walker.root_of(start)
        end_shape = walker.shape(end)
        for final, mask in walker.forward_to_finals(end, seed):
            final_shape = mask.shape
            probes.append(
                Probe(
                    edge_id=(start, end),
                    operation=str(journal.graph.edge(start, end).get("op", "")),
                    target_base_node=base,
                    final_node=final,
                    target_mask=masks.to_probe_file(mask),
                    target_mask_file=_file_name(f"{start}_{end}_{final}_ps.png"),
                    donor_base_node=donor_base,
                    donor_mask=masks.to_probe_file(donor_mask) if donor_mask is not None else None,
                    donor_mask_file=_file_name(f"{start}_{end}_{donor_base}_d_mask.png")
                    if donor_mask is not None
                    else None,
                    change_size=(final_shape[0] - end_shape[0], final_shape[1] - end_shape[1]),
                    level=walker.levels.get((start, end), 1),
                    uses_substitute=substitute,
                )
            )
    return probes


def build_composites(journal: Journal, probes: list[Probe]) -> dict[str, Composite]:
    """One composite per final node: each probe's pixels set to its level (deeper levels drawn last)."""
    by_final: dict[str, list[Probe]] = {}
    for probe in probes:
        by_final.setdefault(probe.final_node, []).append(probe)
    out: dict[str, Composite] = {}
    for final, items in sorted(by_final.items()):
        image = np.zeros(items[0].target_mask.shape, np.uint8)
        levels: dict[int, list[tuple[str, str]]] = {}
        for probe in sorted(items, key=lambda p: (p.level, p.edge_id)):
            image[probe.target_mask > 0] = min(probe.level, 255)
            levels.setdefault(probe.level, []).append(probe.edge_id)
        out[final] = Composite(
            final, image, {k: tuple(v) for k, v in levels.items()}, _file_name(f"{final}_composite.png")
        )
    return out


# --- files ----------------------------------------------------------------------------------------


def _file_name(name: str) -> str:
    """A probe file name from node ids: separators and NUL (from a hostile id) become ``_``."""
    return re.sub(r"[\\/\x00]", "_", name)


@dataclass(frozen=True)
class ProbeSetFiles:
    folder: Path
    masks: tuple[Path, ...]
    composites: tuple[Path, ...]
    csv: Path
    json: Path


CSV_HEADER = (
    "start",
    "end",
    "operation",
    "target_base_node",
    "final_node",
    "final_file",
    "target_mask_file",
    "donor_base_node",
    "donor_mask_file",
    "level",
    "change_rows",
    "change_cols",
    "task_designation",
    "uses_substitute",
    "pixels",
)


def write_probe_set(
    journal: Journal, probes: list[Probe], composites: Mapping[str, Composite], folder: str | os.PathLike[str]
) -> ProbeSetFiles:
    """Write probe masks (255 = manipulated), donor masks, composites, ``probes.csv`` and ``probes.json``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    donors_done: set[str] = set()
    for probe in probes:
        written.append(media_io.write_image(paths.resolve(out, probe.target_mask_file), probe.target_mask))
        if (
            probe.donor_mask is not None
            and probe.donor_mask_file
            and probe.donor_mask_file not in donors_done
        ):
            donors_done.add(probe.donor_mask_file)
            written.append(media_io.write_image(paths.resolve(out, probe.donor_mask_file), probe.donor_mask))
    composite_paths = [media_io.write_image(paths.resolve(out, c.file), c.image) for c in composites.values()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for probe in probes:
        writer.writerow(
            (
                probe.edge_id[0],
                probe.edge_id[1],
                probe.operation,
                probe.target_base_node,
                probe.final_node,
                journal.graph.node(probe.final_node).get("file", ""),
                probe.target_mask_file,
                probe.donor_base_node or "",
                probe.donor_mask_file or "",
                probe.level,
                probe.change_size[0],
                probe.change_size[1],
                probe.task_designation,
                "yes" if probe.uses_substitute else "no",
                probe.pixels,
            )
        )
    csv_path = out / "probes.csv"
    store.atomic_write_text(csv_path, buffer.getvalue())
    document = {
        "journal": journal.name,
        "probes": [p.summary() for p in probes],
        "composites": {
            final: {"file": c.file, "levels": {str(k): [list(e) for e in v] for k, v in c.levels.items()}}
            for final, c in composites.items()
        },
    }
    json_path = out / "probes.json"
    store.atomic_write_text(json_path, json.dumps(document, indent=2) + "\n")
    return ProbeSetFiles(out, tuple(written), tuple(composite_paths), csv_path, json_path)
