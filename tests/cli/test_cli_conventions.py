"""CLI conventions: kebab-case flags with hidden legacy aliases, global -q/-v after the subcommand, one help list."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from masksmith.cli.facemask_cmds import generate_masked_images
from masksmith.cli.jtbatch import jtbatch
from masksmith.cli.main import SUBCOMMANDS, cli, run
from masksmith.cli.options import AliasedOption, accept_global_flags

KEBAB = re.compile(r"^(-[a-zA-Z]|--[a-z0-9]+(-[a-z0-9]+)*)$")


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{path} {name}"
            yield from _walk(sub, f"{path} {name}")


def _every_command() -> list[tuple[str, click.Command]]:
    return [
        *_walk(cli, "masksmith"),
        *_walk(jtbatch, "jtbatch"),
        ("generate_masked_images", generate_masked_images),
    ]


def _value_for(option: click.Option) -> list[str]:
    """Arguments that give ``option`` a non-default value (no value for a flag)."""
    if option.is_flag:
        return []
    kind = option.type
    if isinstance(kind, click.Choice):
        choices = [str(c) for c in kind.choices if c != option.default]
        return [choices[0]]
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        low = kind.min if kind.min is not None else 1
        return [str(low if low != option.default else low + 1)]
    if kind in (click.INT, click.FLOAT):
        return ["7"]
    return ["a,b"]


def _parse(command: click.Command, args: list[str]) -> dict[str, object]:
    ctx = command.make_context("x", list(args), resilient_parsing=True)
    return dict(ctx.params)


def test_the_legacy_spellings_are_covered() -> None:
    aliases = {
        alias
        for _, command in _every_command()
        for p in command.params
        if isinstance(p, AliasedOption)
        for alias in p.aliases
    }
    expected = {
        "--n_augmentations", "--no_mask", "--no_crop", "--crop_style", "--mask_types", "--crop_size",
        "--detect_max_side", "--max_yaw", "--max_pitch", "--below_nose", "--global_variables", "--from_state",
        "--keep_failed", "--stop_on_error", "--skip_validation", "--skipValidation", "--extensionRules",
        "--completeFile", "--complete_file", "--passthrus",
    }  # fmt: skip
    assert expected <= aliases


def test_every_alias_parses_to_the_same_value_as_its_canonical_flag() -> None:
    checked = 0
    for path, command in _every_command():
        for param in command.params:
            if not isinstance(param, AliasedOption):
                continue
            canonical = next(o for o in param.opts if o not in param.aliases)
            value = _value_for(param)
            default = _parse(command, [])[param.name]  # type: ignore[index]
            wanted = _parse(command, [canonical, *value])[param.name]  # type: ignore[index]
            assert wanted != default, f"{path} {canonical}: the test value must change it"
            for alias in param.aliases:
                got = _parse(command, [alias, *value])[param.name]  # type: ignore[index]
                assert got == wanted, f"{path}: {alias} gave {got!r}, {canonical} gave {wanted!r}"
                checked += 1
    assert checked >= 40


def test_help_shows_only_kebab_case_flags() -> None:
    for path, command in _every_command():
        ctx = click.Context(command, info_name=path)
        shown = command.get_help(ctx)
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            visible = [o for o in param.opts if o not in getattr(param, "aliases", ())]
            for flag in visible:
                assert KEBAB.match(flag), f"{path}: {flag} is not kebab-case"
                assert flag in shown, f"{path}: {flag} not in help"
            for alias in getattr(param, "aliases", ()):
                assert not re.search(rf"{re.escape(alias)}\b", shown), f"{path}: alias {alias} shown in help"


def test_top_level_help_lists_each_command_once_with_an_example() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert len(re.findall(rf"^\s+{name}\s", result.output, flags=re.M)) == 1, name
    assert "Example" in result.output and "masksmith demo" in result.output


def test_create_and_extend_share_the_log_level_default() -> None:
    ctx = click.Context(cli)
    batch = cli.get_command(ctx, "batch")
    assert isinstance(batch, click.Group)
    defaults = {
        name: next(p.default for p in batch.commands[name].params if p.name == "loglevel")
        for name in ("create", "extend")
    }
    assert defaults["create"] == defaults["extend"]


def test_quiet_and_verbose_after_the_subcommand_mean_what_they_mean_before_it() -> None:
    seen: list[tuple[bool, bool, int]] = []

    @click.group()
    @click.option("-q", "--quiet", is_flag=True)
    @click.option("-v", "--verbose", is_flag=True)
    @click.pass_context
    def root(ctx: click.Context, quiet: bool, verbose: bool) -> None:
        ctx.obj = {"quiet": quiet, "verbose": verbose}

    @root.command()
    @click.pass_context
    def job(ctx: click.Context) -> None:
        obj = ctx.find_root().obj
        seen.append((obj["quiet"], obj["verbose"], logging.getLogger().level))

    accept_global_flags(root)
    saved = logging.getLogger().level
    try:
        for args in (["-q", "job"], ["job", "-q"], ["job", "--quiet"], ["job", "-v"], ["job"]):
            assert CliRunner().invoke(root, args).exit_code == 0, args
    finally:
        logging.getLogger().setLevel(saved)
    quiet_before, quiet_after, quiet_long, verbose_after, neither = seen
    assert quiet_after == quiet_long == (True, False, logging.ERROR)
    assert quiet_before[:2] == (True, False)
    assert verbose_after == (False, True, logging.DEBUG)
    assert neither[:2] == (False, False)


@pytest.mark.parametrize("flag", ["-q", "--quiet", "-v", "--verbose"])
def test_the_real_cli_takes_global_flags_after_the_subcommand(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = logging.getLogger().level
    try:
        assert run(["operations", "list", flag]) == 0
        assert run(["plugins", flag, "list"]) == 0
    finally:
        logging.getLogger().setLevel(saved)
    assert "no such option" not in capsys.readouterr().err
