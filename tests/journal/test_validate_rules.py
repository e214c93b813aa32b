"""Every validation rule: a journal that clears it, and a change that triggers it (and, where offered, its fix)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from masksmith.journal.rules_base import Severity
from masksmith.journal.validate import apply_fixes, builtin_rules, operation_rule_names, validate
from masksmith.media import io as media_io
from masksmith.operations import load_catalogue
from tests.journal.journal_builders import (
    COLS,
    ROWS,
    Built,
    blur_then_output,
    blurred,
    local_box,
    one_edge,
)
from tests.synthetic import textured

PASTE_ARGS = {
    "donor rotated": "no",
    "donor resized": "no",
    "donor cropped": "no",
    "donor flipped": "no",
    "purpose": "add",
    "subject": "natural object",
    "paste_x": 20,
    "paste_y": 10,
}


# --- builders (each validates without findings for its rule) ----------------------------------------


def _blur(tmp: Path, rng: np.random.Generator) -> Built:
    return blur_then_output(tmp, rng)


def _noise(tmp: Path, rng: np.random.Generator) -> Built:
    def add_noise(base: np.ndarray) -> np.ndarray:
        out = base.copy()
        out[local_box(base.shape)] ^= 0x5A
        return out

    return one_edge(tmp, rng, "AddNoise", add_noise, arguments={"Noise Type": "uniform"})


def _crop(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(tmp, rng, "TransformCrop", lambda b: b[8:56, 16:80].copy())


def _resize(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(
        tmp,
        rng,
        "TransformResize",
        lambda b: cv2.resize(b, (COLS // 2, ROWS // 2), interpolation=cv2.INTER_LINEAR),
        arguments={"interpolation": "bilinear"},
    )


def _rotate(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(
        tmp,
        rng,
        "TransformRotate",
        lambda b: np.ascontiguousarray(np.rot90(b)),
        arguments={"rotation": 90, "local": "no"},
    )


def _donor_image(rng: np.random.Generator) -> np.ndarray:
    donor = np.zeros((30, 40, 4), np.uint8)
    donor[:, :, :3] = textured(rng, 30, 40)
    cv2.circle(donor, (20, 15), 12, (0, 0, 0, 255), -1)
    donor[:, :, :3] = textured(rng, 30, 40)
    return donor


def _paste(tmp: Path, rng: np.random.Generator) -> Built:
    donor = _donor_image(rng)

    def paste(base: np.ndarray) -> np.ndarray:
        out = base.copy()
        alpha = donor[:, :, 3] > 0
        out[10:40, 20:60][alpha] = donor[:, :, :3][alpha]
        return out

    return one_edge(tmp, rng, "PasteSplice", paste, arguments=PASTE_ARGS, donor=donor)


def _with_input_mask(op: str, arguments: dict[str, object]) -> Callable[[Path, np.random.Generator], Built]:
    def build(tmp: Path, rng: np.random.Generator) -> Built:
        selected = local_box((ROWS, COLS)).astype(np.uint8) * 255
        return one_edge(
            tmp, rng, op, blurred, arguments=arguments, input_mask=selected, check_arguments=False
        )

    return build


def _output(op: str, suffix: str) -> Callable[[Path, np.random.Generator], Built]:
    def build(tmp: Path, rng: np.random.Generator) -> Built:
        args = {"Image Rotated": "no"} if op in ("OutputPng", "OutputTif") else {}
        return one_edge(tmp, rng, op, lambda b: b.copy(), arguments=args, target_suffix=suffix)

    return build


def _exif_table(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(
        tmp,
        rng,
        "AntiForensicExifQuantizationTable",
        lambda b: b.copy(),
        arguments={"rotate": "no"},
        base_suffix=".jpg",
        target_suffix=".jpg",
        donor=textured(rng, ROWS, COLS),
        donor_suffix=".jpg",
    )


def _copy_exif(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(
        tmp,
        rng,
        "AntiForensicCopyExif",
        lambda b: b.copy(),
        base_suffix=".jpg",
        target_suffix=".jpg",
        donor=textured(rng, ROWS, COLS),
        donor_suffix=".jpg",
    )


def _edit_exif(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(tmp, rng, "AntiForensicEditExif", lambda b: b.copy())


def _seam(tmp: Path, rng: np.random.Generator) -> Built:
    return one_edge(
        tmp,
        rng,
        "TransformSeamCarving",
        lambda b: b[:, :70].copy(),
        arguments={"inputmasktype": "remove", "apply mask": "no"},
    )


# --- triggers -------------------------------------------------------------------------------------


def _write(path: Path, pixels: np.ndarray, **options: object) -> None:
    media_io.write_image(path, pixels, **options)  # type: ignore[arg-type]


def _final(b: Built) -> str:
    return b.journal.graph.final_nodes()[0]


def _set_edge(**values: object) -> Callable[[Built], None]:
    def trigger(b: Built) -> None:
        b.edge.update(values)

    return trigger


def _drop_edge_key(key: str) -> Callable[[Built], None]:
    def trigger(b: Built) -> None:
        b.edge.pop(key, None)

    return trigger


def _second_base(b: Built) -> None:
    b.journal.graph.add_media("other", "base.png", nodetype="base")
    b.journal.graph.graph.add_edge("other", b.end, op="Donor", maskname=b.edge["maskname"])


def _cycle(b: Built) -> None:
    b.journal.graph.graph.add_edge(_final(b), b.start, **dict(b.edge))


def _isolated(b: Built) -> None:
    b.journal.graph.add_media("lonely", "base.png", nodetype="donor")


def _unconnected(b: Built) -> None:
    g = b.journal.graph
    g.add_media("x1", "base.png", nodetype="donor")
    g.add_media("x2", "target.png", nodetype="final")
    g.graph.add_edge("x1", "x2", **dict(b.edge))


def _donor_only(b: Built) -> None:
    g = b.journal.graph
    g.add_media("made_by_donor", "target.png", nodetype="final")
    g.graph.add_edge(b.start, "made_by_donor", op="Donor", maskname=b.edge["maskname"])


def _duplicate_final(b: Built) -> None:
    g = b.journal.graph
    final = _final(b)
    g.add_media("twin", str(g.node(final)["file"]), nodetype="final")
    g.graph.add_edge(b.end, "twin", **dict(g.edge(b.end, final)))


def _node_attr(key: str, value: object, node: Callable[[Built], str] = _final) -> Callable[[Built], None]:
    def trigger(b: Built) -> None:
        data = b.journal.graph.node(node(b))
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value

    return trigger


def _delete_final_file(b: Built) -> None:
    b.path(_final(b)).unlink()


def _garble_final(b: Built) -> None:
    b.path(_final(b)).write_bytes(b"\x89PNG\r\n\x1a\nnot really")


def _rename_interim(new: str) -> Callable[[Built], None]:
    def trigger(b: Built) -> None:
        old = b.path(b.end)
        old.rename(old.with_name(new))
        b.journal.graph.node(b.end)["file"] = new

    return trigger


def _upper_final_suffix(b: Built) -> None:
    final = _final(b)
    old = b.path(final)
    old.rename(old.with_name("final.PNG"))
    b.journal.graph.node(final)["file"] = "final.PNG"


def _rename_on(b: Built) -> None:
    b.journal.graph.attributes["rename"] = "yes"


def _deprecate_blur(b: Built) -> None:
    entry = b.journal.catalogue.get("Blur").to_dict()
    entry["deprecated"] = True
    with pytest.warns(UserWarning):
        b.journal.catalogue = load_catalogue({"operations": [entry]}, entry_points=False)


def _delete_mask(b: Built) -> None:
    b.mask_path().unlink()


def _small_mask(b: Built) -> None:
    _write(b.mask_path(), np.full((10, 10), 255, np.uint8))


def _wrong_size_input_mask(b: Built) -> None:
    _write(b.journal.directory / "im.png", np.full((20, 20), 255, np.uint8))
    b.edge["inputmaskname"] = "im.png"


def _bad_argument(b: Built) -> None:
    b.edge["arguments"]["Blur Type"] = "Sideways"


def _drop_argument(b: Built) -> None:
    del b.edge["arguments"]["Blur Type"]


def _donor_into_blur(b: Built) -> None:
    g = b.journal.graph
    g.add_media("d", "base.png", nodetype="donor")
    g.graph.add_edge("d", b.end, op="Donor", maskname=b.edge["maskname"])


def _replace_target(pixels: Callable[[Built], np.ndarray], **options: object) -> Callable[[Built], None]:
    def trigger(b: Built) -> None:
        _write(b.path(b.end), pixels(b), **options)
        b.journal.forget_pixels()  # media replaced on disk

    return trigger


def _bigger(b: Built) -> np.ndarray:
    return textured(np.random.default_rng(1), ROWS + 8, COLS + 8)


def _gray(b: Built) -> np.ndarray:
    return cv2.cvtColor(b.journal.pixels(b.end)[:, :, :3], cv2.COLOR_RGB2GRAY)


def _same(b: Built) -> np.ndarray:
    return b.journal.pixels(b.end).copy()


def _turned(b: Built) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(b.journal.pixels(b.end)))


def _jpeg_base(b: Built) -> None:
    _write(b.path(b.start), b.journal.pixels(b.start), format="JPEG")


def _empty_mask(b: Built) -> None:
    _write(b.mask_path(), np.full((ROWS, COLS), 255, np.uint8))


def _change_inside_crop(b: Built) -> None:
    mask = np.full((ROWS, COLS), 255, np.uint8)
    mask[20:30, 30:40] = 0
    _write(b.mask_path(), mask)


def _remove_donor(b: Built) -> None:
    for donor in b.journal.graph.donors_of(b.end):
        b.journal.graph.graph.remove_edge(donor, b.end)


def _tiny_donor_mask(b: Built) -> None:
    donor = b.journal.graph.donors_of(b.end)[0]
    mask = np.full((30, 40), 255, np.uint8)
    mask[0:2, 0:2] = 0
    _write(b.mask_path(donor, b.end), mask)


def _unplaced_paste(b: Built) -> None:
    del b.edge["arguments"]["paste_x"]
    del b.edge["arguments"]["paste_y"]


def _opaque_donor(b: Built) -> None:
    donor = b.journal.graph.donors_of(b.end)[0]
    _write(b.path(donor), textured(np.random.default_rng(2), 30, 40))
    b.journal.forget_pixels()


def _png_donor(b: Built) -> None:
    donor = b.journal.graph.donors_of(b.end)[0]
    _write(b.path(donor), b.journal.pixels(donor), format="PNG")


def _exif_dates(value: str) -> Callable[[Built], None]:
    return _set_edge(exifdiff={"DateTimeOriginal": ["change", "2020:01:01 10:00:00", value]})


@dataclass(frozen=True)
class Case:
    rule: str
    build: Callable[[Path, np.random.Generator], Built]
    trigger: Callable[[Built], None]
    fixable: bool = False


CASES = [
    # graph
    Case("graph_version", _blur, lambda b: b.journal.graph.attributes.pop("igversion"), fixable=True),
    Case("graph_one_base", _blur, _second_base),
    Case("graph_cycle", _blur, _cycle),
    Case("graph_no_operations", _blur, lambda b: _remove_all_edges(b)),
    Case("graph_isolated_node", _blur, _isolated),
    Case("graph_unconnected", _blur, _unconnected),
    Case("graph_final_reachable", _blur, _unconnected),
    Case("graph_donor_only_predecessor", _blur, _donor_only),
    Case("graph_duplicate_final_files", _blur, _duplicate_final),
    Case("graph_project_type", _blur, lambda b: b.journal.graph.attributes.update(projecttype="video"), True),
    Case("graph_required_attributes", _blur, lambda b: b.journal.graph.attributes.update(username="")),
    # nodes
    Case("node_no_file", _blur, _node_attr("file", None)),
    Case("node_file_missing", _blur, _delete_final_file),
    Case("node_media_unreadable", _blur, _garble_final),
    Case("node_invalid_characters", _blur, _rename_interim("t(1).png"), fixable=True),
    Case("node_final_md5", _blur, _rename_on, fixable=True),
    Case("node_final_proxy", _blur, _node_attr("proxyfile", "proxy.png")),
    Case("paths_contained", _blur, _set_edge(maskname="../../outside_mask.png")),
    Case("referenced_file_missing", _blur, _node_attr("proxyfile", "proxy.png", node=lambda b: b.start)),
    Case("node_suffix_case", _blur, _upper_final_suffix, fixable=True),
    Case("node_type", _blur, _node_attr("nodetype", "final", node=lambda b: b.end), fixable=True),
    # edges
    Case("edge_unknown_operation", _blur, _set_edge(op="NoSuchOperation")),
    Case("edge_deprecated_operation", _blur, _deprecate_blur),
    Case("edge_mask_missing", _blur, _delete_mask, fixable=True),
    Case("edge_mask_size", _blur, _small_mask, fixable=True),
    Case("edge_input_mask_missing", _blur, _set_edge(inputmaskname="absent.png")),
    Case("edge_input_mask_size", _blur, _wrong_size_input_mask, fixable=True),
    Case("edge_mask_errors", _blur, _set_edge(errors=["comparison failed"])),
    Case("edge_mandatory_arguments", _blur, _drop_argument),
    Case("edge_argument_types", _blur, _bad_argument),
    Case("edge_software", _blur, _drop_edge_key("softwareName")),
    Case("edge_donor_link", _blur, _donor_into_blur),
    Case("edge_record_in_composite", _blur, _set_edge(recordMaskInComposite="maybe"), fixable=True),
    Case("edge_shape_change", _blur, _set_edge(**{"shape change": "(4, 4)"}), fixable=True),
    Case("edge_empty_mask_flag", _blur, _set_edge(**{"empty mask": "yes"}), fixable=True),
    # operation rules named by the catalogue
    Case("check_size", _blur, _replace_target(_bigger)),
    Case("check_file_type_change", _blur, _replace_target(_same, format="JPEG")),
    Case("check_same_channels", _blur, _replace_target(_gray)),
    Case("check_local_warn", _blur, _set_edge(recordMaskInComposite="no"), fixable=True),
    Case("check_uncompressed", _blur, _jpeg_base),
    Case("check_empty", _blur, _empty_mask),
    Case("check_local", _noise, _set_edge(recordMaskInComposite="no"), fixable=True),
    Case("check_crop_size", _crop, _replace_target(_bigger)),
    Case("check_crop_mask", _crop, _change_inside_crop),
    Case(
        "check_eight_bit",
        _crop,
        _replace_target(lambda b: textured(np.random.default_rng(3), 50, 70), format="JPEG"),
    ),
    Case(
        "check_resize_interpolation", _resize, lambda b: b.edge["arguments"].update(interpolation="nearest")
    ),
    Case(
        "check_homography",
        _rotate,
        _set_edge(
            **{"transform matrix": {"r": 3, "c": 3, "r0": [0, 0, 0], "r1": [0, 0, 0], "r2": [0, 0, 1]}}
        ),
    ),
    Case("check_sift", _paste, _unplaced_paste),
    Case("check_paste_mask", _paste, _tiny_donor_mask),
    Case("check_for_donor_with_region", _paste, _opaque_donor),
    Case(
        "sampled_input_mask",
        _with_input_mask("PasteSampled", {"purpose": "clone"}),
        _drop_edge_key("inputmaskname"),
    ),
    Case("check_move_mask", _with_input_mask("ContentAwareMove", {}), _drop_edge_key("inputmaskname")),
    Case("check_size_and_exif_png", _output("OutputPng", ".png"), _replace_target(_turned)),
    Case("check_output_type", _output("OutputPng", ".png"), _replace_target(_same, format="JPEG")),
    Case("check_size_and_exif", _output("OutputTif", ".tif"), _replace_target(_turned)),
    Case("rotation_check", _output("OutputTif", ".tif"), _replace_target(_turned)),
    Case("check_file_type_unchanged", _output("OutputCopy", ".png"), _replace_target(_same, format="JPEG")),
    Case("check_for_donor", _exif_table, _remove_donor),
    Case("check_file_type_change_for_donor", _copy_exif, _png_donor),
    Case("check_meta_date", _edit_exif, _exif_dates("1st of May")),
    Case("check_time_stamp", _edit_exif, _exif_dates("2021:05:01 12:00:00")),
    Case("seam_carving_check", _seam, _replace_target(lambda b: b.journal.pixels(b.start)[:60, :70].copy())),
]


def _remove_all_edges(b: Built) -> None:
    g = b.journal.graph.graph
    g.remove_edges_from(list(g.edges))


def _rules(findings: list, name: str) -> list:
    return [f for f in findings if f.rule == name]


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_rule_is_clear_on_a_good_journal(case: Case, tmp_path: Path, rng: np.random.Generator) -> None:
    built = case.build(tmp_path, rng)
    findings = validate(built.journal)
    assert _rules(findings, case.rule) == []
    if case.rule.startswith(("check_", "rotation_", "seam_", "sampled_")):  # the rule did run on this journal
        op = built.journal.catalogue.get(str(built.edge["op"]))
        assert case.rule in op.rule_names(full=True)


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_rule_triggers(case: Case, tmp_path: Path, rng: np.random.Generator) -> None:
    built = case.build(tmp_path, rng)
    case.trigger(built)
    found = _rules(validate(built.journal), case.rule)
    assert found, f"{case.rule} did not fire"
    assert all(isinstance(f.severity, Severity) and f.message for f in found)
    assert any(f.fix is not None for f in found) == case.fixable


@pytest.mark.parametrize("case", [c for c in CASES if c.fixable], ids=[c.rule for c in CASES if c.fixable])
def test_fix_clears_the_rule(case: Case, tmp_path: Path, rng: np.random.Generator) -> None:
    built = case.build(tmp_path, rng)
    case.trigger(built)
    findings = validate(built.journal)
    changes = apply_fixes(built.journal, _rules(findings, case.rule))
    assert changes and not any(c.startswith("could not fix") for c in changes)
    assert _rules(validate(built.journal), case.rule) == []


def test_every_rule_has_a_case() -> None:
    from tests.journal.test_video_rules import TESTED_RULES as VIDEO_RULES  # video/audio rules' cases

    names = {c.rule for c in CASES} | VIDEO_RULES
    builtin = {r.name for r in builtin_rules()}
    catalogue = {n.removeprefix("donor:") for n in operation_rule_names()}
    assert builtin | catalogue <= names
    assert len(builtin | catalogue) >= 30


def test_file_system_times_are_not_metadata_dates(tmp_path: Path, rng: np.random.Generator) -> None:
    built = _edit_exif(tmp_path, rng)
    built.edge["exifdiff"] = {"File Modification Date/Time": ["change", "a", "b"]}
    rules = {f.rule for f in validate(built.journal)}
    assert not rules & {"check_time_stamp", "check_meta_date"}
