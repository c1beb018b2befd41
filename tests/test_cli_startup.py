"""Start-up of the ``porthos`` command (issue 20 §1): ``--help`` imports no command
module, and the lazy table in cli/main.py says what the loaded commands say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("width", [60, 80, 200])
def test_crl_listing_equals_the_loaded_commands(width: int) -> None:
    """`porthos crl --help` lists the lazy workspace commands (cli/lifecycle.py) as the
    loaded ones would."""
    from porthos.cli.crl import WORKSPACE_COMMANDS, crl

    eager = click.Group(name="crl", help=crl.help)
    for name, command in crl.commands.items():
        eager.add_command(command, name)
    for name, entry in WORKSPACE_COMMANDS.items():
        eager.add_command(entry.load(), name)
    lazy = LazyGroup(name="crl", lazy=WORKSPACE_COMMANDS, help=crl.help)
    for name, command in crl.commands.items():
        if name not in WORKSPACE_COMMANDS:
            lazy.add_command(command, name)
    texts = []
    for group in (lazy, eager):
        with click.Context(group, info_name="crl", terminal_width=width) as ctx:
            texts.append(group.get_help(ctx))
    assert texts[0] == texts[1]


def test_crl_build_imports_neither_rich_nor_the_workspace(tmp_path: Path) -> None:
    """`crl build` (a whole process timed against pyca, issue 20 §1) imports no rich and
    no workspace layer when its output is not a terminal, and still writes its line."""
    from porthos.bench.crl_input import make_inputs

    make_inputs(tmp_path, 100)
    code = (
        "import sys, json\n"
        "from porthos.cli.main import main\n"
        "try:\n"
        "    main(['crl', 'build', '--revoked', 'revoked.csv', '--issuer-cert', 'ca.der',\n"
        "          '--issuer-key', 'ca.p8', '--number', '1', '--next-update', '1',\n"
        "          '--out', 'out.crl'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = ('rich', 'porthos.workspace', 'porthos.cli.lifecycle', 'porthos.hsm')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    lines = r.stdout.splitlines()
    assert lines[0].startswith("wrote out.crl (") and lines[0].endswith(" 100 entries)"), r.stdout
    assert json.loads(lines[-1]) == [], r.stdout
    assert (tmp_path / "out.crl").stat().st_size > 0
