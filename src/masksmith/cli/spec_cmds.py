"""``masksmith batch init`` (a starter spec and pool) and ``masksmith batch schema`` (the spec's JSON Schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from masksmith.batch.spec import SpecDocument
from masksmith.batch.starter import write_starter
from masksmith.cli.invocation import masksmith_command

#: The run state of ``batch create|extend`` goes here inside the projects folder unless --workdir says otherwise.
STATE_FOLDER = ".masksmith"


def default_workdir(projects: str | Path) -> Path:
    """``<projects>/.masksmith``: picklists, claims, failure files and the log, out of the current folder."""
    return Path(projects) / STATE_FOLDER


_BARE_VALUE = {"type": ["string", "number", "boolean", "array", "null"]}


def _with_bare_values(node: Any) -> Any:
    """Allow a bare value wherever an argument spec is expected (the loader reads it as ``type: value``)."""
    if isinstance(node, dict):
        one_of = node.get("oneOf")
        if (
            isinstance(one_of, list)
            and one_of
            and all(isinstance(ref, dict) and str(ref.get("$ref", "")).endswith("Arg") for ref in one_of)
        ):
            return {
                "anyOf": [{"oneOf": one_of}, _BARE_VALUE],
                "description": "an argument spec object, or a bare value meaning {'type': 'value', 'value': X}",
            }
        return {key: _with_bare_values(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_bare_values(value) for value in node]
    return node


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a batch specification, generated from the models the loader validates with."""
    schema: dict[str, Any] = _with_bare_values(SpecDocument.model_json_schema(mode="validation"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "masksmith batch specification"
    return schema


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of a batch specification (see docs/batch-spec.md for the meaning)."""
    click.echo(json.dumps(spec_json_schema(), indent=2))


@click.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), default=Path("batch-starter"))
@click.option("--force", is_flag=True, help="Overwrite an existing starter_spec.json.")
def init_command(folder: Path, force: bool) -> None:
    """Write a starter specification, an image pool and example side files into FOLDER.

    FOLDER defaults to ./batch-starter. The printed command makes two journals from it.
    """
    files = write_starter(folder, force=force)
    click.echo(f"specification: {files.spec}")
    click.echo(f"image pool:    {files.pool}")
    click.echo(f"donor pool:    {files.donors}")
    click.echo(f"pairing CSV:   {files.pairs}   (PickPairedImage examples)")
    click.echo(f"external:      {files.external}   (PreProcessedMediaOperation examples)")
    click.echo("make two journals from it with:")
    click.echo(f"  {files.create_command(masksmith=masksmith_command())}")
