"""A journal on disk: a project folder with its JSON, media and mask files.

``Journal`` is the folder-backed face of the engine. It copies media in, runs the operation's
comparison when an edge is recorded, writes the edge mask (0 = changed) atomically and saves the
JSON after every change, so a killed process leaves a loadable journal.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith import __version__, atomic_io
from masksmith.errors import JournalError, MediaError, OperationError
from masksmith.journal import fidelity, paths, store, video_record
from masksmith.journal.compare import Comparison, analyse, compare, donor_mask
from masksmith.journal.model import DONOR_OP, EdgeRef, JournalGraph
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.media import video as media_video
from masksmith.operations import Catalogue, Operation, default_catalogue

Image = NDArray[Any]
PathLike = str | os.PathLike[str]

_CACHE_SIZE = 4


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy a media file into the journal atomically (media: no fsync, the atomic_io policy)."""
    with atomic_io.atomic_path(target, durable=False) as temp:
        shutil.copyfile(source, temp)


def _media_name(path: Path) -> str:
    """The name a media file takes inside a journal folder: original stem, lower-case suffix."""
    return path.stem + path.suffix.lower()


class Journal:
    """A manipulation journal stored in a folder ``<name>/<name>.json``."""

    def __init__(
        self, directory: PathLike, graph: JournalGraph, *, catalogue: Catalogue | None = None
    ) -> None:
        self.directory = Path(directory)
        self.graph = graph
        self._json_file: Path | None = None
        self.origin: str | None = None
        """Where the journal came from when that is not its folder (``archive.tgz:name/name.json``)."""
        self.catalogue = catalogue or default_catalogue()
        self._pixels: OrderedDict[str, Image] = OrderedDict()
        # recently written edge masks with the (mtime_ns, size) of their files
        self._masks: OrderedDict[tuple[str, str], tuple[NDArray[np.bool_], tuple[int, int]]] = OrderedDict()
        self.warnings: list[str] = []

    # --- creation and loading -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        base_image: PathLike,
        directory: PathLike,
        *,
        name: str | None = None,
        username: str | None = None,
        organization: str = "",
        description: str = "",
        technical_summary: str = "",
        creator_tool: str = "masksmith",
        catalogue: Catalogue | None = None,
    ) -> Journal:
        """Start a journal in ``directory`` (created; must be empty) from a base image, which is copied in."""
        folder = Path(directory)
        if folder.exists() and any(folder.iterdir()):
            raise JournalError("journal folder already exists and is not empty", file=folder)
        source = Path(base_image)
        temporal = media_video.media_kind(source) != "image"
        # refuse a broken base before creating anything
        pixels = None if temporal else media_io.read_image(source).pixels
        base_attributes = video_record.media_attributes(source) if temporal else {}
        folder.mkdir(parents=True, exist_ok=True)
        graph = JournalGraph.create(
            name or folder.name,
            username=username,
            organization=organization,
            description=description,
            technical_summary=technical_summary,
            creator_tool=creator_tool,
        )
        journal = cls(folder, graph, catalogue=catalogue)
        base = journal.add_image(source, nodetype="base", node_id=source.stem, **base_attributes)
        if pixels is not None:
            journal._remember(base, pixels)
        else:
            graph.attributes["projecttype"] = base_attributes["filetype"]
        journal.save()
        return journal

    @classmethod
    def open(cls, path: PathLike, *, catalogue: Catalogue | None = None) -> Journal:
        """Open a journal folder or its JSON file. Unknown operations are warnings, not failures."""
        location = Path(path)
        json_path = location if location.is_file() else store.find_journal_json(location)
        graph = store.load_json(json_path)
        journal = cls(json_path.parent, graph, catalogue=catalogue)
        journal._json_file = json_path
        for start, end, data in graph.edges():
            op = str(data.get("op", ""))
            if op != DONOR_OP and journal.catalogue.find(op) is None:
                journal.warnings.append(f"edge {start}->{end}: unknown operation {op!r}")
        return journal

    @classmethod
    def open_archive(
        cls, archive: PathLike, into: PathLike, *, catalogue: Catalogue | None = None
    ) -> Journal:
        folder = store.safe_extract(archive, into)
        try:
            journal = cls.open(folder, catalogue=catalogue)
            journal.origin = f"{os.fspath(archive)}:{journal.json_path.relative_to(Path(into).resolve())}"
            return journal
        except JournalError as exc:
            # name the archive (and the member), not the temporary folder it was extracted to
            where = exc.file
            if where is not None and Path(where).is_relative_to(Path(into).resolve()):
                where = f"{os.fspath(archive)}:{Path(where).relative_to(Path(into).resolve())}"
            raise JournalError(exc.message, file=where or os.fspath(archive), node=exc.node) from None

    @staticmethod
    def is_archive(path: PathLike) -> bool:
        """True when ``path`` is a (gzip) tar file, judged by its content, not its name."""
        location = Path(path)
        if not location.is_file():
            return False
        try:
            return tarfile.is_tarfile(location)
        except (OSError, EOFError, ValueError):
            return location.name.lower().endswith((".tgz", ".tar.gz", ".tar"))

    @classmethod
    @contextmanager
    def opened(cls, path: PathLike, *, catalogue: Catalogue | None = None) -> Iterator[Journal]:
        """Open a journal folder, its JSON, or an archive (extracted safely into a temporary folder).

        The archive's copy disappears when the ``with`` block ends: changes to it are not kept.
        """
        if cls.is_archive(path):
            with tempfile.TemporaryDirectory(prefix="masksmith-open-") as scratch:
                yield cls.open_archive(path, scratch, catalogue=catalogue)
            return
        yield cls.open(path, catalogue=catalogue)

    # --- properties -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def json_path(self) -> Path:
        """The journal's JSON: the file it was opened from, else ``<folder>/<name>.json``."""
        if self._json_file is not None:
            return self._json_file
        name = paths.plain_name(self.name, attribute="name", node="graph", origin=str(self.directory))
        return self.directory / f"{name}.json"

    def file_path(self, name: object, *, attribute: str = "file", node: str | None = None) -> Path:
        """The path of a file name read from this journal, inside its folder (else PathEscapeError)."""
        return paths.resolve(self.directory, name, attribute=attribute, node=node)

    def check_contained(self) -> None:
        """Raise PathEscapeError for the first file name (or journal name) that leads out of the folder."""
        origin = self.origin or self._json_file or self.directory
        if self.name:
            paths.plain_name(self.name, attribute="name", node="graph", origin=str(origin))
        file_arguments = paths.catalogue_file_arguments(self.catalogue)
        for ref, reason in paths.refused(self.directory, self.graph, file_arguments=file_arguments):
            raise paths.PathEscapeError(
                ref.name, reason, file=origin, attribute=ref.attribute, node=ref.where
            )

    def path_of(self, node_id: str) -> Path:
        return self.file_path(self.graph.node(node_id).get("file"), attribute="file", node=node_id)

    def mask_path(self, start: str, end: str, *, attribute: str = "maskname") -> Path:
        """The path of a link's ``maskname`` (or another link file attribute), contained."""
        value = self.graph.edge(start, end).get(attribute)
        return self.file_path(value, attribute=attribute, node=f"{start}->{end}")

    def pixels(self, node_id: str) -> Image:
        """Decoded pixels of a node's media (a small cache keeps recent ones)."""
        if node_id in self._pixels:
            self._pixels.move_to_end(node_id)
            return self._pixels[node_id]
        image = media_io.read_image(self.path_of(node_id)).pixels
        self._remember(node_id, image)
        return image

    def cached_pixels(self, node_id: str) -> Image | None:
        """A node's decoded pixels if the cache holds them (never decodes)."""
        return self._pixels.get(node_id)

    def cache_pixels(self, node_id: str, image: Image) -> None:
        """Hand the journal pixels already decoded (a plugin's source or output) to spare a re-read."""
        self._remember(node_id, image)

    def forget_pixels(self, node_id: str | None = None) -> None:
        """Drop cached pixels (of one node, or all) after media files changed on disk."""
        if node_id is None:
            self._pixels.clear()
            self._masks.clear()
        else:
            self._pixels.pop(node_id, None)
            for key in [k for k in self._masks if node_id in k]:
                del self._masks[key]

    def _remember(self, node_id: str, image: Image) -> None:
        self._pixels[node_id] = image
        self._pixels.move_to_end(node_id)
        while len(self._pixels) > _CACHE_SIZE:
            self._pixels.popitem(last=False)

    # --- media ----------------------------------------------------------------------------------

    def add_image(
        self,
        image: PathLike,
        *,
        nodetype: str = "interim",
        node_id: str | None = None,
        copy: bool = True,
        **attributes: Any,
    ) -> str:
        """Add a media node for an image file, copying it into the folder unless it is already there."""
        source = Path(image)
        if not source.is_file():
            raise JournalError("image file not found", file=source)
        inside = source.resolve().parent == self.directory.resolve()
        file_name = source.name if inside else _media_name(source)
        if "filetype" not in attributes and media_video.media_kind(file_name) != "image":
            # video/audio: read the stream facts first, so a broken file is refused before the copy
            attributes = {**video_record.media_attributes(source), **attributes}
        if not inside:
            if not copy:
                raise JournalError("image is outside the journal folder and copy=False", file=source)
            destination = self.directory / file_name
            if destination.exists():
                raise JournalError(f"a file named {file_name!r} is already in the journal", file=source)
            _copy_atomic(source, destination)
        identifier = node_id or self.graph.new_node_id(file_name)
        ownership = "yes" if not inside or nodetype != "base" else "no"
        return self.graph.add_media(
            identifier, file_name, nodetype=nodetype, ownership=ownership, **attributes
        )

    def new_media_path(self, start: str, suffix: str = ".png") -> tuple[str, Path]:
        """Reserve an id and file path for media derived from ``start`` (``<stem>_NN<suffix>``)."""
        stem = Path(str(self.graph.node(start)["file"])).stem
        node_id = self.graph.new_node_id(stem)
        return node_id, self.file_path(f"{node_id}{suffix}", node=start)

    def _node_for(self, target: PathLike | str, nodetype: str) -> str:
        if isinstance(target, str) and target in self.graph.graph:
            return target
        path = Path(target)
        # a file already in the folder (e.g. from new_media_path) keeps its stem as node id
        inside = path.resolve().parent == self.directory.resolve()
        node_id = path.stem if inside and path.stem not in self.graph.graph else None
        return self.add_image(path, nodetype=nodetype, node_id=node_id)

    # --- edges ----------------------------------------------------------------------------------

    def operation(self, op: str) -> Operation:
        return self.catalogue.get(op)

    def record(
        self,
        start: str,
        target: PathLike | str,
        *,
        op: str,
        arguments: Mapping[str, Any] | None = None,
        software_name: str = "masksmith",
        software_version: str = __version__,
        donor: PathLike | str | None = None,
        input_mask: PathLike | Image | None = None,
        plugin_name: str | None = None,
        description: str = "",
        target_pixels: Image | None = None,
        changed: NDArray[np.bool_] | None = None,
        check_arguments: bool = True,
        save: bool = True,
    ) -> EdgeRef:
        """Record an operation from node ``start`` to ``target`` (a node id or a new image file).

        Runs the operation's comparison to make the change mask, writes it, adds the donor edge
        when a donor is given, and saves the journal. ``changed`` (bool, True = changed, the source's
        rows × cols) is a change mask the caller knows exactly; it replaces the comparison, e.g. when
        lossy re-encoding would make a pixel difference mark the whole image.
        """
        operation = self.catalogue.get(op)
        args = dict(arguments or {})
        if video_record.is_temporal(self, start):
            return self._record_temporal(
                start, target, operation, args, check_arguments=check_arguments, save=save,
                software_name=software_name, software_version=software_version, donor=donor,
                description=description, plugin_name=plugin_name, input_mask=input_mask,
            )  # fmt: skip
        if check_arguments:
            args = operation.check_new_edge(args, media_type="image")
        elif operation.deprecated:
            raise OperationError("operation is deprecated and cannot be used for new edges", argument=op)
        self.graph.node(start)
        end = self._node_for(target, "interim")
        if target_pixels is not None:
            self._remember(end, target_pixels)
        donor_id = self._node_for(donor, "donor") if donor is not None else None
        input_mask_name = self._store_input_mask(start, end, input_mask) if input_mask is not None else None

        method = operation.compare_function("image") or operation.convert_function
        donor_pixels = self.pixels(donor_id) if donor_id is not None else None
        if donor_pixels is not None and operation.category == "Paste" and not method:
            method = "paste"
        compare_args = {**operation.compare_arguments, **args}
        tolerance = compare_args.get("tolerance")
        if changed is not None:
            source_shape = self.pixels(start).shape
            target_shape = self.pixels(end).shape
            known = np.asarray(changed, dtype=bool)
            if known.shape != source_shape[:2]:
                raise JournalError(
                    f"changed mask has shape {known.shape}, expected {source_shape[:2]}", argument="changed"
                )
            result = Comparison(known.copy(), analyse(known, source_shape, target_shape))
        else:
            result = compare(
                method,
                self.pixels(start),
                self.pixels(end),
                compare_args,
                donor=donor_pixels,
                tolerance=float(tolerance) if tolerance is not None else None,
            )
        maskname = self._write_mask(start, end, result)
        extra = self._edge_measures(start, end, operation, result.changed)
        edge = self.graph.add_operation_edge(
            start,
            end,
            op=op,
            maskname=maskname,
            arguments=args,
            software_name=software_name,
            software_version=software_version,
            record_in_composite=operation.include_in_mask("image"),
            analysis=result.analysis,
            description=description,
            plugin_name=plugin_name,
            input_mask=input_mask_name,
            errors=result.errors,
            extra=extra,
        )
        if donor_id is not None:
            self.add_donor_edge(donor_id, end, save=False)
        self.graph.label_nodes()
        self.graph.touch()
        if save:
            self.save()
        return edge

    def _edge_measures(
        self, start: str, end: str, operation: Operation, changed: NDArray[np.bool_]
    ) -> dict[str, Any]:
        """What the original measured on every link besides the mask: similarity, EXIF changes and,
        for selections with an alpha channel, the selected region (``selectmaskname``)."""
        source, target = self.pixels(start), self.pixels(end)
        out: dict[str, Any] = dict(fidelity.similarity(source, target, changed))
        try:
            before = media_io.read_exif(self.path_of(start))
            after = media_io.read_exif(self.path_of(end))
        except (MediaError, OSError):
            before = after = None
        out["exifdiff"] = fidelity.exif_diff(before, after)
        if operation.category == "Select" and target.ndim == 3 and target.shape[2] == 4:
            name = f"{start}_{end}_selectmask.png"
            selected = masks.alpha_mask(target)
            media_io.write_image(self.directory / name, masks.to_input_mask(selected), png_compression=1)
            out["selectmaskname"] = name
            paths = self.graph.attributes.setdefault("edgeFilePaths", {})
            if isinstance(paths, dict):
                paths.setdefault("selectmaskname", "")
        return out

    def _record_temporal(
        self,
        start: str,
        target: PathLike | str,
        operation: Operation,
        args: dict[str, Any],
        *,
        check_arguments: bool,
        save: bool,
        donor: PathLike | str | None,
        input_mask: PathLike | Image | None = None,
        **edge: Any,
    ) -> EdgeRef:
        """A video or audio edge: segments and HDF5 masks (see ``video_record``)."""
        media_type = str(self.graph.node(start).get("filetype"))
        if check_arguments:
            args = video_record.check_arguments(operation, args, media_type)
        end = self._node_for(target, "interim")
        donor_id = self._node_for(donor, "donor") if donor is not None else None
        input_mask_name = self._store_input_mask(start, end, input_mask) if input_mask is not None else None
        edge_ref = video_record.record_temporal(
            self, start, end, operation, args, donor=donor_id, input_mask=input_mask_name, **edge
        )
        self.graph.label_nodes()
        self.graph.touch()
        if save:
            self.save()
        return edge_ref

    def add_donor_edge(
        self, donor: str, target: str, *, arguments: Mapping[str, Any] | None = None, save: bool = True
    ) -> EdgeRef:
        """Link a donor to the node it was pasted into; the mask marks the donated pixels (0 in the file)."""
        changed = donor_mask(self.pixels(donor))
        shape = changed.shape
        result = Comparison(changed, analyse(changed, shape, shape))
        maskname = self._write_mask(donor, target, result)
        edge = self.graph.add_operation_edge(
            donor,
            target,
            op=DONOR_OP,
            maskname=maskname,
            arguments=dict(arguments) if arguments else None,
            record_in_composite=False,
            analysis=result.analysis,
        )
        if save:
            self.save()
        return edge

    def _write_mask(self, start: str, end: str, result: Comparison) -> str:
        name = self.graph.mask_file_name(start, end)
        written = media_io.write_image(
            self.file_path(name, attribute="maskname", node=f"{start}->{end}"),
            masks.to_edge_file(result.changed),
            png_compression=1,
        )
        # validation right after recording reads the masks again: keep the recent ones
        stat = written.stat()
        self._masks[(start, end)] = (result.changed, (stat.st_mtime_ns, stat.st_size))
        while len(self._masks) > _CACHE_SIZE:
            self._masks.popitem(last=False)
        return name

    def _store_input_mask(self, start: str, end: str, mask: PathLike | Image) -> str:
        name = f"{start}_{end}_inputmask.png"
        target = self.file_path(name, attribute="inputmaskname", node=f"{start}->{end}")
        if isinstance(mask, np.ndarray):
            media_io.write_image(target, mask, png_compression=1)
        else:
            source = Path(mask)
            if not source.is_file():
                raise JournalError("input mask file not found", file=source)
            _copy_atomic(source, target)
        return name

    def cached_edge_mask(self, start: str, end: str) -> NDArray[np.bool_] | None:
        """An edge's change mask if this journal wrote it recently and its file is unchanged since."""
        entry = self._masks.get((start, end))
        if entry is None:
            return None
        changed, (mtime_ns, size) = entry
        try:
            stat = self.mask_path(start, end).stat()
        except (OSError, KeyError, paths.PathEscapeError):
            return None
        return changed if (stat.st_mtime_ns, stat.st_size) == (mtime_ns, size) else None

    def edge_mask(self, start: str, end: str) -> NDArray[np.bool_]:
        """The stored change mask of an edge as booleans (True = changed)."""
        cached = self.cached_edge_mask(start, end)
        if cached is not None:
            return cached
        pixels = media_io.read_image(self.mask_path(start, end)).pixels
        return masks.from_edge_file(pixels)

    # --- persistence ----------------------------------------------------------------------------

    def save(self) -> Path:
        # as the original's save: every node gets a position and every operation link a colour
        fidelity.assign_positions(self.graph.graph)
        fidelity.assign_link_colours(self.graph.graph)
        return store.save_json(self.graph, self.json_path)

    def archive(self, destination: PathLike, *, exclude: tuple[str, ...] = ()) -> Path:
        self.save()
        return store.create_archive(
            self.directory,
            destination,
            journal=self.graph,
            exclude=exclude,
            file_arguments=paths.catalogue_file_arguments(self.catalogue),
        )
