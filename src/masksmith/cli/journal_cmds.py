"""``masksmith journal …``: create, extend, inspect, archive and draw journals.

``render_journal_graph`` is re-exported from :mod:`masksmith.report.journal_graph`, where it lives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from masksmith.cli.validate_cmds import probes_command, validate_command
from masksmith.cli.view_cmds import view_command
from masksmith.errors import JournalError
from masksmith.journal.project import Journal
from masksmith.report.journal_graph import render_journal_graph
from masksmith.report.journal_summary import journal_summary

__all__ = ["journal", "render_journal_graph"]


def _parse_arguments(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs; values that parse as JSON (numbers, lists, true) keep their type."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'-a/--arg'")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _open(path: Path) -> Journal:
    if Journal.is_archive(path):
        raise JournalError("this command changes the journal: extract the archive first", file=path)
    journal = Journal.open(path)
    journal.check_contained()
    _warn(journal)
    return journal


def _warn(journal: Journal) -> None:
    for warning in journal.warnings:
        click.echo(f"warning: {warning}", err=True)


@contextmanager
def _reading(path: Path) -> Iterator[Journal]:
    """A journal folder, its JSON or an archive (a temporary extracted copy), for reading."""
    with Journal.opened(path) as journal:
        journal.check_contained()
        _warn(journal)
        yield journal


@click.group()
def journal() -> None:
    """Create, extend, inspect and archive manipulation journals.

    A journal is a folder NAME/ holding NAME.json (networkx node-link JSON, compatible with the
    Journaling Tool), the media of every node and one change mask PNG per edge (0 = changed).
    """


journal.add_command(validate_command, "validate")
journal.add_command(probes_command, "probes")
journal.add_command(view_command, "view")


@journal.command("new")
@click.argument("base_image", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Journal folder to create (must not exist or be empty).",
)
@click.option("--name", help="Journal name (default: the folder's name).")
@click.option("--username", help="Creator recorded in the journal (default: your login name).")
@click.option("--organization", default="", help="Organization recorded in the journal.")
@click.option("--description", default="", help="Project description.")
def new(
    base_image: Path,
    directory: Path,
    name: str | None,
    username: str | None,
    organization: str,
    description: str,
) -> None:
    """Start a journal from BASE_IMAGE (an image, video or audio file, copied into the folder)."""
    j = Journal.create(
        base_image,
        directory,
        name=name,
        username=username,
        organization=organization,
        description=description,
    )
    click.echo(f"created journal {j.name!r} at {j.json_path} (base node {j.graph.base_node()!r})")


@journal.command("add")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
@click.option("--from", "start", required=True, help="Node id the operation starts from.")
@click.option(
    "--image",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="The image, video or audio file the operation produced (copied into the journal as a new node).",
)
@click.option("--op", required=True, help="Operation name from the catalogue, e.g. TransformCrop or Blur.")
@click.option(
    "-a",
    "--arg",
    "args",
    multiple=True,
    metavar="KEY=VALUE",
    help="An operation argument (repeatable). Values are read as JSON when they parse.",
)
@click.option("--donor", help="Donor image file or node id, for pastes.")
@click.option(
    "--input-mask",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Input mask image (255 = where the operation applied).",
)
@click.option(
    "--software", default="masksmith", show_default=True, help="Software name[:version] that did it."
)
def add(
    journal_path: Path,
    start: str,
    image: Path,
    op: str,
    args: tuple[str, ...],
    donor: str | None,
    input_mask: Path | None,
    software: str,
) -> None:
    """Record an operation edge from an existing node to a new image file."""
    j = _open(journal_path)
    name, _, version = software.partition(":")
    donor_ref: str | Path | None = donor
    if donor is not None and donor not in j.graph.graph:
        donor_ref = Path(donor)
    edge = j.record(
        start,
        image,
        op=op,
        arguments=_parse_arguments(args),
        software_name=name,
        software_version=version or "unknown",
        donor=donor_ref,
        input_mask=input_mask,
    )
    data = j.graph.edge(edge.start, edge.end)
    if "videomasks" in data:
        _echo_segments(str(edge), op, data)
        return
    click.echo(
        f"{edge}: {op}, mask {data['maskname']} (empty: {data['empty mask']}, "
        f"{data['change size ratio']:.1%} changed, shape change {data['shape change']})"
    )
    for error in data.get("errors", []):
        click.echo(f"warning: {edge}: {error}", err=True)


def _echo_segments(edge: str, op: str, data: dict[str, Any]) -> None:
    """A video/audio edge: one line per segment (frames, times, HDF5 file)."""
    items = data.get("videomasks") or []
    click.echo(f"{edge}: {op}, {len(items)} segment(s)")
    for item in items:
        frames = f"{item.get('type', 'video')} {item.get('startframe')}–{item.get('endframe')}"
        times = f"{float(item.get('starttime', 0)):.2f}–{float(item.get('endtime', 0)):.2f} ms"
        where = f", masks {item['videosegment']}" if item.get("videosegment") else ""
        click.echo(f"  {frames} ({times}){where}")
    for error in data.get("errors", []):
        click.echo(f"warning: {edge}: {error}", err=True)


@journal.command("show")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
def show(journal_path: Path) -> None:
    """Print a summary of a journal (folder, JSON or archive): project attributes, nodes and edges."""
    with _reading(journal_path) as j:
        _show(j, journal_path)


def _show(j: Journal, given: Path) -> None:
    summary = journal_summary(j)
    where = given if Journal.is_archive(given) else j.json_path
    click.echo(f"journal {summary.name!r}  ({where})")
    for key, value in summary.attributes:
        click.echo(f"  {key}: {value}")
    click.echo(f"\n{len(summary.nodes)} nodes")
    _table(summary.node_header, summary.nodes)
    click.echo(f"\n{len(summary.edges)} edges")
    _table(summary.edge_header, summary.edges)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    click.echo("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    click.echo("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


@journal.command("archive")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write NAME.tgz into.",
)
def archive(journal_path: Path, out: Path) -> None:
    """Write NAME.tgz with the journal and every file it refers to, all under NAME/."""
    with _reading(journal_path) as j:
        click.echo(str(j.archive(out)))


@journal.command("graph")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PNG to write (default: _overview_.png in the journal folder).",
)
def graph(journal_path: Path, out: Path | None) -> None:
    """Draw the journal's graph with thumbnails to a PNG (an archive needs --out)."""
    if out is None and Journal.is_archive(journal_path):
        raise JournalError("drawing an archive's graph needs --out", file=journal_path)
    with _reading(journal_path) as j:
        target = out or j.directory / "_overview_.png"
        if target.suffix.lower() != ".png":
            raise JournalError("the graph image must be a .png file", file=target)
        click.echo(str(render_journal_graph(j, target)))
