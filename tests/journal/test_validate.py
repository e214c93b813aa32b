"""The validation API: outcomes, full vs quick runs, external and entry-point rules, fixes that repair."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from masksmith.journal.rules_base import Finding, Severity, outcome_to_finding
from masksmith.journal.validate import apply_fixes, has_errors, validate
from masksmith.media import io as media_io
from masksmith.operations.rules import RuleRegistry
from tests.journal.journal_builders import blur_then_output, one_edge
from tests.synthetic import textured


def _fix(journal, start, end) -> str:
    return "did it"


@pytest.mark.parametrize(
    ("outcome", "severity", "message", "has_fix"),
    [
        ("plain text", Severity.ERROR, "plain text", False),
        ((Severity.WARNING, "careful"), Severity.WARNING, "careful", False),
        ((Severity.INFO, "note", _fix), Severity.INFO, "note", True),
        (("warning", "by name"), Severity.WARNING, "by name", False),
        ((4, "by number"), Severity.CRITICAL, "by number", False),
    ],
)
def test_outcomes_normalise(outcome, severity, message, has_fix) -> None:
    finding = outcome_to_finding(outcome, rule="r", start="a", end="b")
    assert finding is not None
    assert (finding.severity, finding.message, finding.fix is not None) == (severity, message, has_fix)
    assert finding.where == "a->b"


def test_none_passes_and_junk_is_refused() -> None:
    assert outcome_to_finding(None, rule="r", start=None, end=None) is None
    with pytest.raises(TypeError, match="r"):
        outcome_to_finding(42, rule="r", start=None, end=None)


def test_has_errors_only_for_error_and_critical() -> None:
    def make(s: Severity) -> Finding:
        return Finding(s, None, None, "m", "r")

    assert not has_errors([make(Severity.INFO), make(Severity.WARNING)])
    assert has_errors([make(Severity.ERROR)])
    assert has_errors([make(Severity.CRITICAL)])


def _paste_without_donor(tmp: Path, rng: np.random.Generator):
    donor = np.zeros((30, 40, 4), np.uint8)
    donor[5:25, 5:35] = 255

    def paste(base):
        out = base.copy()
        out[10:30, 25:55] = 255
        return out

    built = one_edge(
        tmp,
        rng,
        "PasteSplice",
        paste,
        arguments={
            "donor rotated": "no",
            "donor resized": "no",
            "donor cropped": "no",
            "donor flipped": "no",
            "purpose": "add",
            "subject": "other",
            "paste_x": 20,
            "paste_y": 5,
        },
        donor=donor,
    )
    donor_id = built.journal.graph.donors_of(built.end)[0]
    built.journal.graph.graph.remove_edge(donor_id, built.end)
    return built


def test_donor_rules_run_only_in_full_validation(tmp_path: Path, rng: np.random.Generator) -> None:
    built = _paste_without_donor(tmp_path, rng)
    full = {f.rule for f in validate(built.journal)}
    quick = {f.rule for f in validate(built.journal, full=False)}
    assert "check_for_donor_with_region" in full
    assert "check_for_donor_with_region" not in quick


def test_external_rules_by_function_and_by_name(tmp_path: Path, rng: np.random.Generator) -> None:
    built = blur_then_output(tmp_path, rng)
    seen: list[tuple[str, str]] = []

    def no_blur(operation, journal, start, end):
        seen.append((start, end))
        if operation is not None and operation.name == "Blur":
            return (Severity.WARNING, "blur is not allowed here")
        return None

    registry = RuleRegistry(group="masksmith.tests.none")
    registry.register("no_blur", no_blur)
    by_function = [f for f in validate(built.journal, external_rules=[no_blur]) if f.rule == "no_blur"]
    by_name = [
        f
        for f in validate(built.journal, external_rules=["no_blur"], registry=registry)
        if f.rule == "no_blur"
    ]
    assert len(by_function) == len(by_name) == 1
    assert (by_function[0].start, by_function[0].end) == (built.start, built.end)
    assert len(seen) == 4  # two links, two runs


def test_entry_point_rules_are_found_through_the_registry(monkeypatch, tmp_path: Path, rng) -> None:
    from importlib import metadata

    from masksmith.operations import rules as rules_module

    ep = metadata.EntryPoint(
        name="third_party_rule", value="tests.journal.third_party_rules:always_info", group="masksmith.rules"
    )
    registry = RuleRegistry()
    monkeypatch.setattr(
        rules_module.metadata, "entry_points", lambda group: [ep] if group == "masksmith.rules" else []
    )
    built = blur_then_output(tmp_path, rng)
    found = [f for f in validate(built.journal, external_rules=["third_party_rule"], registry=registry)]
    assert any(f.rule == "third_party_rule" and f.severity is Severity.INFO for f in found)


def test_a_crashing_rule_becomes_an_error_finding(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)

    def broken(operation, journal, start, end):
        raise ValueError("boom")

    found = [f for f in validate(built.journal, external_rules=[broken]) if f.rule == "broken"]
    assert found and all(f.severity is Severity.ERROR and "boom" in f.message for f in found)


def test_regenerated_mask_equals_the_recorded_one(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)
    original = media_io.read_image(built.mask_path()).pixels
    built.mask_path().unlink()
    changes = apply_fixes(built.journal, validate(built.journal))
    assert any("regenerated" in c for c in changes)
    assert np.array_equal(media_io.read_image(built.mask_path()).pixels, original)


def test_md5_fix_names_the_final_by_its_content(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)
    built.journal.graph.attributes["rename"] = "yes"
    final = built.journal.graph.final_nodes()[0]
    digest = hashlib.md5(built.journal.path_of(final).read_bytes()).hexdigest()
    changes = apply_fixes(built.journal, validate(built.journal))
    assert built.journal.graph.node(final)["file"] == f"{digest}.png"
    assert built.journal.path_of(final).is_file()
    assert any(digest in c for c in changes)
    reopened = type(built.journal).open(built.journal.directory)
    assert reopened.graph.node(final)["file"] == f"{digest}.png"


def test_input_mask_fix_resizes_to_the_source(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)
    media_io.write_image(built.journal.directory / "im.png", np.full((10, 12), 255, np.uint8))
    built.edge["inputmaskname"] = "im.png"
    apply_fixes(built.journal, validate(built.journal))
    pixels = media_io.read_image(built.journal.directory / "im.png").pixels
    assert pixels.shape[:2] == built.journal.pixels(built.start).shape[:2]


def test_fixes_that_fail_are_reported(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)

    def bad_fix(journal, start, end):
        raise OSError("disk full")

    finding = Finding(Severity.ERROR, None, None, "m", "r", bad_fix)
    assert apply_fixes(built.journal, [finding]) == ["could not fix r at journal: disk full"]


def test_unknown_operation_leaves_other_media_checks_running(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)
    built.edge["op"] = "Mystery"
    media_io.write_image(built.journal.path_of(built.end), textured(rng, 10, 10))
    rules = {f.rule for f in validate(built.journal)}
    assert "edge_unknown_operation" in rules
    assert "edge_shape_change" in rules
