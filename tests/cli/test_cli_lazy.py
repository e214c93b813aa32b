"""The top-level command imports a job's modules only when that job runs."""

from __future__ import annotations

import subprocess
import sys

from masksmith.cli.main import SUBCOMMANDS, cli, run


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_help_lists_every_job(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["--help"]) == 0
    text = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"  {name} " in text
    assert sorted(cli.list_commands(None)) == sorted(SUBCOMMANDS)  # type: ignore[arg-type]


def test_anonymise_does_not_load_the_batch_engine() -> None:
    loaded = _modules_after("from masksmith.cli.main import run\nrun(['anonymise', '--help'])")
    assert "masksmith.cli.anonymise_cmds" in loaded
    assert not {m for m in loaded if m.startswith(("masksmith.batch", "masksmith.plugins", "networkx"))}


def test_unknown_command_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(["no-such-job"]) == 2
    assert "No such command 'no-such-job'" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "masksmith", "--version"], check=True, capture_output=True, text=True
    ).stdout
    assert out.startswith("masksmith, version ")
