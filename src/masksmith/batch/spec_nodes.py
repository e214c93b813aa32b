"""Node models of a batch specification (§3.3), its graph section and links (§3.1, §3.1.2).

:func:`parse_node` turns one raw node into its model (``op_type`` picks the class).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from masksmith.batch.spec_arguments import (
    ArgumentBase,
    ArgumentSpec,
    argument_kind,
    raise_unknown_argument,
    spec_error_from,
    strip_group,
)
from masksmith.errors import SpecError

__all__ = [
    "NODE_CLASSES",
    "OP_TYPES",
    "SELECTION_OP_TYPES",
    "BaseSelection",
    "GraphSection",
    "ImageSelection",
    "ImageSelectionPluginOperation",
    "InputMaskPluginOperation",
    "NodeAttachment",
    "NodeSpec",
    "PluginNode",
    "PluginOperation",
    "PreProcessedMediaOperation",
    "SelectionNode",
    "SpecDocument",
    "SpecLink",
    "SpecNode",
    "as_str",
    "parse_node",
]


# --------------------------------------------------------------------------------------------------
# Nodes (§3.3)
# --------------------------------------------------------------------------------------------------


def as_str(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SpecNode(BaseModel):
    """Fields every node may carry; unknown keys are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    op_type: str
    id: Annotated[str, BeforeValidator(as_str)]
    description: str | None = None
    source: Annotated[str | None, BeforeValidator(as_str)] = None
    global_: bool = Field(default=False, alias="global")
    permutegroup: Annotated[str | None, BeforeValidator(strip_group)] = Field(
        default=None, validation_alias=AliasChoices("permutegroup", "permute_group")
    )

    @property
    def argument_specs(self) -> dict[str, ArgumentBase]:
        """Typed argument specs (empty for node types whose arguments are plain attributes)."""
        return {}


class SelectionNode(SpecNode):
    image_directory: str | None = None
    filetypes: list[str] | None = None
    files: list[str] | None = None
    picklist: Annotated[str | None, BeforeValidator(as_str)] = None
    timestamp_name: bool = Field(
        default=False, validation_alias=AliasChoices("timestamp name", "timestamp_name")
    )
    prnu: Any = None
    cgi: Any = None
    # Selection arguments are copied onto the journal's media node as attributes, not resolved.
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("filetypes", mode="before")
    @classmethod
    def _filetypes_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [str(v).lstrip(".").lower() for v in value]
        return value

    @model_validator(mode="after")
    def _has_pool(self) -> SelectionNode:
        if not self.image_directory and not self.files:
            raise ValueError("needs 'image_directory' or 'files' to select from")
        return self

    @property
    def picklist_name(self) -> str:
        """The picklist file stem; defaults to the node id, making the picklist private to this node."""
        return self.picklist or self.id


class BaseSelection(SelectionNode):
    """Picks the base image that starts (and names) a project; exactly one per creation spec."""

    op_type: Literal["BaseSelection"] = "BaseSelection"


class ImageSelection(SelectionNode):
    """Picks a further (usually donor) image from a pool or from ``files``."""

    op_type: Literal["ImageSelection"] = "ImageSelection"


class PluginNode(SpecNode):
    plugin: str
    arguments: dict[str, ArgumentSpec] = Field(default_factory=dict)
    experiment_id: Annotated[str | None, BeforeValidator(as_str)] = None
    semanticGroups: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("semanticGroups", "semanticgroups")
    )
    usebaseimage: bool = False
    skip_donor_analysis: bool = False

    @property
    def argument_specs(self) -> dict[str, ArgumentBase]:
        return dict(self.arguments)

    @property
    def plugin_name(self) -> str:
        """The plugin to run: ``plugin`` without a ``::Variant`` suffix."""
        return self.plugin.split("::", 1)[0]

    @property
    def variant(self) -> str | None:
        """``Variant`` of ``Plugin::Variant``: the operation is recorded as ``<catalogue name>::Variant``."""
        return self.plugin.split("::", 1)[1] if "::" in self.plugin else None


class PluginOperation(PluginNode):
    """Runs a plugin on the connect-to predecessor's image, adding a media node and an edge."""

    op_type: Literal["PluginOperation"] = "PluginOperation"


class InputMaskPluginOperation(PluginNode):
    """Runs a selector plugin producing an input mask and name/value pairs; adds no media node."""

    op_type: Literal["InputMaskPluginOperation"] = "InputMaskPluginOperation"


class ImageSelectionPluginOperation(PluginNode):
    """Runs a plugin that returns ``{'file': path}``, an image added to the journal."""

    op_type: Literal["ImageSelectionPluginOperation", "InputSelectionPluginOperation"] = (
        "ImageSelectionPluginOperation"
    )


class NodeAttachment(SpecNode):
    """The attachment point of an extension spec: one existing journal node at a time."""

    op_type: Literal["NodeAttachment"] = "NodeAttachment"


class PreProcessedMediaOperation(SpecNode):
    """Media made outside the tool: a file in ``directory`` matched by name, arguments from a CSV."""

    op_type: Literal["PreProcessedMediaOperation"] = "PreProcessedMediaOperation"
    directory: str
    op: str
    category: str | None = None
    software: str | None = None
    software_version: Annotated[str | None, BeforeValidator(as_str)] = Field(
        default=None, validation_alias=AliasChoices("software version", "softwareversion", "software_version")
    )
    argument_file: str | None = Field(
        default=None, validation_alias=AliasChoices("argument file", "argumentfile", "argument_file")
    )
    argument_names: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("argument names", "argumentnames", "argument_names"),
    )
    arguments: dict[str, ArgumentSpec] = Field(default_factory=dict)
    experiment_id: Annotated[str | None, BeforeValidator(as_str)] = None
    semanticGroups: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("semanticGroups", "semanticgroups")
    )
    usebaseimage: bool = False
    skip_donor_analysis: bool = False
    copy_: bool = Field(default=False, alias="copy")
    recordMaskInComposite: str | None = None

    @property
    def argument_specs(self) -> dict[str, ArgumentBase]:
        return dict(self.arguments)


NODE_CLASSES: dict[str, type[SpecNode]] = {
    "BaseSelection": BaseSelection,
    "ImageSelection": ImageSelection,
    "PluginOperation": PluginOperation,
    "InputMaskPluginOperation": InputMaskPluginOperation,
    "ImageSelectionPluginOperation": ImageSelectionPluginOperation,
    "InputSelectionPluginOperation": ImageSelectionPluginOperation,
    "NodeAttachment": NodeAttachment,
    "PreProcessedMediaOperation": PreProcessedMediaOperation,
}
OP_TYPES: tuple[str, ...] = tuple(NODE_CLASSES)
SELECTION_OP_TYPES: frozenset[str] = frozenset({"BaseSelection", "ImageSelection"})
_PLUGIN_CLASSES = (PluginOperation, InputMaskPluginOperation, ImageSelectionPluginOperation)


def _node_tag(value: Any) -> str | None:
    op_type = value.get("op_type") if isinstance(value, dict) else getattr(value, "op_type", None)
    if op_type == "InputSelectionPluginOperation":
        return "ImageSelectionPluginOperation"
    return op_type if op_type in NODE_CLASSES else None


NodeSpec = Annotated[
    Annotated[BaseSelection, Tag("BaseSelection")]
    | Annotated[ImageSelection, Tag("ImageSelection")]
    | Annotated[PluginOperation, Tag("PluginOperation")]
    | Annotated[InputMaskPluginOperation, Tag("InputMaskPluginOperation")]
    | Annotated[ImageSelectionPluginOperation, Tag("ImageSelectionPluginOperation")]
    | Annotated[NodeAttachment, Tag("NodeAttachment")]
    | Annotated[PreProcessedMediaOperation, Tag("PreProcessedMediaOperation")],
    Discriminator(_node_tag),
]


# --------------------------------------------------------------------------------------------------
# Graph section and links (§3.1, §3.1.2)
# --------------------------------------------------------------------------------------------------


class GraphSection(BaseModel):
    """Project-wide properties; all but ``recompress``, ``name``, ``edgeFilePaths`` go to each journal."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    name: str | None = None
    username: str | None = None
    organization: str | None = None
    projectdescription: str | None = Field(
        default=None, validation_alias=AliasChoices("projectdescription", "projectDescription")
    )
    technicalsummary: str | None = Field(
        default=None, validation_alias=AliasChoices("technicalsummary", "technicalSummary")
    )
    semanticgroups: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("semanticgroups", "semanticGroups")
    )
    recompress: bool = False
    rename: bool = True
    edgeFilePaths: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("edgeFilePaths", "edgefilepaths")
    )

    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "organization", "projectdescription", "technicalsummary")

    def project_properties(self) -> dict[str, Any]:
        """Properties copied into every created journal's graph (original keys, as written in the spec)."""
        data = self.model_dump(exclude_none=True)
        for key in ("recompress", "name", "edgeFilePaths", "rename"):
            data.pop(key, None)
        return data


class SpecLink(BaseModel):
    """A dependency edge; ``donor`` marks a donor link, ``connect: false`` keeps it off connect-to."""

    model_config = ConfigDict(extra="allow", frozen=True)
    source: str
    target: str
    donor: bool = False
    connect: bool = True
    split: bool = False


class SpecDocument(BaseModel):
    """The whole specification file, for JSON Schema export."""

    model_config = ConfigDict(extra="allow")
    directed: bool = True
    multigraph: bool = False
    graph: GraphSection = Field(default_factory=GraphSection)
    nodes: list[NodeSpec]
    links: list[dict[str, Any]] = Field(
        default_factory=list,
        description="source/target name nodes by id string or by position in 'nodes' (networkx 1.x)",
    )


def parse_node(raw_node: object, index: int) -> SpecNode:
    where = f"nodes[{index}]"
    if not isinstance(raw_node, dict):
        raise SpecError(f"{where}: a node is a JSON object", path=where)
    node_id = as_str(raw_node.get("id"))
    if not isinstance(node_id, str) or not node_id:
        raise SpecError(f"{where}.id: every node needs an id string", path=f"{where}.id")
    op_type = raw_node.get("op_type")
    if op_type not in NODE_CLASSES:
        what = "missing op_type" if op_type is None else f"unknown op_type {op_type!r}"
        raise SpecError(
            f"{where}.op_type: {what} (known: {', '.join(OP_TYPES)})", node=node_id, path=f"{where}.op_type"
        )
    cls = NODE_CLASSES[op_type]
    if issubclass(cls, PluginNode | PreProcessedMediaOperation):
        arguments = raw_node.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise SpecError(f"{where}.arguments: must be an object", node=node_id, path=f"{where}.arguments")
        for name, arg in arguments.items():
            if argument_kind(arg) is None:
                raise_unknown_argument(arg, node=node_id, path=f"{where}.arguments.{name}")
    try:
        return cls.model_validate({**raw_node, "id": node_id})
    except ValidationError as exc:
        raise spec_error_from(exc, node=node_id, prefix=where) from None
