"""Pydantic models of the catalogue file format, and the function names it may refer to.

An entry is checked twice: structurally as written (variants ``X::Y`` may be partial), and
complete after variants are merged onto their parents (category known, description present,
``includeInMask`` has ``default``, transitions well formed).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from masksmith.errors import OperationError
from masksmith.operations.params import MEDIA_TYPES, ParamKind, ParamType

__all__ = [
    "ANALYSIS_OPERATIONS",
    "COMPARE_FUNCTIONS",
    "CONVERT_FUNCTIONS",
    "DONOR_PROCESSORS",
    "KNOWN_CATEGORIES",
    "MASK_TRANSFORMS",
    "VIDEO_COMPARE_FUNCTIONS",
    "CatalogueFile",
    "OperationSpec",
    "ParameterSpec",
    "check_complete",
]

KNOWN_CATEGORIES: frozenset[str] = frozenset(
    {
        "AdditionalEffect",
        "AntiForensic",
        "Audio",
        "CGI",
        "Color",
        "Donor",
        "Filter",
        "Intensity",
        "Laundering",
        "Layer",
        "Output",
        "Paste",
        "PostProcessing",
        "Select",
        "Steganography",
        "TimeAlteration",
        "Transform",
    }
)

# Names the builtin catalogue uses; the journal package maps each one to code.
COMPARE_FUNCTIONS: frozenset[str] = frozenset(
    {"convert", "crop", "crop_resize", "flip", "paste", "resize", "rotate", "seam", "warp"}
)
CONVERT_FUNCTIONS: frozenset[str] = frozenset({"extract_alpha"})
MASK_TRANSFORMS: frozenset[str] = frozenset(
    {
        "affine",
        "ca_fill",
        "copy",
        "crop",
        "crop_resize",
        "donor",
        "exif",
        "flip",
        "move",
        "output",
        "paste_sampled",
        "paste_splice",
        "resize",
        "rotate",
        "seam",
        "select_region",
        "select_remove",
        "warp",
        # video and audio (segments through time; see journal/video_probes.py)
        "audio_add",
        "audio_copy_add",
        "audio_delete",
        "audio_replace",
        "copy_paste_frames",
        "cut_frames",
        "cut_frames_preprocess",
        "frame_selection",
        "frame_selection_preprocess",
        "insert_frames",
        "rate_change",
        "reverse",
        "select_crop_frames",
        "select_crop_frames_preprocess",
        "video_exif",
        "video_output",
    }
)
VIDEO_COMPARE_FUNCTIONS: frozenset[str] = frozenset(
    {"audio", "audio_add", "audio_delete", "audio_sample", "crop", "cut", "detect", "paste_frames", "warp"}
)
ANALYSIS_OPERATIONS: frozenset[str] = frozenset(
    {
        "forced_sift",
        "forced_sift_with_input",
        "global_transform",
        "local_transform",
        "optional_sift",
        "resize",
        "rotate_sift",
        "seam",
        "sift",
    }
)
DONOR_PROCESSORS: frozenset[str] = frozenset({"image_interpolate"})

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(::[A-Za-z0-9_]+)?$")
_FUNCTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:]*$")
_RULE_RE = re.compile(r"^(donor:)?[A-Za-z_][A-Za-z0-9_]*$")
_TRANSITION_RE = re.compile(r"^([a-z]+)\.([a-z]+)$")
_MTF_KEY_RE = re.compile(r"^([a-z]+)(_preprocess)?$")


class ParameterSpec(BaseModel):
    """One parameter definition; ``<ftype>:values`` keys are the only extra keys allowed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str
    description: str = ""
    values: list[str] | None = None
    defaultvalue: Any = None
    defaultValue: Any = None  # JT spelling seen in a few entries
    source: str | None = None
    rule: dict[str, list[str]] | None = None
    trigger_mask: bool = Field(default=False, alias="trigger mask")
    use_as_composite: bool = Field(default=False, alias="use as composite")

    @field_validator("type")
    @classmethod
    def _type_parses(cls, value: str) -> str:
        try:
            ParamType.parse(value)
        except OperationError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("source")
    @classmethod
    def _source_is_media(cls, value: str | None) -> str | None:
        if value is not None and value not in MEDIA_TYPES:
            raise ValueError(f"source {value!r} is not one of {sorted(MEDIA_TYPES)}")
        return value

    @model_validator(mode="after")
    def _extras_and_values(self) -> ParameterSpec:
        for key, val in (self.model_extra or {}).items():
            media, sep, rest = key.partition(":")
            if not (sep and rest == "values" and media in MEDIA_TYPES):
                raise ValueError(f"unknown parameter key {key!r}")
            if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
                raise ValueError(f"{key!r} must be a list of strings")
        if ParamType.parse(self.type).kind is ParamKind.LIST and not self.values:
            raise ValueError("a list parameter needs 'values'")
        return self


class OperationSpec(BaseModel):
    """One catalogue entry as written; variants (``X::Y``) may leave most fields out.

    Unknown keys are kept in ``model_extra`` (the loader warns about them) so JT catalogues load.
    """

    model_config = ConfigDict(extra="allow")

    name: str
    category: str | None = None
    description: str | None = None
    mandatoryparameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    optionalparameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    rules: list[str] = Field(default_factory=list)
    analysisOperations: list[str] = Field(default_factory=list)
    maskTransformFunction: dict[str, str] = Field(default_factory=dict)
    compareparameters: dict[str, Any] = Field(default_factory=dict)
    includeInMask: dict[str, bool] | None = None
    transitions: list[str] | None = None
    generateMask: Literal["all", "meta", "frames", "audio"] | None = None
    donor_processor: str | None = None
    deprecated: bool = False
    hidden: bool = False
    qaList: list[str] | None = None
    parameter_dependencies: dict[str, dict[str, str | list[str]]] | None = None

    @property
    def is_variant(self) -> bool:
        return "::" in self.name

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"operation name {value!r} must be Name or Name::Variant")
        return value

    @field_validator("category")
    @classmethod
    def _category_known(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("categories", KNOWN_CATEGORIES)
        if value is not None and value not in known:
            raise ValueError(f"category {value!r} is not one of {sorted(known)}")
        return value

    @field_validator("rules")
    @classmethod
    def _rules_ok(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _RULE_RE.match(name):
                raise ValueError(f"rule name {name!r} is malformed")
        return value

    @field_validator("analysisOperations")
    @classmethod
    def _analysis_ok(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _FUNCTION_RE.match(name):
                raise ValueError(f"analysis name {name!r} is malformed")
        return value

    @field_validator("maskTransformFunction")
    @classmethod
    def _mtf_ok(cls, value: dict[str, str]) -> dict[str, str]:
        for key, name in value.items():
            match = _MTF_KEY_RE.match(key)
            if not match or match[1] not in MEDIA_TYPES:
                raise ValueError(f"maskTransformFunction key {key!r} is not a media type")
            if not _FUNCTION_RE.match(name):
                raise ValueError(f"mask transform name {name!r} is malformed")
        return value

    @field_validator("includeInMask")
    @classmethod
    def _include_keys(cls, value: dict[str, bool] | None) -> dict[str, bool] | None:
        for key in value or {}:
            if key != "default" and key not in MEDIA_TYPES:
                raise ValueError(f"includeInMask key {key!r} is neither 'default' nor a media type")
        return value

    @field_validator("transitions")
    @classmethod
    def _transitions_ok(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            match = _TRANSITION_RE.match(item)
            if not match or match[1] not in MEDIA_TYPES or match[2] not in MEDIA_TYPES:
                raise ValueError(f"transition {item!r} must be '<media>.<media>'")
        return value

    @model_validator(mode="after")
    def _rules_reference_parameters(self) -> OperationSpec:
        names = set(self.mandatoryparameters) | set(self.optionalparameters)
        for pname, param in self.optionalparameters.items():
            for other in param.rule or {}:
                if other not in names:
                    raise ValueError(f"parameter {pname!r} has a rule on unknown parameter {other!r}")
        return self


def check_complete(spec: OperationSpec) -> list[str]:
    """Problems that make a merged (non-variant-partial) entry unusable; empty when fine."""
    problems = []
    if spec.category is None:
        problems.append("missing 'category'")
    if not spec.description:
        problems.append("missing 'description'")
    if spec.includeInMask is None or "default" not in spec.includeInMask:
        problems.append("'includeInMask' needs a 'default' key")
    if not spec.transitions:
        problems.append("needs at least one transition")
    overlap = set(spec.mandatoryparameters) & set(spec.optionalparameters)
    if overlap:
        problems.append(f"parameters both mandatory and optional: {sorted(overlap)}")
    return problems


class CatalogueFile(BaseModel):
    """A whole catalogue file: ``operations`` plus optional extra ``categories``."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    categories: list[str] = Field(default_factory=list)
    operations: list[dict[str, Any]]
