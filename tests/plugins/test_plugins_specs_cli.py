"""Spec functions (entry point group masksmith.specs) and the ``plugins`` CLI group."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from masksmith.cli.plugins_cmds import plugins
from masksmith.errors import PluginError
from masksmith.plugins import all_plugins
from masksmith.plugins.specs import kernel_specs


def _through_the_batch(parameters: object, seed: int, state_name: str | None = None) -> object:
    """Resolve a spec argument ``{"type": "plugin", "name": "kernelSpecs"}`` as a batch project does."""
    from masksmith.batch.selectors import ArgumentContext, resolve_argument
    from masksmith.batch.spec import parse_argument

    spec: dict[str, object] = {"type": "plugin", "name": "kernelSpecs", "parameters": parameters}
    if state_name:
        spec["state_name"] = state_name
    arg = parse_argument(spec, node="n", path="arguments.kernelSize")
    ctx = ArgumentContext(node="n", rng=np.random.default_rng(seed), globals={}, local={})
    return resolve_argument("kernelSize", arg, ctx)


@pytest.mark.parametrize(
    ("parameters", "allowed"),
    [([2, 5], {3, 5}), ([3, 11], {3, 5, 7, 9, 11}), ({"low": 1, "high": 3}, {1, 3})],
)
def test_kernel_specs_draws_odd_sizes_in_range(parameters: object, allowed: set[int]) -> None:
    rng = np.random.default_rng(0)
    seen = {kernel_specs(parameters, rng=rng) for _ in range(60)}  # type: ignore[arg-type]
    assert seen == allowed


@pytest.mark.parametrize(
    ("parameters", "expected"), [({"kernel_size": 5}, 5), ({"kernel_size": "6"}, 7), (4, 5)]
)
def test_kernel_specs_fixed_size_is_made_odd(parameters: object, expected: int) -> None:
    assert kernel_specs(parameters, rng=np.random.default_rng(0)) == expected  # type: ignore[arg-type]


def test_kernel_specs_runs_through_the_batch_with_the_project_generator() -> None:
    from masksmith.batch.selectors import spec_functions

    assert spec_functions()["kernelSpecs"] is kernel_specs
    assert spec_functions()["kernel_builder"] is kernel_specs
    draws = [_through_the_batch([1, 99], seed) for seed in range(12)]
    assert draws == [_through_the_batch([1, 99], seed) for seed in range(12)]  # seeded
    assert len(set(draws)) > 3 and all(isinstance(d, int) and d % 2 == 1 and 1 <= d <= 99 for d in draws)
    assert _through_the_batch([1, 99], 3, state_name="kernels") == draws[3]


def test_kernel_specs_without_a_generator_is_repeatable() -> None:
    assert kernel_specs([1, 99]) == kernel_specs([1, 99])


@pytest.mark.parametrize("parameters", [[1, 2, 3], {"size": 3}, None, ["a", "b"]])
def test_kernel_specs_rejects_bad_parameters(parameters: object) -> None:
    with pytest.raises(PluginError):
        kernel_specs(parameters, rng=np.random.default_rng(0))  # type: ignore[arg-type]


def test_plugins_list_prints_every_plugin_with_its_operation() -> None:
    result = CliRunner().invoke(plugins, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, cls in all_plugins().items():
        assert any(line.split()[0] == name and line.rstrip().endswith(cls.operation) for line in lines[1:])
    as_json = json.loads(CliRunner().invoke(plugins, ["list", "--json"]).output)
    assert {row["name"] for row in as_json} == set(all_plugins())


def test_plugins_show_prints_operation_and_arguments() -> None:
    result = CliRunner().invoke(plugins, ["show", "PasteSplice"])
    assert result.exit_code == 0, result.output
    assert "operation: PasteSplice" in result.output
    for argument in ("donor", "approach", "segment"):
        assert f"  {argument} (" in result.output
    assert "one of simple, random, texture" in result.output
    shown = json.loads(CliRunner().invoke(plugins, ["show", "CompressAs", "--json"]).output)
    assert shown["operation"] == "AntiForensicExifQuantizationTable" and shown["suffix"] == "donor"


def test_plugins_show_unknown_name_fails() -> None:
    result = CliRunner().invoke(plugins, ["show", "NoSuchPlugin"])
    assert result.exit_code != 0
    assert isinstance(result.exception, PluginError)
