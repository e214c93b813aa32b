"""The helper jobs behind ``masksmith anonymise check-folders | create-json | create-preview | evaluate`` and
``db json-to-db``: plain functions that return reports; the CLI prints them.

Differences from the original scripts, on purpose:
- check-folders works on the current layout (the original's script read V1-only settings and failed on V2),
  and also lists files in the output/archive trees that belong to no input image and half-written leftovers.
- create-json writes no preview: the original's wrote previews of the *un-anonymised* input.
- create-preview crops the anonymised output image; cropping the input needs ``from_input=True``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.anonymise.config import AnonymiseConfig
from masksmith.anonymise.metadata import metadata_for_file, write_metadata_json
from masksmith.anonymise.previews import preview_crop
from masksmith.anonymise.sinks import DatabaseSink, RowRejected
from masksmith.anonymise.walker import INFLIGHT_DIR, ImagePaths, TreeWalker
from masksmith.errors import ConfigError, MasksmithError, ModelUnavailable

__all__ = [
    "COCO_METRICS",
    "CreateJsonReport",
    "EvalResult",
    "FolderReport",
    "FolderRow",
    "JsonToDbReport",
    "PreviewReport",
    "check_folders",
    "create_json",
    "create_previews",
    "evaluate",
    "json_to_db",
    "load_json_lenient",
    "mask_folder_results",
]

_log = logging.getLogger(__name__)

#: What each kind of expected output is, in report order.
KINDS: tuple[str, ...] = ("image", "json", "preview", "archive", "journal")


# ---------------------------------------------------------------------------------------------- check-folders


@dataclass
class FolderRow:
    """Counts for one input sub-folder: images, and per kind of output how many are present / missing."""

    folder: str
    images: int = 0
    complete: int = 0
    ok: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)
    extra: int = 0


@dataclass
class FolderReport:
    """The result of :func:`check_folders`."""

    rows: list[FolderRow]
    expected: tuple[str, ...]  # kinds the configuration asks for
    missing_files: list[Path]
    extra_files: list[Path]
    error_images: int
    interrupted: int

    @property
    def total(self) -> FolderRow:
        """All folders summed."""
        total = FolderRow(folder="TOTAL")
        for row in self.rows:
            total.images += row.images
            total.complete += row.complete
            total.ok.update(row.ok)
            total.missing.update(row.missing)
            total.extra += row.extra
        return total

    @property
    def ok(self) -> bool:
        """True when every image has every expected output and nothing was interrupted."""
        return not self.missing_files and self.interrupted == 0

    def status(self, kind: str, row: FolderRow) -> str:
        """``OK``, ``Missing`` or ``None`` (not expected), as the original's summary."""
        if kind not in self.expected:
            return "None"
        return "Missing" if row.missing[kind] else "OK"


def _expected_by_kind(paths: ImagePaths, config: AnonymiseConfig, *, journal: bool) -> dict[str, list[Path]]:
    kinds: dict[str, list[Path]] = {
        "image": [paths.output_file],
        "json": paths.json_targets(config),
        "preview": paths.preview_targets(config),
        "archive": [paths.archive_file] if paths.archive_file is not None else [],
        "journal": [paths.journal_dir] if journal else [],
    }
    return {k: v for k, v in kinds.items() if v}


def _known_paths(paths: ImagePaths) -> set[Path]:
    known = {paths.output_file, paths.output_json, paths.output_preview}
    known.update(p for p in (paths.archive_file, paths.archive_json, paths.archive_preview) if p is not None)
    return known


def _files_below(root: Path | None) -> Iterable[Path]:
    if root is None or not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != INFLIGHT_DIR)
        for name in sorted(files):
            yield Path(folder) / name


def check_folders(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    archive_dir: str | os.PathLike[str] | None = None,
    *,
    config: AnonymiseConfig,
    journal: bool = False,
) -> FolderReport:
    """Compare the input tree with the output (and archive) trees per folder.

    For every input image, each output the configuration asks for (anonymised image, JSON, previews, archive
    copy, journal) is present or missing; files in the output/archive trees that belong to no input image,
    and ``.partial`` leftovers, are extra. Images already moved away by ``delete_input`` cannot be checked.
    """
    walker = TreeWalker(input_dir, output_dir, archive_dir, config=config, journal=journal)
    rows: dict[str, FolderRow] = {}
    expected: set[str] = set()
    missing_files: list[Path] = []
    known: set[Path] = set()
    for paths in walker.walk():
        folder = paths.relative_dir.as_posix()
        row = rows.setdefault(folder, FolderRow(folder=folder))
        row.images += 1
        complete = True
        for kind, targets in _expected_by_kind(paths, config, journal=journal).items():
            expected.add(kind)
            for target in targets:
                if target.exists():
                    row.ok[kind] += 1
                else:
                    row.missing[kind] += 1
                    missing_files.append(target)
                    complete = False
        row.complete += complete
        known.update(_known_paths(paths))

    extra: list[Path] = []
    for root in (walker.output_dir, walker.archive_dir):
        for path in _files_below(root):
            if path in known:
                continue
            extra.append(path)
            assert root is not None
            rel = path.parent.relative_to(root).as_posix()
            rows.setdefault(rel, FolderRow(folder=rel)).extra += 1
    errors = sum(1 for p in _files_below(walker.error_dir) if p.name.endswith("_error.txt"))
    inflight = walker.inflight_dir
    interrupted = sum(1 for p in inflight.iterdir() if p.suffix == ".json") if inflight.is_dir() else 0
    return FolderReport(
        rows=[rows[k] for k in sorted(rows)],
        expected=tuple(k for k in KINDS if k in expected),
        missing_files=missing_files,
        extra_files=extra,
        error_images=errors,
        interrupted=interrupted,
    )


# ---------------------------------------------------------------------------------------------- create-json


@dataclass
class CreateJsonReport:
    """Files written, images that already had every JSON, and images that failed (with the reason)."""

    written: list[Path] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def create_json(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    archive_dir: str | os.PathLike[str] | None = None,
    *,
    config: AnonymiseConfig,
    legacy: bool = False,
    overwrite: bool = False,
) -> CreateJsonReport:
    """Write the metadata JSON of every input image that lacks it, where ``remote/local/archive_json`` say.

    ``detekterte_objekter`` is null (nothing was detected). ``legacy`` reads the pre-2022 EXIF format.
    """
    out = config.outputs
    if not (out.remote_json or out.local_json or out.archive_json):
        raise ConfigError(
            "no JSON location is enabled (remote_json, local_json, archive_json)", argument="remote_json"
        )
    if out.archive_json and archive_dir is None:
        raise ConfigError("archive_json needs an archive folder (-a)", argument="archive_json")
    report = CreateJsonReport()
    for paths in TreeWalker(input_dir, output_dir, archive_dir, config=config).walk():
        targets = [t for t in paths.json_targets(config) if overwrite or not t.exists()]
        if not targets:
            report.skipped += 1
            continue
        try:
            record = metadata_for_file(paths.input_file, config=config, legacy=legacy)
            for target in targets:
                write_metadata_json(target, record)
                report.written.append(target)
        except (MasksmithError, OSError) as exc:
            _log.error("%s: %s", paths.input_file, exc)
            report.failed.append((paths.input_file, str(exc)))
    return report


# ---------------------------------------------------------------------------------------------- create-preview


@dataclass
class PreviewReport:
    """Previews written; images skipped (previews present, or no anonymised output); failures."""

    written: list[Path] = field(default_factory=list)
    skipped: int = 0
    not_anonymised: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def create_previews(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    archive_dir: str | os.PathLike[str] | None = None,
    *,
    config: AnonymiseConfig,
    from_input: bool = False,
    overwrite: bool = False,
) -> PreviewReport:
    """Write previews (``preview_dim`` around ``preview_center``) to every location the flags name.

    The crop is taken from the anonymised output image; images without one are listed in
    ``not_anonymised``. ``from_input`` crops the original instead (un-anonymised: for internal use only).
    """
    from masksmith.media.io import read_image, write_image

    out = config.outputs
    if out.preview_dim is None:
        raise ConfigError("preview_dim is null", argument="preview_dim")
    if not out.any_preview:
        raise ConfigError(
            "no preview location is enabled (remote_preview, local_preview, archive_preview, "
            "separate_preview_directory)",
            argument="remote_preview",
        )
    if out.archive_preview and archive_dir is None:
        raise ConfigError("archive_preview needs an archive folder (-a)", argument="archive_preview")
    report = PreviewReport()
    for paths in TreeWalker(input_dir, output_dir, archive_dir, config=config).walk():
        targets = [t for t in paths.preview_targets(config) if overwrite or not t.exists()]
        if not targets:
            report.skipped += 1
            continue
        source = paths.input_file if from_input else paths.output_file
        if not source.is_file():
            report.not_anonymised.append(paths.input_file)
            continue
        try:
            pixels = read_image(source, mode="RGB").pixels
            crop = preview_crop(pixels, dim=out.preview_dim, center=out.preview_center)
            for target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_image(target, crop, format="JPEG", quality=out.jpeg_quality)
                report.written.append(target)
        except (MasksmithError, OSError) as exc:
            _log.error("%s: %s", source, exc)
            report.failed.append((source, str(exc)))
    return report


# ---------------------------------------------------------------------------------------------- json-to-db


@dataclass
class JsonToDbReport:
    """Files read, rows written, rows refused and unreadable files (with reasons), files moved."""

    files: int = 0
    written: int = 0
    rejected: list[tuple[Path, str]] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    moved: list[Path] = field(default_factory=list)


_LONE_BACKSLASH = re.compile(r'\\(?!")')


def load_json_lenient(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a metadata JSON file; one with unescaped Windows paths (``C:\\Foo``) is read with every
    backslash taken literally, as the original's loader did. Raises ValueError for anything else."""
    text = Path(path).read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = json.loads(_LONE_BACKSLASH.sub(r"\\\\", text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _move_into(path: Path, source_root: Path, target_root: Path) -> Path:
    target = target_root / path.relative_to(source_root)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(os.fspath(path), os.fspath(target))
    return target


def json_to_db(
    input_dir: str | os.PathLike[str],
    sink: DatabaseSink,
    *,
    archive_dir: str | os.PathLike[str] | None = None,
) -> JsonToDbReport:
    """Write every ``*.json`` metadata file below ``input_dir`` as a row (upsert by primary key).

    With ``archive_dir`` each file is moved into the mirrored archive tree once its row is in the database
    (the original moved it as soon as the row was queued). The sink is flushed but not closed.
    """
    root = Path(input_dir)
    archive = Path(archive_dir) if archive_dir is not None else None
    report = JsonToDbReport()
    waiting: dict[str, list[Path]] = defaultdict(list)

    def settle() -> None:
        pending = set(sink.pending_keys())
        for key in [k for k in waiting if k not in pending]:
            files = waiting.pop(key)
            if key in sink.rejected_keys:
                report.rejected.extend((f, "refused by the database") for f in files)
                continue
            report.written += 1
            if archive is not None:
                for path in files:
                    report.moved.append(_move_into(path, root, archive))

    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.lower().endswith(".json") or name.startswith("."):
                continue
            path = Path(folder) / name
            report.files += 1
            try:
                record = load_json_lenient(path)
            except (OSError, ValueError) as exc:
                report.unreadable.append((path, str(exc)))
                _log.error("%s: %s", path, exc)
                continue
            try:
                sink.add(record)
            except RowRejected as exc:
                report.rejected.append((path, exc.message))
                continue
            waiting[str(record.get(sink.spec.pk_source))].append(path)
            settle()
    sink.flush()
    settle()
    return report


# ---------------------------------------------------------------------------------------------- evaluate

#: The twelve numbers COCOeval summarises, in its order.
COCO_METRICS: tuple[str, ...] = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip


@dataclass(frozen=True)
class EvalResult:
    """COCO evaluation: the twelve summary numbers (-1 where the data has no object of that size) and AP per
    category (IoU .50:.95, all sizes, 100 detections)."""

    iou_type: str
    stats: dict[str, float]
    per_category: dict[str, float]
    images: int
    detections: int

    def table(self) -> list[tuple[str, float]]:
        """(metric, value) rows: the summary, then ``AP[<category>]``."""
        return [*self.stats.items(), *((f"AP[{k}]", v) for k, v in self.per_category.items())]


def _coco() -> tuple[Any, Any, Any]:
    try:
        from pycocotools import mask as mask_utils
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ModelUnavailable("evaluation needs pycocotools: pip install 'masksmith[coco]'") from None
    return COCO, COCOeval, mask_utils


def mask_folder_results(folder: str | os.PathLike[str], coco: Any) -> list[dict[str, Any]]:
    """COCO result records from a folder of binary mask images.

    Layout: ``<folder>/<image file stem>/<category>__<k>[__<score>].png`` where ``category`` is a category
    name or id of the annotations, ``k`` any index and ``score`` defaults to 1; nonzero pixels are the object.
    """
    from masksmith.media.io import read_image

    _, _, mask_utils = _coco()
    root = Path(folder)
    images = {Path(img["file_name"]).stem: img for img in coco.dataset.get("images", [])}
    categories = {str(c["name"]): int(c["id"]) for c in coco.dataset.get("categories", [])}
    categories.update({str(c["id"]): int(c["id"]) for c in coco.dataset.get("categories", [])})
    results: list[dict[str, Any]] = []
    for image_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        image = images.get(image_dir.name)
        if image is None:
            raise ConfigError(f"no image with stem {image_dir.name!r} in the annotations", file=image_dir)
        for path in sorted(image_dir.iterdir()):
            if path.suffix.lower() not in (".png", ".bmp", ".tif", ".tiff"):
                continue
            parts = path.stem.split("__")
            if len(parts) not in (2, 3) or parts[0] not in categories:
                raise ConfigError(
                    "mask files are named <category>__<k>[__<score>] with a category of the annotations",
                    file=path,
                )
            try:
                score = float(parts[2]) if len(parts) == 3 else 1.0
            except ValueError:
                raise ConfigError(f"score {parts[2]!r} is not a number", file=path) from None
            pixels = read_image(path, mode="GRAY").pixels
            if pixels.shape != (image["height"], image["width"]):
                raise ConfigError(
                    f"mask is {pixels.shape[1]}x{pixels.shape[0]}, image is {image['width']}x{image['height']}",
                    file=path,
                )
            rle = mask_utils.encode(np.asfortranarray((pixels > 0).astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            results.append(
                {
                    "image_id": image["id"],
                    "category_id": categories[parts[0]],
                    "segmentation": rle,
                    "score": score,
                }
            )
    return results


def evaluate(
    annotations: str | os.PathLike[str],
    results: str | os.PathLike[str] | list[Mapping[str, Any]],
    *,
    iou_type: str = "segm",
) -> EvalResult:
    """Evaluate predictions against COCO ``annotations`` with pycocotools' COCOeval.

    ``results`` is a COCO results JSON file, a folder of masks (:func:`mask_folder_results`) or a list of
    result records. No predictions at all give AP and AR 0 (where the annotations have objects).
    """
    if iou_type not in ("segm", "bbox"):
        raise ConfigError(f"iou_type {iou_type!r} is not 'segm' or 'bbox'", argument="iou_type")
    COCO, COCOeval, mask_utils = _coco()
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        try:
            ground_truth = COCO(os.fspath(annotations))
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            raise ConfigError(f"not a COCO annotations file ({exc})", file=os.fspath(annotations)) from None
    if isinstance(results, list):
        records = [dict(r) for r in results]
    elif Path(results).is_dir():
        records = mask_folder_results(results, ground_truth)
    else:
        try:
            loaded = json.loads(Path(results).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"not a COCO results file ({exc})", file=os.fspath(results)) from None
        if not isinstance(loaded, list):
            raise ConfigError("a COCO results file holds a list of detections", file=os.fspath(results))
        records = loaded
    detections = len(records)
    if not records:
        # loadRes cannot take an empty list; one empty-mask detection matches nothing, so AP/AR come out 0.
        image = ground_truth.dataset["images"][0]
        empty = mask_utils.encode(np.zeros((image["height"], image["width"]), dtype=np.uint8, order="F"))
        records = [
            {
                "image_id": image["id"],
                "category_id": ground_truth.getCatIds()[0],
                "segmentation": empty,
                "bbox": [0.0, 0.0, 0.0, 0.0],
                "score": 0.0,
            }
        ]
    with contextlib.redirect_stdout(quiet):
        predictions = ground_truth.loadRes(records)
        evaluator = COCOeval(ground_truth, predictions, iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = {name: float(value) for name, value in zip(COCO_METRICS, evaluator.stats, strict=True)}
    precision = evaluator.eval["precision"]  # [IoU, recall, category, area, max detections]
    per_category: dict[str, float] = {}
    for index, category_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, index, 0, -1]
        values = values[values > -1]
        name = ground_truth.cats[int(category_id)]["name"]
        per_category[str(name)] = float(values.mean()) if values.size else -1.0
    return EvalResult(
        iou_type=iou_type,
        stats=stats,
        per_category=per_category,
        images=len(ground_truth.getImgIds()),
        detections=detections,
    )
