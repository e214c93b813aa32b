"""The operation catalogue: what each manipulation is called, takes, and how its masks behave.

``default_catalogue().get("PasteSplice")`` gives an :class:`Operation`; parameter types parse
into :class:`ParamType` objects that validate values and draw random ones for batch specs.
"""

from __future__ import annotations

from masksmith.operations.catalogue import (
    ENTRY_POINT_GROUP,
    Catalogue,
    CatalogueSource,
    CatalogueWarning,
    Operation,
    build_catalogue,
    builtin_catalogue_path,
    default_catalogue,
    load_catalogue,
    merge_entry,
    read_catalogue,
)
from masksmith.operations.params import (
    MEDIA_TYPES,
    NumRange,
    Parameter,
    ParamKind,
    ParamType,
    convert_value,
    draw_random,
    format_boxpair,
    format_coordinates,
    iter_values,
    parse_boxpair,
    parse_coordinates,
)
from masksmith.operations.rules import (
    RULE_ENTRY_POINT_GROUP,
    RuleFunction,
    RuleRegistry,
    find_rule,
    get_rule,
    rule,
    split_rule_name,
)
from masksmith.operations.schema import (
    ANALYSIS_OPERATIONS,
    COMPARE_FUNCTIONS,
    CONVERT_FUNCTIONS,
    DONOR_PROCESSORS,
    KNOWN_CATEGORIES,
    MASK_TRANSFORMS,
    OperationSpec,
    ParameterSpec,
)

__all__ = [
    "ANALYSIS_OPERATIONS",
    "COMPARE_FUNCTIONS",
    "CONVERT_FUNCTIONS",
    "DONOR_PROCESSORS",
    "ENTRY_POINT_GROUP",
    "KNOWN_CATEGORIES",
    "MASK_TRANSFORMS",
    "MEDIA_TYPES",
    "RULE_ENTRY_POINT_GROUP",
    "Catalogue",
    "CatalogueSource",
    "CatalogueWarning",
    "NumRange",
    "Operation",
    "OperationSpec",
    "ParamKind",
    "ParamType",
    "Parameter",
    "ParameterSpec",
    "RuleFunction",
    "RuleRegistry",
    "build_catalogue",
    "builtin_catalogue_path",
    "convert_value",
    "default_catalogue",
    "draw_random",
    "find_rule",
    "format_boxpair",
    "format_coordinates",
    "get_rule",
    "iter_values",
    "load_catalogue",
    "merge_entry",
    "parse_boxpair",
    "parse_coordinates",
    "read_catalogue",
    "rule",
    "split_rule_name",
]
