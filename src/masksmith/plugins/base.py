"""The plugin contract: what a manipulation plugin declares, receives and returns.

A plugin is a class with class-level metadata (its name as specifications use it, the catalogue
operation it performs, its arguments with types and defaults) and a ``transform`` method. It reads
the source media, writes the target atomically (``media.io.write_image`` does), draws every random
choice from ``context.rng`` and returns the variables it produced; the batch system records those
on the journal edge and makes them available to later nodes as ``{name@node}``.

Selectors (``kind = PluginKind.SELECTOR``) write no target: they return an input mask and
variables, and add no journal node. File selectors (``PluginKind.FILE_SELECTOR``) return a file.
Heavy libraries are imported inside ``transform``, not at module import.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from masksmith import __version__
from masksmith.errors import OperationError, PluginError
from masksmith.media import io as media_io
from masksmith.operations import Parameter, convert_value


class PluginKind(enum.StrEnum):
    TRANSFORM = "transform"
    SELECTOR = "selector"
    FILE_SELECTOR = "file_selector"


@dataclass(frozen=True)
class Argument:
    """One plugin argument. ``type`` uses the catalogue's syntax (``int[1:31]``, ``float[0:1]``,
    ``list``, ``yesno``, ``text``, ``string``, ``coordinates``, ``file:image``, ``imagefile``,
    ``donor``, ``mask``, ``variable``)."""

    name: str
    type: str
    default: Any = None
    description: str = ""
    values: tuple[str, ...] = ()
    required: bool = False

    def parameter(self) -> Parameter:
        spec: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.values:
            spec["values"] = list(self.values)
        if self.default is not None:
            spec["defaultvalue"] = self.default
        return Parameter.from_dict(self.name, spec)


# argument types that carry files or arrays and are not checked by the catalogue's type parser
PASS_THROUGH_TYPES = frozenset({"imagefile", "donor", "mask", "variable", "any", "list of values"})


@dataclass
class PluginContext:
    """What a plugin gets for one call."""

    source: Path
    target: Path
    arguments: Mapping[str, Any]
    rng: np.random.Generator
    workdir: Path | None = None
    donor: Path | None = None
    input_mask: NDArray[np.bool_] | None = None
    _pixels: NDArray[Any] | None = field(default=None, repr=False)

    def pixels(self) -> NDArray[Any]:
        """The source's decoded pixels (read once, then cached)."""
        if self._pixels is None:
            self._pixels = media_io.read_image(self.source).pixels
        return self._pixels

    @property
    def decoded_pixels(self) -> NDArray[Any] | None:
        """The source's pixels if they were decoded (or handed in) already, else None; never decodes."""
        return self._pixels


@dataclass
class PluginResult:
    """What a plugin returns.

    ``variables`` go onto the journal edge's ``arguments`` and into the node's local state.
    ``target_pixels`` spares the journal a re-decode of the target. ``mask`` is a selector's
    input mask (True = selected). ``file`` is a file selector's choice. ``operation`` overrides
    the declared operation for this call (e.g. a ``Name::Variant``). ``transform_matrix`` is a
    3×3 source → target matrix the comparison can use. ``changed`` (source rows × cols, True = changed)
    is an exact change mask that replaces the journal's comparison (e.g. the pixels seam carving removed).
    """

    variables: dict[str, Any] = field(default_factory=dict)
    target_pixels: NDArray[Any] | None = None
    mask: NDArray[np.bool_] | None = None
    file: Path | None = None
    operation: str | None = None
    transform_matrix: NDArray[np.float64] | None = None
    donor: Path | None = None
    changed: NDArray[np.bool_] | None = None


class Plugin:
    """Base class of every masksmith plugin."""

    name: ClassVar[str] = ""
    operation: ClassVar[str] = ""
    description: ClassVar[str] = ""
    arguments: ClassVar[tuple[Argument, ...]] = ()
    kind: ClassVar[PluginKind] = PluginKind.TRANSFORM
    #: target suffix: None keeps the source's, ".png" forces one, "donor" takes the donor's
    suffix: ClassVar[str | None] = None
    software: ClassVar[str] = "masksmith"
    version: ClassVar[str] = __version__
    #: other names specifications may give an argument under (argument → alternatives)
    argument_aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def transform(self, context: PluginContext) -> PluginResult:
        raise NotImplementedError

    # --- arguments ------------------------------------------------------------------------------

    @classmethod
    def argument(cls, name: str) -> Argument:
        for arg in cls.arguments:
            if arg.name == name:
                return arg
        raise PluginError(f"plugin {cls.name!r} has no argument {name!r}", argument=name)

    @classmethod
    def resolve_arguments(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Apply defaults and check declared arguments against their types.

        Unknown arguments pass through (specifications often carry extra operation arguments).
        A missing required argument or a value of the wrong type raises PluginError naming it.
        """
        out = dict(given)
        for arg in cls.arguments:
            value = out.get(arg.name)
            if value is None or value == "":
                if arg.default is not None:
                    out[arg.name] = value = arg.default
                elif arg.required:
                    raise PluginError(f"plugin {cls.name!r} needs argument {arg.name!r}", argument=arg.name)
                else:
                    continue
            if arg.type in PASS_THROUGH_TYPES:
                continue
            try:
                out[arg.name] = convert_value(arg.parameter(), value, media_type="image", operation=cls.name)
            except OperationError as exc:
                raise PluginError(f"plugin {cls.name!r}: {exc.message}", argument=arg.name) from None
        return out

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Plain-data description (for ``masksmith plugins show``)."""
        return {
            "name": cls.name,
            "operation": cls.operation,
            "kind": cls.kind.value,
            "description": cls.description,
            "suffix": cls.suffix,
            "software": f"{cls.software} {cls.version}",
            "arguments": [
                {
                    "name": a.name,
                    "type": a.type,
                    "default": a.default,
                    "values": list(a.values),
                    "required": a.required,
                    "description": a.description,
                }
                for a in cls.arguments
            ],
        }

    def target_suffix(self, source: Path, donor: Path | None = None) -> str:
        if self.suffix is None:
            return source.suffix.lower()
        if self.suffix == "donor":
            if donor is None:
                raise PluginError(
                    f"plugin {self.name!r} takes its suffix from a donor, but none was given",
                    argument="donor",
                )
            return donor.suffix.lower()
        return self.suffix
