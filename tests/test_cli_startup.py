"""Start-up of the ``porthos`` command (issue 20 §1): ``--help`` imports no command
module, and the lazy table in cli/main.py says what the loaded commands say."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from porthos.cli.main import COMMANDS, LazyGroup, main

# What a command module pulls in and ``porthos --help`` must not (the 0.11 s of 2026-12).
HEAVY = ("rich", "porthos._native", "cryptography", "numpy", "porthos.cli.issue")


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys, json\n"
        "from porthos.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.splitlines()[-1]) == []
    assert "issue" in out and "verify-csrs" in out


@pytest.mark.parametrize("width", [60, 80, 200])
def test_listing_equals_the_loaded_commands(width: int) -> None:
    """The eager group of the loaded commands prints the same --help as the lazy one."""
    lazy = LazyGroup(name="porthos", lazy=COMMANDS, help=main.help)
    eager = click.Group(name="porthos", help=main.help)
    for name, entry in COMMANDS.items():
        eager.add_command(entry.load(), name)
    texts = []
    for group in (lazy, eager):
        with click.Context(group, info_name="porthos", terminal_width=width) as ctx:
            texts.append(group.get_help(ctx))
    assert texts[0] == texts[1]


def test_every_command_runs_its_help() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: " in result.output


def test_nested_groups_get_their_commands() -> None:
    runner = CliRunner()
    crl_help = runner.invoke(main, ["crl", "--help"]).output
    assert "publish" in crl_help and "due" in crl_help
    bench_help = runner.invoke(main, ["bench", "--help"]).output
    for sub in ("issue", "crl", "hsm", "verify", "ifma"):
        assert sub in bench_help


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
