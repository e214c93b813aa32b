"""Helper subcommands of ``masksmith anonymise``: ``check-folders``, ``create-json``, ``create-preview``,
``evaluate`` and ``db create-table | json-to-db | execute-sql``.

:func:`attach` adds them to the anonymise group. Folder flags (``-i/-o/-a/-k``) may also be given to the
group (``masksmith anonymise -i IN -o OUT check-folders``). Exit codes: 0 done, 1 something was missing or
failed, 2 bad input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from masksmith.cli.options import option

__all__ = [
    "attach",
    "check_folders_cmd",
    "create_json_cmd",
    "create_preview_cmd",
    "db_group",
    "evaluate_cmd",
]

_FOLDER = click.Path(path_type=Path, file_okay=False)
_FILE = click.Path(path_type=Path, dir_okay=False)


def _parent(ctx: click.Context, key: str) -> Any:
    obj = ctx.find_root().obj
    values = obj.get("anonymise", {}) if isinstance(obj, dict) else {}
    return values.get(key)


def _resolve(ctx: click.Context, value: Any, key: str) -> Any:
    return value if value is not None else _parent(ctx, key)


def _folders(
    ctx: click.Context, input_folder: Path | None, output_folder: Path | None, archive: Path | None
) -> tuple[Path, Path, Path | None]:
    inp = _resolve(ctx, input_folder, "input_folder")
    out = _resolve(ctx, output_folder, "output_folder")
    if inp is None or out is None:
        raise click.UsageError("-i/--input-folder and -o/--output-folder are required", ctx=ctx)
    if not Path(inp).is_dir():
        raise click.BadParameter(f"{inp} is not a folder", param_hint="-i/--input-folder")
    return Path(inp), Path(out), _resolve(ctx, archive, "archive_folder")


def _config(ctx: click.Context, config_file: Path | None) -> Any:
    from masksmith.anonymise.config import load_config

    return load_config(_resolve(ctx, config_file, "config_file"))


def _table(rows: Sequence[Sequence[Any]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _folder_options(func: Any) -> Any:
    func = click.option("-k", "--config", "config_file", type=_FILE, help="Configuration YAML.")(func)
    func = click.option("-a", "--archive-folder", type=_FOLDER, help="Archive base folder.")(func)
    func = click.option("-o", "--output-folder", type=_FOLDER, help="Output base folder.")(func)
    return click.option("-i", "--input-folder", type=_FOLDER, help="Input base folder.")(func)


# ---------------------------------------------------------------------------------------------- check-folders


@click.command("check-folders")
@_folder_options
@click.option("--journal", is_flag=True, help="Also expect a journal per image (runs with --journal).")
@click.option("--details", is_flag=True, help="List every missing and extra file.")
@click.pass_context
def check_folders_cmd(
    ctx: click.Context,
    input_folder: Path | None,
    output_folder: Path | None,
    archive_folder: Path | None,
    config_file: Path | None,
    journal: bool,
    details: bool,
) -> None:
    """Compare input, output and archive trees: per folder, which expected files exist.

    Cells are present/expected; None means the configuration does not ask for that output. Exits 1 when
    a file is missing or an image was interrupted.
    """
    from masksmith.anonymise.tools import KINDS, check_folders

    inp, out, arch = _folders(ctx, input_folder, output_folder, archive_folder)
    report = check_folders(inp, out, arch, config=_config(ctx, config_file), journal=journal)
    kinds = [k for k in KINDS if k in report.expected]
    rows: list[list[Any]] = [["folder", "images", "complete", *kinds, "extra"]]
    for row in [*report.rows, report.total]:
        cells = [f"{row.ok[k]}/{row.ok[k] + row.missing[k]}" for k in kinds]
        rows.append([row.folder, row.images, row.complete, *cells, row.extra])
    for line in _table(rows):
        click.echo(line)
    click.echo(
        f"missing files: {len(report.missing_files)}; extra files: {len(report.extra_files)}; "
        f"error images: {report.error_images}; interrupted images: {report.interrupted}"
    )
    if details:
        for path in report.missing_files:
            click.echo(f"missing: {path}")
        for path in report.extra_files:
            click.echo(f"extra: {path}")
    ctx.exit(0 if report.ok else 1)


# ---------------------------------------------------------------------------------------------- create-json


@click.command("create-json")
@_folder_options
@option(
    "--legacy",
    aliases=("-deprecated",),
    is_flag=True,
    help="Read the pre-2022 EXIF format (ImageProperties).",
)
@click.option("--overwrite", is_flag=True, help="Rewrite JSON files that exist.")
@click.pass_context
def create_json_cmd(
    ctx: click.Context,
    input_folder: Path | None,
    output_folder: Path | None,
    archive_folder: Path | None,
    config_file: Path | None,
    legacy: bool,
    overwrite: bool,
) -> None:
    """Write the metadata JSON of every image that lacks it (where remote/local/archive_json say)."""
    from masksmith.anonymise.tools import create_json

    inp, out, arch = _folders(ctx, input_folder, output_folder, archive_folder)
    report = create_json(inp, out, arch, config=_config(ctx, config_file), legacy=legacy, overwrite=overwrite)
    click.echo(
        f"written: {len(report.written)} file(s); skipped (JSON present): {report.skipped}; "
        f"failed: {len(report.failed)}"
    )
    for path, reason in report.failed:
        click.echo(f"failed: {path}: {reason}", err=True)
    ctx.exit(1 if report.failed else 0)


# ---------------------------------------------------------------------------------------------- create-preview


@click.command("create-preview")
@_folder_options
@click.option(
    "--from-input",
    is_flag=True,
    help="Crop the original, not the anonymised output (previews are NOT anonymised).",
)
@click.option("--overwrite", is_flag=True, help="Rewrite previews that exist.")
@click.pass_context
def create_preview_cmd(
    ctx: click.Context,
    input_folder: Path | None,
    output_folder: Path | None,
    archive_folder: Path | None,
    config_file: Path | None,
    from_input: bool,
    overwrite: bool,
) -> None:
    """Write previews (preview_dim around preview_center) of the anonymised images where the flags say."""
    from masksmith.anonymise.tools import create_previews

    inp, out, arch = _folders(ctx, input_folder, output_folder, archive_folder)
    if from_input:
        click.echo("warning: --from-input crops the un-anonymised originals", err=True)
    config = _config(ctx, config_file)
    report = create_previews(inp, out, arch, config=config, from_input=from_input, overwrite=overwrite)
    click.echo(
        f"written: {len(report.written)} preview(s); skipped (present): {report.skipped}; "
        f"not anonymised yet: {len(report.not_anonymised)}; failed: {len(report.failed)}"
    )
    for path, reason in report.failed:
        click.echo(f"failed: {path}: {reason}", err=True)
    ctx.exit(1 if report.failed else 0)


# ---------------------------------------------------------------------------------------------- evaluate


@click.command("evaluate")
@click.option(
    "-a", "--annotations", type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="COCO annotations JSON.",
)  # fmt: skip
@click.option(
    "-r", "--results", type=click.Path(path_type=Path, exists=True),
    help="COCO results JSON, or a folder <image stem>/<category>__<k>[__<score>].png of masks.",
)  # fmt: skip
@click.option("--iou-type", type=click.Choice(["segm", "bbox"]), default="segm", show_default=True)
@click.option(
    "--boxes", type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Hand-annotated boxes of real photos (see docs/anonymise.md): run the anonymiser on them instead.",
)  # fmt: skip
@click.option(
    "--photos", type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Folder of the photos named in --boxes (default: the folder of the --boxes file).",
)  # fmt: skip
@click.option("-k", "--config", "config_file", type=_FILE, help="Configuration YAML for the --boxes run.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def evaluate_cmd(
    ctx: click.Context,
    annotations: Path | None,
    results: Path | None,
    iou_type: str,
    boxes: Path | None,
    photos: Path | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Evaluate anonymisation: on real photos with hand-annotated boxes (--boxes), per class recall and
    false-positive area; or COCO evaluation (pycocotools) of predicted masks (-a and -r)."""
    if boxes is not None:
        _evaluate_photos(ctx, boxes, photos, config_file, as_json)
        return
    if annotations is None or results is None:
        raise click.UsageError("give --boxes, or both -a/--annotations and -r/--results", ctx=ctx)
    from masksmith.anonymise.tools import evaluate

    result = evaluate(annotations, results, iou_type=iou_type)
    if as_json:
        click.echo(json.dumps({"iou_type": result.iou_type, "images": result.images,
                               "detections": result.detections, **dict(result.table())}, indent=2))  # fmt: skip
        return
    click.echo(f"{result.images} image(s), {result.detections} detection(s), IoU type {result.iou_type}")
    for line in _table([["metric", "value"], *((k, f"{v:.4f}") for k, v in result.table())]):
        click.echo(line)


def _evaluate_photos(
    ctx: click.Context, boxes: Path, photos: Path | None, config_file: Path | None, as_json: bool
) -> None:
    from masksmith.anonymise.photo_eval import anonymiser, evaluate_photos, load_annotations

    annotated = load_annotations(boxes)
    result = evaluate_photos(annotated, photos or boxes.parent, anonymiser(_config(ctx, config_file)))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    rows = [["photo", "false-positive area", "changed", "objects (class coverage)"]]
    for p in result.photos:
        objects = ", ".join(f"{c} {v:.2f}" for c, v in p.coverage) or "nothing to hide"
        rows.append([p.file, f"{p.false_positive_area:.4f}", f"{p.changed_area:.4f}", objects])
    for line in _table(rows):
        click.echo(line)
    worst = result.min_coverage()
    for cls, value in result.recall().items():
        click.echo(f"recall[{cls}] = {value:.3f} (worst object {worst[cls]:.3f})")


# ---------------------------------------------------------------------------------------------- db


@click.group("db")
def db_group() -> None:
    """Database tables of the metadata rows: create, fill from JSON files, run SQL.

    \b
    The database is db_url of the config (or --url), without a password: the password comes from the
    variable db_password_env names, or the encrypted db_encrypted_password. Without a URL the embedded
    SQLite file in the state folder (or -l) is used.
    """


def _db_options(func: Any) -> Any:
    func = click.option(
        "-l", "--log-folder", type=_FOLDER, help="Folder of the row cache and the embedded SQLite file."
    )(func)
    func = click.option("-t", "--table-name", help="Table definition: a shipped name or a .yml file.")(func)
    func = click.option("--url", help="SQLAlchemy URL without password (overrides db_url).")(func)
    return click.option("-k", "--config", "config_file", type=_FILE, help="Configuration YAML.")(func)


def _engine(
    ctx: click.Context, config_file: Path | None, url: str | None, table: str | None, folder: Path | None
) -> Any:
    from masksmith.anonymise.sinks import database_url, default_state_dir, make_engine
    from masksmith.anonymise.tables import load_table_spec

    config = _config(ctx, config_file)
    spec = load_table_spec(table or config.database.table_name or "VEGBILDER")
    db_url = database_url(config, url=url, folder=folder or default_state_dir(), table=spec.name)
    return config, spec, make_engine(db_url)


@db_group.command("create-table")
@_db_options
@click.option("--drop", is_flag=True, help="Drop the table first (its rows are lost).")
@click.pass_context
def db_create_table(
    ctx: click.Context,
    config_file: Path | None,
    url: str | None,
    table_name: str | None,
    log_folder: Path | None,
    drop: bool,
) -> None:
    """Create the table from its YAML definition (if it does not exist) and print its DDL."""
    from masksmith.anonymise.sinks import create_table, render_url

    config, spec, engine = _engine(ctx, config_file, url, table_name, log_folder)
    try:
        ddl = create_table(engine, spec, schema=config.database.db_schema, drop=drop)
    finally:
        engine.dispose()
    click.echo(ddl)
    click.echo(f"table {spec.key} ready in {render_url(engine.url)}", err=True)


@db_group.command("json-to-db")
@_db_options
@click.option("-i", "--input-folder", type=_FOLDER, required=True, help="Folder of metadata JSON files.")
@click.option(
    "-a", "--json-archive", "--jsonarkiv-folder", "json_archive", type=_FOLDER,
    help="Move each JSON file here (mirrored) once its row is written.",
)  # fmt: skip
@click.pass_context
def db_json_to_db(
    ctx: click.Context,
    config_file: Path | None,
    url: str | None,
    table_name: str | None,
    log_folder: Path | None,
    input_folder: Path,
    json_archive: Path | None,
) -> None:
    """Write every *.json metadata file below -i as a row (an existing row with the same key is updated)."""
    from masksmith.anonymise.sinks import DatabaseSink, database_url, default_state_dir
    from masksmith.anonymise.tables import load_table_spec
    from masksmith.anonymise.tools import json_to_db

    config = _config(ctx, config_file)
    spec = load_table_spec(table_name or config.database.table_name or "VEGBILDER")
    folder = log_folder or default_state_dir()
    db_url = database_url(config, url=url, folder=folder, table=spec.name)
    with DatabaseSink(config, cache_dir=folder, url=db_url, spec=spec) as sink:
        report = json_to_db(input_folder, sink, archive_dir=json_archive)
    stats = sink.stats
    click.echo(
        f"files: {report.files}; rows written: {report.written} (inserted {stats.inserted}, updated "
        f"{stats.updated}); rejected: {len(report.rejected)}; unreadable: {len(report.unreadable)}; "
        f"moved: {len(report.moved)}; still cached: {stats.pending}"
    )
    for path, reason in [*report.rejected, *report.unreadable]:
        click.echo(f"not written: {path}: {reason}", err=True)
    ctx.exit(1 if report.rejected or report.unreadable or stats.pending else 0)


@db_group.command("execute-sql")
@_db_options
@click.option("--sql", help="The statement.")
@click.option(
    "--file",
    "sql_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A file holding it.",
)
@click.pass_context
def db_execute_sql(
    ctx: click.Context,
    config_file: Path | None,
    url: str | None,
    table_name: str | None,
    log_folder: Path | None,
    sql: str | None,
    sql_file: Path | None,
) -> None:
    """Execute one SQL statement (from --sql or --file) and commit; rows it returns are printed."""
    from masksmith.anonymise.sinks import run_sql

    if (sql is None) == (sql_file is None):
        raise click.UsageError("give exactly one of --sql and --file", ctx=ctx)
    statement = sql if sql is not None else Path(str(sql_file)).read_text(encoding="utf-8")
    _, _, engine = _engine(ctx, config_file, url, table_name, log_folder)
    try:
        result = run_sql(engine, statement)
    finally:
        engine.dispose()
    if result.columns:
        for line in _table(
            [list(result.columns), *[["NULL" if v is None else v for v in r] for r in result.rows]]
        ):
            click.echo(line)
        click.echo(f"({len(result.rows)} row(s))", err=True)
    else:
        click.echo(f"{result.rowcount} row(s) affected", err=True)


def attach(group: click.Group) -> None:
    """Add every helper command (and the ``db`` group) to ``group`` (the ``anonymise`` group)."""
    for command in (check_folders_cmd, create_json_cmd, create_preview_cmd, evaluate_cmd, db_group):
        group.add_command(command)
