"""Catalogue file sanity, variant merging, lookup, deprecation and argument checks."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import pytest

from masksmith.errors import OperationError
from masksmith.operations import (
    ANALYSIS_OPERATIONS,
    COMPARE_FUNCTIONS,
    CONVERT_FUNCTIONS,
    DONOR_PROCESSORS,
    MASK_TRANSFORMS,
    CatalogueWarning,
    OperationSpec,
    ParamType,
    build_catalogue,
    builtin_catalogue_path,
    default_catalogue,
    load_catalogue,
)
from masksmith.operations.schema import VIDEO_COMPARE_FUNCTIONS, check_complete

RAW = json.loads(builtin_catalogue_path().read_text(encoding="utf-8"))
ENTRIES = RAW["operations"]

REQUIRED_OPS = [
    "OutputPng", "OutputPng::BitDepth", "OutputCopy", "OutputTif", "OutputJpg", "OutputBmp",
    "AntiForensicExifQuantizationTable", "AntiForensicCopyExif", "AntiForensicJPGCompression", "Blur",
    "Sharpening", "AddNoise", "MotionBlur", "FilterConvolutionKernel", "Normalization", "Contrast",
    "ColorBalance", "Hue", "Saturation", "TransformCrop", "TransformResize", "TransformRotate",
    "TransformFlip", "TransformAffine", "TransformWarp", "TransformSeamCarving", "TransformCropResize",
    "TransformDownSample",
    "TransformShear", "TransformSkew", "TransformScale", "PasteSplice", "PasteSampled", "PasteOverlay",
    "CopyPaste", "ContentAwareFill", "SelectRegion", "SelectRemove", "Blend", "LayerFill", "AnonymiseRegion",
    "OverlayFaceMask", "Donor",
]  # fmt: skip


def _entry_id(entry: Mapping[str, Any]) -> str:
    return str(entry["name"])


# --- the shipped file ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, ids=_entry_id)
def test_every_entry_validates(entry: dict[str, Any]) -> None:
    spec = OperationSpec.model_validate(entry)
    assert not spec.model_extra, f"unknown keys {spec.model_extra}"
    for param in [*spec.mandatoryparameters.values(), *spec.optionalparameters.values()]:
        ParamType.parse(param.type)
    if not spec.is_variant:
        assert check_complete(spec) == []
        assert len(spec.description or "") > 15


@pytest.mark.parametrize("entry", ENTRIES, ids=_entry_id)
def test_entry_uses_only_named_functions(entry: dict[str, Any]) -> None:
    compare = entry.get("compareparameters", {})
    assert compare.get("function", "convert") in COMPARE_FUNCTIONS
    assert compare.get("convert_function", "extract_alpha") in CONVERT_FUNCTIONS
    assert compare.get("video_function", "detect") in VIDEO_COMPARE_FUNCTIONS
    assert set(entry.get("maskTransformFunction", {}).values()) <= MASK_TRANSFORMS
    assert set(entry.get("analysisOperations", [])) <= ANALYSIS_OPERATIONS
    assert entry.get("donor_processor", "image_interpolate") in DONOR_PROCESSORS


def test_builtin_loads_without_warnings_and_has_required_ops() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        catalogue = load_catalogue(entry_points=False)
    missing = [name for name in REQUIRED_OPS if name not in catalogue]
    assert missing == []
    assert 45 <= len(catalogue) <= 160
    assert len({e["name"] for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize(
    ("name", "category", "include_image", "include_video", "transform", "compare"),
    [
        ("OutputPng", "Output", False, False, "output", "convert"),
        ("Blur", "Filter", False, True, "copy", None),
        ("PasteSplice", "Paste", True, True, "paste_splice", None),
        ("TransformCrop", "Transform", False, False, "crop", "crop"),
        ("TransformSeamCarving", "Transform", True, True, "seam", "seam"),
        ("AnonymiseRegion", "Filter", True, True, "copy", None),
        ("OverlayFaceMask", "CGI", True, True, "copy", None),
        ("Donor", "Donor", False, False, "donor", None),
    ],
)
def test_operation_helpers(
    name: str, category: str, include_image: bool, include_video: bool, transform: str, compare: str | None
) -> None:
    op = default_catalogue().get(name)
    assert op.category == category
    assert op.include_in_mask("image") is include_image
    assert op.include_in_mask("video") is include_video
    assert op.mask_transform("image") == transform
    assert op.compare_function("image") == compare


def test_rule_names_split_donor_prefix() -> None:
    op = default_catalogue().get("PasteSplice")
    assert "donor:check_for_donor_with_region" in op.rules
    assert "check_for_donor_with_region" in op.rule_names(full=True)
    assert "check_for_donor_with_region" not in op.rule_names(full=False)
    assert set(op.rule_names(full=False)) < set(op.rule_names(full=True))


def test_select_region_convert_function_and_tolerance() -> None:
    catalogue = default_catalogue()
    assert catalogue.get("SelectRegion").convert_function == "extract_alpha"
    assert catalogue.get("PasteSampled").compare_arguments == {"tolerance": 0.0001}


def test_categories_and_names() -> None:
    catalogue = default_catalogue()
    assert "Paste" in catalogue.categories()
    assert all(op.category == "Filter" for op in catalogue.by_category("Filter"))
    assert "OutputPng::BitDepth" not in catalogue.names()
    assert "OutputPng::BitDepth" in catalogue.names(include_variants=True)
    assert "TransformShear" not in catalogue.names(include_deprecated=False)
    assert catalogue.names() == sorted(catalogue.names())


# --- variants and lookup ------------------------------------------------------------------------
def _base(name: str = "Thing", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "category": "Filter",
        "description": "a test operation",
        "mandatoryparameters": {"a": {"type": "int[0:10]"}},
        "optionalparameters": {"b": {"type": "yesno"}},
        "compareparameters": {"tolerance": 0.1},
        "includeInMask": {"default": False, "video": True},
        "maskTransformFunction": {"image": "crop"},
        "rules": ["check_size"],
        "transitions": ["image.image"],
    }
    entry.update(fields)
    return entry


def test_variant_updates_dict_keys_and_inherits_the_rest() -> None:
    variant = {
        "name": "Thing::Fast",
        "mandatoryparameters": {"speed": {"type": "list", "values": ["1", "2"]}},
        "includeInMask": {"default": True},
        "rules": ["check_empty"],
    }
    catalogue = build_catalogue([("t", {"operations": [_base(), variant]})])
    op = catalogue.get("Thing::Fast")
    assert set(op.mandatory) == {"a", "speed"}
    assert set(op.optional) == {"b"}
    assert op.include_in_mask("image") is True
    assert op.include_in_mask("video") is True  # inherited key
    assert op.rules == ("check_empty",)  # lists are replaced
    assert op.compare_parameters == {"tolerance": 0.1}
    assert op.category == "Filter"
    assert catalogue.get("Thing").rules == ("check_size",)  # parent untouched


def test_variant_declared_in_later_catalogue_and_before_parent_replacement() -> None:
    first = {"operations": [_base(), {"name": "Thing::V", "optionalparameters": {"c": {"type": "text"}}}]}
    second = {"operations": [_base(description="replaced parent"), {"name": "Thing::V", "rules": []}]}
    with pytest.warns(CatalogueWarning, match="replaces"):
        catalogue = build_catalogue([("one", first), ("two", second)])
    op = catalogue.get("Thing::V")
    assert op.description == "replaced parent"
    assert set(op.optional) == {"b", "c"}
    assert op.rules == ()


@pytest.mark.parametrize(("lookup", "expected"), [("OutputPng::Missing", "OutputPng"), ("Blur::Any", "Blur")])
def test_missing_variant_falls_back_to_parent(lookup: str, expected: str) -> None:
    catalogue = default_catalogue()
    assert catalogue.get(lookup).name == expected
    assert lookup in catalogue


@pytest.mark.parametrize("name", ["NoSuchOp", "NoSuchOp::Variant", "blur"])
def test_unknown_operation(name: str) -> None:
    catalogue = default_catalogue()
    assert catalogue.find(name) is None
    assert name not in catalogue
    with pytest.raises(OperationError, match=name):
        catalogue.get(name)


def test_variant_without_parent_is_an_error() -> None:
    with pytest.raises(OperationError, match=r"Ghost::V.*no parent"):
        build_catalogue([("t", {"operations": [{"name": "Ghost::V"}]})])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"category": "Nonsense"}, "category"),
        ({"transitions": ["image-image"]}, "transition"),
        ({"transitions": ["image.hologram"]}, "transition"),
        ({"includeInMask": {"video": True}}, "default"),
        ({"mandatoryparameters": {"a": {"type": "int[5:1]"}}}, "lo > hi"),
        ({"mandatoryparameters": {"a": {"type": "colour"}}}, "unknown parameter type"),
        ({"mandatoryparameters": {"a": {"type": "list"}}}, "values"),
        ({"optionalparameters": {"b": {"type": "yesno", "rule": {"zz": ["1"]}}}}, "unknown parameter 'zz'"),
        ({"rules": ["bad rule"]}, "rule name"),
        ({"description": ""}, "description"),
    ],
)
def test_bad_entries_are_rejected_naming_the_operation(change: dict[str, Any], message: str) -> None:
    with pytest.raises(OperationError, match=message) as info:
        build_catalogue([("cat.json", {"operations": [_base(**change)]})])
    assert "Thing" in str(info.value)
    assert "cat.json" in str(info.value)


def test_extra_categories_can_be_declared() -> None:
    data = {"categories": ["Privacy"], "operations": [_base(category="Privacy")]}
    catalogue = build_catalogue([("t", data)])
    assert catalogue.categories() == ["Privacy"]


# --- deprecation and arguments -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["TransformShear", "TransformMove"])
def test_deprecated_operations_load_but_refuse_new_edges(name: str) -> None:
    catalogue = default_catalogue()
    op = catalogue.get(name)
    assert op.deprecated
    args = {"inputmaskname": "m.png"}
    assert op.validate_arguments(args) == args
    with pytest.raises(OperationError, match=f"{name}.*deprecated"):
        catalogue.check_new_edge(name, args)
    with pytest.raises(OperationError, match="deprecated"):
        op.validate_arguments(args, new_edge=True)


PASTE_OK = {
    "donor rotated": "no",
    "donor resized": True,
    "donor cropped": "False",
    "donor flipped": "no",
    "purpose": "add",
    "subject": "face",
}


@pytest.mark.parametrize(
    ("op", "arguments", "missing"),
    [
        ("PasteSplice", {k: v for k, v in PASTE_OK.items() if k != "subject"}, "subject"),
        ("TransformRotate", {"local": "no"}, "rotation"),
        ("Blur", {"Laundering": "no"}, "Blur Type"),
        ("OverlayFaceMask", {"pattern": "plain"}, "mask_type"),
        ("PasteSplice", {**PASTE_OK, "purpose": "blend"}, "mode"),
        ("PasteSampled", {"purpose": "clone"}, "inputmaskname"),
        ("PasteSampled", {"purpose": "stacking", "inputmaskname": "m.png"}, "Blend Mode"),
        ("AnonymiseRegion", {"detector": "manual", "draw mode": "blur"}, "inputmaskname"),
        ("TransformRotate", {"rotation": "", "local": "no"}, "rotation"),
    ],
)
def test_missing_mandatory_argument_names_op_and_argument(
    op: str, arguments: dict[str, Any], missing: str
) -> None:
    with pytest.raises(OperationError) as info:
        default_catalogue().check_new_edge(op, arguments)
    assert info.value.argument == missing
    assert f"argument {missing!r}" in str(info.value)
    assert op in str(info.value)


@pytest.mark.parametrize(
    ("op", "arguments"),
    [
        ("PasteSampled", {"purpose": "remove"}),
        ("PasteSplice", {**PASTE_OK, "purpose": "blend", "mode": "Multiply"}),
        ("AnonymiseRegion", {"detector": "centerface", "draw mode": "pixelate"}),
        ("Blur", {"Blur Type": "Gaussian", "Laundering": "no"}),  # 'Start Time' is video-only
        ("TransformCrop", {}),
    ],
)
def test_complete_arguments_pass(op: str, arguments: dict[str, Any]) -> None:
    assert set(default_catalogue().check_new_edge(op, arguments)) == set(arguments)


def test_video_only_parameters_are_required_for_video() -> None:
    catalogue = default_catalogue()
    args = {"Blur Type": "Gaussian", "Laundering": "no"}
    with pytest.raises(OperationError, match="Start Time"):
        catalogue.check_new_edge("Blur", args, media_type="video")
    assert (
        catalogue.check_new_edge("Blur", {**args, "Start Time": "12"}, media_type="video")["Start Time"] == 12
    )


def test_source_specific_list_values() -> None:
    op = default_catalogue().get("PasteSampled")
    args = {"purpose": "clone", "inputmaskname": "m.png"}
    assert op.validate_arguments(args)["purpose"] == "clone"
    with pytest.raises(OperationError, match="purpose"):
        op.validate_arguments({"purpose": "clone", "Start Time": 1}, media_type="video")


def test_normalisation_and_passthrough() -> None:
    op = default_catalogue().get("PasteSplice")
    result = op.check_new_edge({**PASTE_OK, "extra": [1, 2]})
    assert result["donor resized"] == "yes"
    assert result["donor cropped"] == "no"
    assert result["extra"] == [1, 2]


def test_use_defaults_fills_missing_parameters() -> None:
    op = default_catalogue().get("OverlayFaceMask")
    result = op.check_new_edge({"mask_type": "n95"}, use_defaults=True)
    assert result["pattern"] == "plain"
    with pytest.raises(OperationError, match="pattern"):
        op.check_new_edge({"mask_type": "n95"})


def test_file_existence_is_checked_through_a_predicate() -> None:
    op = default_catalogue().get("Blur")
    args = {"Blur Type": "Gaussian", "Laundering": "no", "inputmaskname": "there.png"}
    assert op.check_new_edge(args, file_exists=lambda p: p == "there.png")["inputmaskname"] == "there.png"
    with pytest.raises(OperationError, match="inputmaskname"):
        op.check_new_edge({**args, "inputmaskname": "gone.png"}, file_exists=lambda p: p == "there.png")


def test_argument_problems_collects_every_problem() -> None:
    op = default_catalogue().get("TransformRotate")
    _, problems = op.argument_problems({"rotation": 999, "local": "maybe"})
    assert sorted(p.argument or "" for p in problems) == ["local", "rotation"]
