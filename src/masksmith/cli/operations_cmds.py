"""``masksmith operations …``: the operation catalogue journals and specifications name.

``show OP`` lists an operation's parameters with their types, defaults, allowed values and the rules
that make an optional parameter mandatory, plus the validation rules run on its edges and the
plugins that perform it.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import click

from masksmith.errors import OperationError
from masksmith.operations import Operation, default_catalogue
from masksmith.operations.params import Parameter


@click.group()
def operations() -> None:
    """The operation catalogue: what each operation records and which parameters it takes."""


def _find(name: str) -> Operation:
    catalogue = default_catalogue()
    operation = catalogue.find(name)
    if operation is None:
        close = difflib.get_close_matches(name, list(catalogue.names()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise OperationError(f"unknown operation {name!r}{hint}", argument="OP")
    return operation


def _parameter(param: Parameter, *, mandatory: bool) -> dict[str, Any]:
    return {
        "name": param.name,
        "type": str(param.type),
        "mandatory": mandatory,
        "default": param.default,
        "values": list(param.values),
        "required_when": {key: list(values) for key, values in param.rule.items()},
        "description": param.description,
    }


def describe_operation(operation: Operation) -> dict[str, Any]:
    """Plain data for ``operations show`` (also its ``--json``)."""
    from masksmith.plugins import all_plugins

    params = [_parameter(p, mandatory=True) for p in operation.mandatory.values()]
    params += [_parameter(p, mandatory=False) for p in operation.optional.values()]
    plugins = sorted(name for name, cls in all_plugins().items() if cls.operation == operation.name)
    return {
        "name": operation.name,
        "category": operation.category,
        "description": operation.description,
        "parameters": params,
        "rules": list(operation.rules),
        "plugins": plugins,
    }


def _format(param: dict[str, Any]) -> str:
    parts = [f"  {param['name']} ({param['type']})", "mandatory" if param["mandatory"] else "optional"]
    if param["default"] is not None:
        parts.append(f"default {param['default']!r}")
    if param["values"]:
        parts.append("one of " + ", ".join(param["values"]))
    for key, values in param["required_when"].items():
        parts.append(f"required when {key} is {' or '.join(values)}")
    line = ", ".join(parts)
    return f"{line}\n      {param['description']}" if param["description"] else line


@operations.command("show")
@click.argument("op")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def show_operation(op: str, as_json: bool) -> None:
    """OP's category, parameters (type, default, values, rules) and the plugins that perform it."""
    info = describe_operation(_find(op))
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"{info['name']} ({info['category']}): {info['description']}")
    click.echo("parameters:" if info["parameters"] else "parameters: none")
    for param in info["parameters"]:
        click.echo(_format(param))
    click.echo(f"validation rules: {', '.join(info['rules']) or 'none'}")
    click.echo(f"plugins: {', '.join(info['plugins']) or 'none'}")


@operations.command("list")
@click.option("--category", default=None, help="Only operations of this category.")
def list_operations(category: str | None) -> None:
    """Every operation name with its category."""
    catalogue = default_catalogue()
    for name in sorted(catalogue.names()):
        operation = catalogue.find(name)
        if operation is None or (category and operation.category != category):
            continue
        click.echo(f"{name:<40} {operation.category}")
