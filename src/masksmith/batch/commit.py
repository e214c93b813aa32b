"""Commit: post-process a built journal (recompress, rename finals, validate), rename it into place, or fail.

:func:`post_process` and :func:`commit` end a made project; :func:`fail` ends a failed one (its
folder removed or kept as ``<name>.failed``). :func:`recompress`, :func:`rename_finals`,
:func:`error_findings` and :func:`write_overview` are the steps an extension reuses on what it adds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from masksmith.batch.inflight import OWNER_FILE
from masksmith.batch.node_inputs import fill_operation_parameters, run_plugin
from masksmith.batch.node_values import is_recordable, jsonable, with_donor_arguments
from masksmith.batch.outcome import NodeFailure, ProjectOutcome, describe_error
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.spec import PluginNode
from masksmith.errors import JournalError, MasksmithError, PluginError
from masksmith.journal.path_analysis import set_path_analysis
from masksmith.journal.project import Journal
from masksmith.journal.validate import Finding
from masksmith.journal.validate import validate as validate_journal
from masksmith.plugins import get_plugin
from masksmith.report.graph_image import render_graph_png

__all__ = [
    "OVERVIEW_FILE",
    "commit",
    "describe_failure",
    "error_findings",
    "fail",
    "post_process",
    "recompress",
    "rename_finals",
    "validation_error",
    "write_overview",
]

log = logging.getLogger("masksmith.batch")

OVERVIEW_FILE = "_overview_.png"
_ANTI_FORENSIC_EXIF = "AntiForensicExif"
_RECOMPRESS_SUFFIXES = frozenset({".jpg", ".jpeg", ".tif", ".tiff"})


def post_process(run: ProjectRun) -> None:
    """Recompress and rename finals (as the spec asks), label, path-analyse, save, draw and validate."""
    journal = run.built()
    section = run.spec.graph_section
    if section.recompress:
        recompress(run)
    if section.rename:
        rename_finals(journal)
    journal.graph.label_nodes()
    set_path_analysis(journal.graph, journal.catalogue)
    journal.save()
    write_overview(journal)
    if not run.ctx.skip_validation:
        errors = error_findings(validate_journal(journal))
        # Passed-through plugins leave empty masks on purpose: report, do not fail, those projects.
        if errors and run.passed_through:
            log.warning("project %s: %d validation error(s) after pass-through, kept", run.name, len(errors))
        elif errors:
            raise validation_error(errors)


def recompress(run: ProjectRun, only: set[str] | None = None) -> None:
    """Re-save each final (of ``only``, when given) as its own root was saved (as the original paired
    terminals with their bases): the project base for the base path, a donor image for a donor path."""
    journal = run.built()
    try:
        plugin = get_plugin("CompressAs")
    except PluginError:
        raise PluginError(
            "recompress needs the CompressAs plugin, which is not installed", argument="recompress"
        ) from None
    for final in journal.graph.final_nodes():
        if only is not None and final not in only:
            continue
        base = operation_root(journal, final)
        if final == base:
            continue
        base_path = journal.path_of(base)
        if base_path.suffix.lower() not in _RECOMPRESS_SUFFIXES:
            log.warning(
                "project %s: recompress of %s skipped, its root %s is not JPEG or TIFF",
                run.name,
                final,
                base_path.name,
            )
            continue
        last = journal.graph.operation_predecessor(final)
        if last is not None and str(journal.graph.edge(last, final).get("op", "")).startswith(
            _ANTI_FORENSIC_EXIF
        ):
            continue
        source = journal.path_of(final)
        _, target = journal.new_media_path(final, plugin.target_suffix(source, base_path))
        passthrough = run.ctx.test_mode or "CompressAs" in run.ctx.passthrus
        arguments = plugin.resolve_arguments(with_donor_arguments(plugin, {}, base_path))
        result = run_plugin(
            run, plugin, source, target, arguments, donor=base_path, input_mask=None, passthrough=passthrough
        )
        donor_args = {a.name for a in plugin.arguments if a.type == "donor"}
        values = {
            k: jsonable(v)
            for k, v in {**arguments, **result.variables}.items()
            if is_recordable(v) and k not in donor_args
        }
        fill_operation_parameters(
            journal.catalogue,
            run.rng,
            run.drawn,
            "recompress",
            result.operation or plugin.operation,
            values,
            plugin,
        )
        journal.record(
            final,
            target,
            op=result.operation or plugin.operation,
            arguments=values,
            donor=base,
            target_pixels=result.target_pixels,
            plugin_name="CompressAs",
            software_name=plugin.software,
            software_version=plugin.version,
            save=False,
        )


def operation_root(journal: Journal, node: str) -> str:
    """The root a node descends from through operation links (not donor links)."""
    current = node
    while (previous := journal.graph.operation_predecessor(current)) is not None:
        current = previous
    return current


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rename_finals(journal: Journal, only: set[str] | None = None, *, keep_duplicates: bool = False) -> None:
    """Rename each final node's file (of ``only``, when given) to ``<md5>.<suffix>``; node ids stay.

    Two finals with the same content are an error, unless ``keep_duplicates`` (extension: the same
    seeded operation applied again) keeps the later one's name.
    """
    base = journal.graph.base_node()
    for final in journal.graph.final_nodes():
        if final == base or (only is not None and final not in only):
            continue
        path = journal.path_of(final)
        new_name = f"{_md5(path)}{path.suffix.lower()}"
        if path.name == new_name:
            continue
        destination = journal.directory / new_name
        if destination.exists() and keep_duplicates:
            log.warning("final %s has the same content as %s; its file keeps its name", final, new_name)
            continue
        if destination.exists():
            raise JournalError("two final images have the same content", file=destination, node=final)
        os.rename(path, destination)
        journal.graph.node(final)["file"] = new_name


def error_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings of ``ERROR`` or ``CRITICAL`` severity."""
    return [f for f in findings if getattr(getattr(f, "severity", None), "name", "") in ("ERROR", "CRITICAL")]


def validation_error(errors: list[Finding], *, file: Path | None = None) -> JournalError:
    """One JournalError naming the first validation error (and how many more there are)."""
    first = errors[0]
    where = getattr(first, "where", None)
    message = (
        f"validation: {getattr(first, 'message', first)}"
        + (f" at {where}" if where else "")
        + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    )
    return JournalError(message, file=file) if file is not None else JournalError(message)


def write_overview(journal: Journal) -> Path | None:
    """``_overview_.png``: the journal's graph drawn into its folder, as the original left with every project."""

    def category_of(op: str) -> str:
        operation = journal.catalogue.find(op)
        return operation.category if operation is not None else ("Donor" if op == "Donor" else "")

    try:
        return render_graph_png(
            journal.graph.graph,
            journal.directory / OVERVIEW_FILE,
            title=journal.name,
            category_of=category_of,
        )
    except (OSError, ValueError) as exc:  # a picture must not cost the journal
        log.warning("journal %s: no %s: %s", journal.name, OVERVIEW_FILE, exc)
        return None


def commit(run: ProjectRun) -> ProjectOutcome:
    """Rename the built project from its partial folder into place (noted in the record first)."""
    assert run.partial is not None and run.name is not None
    record = run.record_or_raise()
    shutil.rmtree(run.scratch, ignore_errors=True)
    (run.partial / OWNER_FILE).unlink(missing_ok=True)
    final = run.ctx.projects / run.name
    record.update(status="committing", final=run.name, partial=run.partial.name)
    os.rename(run.partial, final)
    log.info("project %s made", run.name)
    return ProjectOutcome("made", run.name, final, state=run.failure_state())


def describe_failure(run: ProjectRun, failure: NodeFailure, subject: str) -> str:
    """``<subject>: spec node 'x' (OpType Plugin): <cause>``, logged (with a traceback for a non-masksmith cause)."""
    node = run.spec.node(failure.node) if failure.node in run.spec.graph else None
    what = f"{node.op_type}{' ' + node.plugin if isinstance(node, PluginNode) else ''}" if node else ""
    message = f"{subject}: spec node {failure.node!r}{' (' + what + ')' if what else ''}: {describe_error(failure.cause)}"
    log.error("%s", message, exc_info=not isinstance(failure.cause, MasksmithError))
    return message


def fail(run: ProjectRun, failure: NodeFailure) -> ProjectOutcome:
    """End a failed project: its state noted in the record, its folder removed (or kept as ``.failed``)."""
    record = run.record_or_raise()
    message = describe_failure(run, failure, f"project {run.name or '(unnamed)'}")
    state = run.failure_state()
    # the coordinator appends the failure line (settle); the record keeps it should the coordinator die
    record.update(status="failing", state=state)
    directory: Path | None = None
    if run.partial is not None and run.partial.exists():
        if run.ctx.keep_failed and run.name is not None:
            if run.journal is not None:
                with contextlib.suppress(Exception):
                    run.journal.save()
            directory = run.ctx.projects / f"{run.name}.failed"
            shutil.rmtree(run.scratch, ignore_errors=True)
            (run.partial / OWNER_FILE).unlink(missing_ok=True)
            os.rename(run.partial, directory)
        else:
            shutil.rmtree(run.partial, ignore_errors=True)
    return ProjectOutcome("failed", run.name, directory, error=message, node=failure.node, state=state)
