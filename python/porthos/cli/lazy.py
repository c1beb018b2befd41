"""Commands imported on first use (issue 20 §1: start-up). A group names each command's
``module:attribute`` and its one-line help, so that ``--help`` lists the commands
without importing their modules (rich, pyca, NumPy, the Rust extension), and a command
imports only what it runs. Used by ``porthos`` itself (cli/main.py) and by groups whose
commands live in several modules (``porthos crl``: the file tools here, the workspace's
schedule commands in cli/lifecycle.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:attribute``) and its one-line help."""

    target: str
    short_help: str

    def load(self) -> click.Command:
        module, _, attr = self.target.partition(":")
        loaded = getattr(importlib.import_module(module), attr)
        # A loader function (``_bench_group`` in cli/main.py) assembles a group from
        # several modules.
        command: click.Command = loaded() if not isinstance(loaded, click.Command) else loaded
        return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (see the module docstring)."""

    def __init__(self, *args: Any, lazy: dict[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._lazy) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self._lazy:
            self.add_command(self._lazy[cmd_name].load(), cmd_name)
        return self.commands.get(cmd_name)

    def _short_help(self, name: str, limit: int) -> str:
        if name in self.commands or name not in self._lazy:
            return self.commands[name].get_short_help_str(limit)
        # A bare Command shortens the text exactly as the loaded command would.
        return click.Command(name, help=self._lazy[name].short_help).get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The width arithmetic is click's own (Group.format_commands), so the listing is
        # the one the loaded commands would give.
        names = self.list_commands(ctx)
        if names:
            limit = formatter.width - 6 - max(len(name) for name in names)
            rows = [(name, self._short_help(name, limit)) for name in names]
            with formatter.section("Commands"):
                formatter.write_dl(rows)
