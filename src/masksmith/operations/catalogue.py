"""The operation catalogue: loading, merging ``Name::Variant`` entries, lookup, argument checks.

Catalogues come from our own ``operations.json`` (package data) followed by every callable
registered under the entry point group ``masksmith.operations`` (sorted by entry point name),
each returning a path to a JSON file or a dict in the same format. A later entry with the same
name replaces an earlier one (with a :class:`CatalogueWarning`); ``X::Y`` entries merge onto ``X``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any, TypeAlias

from pydantic import ValidationError

from masksmith.errors import OperationError
from masksmith.operations.params import Parameter, convert_value
from masksmith.operations.schema import KNOWN_CATEGORIES, CatalogueFile, OperationSpec, check_complete

__all__ = [
    "ENTRY_POINT_GROUP",
    "Catalogue",
    "CatalogueSource",
    "CatalogueWarning",
    "Operation",
    "build_catalogue",
    "builtin_catalogue_path",
    "default_catalogue",
    "load_catalogue",
    "merge_entry",
    "read_catalogue",
]

ENTRY_POINT_GROUP = "masksmith.operations"
BUILTIN_ENTRY_POINT = "masksmith.operations.catalogue:builtin_catalogue_path"

# Fields a variant updates key by key; every other field a variant names replaces the parent's.
DICT_FIELDS = frozenset(
    {
        "mandatoryparameters",
        "optionalparameters",
        "compareparameters",
        "includeInMask",
        "maskTransformFunction",
    }
)
_COMPARE_SPECIAL = frozenset({"function", "video_function", "convert_function"})

CatalogueSource: TypeAlias = str | os.PathLike[str] | Traversable | Mapping[str, Any]
FileExists: TypeAlias = Callable[[str], bool]


class CatalogueWarning(UserWarning):
    """A catalogue entry replaced another one with the same name, or has keys we do not know."""


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Operation:
    """One catalogue operation (a variant ``X::Y`` is already merged onto ``X``)."""

    name: str
    category: str
    description: str
    mandatory: Mapping[str, Parameter]
    optional: Mapping[str, Parameter]
    rules: tuple[str, ...] = ()
    analysis_operations: tuple[str, ...] = ()
    mask_transforms: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    compare_parameters: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    include_in_mask_by_type: Mapping[str, bool] = field(default_factory=lambda: _frozen({"default": False}))
    transitions: tuple[str, ...] = ()
    generate_mask: str = "all"
    donor_processor: str | None = None
    deprecated: bool = False
    hidden: bool = False
    qa_list: tuple[str, ...] = ()
    parameter_dependencies: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    origin: str = ""
    entry: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), repr=False)

    def __hash__(self) -> int:
        return hash((self.name, self.origin))

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], *, origin: str = "") -> Operation:
        """Build from a complete (merged) catalogue entry in the JSON format."""

        def params(key: str) -> Mapping[str, Parameter]:
            return _frozen({n: Parameter.from_dict(n, spec) for n, spec in (entry.get(key) or {}).items()})

        return cls(
            name=entry["name"],
            category=entry["category"],
            description=entry.get("description", ""),
            mandatory=params("mandatoryparameters"),
            optional=params("optionalparameters"),
            rules=tuple(entry.get("rules") or ()),
            analysis_operations=tuple(entry.get("analysisOperations") or ()),
            mask_transforms=_frozen(entry.get("maskTransformFunction") or {}),
            compare_parameters=_frozen(entry.get("compareparameters") or {}),
            include_in_mask_by_type=_frozen(entry.get("includeInMask") or {"default": False}),
            transitions=tuple(entry.get("transitions") or ()),
            generate_mask=entry.get("generateMask") or "all",
            donor_processor=entry.get("donor_processor"),
            deprecated=bool(entry.get("deprecated", False)),
            hidden=bool(entry.get("hidden", False)),
            qa_list=tuple(entry.get("qaList") or ()),
            parameter_dependencies=_frozen(entry.get("parameter_dependencies") or {}),
            origin=origin,
            entry=_frozen(copy.deepcopy(dict(entry))),
        )

    # --- plain queries -------------------------------------------------------------------------
    @property
    def base_name(self) -> str:
        """``X`` for ``X::Y``, else the name itself."""
        return self.name.split("::", 1)[0]

    @property
    def parameters(self) -> Mapping[str, Parameter]:
        """Mandatory and optional parameters together."""
        return _frozen({**self.optional, **self.mandatory})

    def include_in_mask(self, media_type: str = "image") -> bool:
        """Whether this op's edge mask counts for probes/composites for ``media_type`` (a 'blue link')."""
        by_type = self.include_in_mask_by_type
        return bool(by_type.get(media_type, by_type.get("default", False)))

    def compare_function(self, media_type: str = "image") -> str | None:
        """The named comparison function for ``media_type`` (None = the default difference mask)."""
        key = "function" if media_type == "image" else "video_function"
        name = self.compare_parameters.get(key)
        return str(name) if name is not None else None

    @property
    def convert_function(self) -> str | None:
        """The named conversion applied to both images before comparing, if any."""
        name = self.compare_parameters.get("convert_function")
        return str(name) if name is not None else None

    @property
    def compare_arguments(self) -> Mapping[str, Any]:
        """Extra compare parameters (e.g. ``tolerance``) without the function names."""
        return _frozen({k: v for k, v in self.compare_parameters.items() if k not in _COMPARE_SPECIAL})

    def mask_transform(self, media_type: str = "image") -> str:
        """The named probe mask transform for ``media_type``; ``'copy'`` (mask unchanged) if none."""
        return self.mask_transforms.get(media_type, "copy")

    def preprocess(self, media_type: str = "image") -> str | None:
        """The named ``<media>_preprocess`` function, if declared."""
        return self.mask_transforms.get(f"{media_type}_preprocess")

    def rule_names(self, *, full: bool = True) -> tuple[str, ...]:
        """Rule names without the ``donor:`` prefix; ``full=False`` leaves out donor-only rules."""
        names = []
        for rule in self.rules:
            donor_only = rule.startswith("donor:")
            if donor_only and not full:
                continue
            names.append(rule.removeprefix("donor:"))
        return tuple(names)

    def supports(self, source_type: str, target_type: str) -> bool:
        """Whether the transition ``source_type.target_type`` is declared."""
        return f"{source_type}.{target_type}" in self.transitions

    # --- arguments ------------------------------------------------------------------------------
    def argument_problems(
        self,
        arguments: Mapping[str, Any],
        *,
        media_type: str = "image",
        new_edge: bool = False,
        file_exists: FileExists | None = None,
        use_defaults: bool = False,
    ) -> tuple[dict[str, Any], list[OperationError]]:
        """Normalised arguments and every problem found (empty list when all is well)."""
        problems: list[OperationError] = []
        if new_edge and self.deprecated:
            problems.append(
                OperationError(
                    f"operation {self.name!r} is deprecated and cannot be used on a new edge",
                    operation=self.name,
                )
            )
        normalised = dict(arguments)
        for pname, param in self.parameters.items():
            value = arguments.get(pname)
            if _missing(value) or not param.applies_to(media_type):
                continue
            try:
                normalised[pname] = convert_value(
                    param, value, media_type=media_type, operation=self.name, file_exists=file_exists
                )
            except OperationError as exc:
                problems.append(exc)
        for pname, param, why in self._required(normalised, media_type):
            if not _missing(normalised.get(pname)):
                continue
            if use_defaults and param.default is not None:
                try:
                    normalised[pname] = convert_value(
                        param, param.default, media_type=media_type, operation=self.name
                    )
                    continue
                except OperationError as exc:
                    problems.append(exc)
                    continue
            problems.append(
                OperationError(
                    f"missing mandatory argument{why} for operation {self.name!r}",
                    argument=pname,
                    operation=self.name,
                )
            )
        return normalised, problems

    def validate_arguments(
        self,
        arguments: Mapping[str, Any],
        *,
        media_type: str = "image",
        new_edge: bool = False,
        file_exists: FileExists | None = None,
        use_defaults: bool = False,
    ) -> dict[str, Any]:
        """Check arguments against the parameter types and return them normalised.

        Raises OperationError for the first problem: a deprecated op on a new edge, a bad value, or
        a missing mandatory argument (including optional ones made mandatory by a ``rule``).
        Parameters restricted to another media type (``source``) are neither required nor checked.
        Unknown arguments pass through unchanged.
        """
        normalised, problems = self.argument_problems(
            arguments,
            media_type=media_type,
            new_edge=new_edge,
            file_exists=file_exists,
            use_defaults=use_defaults,
        )
        if problems:
            raise problems[0]
        return normalised

    def check_new_edge(
        self,
        arguments: Mapping[str, Any],
        *,
        media_type: str = "image",
        file_exists: FileExists | None = None,
        use_defaults: bool = False,
    ) -> dict[str, Any]:
        """:meth:`validate_arguments` for an edge about to be created (refuses deprecated ops)."""
        return self.validate_arguments(
            arguments,
            media_type=media_type,
            new_edge=True,
            file_exists=file_exists,
            use_defaults=use_defaults,
        )

    def _required(
        self, arguments: Mapping[str, Any], media_type: str
    ) -> Iterator[tuple[str, Parameter, str]]:
        for pname, param in self.mandatory.items():
            if param.applies_to(media_type):
                yield pname, param, ""
        for pname, param in self.optional.items():
            if param.applies_to(media_type) and param.required_by(arguments):
                trigger = ", ".join(f"{k}={arguments.get(k)!r}" for k in param.rule if k in arguments)
                yield pname, param, f" (required when {trigger})"

    def to_dict(self) -> dict[str, Any]:
        """The merged catalogue entry in the JSON format."""
        return copy.deepcopy(dict(self.entry))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Catalogue:
    """A merged set of operations with lookup by name (``X::Y`` falls back to ``X``)."""

    def __init__(
        self,
        operations: Mapping[str, Operation],
        variants: Mapping[str, Operation] | None = None,
        *,
        known_categories: Iterable[str] = KNOWN_CATEGORIES,
    ) -> None:
        self._operations = dict(operations)
        self._variants = dict(variants or {})
        self.known_categories = frozenset(known_categories)

    def find(self, name: str) -> Operation | None:
        """The operation called ``name``, or None; ``X::Y`` without such a variant gives ``X``."""
        if name in self._variants:
            return self._variants[name]
        if name in self._operations:
            return self._operations[name]
        if "::" in name:
            return self._operations.get(name.split("::", 1)[0])
        return None

    def get(self, name: str) -> Operation:
        """Like :meth:`find`, but an unknown name raises OperationError (with close matches)."""
        op = self.find(name)
        if op is None:
            close = difflib.get_close_matches(name, self.names(include_variants=True), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise OperationError(f"unknown operation {name!r}{hint}", operation=name)
        return op

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._operations.values())

    def __len__(self) -> int:
        return len(self._operations)

    def names(self, *, include_variants: bool = False, include_deprecated: bool = True) -> list[str]:
        """Sorted operation names (variants ``X::Y`` only when asked)."""
        ops: list[Operation] = list(self._operations.values())
        if include_variants:
            ops += list(self._variants.values())
        return sorted(op.name for op in ops if include_deprecated or not op.deprecated)

    def variants(self) -> list[str]:
        """Sorted names of the declared ``X::Y`` variants."""
        return sorted(self._variants)

    def categories(self) -> list[str]:
        """Sorted categories used by at least one operation."""
        return sorted({op.category for op in self._operations.values()})

    def by_category(self, category: str) -> list[Operation]:
        """Operations of one category, sorted by name."""
        return sorted(
            (op for op in self._operations.values() if op.category == category), key=lambda o: o.name
        )

    def validate_arguments(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        media_type: str = "image",
        new_edge: bool = False,
        file_exists: FileExists | None = None,
        use_defaults: bool = False,
    ) -> dict[str, Any]:
        """Look ``name`` up and run :meth:`Operation.validate_arguments`."""
        return self.get(name).validate_arguments(
            arguments,
            media_type=media_type,
            new_edge=new_edge,
            file_exists=file_exists,
            use_defaults=use_defaults,
        )

    def check_new_edge(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        media_type: str = "image",
        file_exists: FileExists | None = None,
        use_defaults: bool = False,
    ) -> dict[str, Any]:
        """Validate an edge about to be created: known op, not deprecated, arguments fine."""
        return self.validate_arguments(
            name,
            arguments,
            media_type=media_type,
            new_edge=True,
            file_exists=file_exists,
            use_defaults=use_defaults,
        )


# --- loading -------------------------------------------------------------------------------------
def builtin_catalogue_path() -> Traversable:
    """Our own ``operations.json`` shipped as package data (the ``builtin`` entry point)."""
    return resources.files("masksmith.operations").joinpath("operations.json")


def read_catalogue(source: CatalogueSource) -> tuple[str, dict[str, Any]]:
    """Read one catalogue source into ``(label, data)``; a Mapping is used as is (deep-copied)."""
    if isinstance(source, Mapping):
        return "<dict>", copy.deepcopy(dict(source))
    label = str(source)
    try:
        if isinstance(source, str | os.PathLike):
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = source.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise OperationError(f"cannot read operation catalogue: {exc}", file=label) from None
    if not isinstance(data, dict):
        raise OperationError("an operation catalogue must be a JSON object", file=label)
    return label, data


def merge_entry(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a variant entry onto its parent: dict fields key by key, other fields replaced."""
    merged = copy.deepcopy(dict(parent))
    for key, value in child.items():
        if key in DICT_FIELDS and isinstance(value, Mapping):
            merged[key] = {**(merged.get(key) or {}), **copy.deepcopy(dict(value))}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _spec(
    entry: Mapping[str, Any], label: str, categories: frozenset[str], *, warn: bool = False
) -> OperationSpec:
    try:
        spec = OperationSpec.model_validate(entry, context={"categories": categories})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        name = entry.get("name", "?")
        raise OperationError(
            f"operation {name!r}: {where}: {first['msg']}"
            if where
            else f"operation {name!r}: {first['msg']}",
            file=label,
            operation=name,
        ) from None
    if warn and spec.model_extra:
        warnings.warn(
            f"{label}: operation {spec.name!r} has unknown keys {sorted(spec.model_extra)}",
            CatalogueWarning,
            stacklevel=3,
        )
    return spec


def build_catalogue(sources: Sequence[tuple[str, Mapping[str, Any]]]) -> Catalogue:
    """Merge catalogue data in order (``(label, data)`` pairs) into a :class:`Catalogue`."""
    files: list[tuple[str, CatalogueFile]] = []
    categories = set(KNOWN_CATEGORIES)
    for label, data in sources:
        try:
            parsed = CatalogueFile.model_validate(data)
        except ValidationError as exc:
            raise OperationError(
                f"not an operation catalogue: {exc.errors()[0]['msg']}", file=label
            ) from None
        categories.update(parsed.categories)
        files.append((label, parsed))
    known = frozenset(categories)

    bases: dict[str, tuple[str, dict[str, Any]]] = {}
    patches: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for label, parsed in files:
        for entry in parsed.operations:
            spec = _spec(entry, label, known, warn=True)
            if spec.is_variant:
                patches.setdefault(spec.name, []).append((label, entry))
                continue
            if spec.name in bases:
                warnings.warn(
                    f"operation {spec.name!r} from {label} replaces the one from {bases[spec.name][0]}",
                    CatalogueWarning,
                    stacklevel=2,
                )
            bases[spec.name] = (label, entry)

    operations = {name: _complete(entry, label, known) for name, (label, entry) in bases.items()}
    variants: dict[str, Operation] = {}
    for name, items in patches.items():
        parent = name.split("::", 1)[0]
        if parent not in bases:
            raise OperationError(
                f"variant {name!r} has no parent operation {parent!r}", file=items[0][0], operation=name
            )
        merged: dict[str, Any] = dict(bases[parent][1])
        for _label, patch in items:
            merged = merge_entry(merged, patch)
        merged["name"] = name
        variants[name] = _complete(merged, items[-1][0], known)
    return Catalogue(operations, variants, known_categories=known)


def _complete(entry: Mapping[str, Any], label: str, categories: frozenset[str]) -> Operation:
    spec = _spec(entry, label, categories)
    problems = check_complete(spec)
    if problems:
        raise OperationError(
            f"operation {spec.name!r}: {'; '.join(problems)}", file=label, operation=spec.name
        )
    try:
        return Operation.from_entry(entry, origin=label)
    except OperationError as exc:
        raise OperationError(
            f"operation {spec.name!r}: {exc.message}", file=label, operation=spec.name
        ) from None


def _entry_point_sources() -> list[tuple[str, dict[str, Any]]]:
    found = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    sources = []
    for ep in found:
        if ep.value.replace(" ", "") == BUILTIN_ENTRY_POINT:
            continue
        try:
            produced = ep.load()()
        except Exception as exc:
            raise OperationError(
                f"operation catalogue entry point {ep.name!r} ({ep.value}) failed: {exc}", file=ep.value
            ) from exc
        label, data = read_catalogue(produced)
        sources.append((f"{ep.name}:{label}", data))
    return sources


def load_catalogue(*extra: CatalogueSource, entry_points: bool = True) -> Catalogue:
    """Builtin catalogue, then entry point catalogues (sorted by name), then ``extra`` sources."""
    sources = [read_catalogue(builtin_catalogue_path())]
    if entry_points:
        sources += _entry_point_sources()
    sources += [read_catalogue(source) for source in extra]
    return build_catalogue(sources)


@functools.cache
def default_catalogue() -> Catalogue:
    """The catalogue with every installed extension, loaded once (``default_catalogue.cache_clear()``)."""
    return load_catalogue()
