"""Journal validation: graph, node and edge rules plus the catalogue's operation rules → findings.

``validate(journal)`` returns :class:`Finding` values (nothing is raised for a bad journal);
``apply_fixes(journal, findings)`` runs the fix functions the findings carry and says what changed.
Operation rules are looked up by the names in the catalogue, through the rule registry, so rules
from other packages (entry point group ``masksmith.rules``) run like built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from masksmith.errors import MasksmithError
from masksmith.journal import rules_edge, rules_graph, rules_operation, rules_video  # noqa: F401 - registers rules
from masksmith.journal.model import DONOR_OP
from masksmith.journal.rules_base import (
    EDGE_RULES,
    GRAPH_RULES,
    NODE_RULES,
    Finding,
    FixFunction,
    RuleInfo,
    Severity,
    findings_from,
    inspect,
    outcome_to_finding,
)
from masksmith.operations import Operation, split_rule_name
from masksmith.operations.rules import RuleRegistry
from masksmith.operations.rules import registry as default_registry

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

__all__ = [
    "Finding",
    "FixFunction",
    "RuleInfo",
    "Severity",
    "apply_fixes",
    "builtin_rules",
    "has_errors",
    "operation_rule_names",
    "validate",
]

ExternalRule = Callable[..., Any] | str


def builtin_rules() -> list[RuleInfo]:
    """Graph, node and edge rules that always run (operation rules come from the catalogue)."""
    return [*GRAPH_RULES, *NODE_RULES, *EDGE_RULES]


def operation_rule_names(journal_or_catalogue: Any = None) -> list[str]:
    """Every rule name the catalogue uses (with ``donor:`` prefixes), sorted."""
    from masksmith.operations import default_catalogue

    catalogue = getattr(journal_or_catalogue, "catalogue", journal_or_catalogue) or default_catalogue()
    return sorted({name for op in catalogue for name in op.rules})


def _run(
    function: Callable[..., Any], args: tuple[Any, ...], *, rule: str, start: str | None, end: str | None
) -> list[Finding]:
    """Run one rule; a rule that crashes becomes an ERROR finding, not a crashed validation."""
    try:
        outcome = function(*args)
        if outcome is None or isinstance(outcome, (str, tuple, Finding)):
            finding = outcome_to_finding(outcome, rule=rule, start=start, end=end)
            return [finding] if finding else []
        return findings_from(outcome, rule=rule, start=start, end=end)
    except (MasksmithError, OSError, ValueError, TypeError, KeyError) as exc:
        return [Finding(Severity.ERROR, start, end, f"rule {rule} failed: {type(exc).__name__}: {exc}", rule)]


def _external(rules: Iterable[ExternalRule], registry: RuleRegistry) -> list[tuple[str, Callable[..., Any]]]:
    out = []
    for item in rules:
        if isinstance(item, str):
            out.append((split_rule_name(item)[0], registry.get(item)))
        else:
            out.append((getattr(item, "__name__", repr(item)), item))
    return out


def validate(
    journal: Journal,
    *,
    full: bool = True,
    external_rules: Iterable[ExternalRule] = (),
    registry: RuleRegistry | None = None,
) -> list[Finding]:
    """Validate a journal: graph rules, node rules, then per edge the edge rules and the operation's rules.

    ``full=False`` (as when a link is being created) leaves out the catalogue's ``donor:`` rules.
    ``external_rules`` are extra edge rules (functions or registered names) run on every link.
    """
    rules = registry or default_registry
    extra = _external(external_rules, rules)
    inspect(journal).clear()
    findings: list[Finding] = []
    for info in GRAPH_RULES:
        findings += _run(info.function, (journal,), rule=info.name, start=None, end=None)
    for node, _ in journal.graph.nodes():
        for info in NODE_RULES:
            findings += _run(info.function, (journal, node), rule=info.name, start=node, end=None)
    for start, end, data in list(journal.graph.edges()):
        op_name = str(data.get("op", ""))
        operation: Operation | None = journal.catalogue.find(op_name)
        for info in EDGE_RULES:
            findings += _run(
                info.function, (operation, journal, start, end), rule=info.name, start=start, end=end
            )
        if operation is not None and op_name != DONOR_OP:
            for name in operation.rule_names(full=full):
                function = rules.find(name)
                if function is None:
                    findings.append(
                        Finding(Severity.WARNING, start, end, f"rule {name!r} is not installed", name)
                    )
                    continue
                findings += _run(function, (operation, journal, start, end), rule=name, start=start, end=end)
        for name, function in extra:
            findings += _run(function, (operation, journal, start, end), rule=name, start=start, end=end)
    return findings


def has_errors(findings: Sequence[Finding]) -> bool:
    """True when any finding is an ERROR or CRITICAL."""
    return any(f.severity >= Severity.ERROR for f in findings)


def apply_fixes(journal: Journal, findings: Iterable[Finding], *, save: bool = True) -> list[str]:
    """Run each finding's fix once (per rule and place) and return what changed; saves the journal.

    A fix that fails is reported in the list (``could not fix …``) and the others still run.
    """
    done: set[tuple[str, str | None, str | None]] = set()
    changes: list[str] = []
    for finding in findings:
        if finding.fix is None:
            continue
        key = (finding.rule, finding.start, finding.end)
        if key in done:
            continue
        done.add(key)
        try:
            changes.append(finding.fix(journal, finding.start, finding.end))
        except (MasksmithError, OSError, ValueError, KeyError) as exc:
            changes.append(f"could not fix {finding.rule} at {finding.where or 'journal'}: {exc}")
    if changes:
        inspect(journal).clear()
        if save:
            journal.save()
    return changes
