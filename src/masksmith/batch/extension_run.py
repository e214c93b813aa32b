"""Extension: one existing journal, run from its NodeAttachment once per selected node (seed §2.1, §5).

An :class:`ExtensionRun` composes the creation pieces: ``selection.select_images`` (keeping global
nodes' picks), ``node_builders.run_node`` and, for what the extension added only,
``commit.recompress``/``rename_finals``/``write_overview`` and validation.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from masksmith.batch.commit import (
    describe_failure,
    error_findings,
    recompress,
    rename_finals,
    validation_error,
    write_overview,
)
from masksmith.batch.context import RunContext
from masksmith.batch.inflight import InflightRecord
from masksmith.batch.node_builders import run_node
from masksmith.batch.outcome import ExtensionResult, NodeFailure
from masksmith.batch.permutations import PermutationExhausted
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.selection import select_images
from masksmith.batch.state import PoolExhausted
from masksmith.errors import MasksmithError
from masksmith.journal.path_analysis import set_path_analysis
from masksmith.journal.project import Journal
from masksmith.journal.validate import Finding
from masksmith.journal.validate import validate as validate_journal

if TYPE_CHECKING:
    from masksmith.batch.project import BatchProject

__all__ = ["ExtensionRun", "finding_key"]

log = logging.getLogger("masksmith.batch")


def finding_key(finding: Finding) -> tuple[str, ...]:
    """What identifies a validation finding across two validations of one journal."""
    severity = str(getattr(getattr(finding, "severity", None), "name", ""))
    return (severity, *(str(getattr(finding, key, "")) for key in ("rule", "start", "end", "message")))


class ExtensionRun(ProjectRun):
    """Extend an opened journal in place (its folder is a working copy the caller owns).

    For each attachment node the spec's NodeAttachment stands for that node and every other spec node
    runs in dependency order; nodes marked ``global: true`` run once per journal and keep their state
    between attachment points. Only what the extension adds is post-processed: new finals are
    recompressed and renamed, existing nodes, edges and files are left as they were.
    """

    def __init__(
        self,
        project: BatchProject,
        ctx: RunContext,
        journal: Journal,
        attachments: Iterable[str],
        *,
        username: str | None = None,
        organization: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(project, ctx, None, index=index)
        self.journal = journal
        self.name = journal.name
        self.partial = journal.directory
        self.attachments = list(attachments)
        self.username = username
        self.organization = organization
        self.current: str | None = None

    def execute(self) -> ExtensionResult:
        """Run the extension at every attachment node; post-process what it added."""
        journal = self.built()
        attach_id = self.spec.base_node()
        for node in self.attachments:
            journal.graph.node(node)  # a missing node is an error before anything changes
        before_nodes = {n for n, _ in journal.graph.nodes()}
        before_edges = {(a, b) for a, b, _ in journal.graph.edges()}
        known = set() if self.ctx.skip_validation else {finding_key(f) for f in validate_journal(journal)}
        self.record = record = InflightRecord.create(self.ctx.workdir)
        record.update(status="extending", journal=str(journal.directory))
        try:
            self.scratch.mkdir(exist_ok=True)
            for node in self.attachments:
                self.current = node
                self._run_attachment(attach_id, node)
            self.current = None
            self._post_process(before_nodes, before_edges, known)
        except NodeFailure as failure:
            return self._failed(failure)
        except Exception as exc:
            return self._failed(NodeFailure("(post-processing)", exc))
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
            record.remove()
        new_edges = [(a, b) for a, b, _ in journal.graph.edges() if (a, b) not in before_edges]
        log.info("journal %s extended at %d node(s)", self.name, len(self.attachments))
        return ExtensionResult(
            "extended",
            journal.name,
            attachments=list(self.attachments),
            new_nodes=[n for n, _ in journal.graph.nodes() if n not in before_nodes],
            new_edges=new_edges,
        )

    def _run_attachment(self, attach_id: str, node: str) -> None:
        keep = {n for n in self.local if n != attach_id and getattr(self.spec.node(n), "global_", False)}
        self.local = {n: v for n, v in self.local.items() if n in keep}
        try:
            select_images(self, keep)
        except (PermutationExhausted, PoolExhausted, MasksmithError) as exc:
            raise NodeFailure(attach_id, exc) from exc
        self.local[attach_id] = {"node": node, "output": str(self.built().path_of(node))}
        for node_id in self.spec.topological_order():
            if node_id in self.local:
                continue
            try:
                run_node(self, node_id)
            except Exception as exc:
                raise NodeFailure(node_id, exc) from exc

    def _post_process(
        self, before_nodes: set[str], before_edges: set[tuple[str, str]], known: set[tuple[str, ...]]
    ) -> None:
        journal = self.built()
        section = self.spec.graph_section
        if section.recompress:
            recompress(self, only={n for n in journal.graph.final_nodes() if n not in before_nodes})
        new_nodes = {n for n, _ in journal.graph.nodes() if n not in before_nodes}
        if section.rename:
            rename_finals(journal, only=new_nodes, keep_duplicates=True)
        for node_id, data in journal.graph.nodes():
            if node_id in new_nodes and self.username:
                data["username"] = self.username
        for start, end, data in journal.graph.edges():
            if (start, end) in before_edges:
                continue
            if self.username:
                data["username"] = self.username
            if self.organization:
                data["organization"] = self.organization
        journal.graph.label_nodes()
        journal.graph.touch()
        specs = journal.graph.attributes.setdefault("specifications", [])
        if isinstance(specs, list):
            specs.append(
                {
                    "filename": Path(self.project.filename).name if self.project.filename else None,
                    "name": self.project.name,
                    "description": section.projectdescription or "",
                    "technicalsummary": section.technicalsummary or "",
                    "username": self.username or "",
                    "organization": self.organization or "",
                    "attachments": list(self.attachments),
                }
            )
        # existing nodes stay as they were: only the finals this extension made get a path analysis
        set_path_analysis(journal.graph, journal.catalogue, only=new_nodes)
        journal.save()
        write_overview(journal)
        if self.ctx.skip_validation:
            return
        errors = error_findings(f for f in validate_journal(journal) if finding_key(f) not in known)
        if errors and self.passed_through:
            log.warning(
                "journal %s: %d new validation error(s) after pass-through, kept", self.name, len(errors)
            )
        elif errors:
            raise validation_error(errors, file=journal.directory)

    def _failed(self, failure: NodeFailure) -> ExtensionResult:
        at = f" at journal node {self.current!r}" if self.current else ""
        message = describe_failure(self, failure, f"journal {self.name}{at}")
        return ExtensionResult(
            "failed", self.name or "", attachments=list(self.attachments), error=message, node=failure.node
        )
