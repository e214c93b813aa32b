"""Start a project's journal: claim a free project name, create ``.<name>.partial-<pid>`` with the base."""

from __future__ import annotations

import datetime as _dt
import shutil
from pathlib import Path

from masksmith.batch.inflight import PARTIAL_MARK, partial_dir_name, partial_owner_dead, write_owner
from masksmith.batch.outcome import NodeFailure
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.spec import BaseSelection
from masksmith.errors import JournalError, SpecError
from masksmith.journal.project import Journal

__all__ = ["claim_project_name", "start_journal"]


def claim_project_name(run: ProjectRun, base: str) -> str:
    """A project name no finished, failed or live partial project has, claimed for this run.

    The base file's stem, else (taken, or the base node asks for ``timestamp_name``) a timestamped one.
    """
    node = run.spec.node(run.spec.base_node())
    stem = Path(base).name.split(".", 1)[0] or "project"
    candidates = [stem] if not getattr(node, "timestamp_name", False) else []
    claims = run.ctx.claims
    projects = run.ctx.projects
    for _ in range(20):
        name = candidates.pop(0) if candidates else f"{stem}_{_dt.datetime.now():%Y%m%d-%H%M%S-%f}"
        if (projects / name).exists() or (projects / f"{name}.failed").exists():
            continue
        if claims.claim(name):
            run.claimed_name = name
            # another run (its own workdir, so its own claims) may build this name right now: a
            # partial folder is removed only when its owner is provably dead, else the name is taken
            live = False
            for stale in projects.glob(f".{name}{PARTIAL_MARK}*"):
                if partial_owner_dead(stale):
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    live = True
            if live:
                claims.release(name)
                run.claimed_name = None
                continue
            return name
    raise JournalError(f"no free project name for base {stem!r}", file=projects)


def start_journal(run: ProjectRun) -> None:
    """Create the journal from the base selection's pick in the partial folder (owner file, scratch)."""
    base_id = run.spec.base_node()
    base_node = run.spec.node(base_id)
    if not isinstance(base_node, BaseSelection):
        raise NodeFailure(base_id, SpecError("creating projects needs a BaseSelection node", node=base_id))
    base_file = run.picks[base_id]
    run.name = claim_project_name(run, base_file)
    run.partial = partial = run.ctx.projects / partial_dir_name(run.name)
    section = run.spec.graph_section
    try:
        journal = Journal.create(
            base_file,
            partial,
            name=run.name,
            username=section.username,
            organization=section.organization or "",
            description=section.projectdescription or "",
            technical_summary=section.technicalsummary or "",
            creator_tool="masksmith batch",
        )
    except Exception as exc:
        raise NodeFailure(base_id, exc) from exc
    write_owner(partial)
    run.journal = journal
    journal.graph.attributes.update(section.project_properties())
    journal.graph.attributes["batch specification name"] = run.project.name
    if section.edgeFilePaths:
        file_paths = journal.graph.attributes.setdefault("edgeFilePaths", {})
        if isinstance(file_paths, dict):
            file_paths.update({p: "" for p in section.edgeFilePaths})
    base = journal.graph.base_node()
    journal.graph.node(base).update(base_node.arguments)
    run.local[base_id] = {"node": base, "output": str(journal.path_of(base))}
    run.scratch.mkdir(exist_ok=True)
