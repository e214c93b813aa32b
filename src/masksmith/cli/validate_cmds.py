"""``journal validate``, ``journal probes`` and ``batch validate``: click commands the main CLI attaches.

``validate_command`` and ``probes_command`` belong under the ``journal`` group, ``batch_validate_command``
under ``batch``. Exit status 1 when an ERROR or CRITICAL finding remains.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from masksmith.batch.bulk_validate import validate_projects
from masksmith.cli.executor_options import chosen_executor, executor_options
from masksmith.errors import JournalError
from masksmith.journal.bulk import JournalReport, find_journals
from masksmith.journal.probes import build_composites, generate_probes, write_probe_set
from masksmith.journal.project import Journal
from masksmith.journal.validate import Finding, apply_fixes, has_errors, validate

__all__ = ["batch_validate_command", "findings_table", "probes_command", "validate_command"]


def _quiet(ctx: click.Context, flag: bool = False) -> bool:
    root = ctx.find_root().obj
    return flag or (bool(root.get("quiet", False)) if isinstance(root, dict) else False)


def findings_table(findings: Sequence[Finding]) -> str:
    """Findings as an aligned text table: severity, where, rule, message."""
    if not findings:
        return "no findings"
    rows = [("SEVERITY", "WHERE", "RULE", "MESSAGE")]
    ordered = sorted(findings, key=lambda f: (-int(f.severity), f.where, f.rule))
    rows += [(f.severity.name, f.where or "(journal)", f.rule, f.message) for f in ordered]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3] for row in rows
    )


def _counts(findings: Sequence[Finding]) -> str:
    names = [f.severity.name.lower() for f in findings]
    parts = [f"{names.count(n)} {n}" for n in ("critical", "error", "warning", "info") if names.count(n)]
    return ", ".join(parts) or "nothing to report"


@click.command("validate")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
@click.option("--fix", is_flag=True, help="Apply the fixes the findings offer, save, and validate again.")
@click.option("--quick", is_flag=True, help="Leave out the donor: rules (as when a link is created).")
@click.pass_context
def validate_command(ctx: click.Context, journal_path: Path, fix: bool, quick: bool) -> None:
    """Check JOURNAL (a folder or its JSON) against every rule and print the findings.

    Exit status 1 when an ERROR or CRITICAL finding remains.
    """
    if fix and Journal.is_archive(journal_path):
        raise JournalError("--fix changes the journal: extract the archive first", file=journal_path)
    with Journal.opened(journal_path) as journal:
        findings = validate(journal, full=not quick)
        if fix:
            changes = apply_fixes(journal, findings)
            for change in changes:
                click.echo(f"fixed: {change}")
            if not changes:
                click.echo("no fixes to apply")
            else:
                findings = validate(journal, full=not quick)
        name = journal.name
    click.echo(findings_table(findings))
    click.echo(f"{name}: {_counts(findings)}")
    if has_errors(findings):
        ctx.exit(1)


@click.command("probes")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for probe masks (255 = manipulated), composites, probes.csv and probes.json.",
)
@click.option(
    "--blue-only", is_flag=True, help="Only links marked for the composite (recordMaskInComposite)."
)
@click.option("--no-donors", is_flag=True, help="Do not build donor masks.")
def probes_command(journal_path: Path, out_dir: Path, blue_only: bool, no_donors: bool) -> None:
    """Write the probes of JOURNAL: one mask per manipulation and final image, donor masks and composites."""
    from masksmith.journal.probes import is_edge_composite, is_edge_localized

    inclusion = is_edge_composite if blue_only else is_edge_localized
    with Journal.opened(journal_path) as journal:
        journal.check_contained()
        probes = generate_probes(journal, inclusion=inclusion, donors=not no_donors)
        composites = build_composites(journal, probes)
        files = write_probe_set(journal, probes, composites, out_dir)
    click.echo(
        f"{len(probes)} probes for {len(composites)} final nodes: "
        f"{len(files.masks)} masks, {len(files.composites)} composites, {files.csv}, {files.json}"
    )
    from masksmith.journal.video_probes import generate_video_probes, write_video_probes

    video_probes = generate_video_probes(journal, donors=not no_donors)
    if video_probes:
        written = write_video_probes(journal, video_probes, out_dir)
        click.echo(f"{len(video_probes)} video/audio probes: {written[-1]}")


@click.command("validate")
@click.option(
    "--projects",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="Folder of journals (sub-folders and .tgz archives).",
)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Worker threads.")
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where ErrorReport_<pid>.csv goes (default: --projects).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@executor_options
@click.pass_context
def batch_validate_command(
    ctx: click.Context,
    projects: Path,
    threads: int,
    report_dir: Path | None,
    quiet: bool,
    executor_kind: str = "local",
    ray_address: str | None = None,
) -> None:
    """Validate every journal under --projects, regenerating missing masks; write ErrorReport_<pid>.csv.

    Exit status 1 when any ERROR or CRITICAL finding was reported.
    """
    from tqdm import tqdm

    quiet = _quiet(ctx, quiet)
    total = len(find_journals(projects))
    bar = tqdm(
        total=total,
        unit="journal",
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
        desc="validate",
    )

    def advance(report: JournalReport) -> None:
        bar.update(1)

    try:
        with chosen_executor(executor_kind, ray_address, threads, workers_option="threads") as executor:
            summary = validate_projects(
                projects, threads=threads, report_dir=report_dir, progress=advance, executor=executor
            )
    finally:
        bar.close()
    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    click.echo(summary.line())
    if summary.has_errors:
        ctx.exit(1)
