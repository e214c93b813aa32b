"""``masksmith plugins …``: list the installed plugins and show one's operation and arguments."""

from __future__ import annotations

import json
from typing import Any

import click

from masksmith.plugins import all_plugins, get_plugin


@click.group()
def plugins() -> None:
    """List the manipulation plugins batch specifications can use (entry point group masksmith.plugins)."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_plugins(as_json: bool) -> None:
    """Every installed plugin with its kind and catalogue operation."""
    found = all_plugins()
    rows = [(name, cls.kind.value, cls.operation) for name, cls in sorted(found.items())]
    if as_json:
        click.echo(json.dumps([{"name": n, "kind": k, "operation": o} for n, k, o in rows], indent=2))
        return
    width = max((len(n) for n, _, _ in rows), default=4)
    kind_width = max((len(k) for _, k, _ in rows), default=4)
    click.echo(f"{'NAME':<{width}}  {'KIND':<{kind_width}}  OPERATION")
    for name, kind, operation in rows:
        click.echo(f"{name:<{width}}  {kind:<{kind_width}}  {operation}")


def _format_argument(arg: dict[str, Any]) -> str:
    parts = [f"  {arg['name']} ({arg['type']})"]
    if arg["required"]:
        parts.append("required")
    if arg["default"] is not None:
        parts.append(f"default {arg['default']!r}")
    if arg["values"]:
        parts.append("one of " + ", ".join(arg["values"]))
    line = ", ".join(parts)
    return f"{line}\n      {arg['description']}" if arg["description"] else line


@plugins.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def show_plugin(name: str, as_json: bool) -> None:
    """A plugin's operation, kind, target suffix and arguments."""
    info = get_plugin(name).describe()
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"{info['name']}: {info['description']}")
    click.echo(f"operation: {info['operation']}")
    click.echo(f"kind: {info['kind']}")
    click.echo(f"target suffix: {info['suffix'] or 'same as the source'}")
    click.echo(f"software: {info['software']}")
    if info["arguments"]:
        click.echo("arguments:")
        for arg in info["arguments"]:
            click.echo(_format_argument(arg))
    else:
        click.echo("arguments: none")
