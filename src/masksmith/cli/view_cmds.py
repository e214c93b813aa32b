"""``masksmith journal view`` and ``masksmith batch view``: write (and optionally serve) viewer pages.

The lead attaches them: ``journal.add_command(view_command)`` and ``batch.add_command(batch_view_command)``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from masksmith.report.index import build_batch_index
from masksmith.report.serve import DEFAULT_PORT, serve_report
from masksmith.report.viewer import build_journal_report


@contextmanager
def _target(out: Path | None, default_name: str, serve: bool) -> Iterator[Path]:
    """Where to write: ``--out``; else a temporary folder when serving; else ``default_name`` here."""
    if out is not None:
        yield out
    elif serve:
        with tempfile.TemporaryDirectory(prefix="masksmith-report-") as scratch:
            yield Path(scratch) / default_name
    else:
        yield Path(default_name)


def _serve(page: Path, port: int) -> None:
    try:
        serve_report(page, port=port, announce=lambda url: click.echo(f"serving {url}  (Ctrl+C to stop)"))
    except KeyboardInterrupt:
        click.echo("stopped serving", err=True)


def _check_port(serve: bool, port: int | None) -> int:
    if port is not None and not serve:
        raise click.UsageError("--port needs --serve")
    return DEFAULT_PORT if port is None else port


_out_option = click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="HTML file to write; its media go to <name>_assets/ beside it.",
)
_batch_out_option = click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="HTML file to write; one page per journal goes to <name>_journals/ beside it.",
)
_force_option = click.option("--force", is_flag=True, help="Replace an existing page (and its media folder).")


def _refuse_existing(page: Path, force: bool) -> None:
    """An existing page is replaced only with --force (it may be someone's report)."""
    if page.exists() and not force:
        raise click.UsageError(f"{page} exists; pass --force to replace it or --out to write elsewhere")


_serve_option = click.option("--serve", is_flag=True, help="Serve the page on 127.0.0.1 after writing it.")
_port_option = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"Port for --serve (default {DEFAULT_PORT}; 0 picks a free one).",
)


@click.command("view")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
@_out_option
@_force_option
@_serve_option
@_port_option
def view_command(journal_path: Path, out: Path | None, force: bool, serve: bool, port: int | None) -> None:
    """Write a self-contained viewer page for JOURNAL (folder, JSON or .tgz), or serve it.

    Default --out: report.html in the current folder (a temporary folder with --serve). The page
    shows the provenance graph; click a node for its image and attributes, an edge for its
    operation, before/after images and change mask, a final node for its probes.
    """
    chosen_port = _check_port(serve, port)
    with _target(out, "report.html", serve) as page:
        _refuse_existing(page, force)
        result = build_journal_report(journal_path, page)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(
            f"wrote {result.html} ({result.node_count} nodes, {result.edge_count} edges; media in {result.assets})"
        )
        click.echo(f"probes: {result.probe_status}")
        if serve:
            _serve(result.html, chosen_port)


@click.command("view")
@click.option(
    "--projects",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="Folder of journals (journal folders and .tgz archives).",
)
@_batch_out_option
@_force_option
@_serve_option
@_port_option
@click.pass_context
def batch_view_command(
    ctx: click.Context, projects: Path, out: Path | None, force: bool, serve: bool, port: int | None
) -> None:
    """Write an index page of every journal under --projects, with one viewer page per journal.

    Default --out: index.html in the current folder (a temporary folder with --serve). The table is
    sortable and filterable by operation name. Exits 1 when a journal could not be opened.
    """
    chosen_port = _check_port(serve, port)
    quiet = bool((ctx.obj or {}).get("quiet"))

    def progress(path: Path) -> None:
        if not quiet and sys.stderr.isatty():
            click.echo(f"  {path.name}", err=True)

    with _target(out, "index.html", serve) as page:
        _refuse_existing(page, force)
        result = build_batch_index(projects, page, progress=progress)
        failed = [row for row in result.rows if row.href is None]
        for row in failed:
            click.echo(f"warning: {row.source}: {row.status.text}", err=True)
        click.echo(f"wrote {result.html} ({len(result.rows)} journals, {len(failed)} could not be opened)")
        if serve:
            _serve(result.html, chosen_port)
    if failed:
        ctx.exit(1)
