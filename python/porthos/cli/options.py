"""Options and formatting shared by the CLI modules: ``--workdir``, the UTC time format,
and for ``porthos revoke``, ``porthos crl due`` and ``porthos crl publish`` (issue 6)
``--now`` and the HSM PINs. A helper below the command modules: imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click


class _Time(click.ParamType):
    """ISO-8601 or @unix-seconds -> Unix seconds."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            try:
                return int(text[1:])
            except ValueError:
                self.fail(f"{value!r}: @ must be followed by Unix seconds", param, ctx)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is neither ISO-8601 nor @<unix seconds>", param, ctx)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp())


TIME = _Time()

WORKDIR = click.option(
    "--workdir",
    "-w",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace directory (store, keys, repository).",
)


def when_utc(ts: int | None) -> str:
    """Unix seconds -> 'YYYY-MM-DD HH:MM:SSZ' (UTC), '-' for None."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


NOW_OPTION = click.option(
    "--now",
    type=TIME,
    default=None,
    help="Act as if it were this time (ISO-8601 or @unix); default: the system clock.",
)

PIN_OPTIONS = [
    click.option(
        "--pin-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="HSM workspaces: file with the issuing-CA token PIN (else a prompt).",
    ),
    click.option(
        "--root-officer",
        "root_officers",
        multiple=True,
        metavar="NAME=PINFILE",
        help="HSM workspaces, root CRL: twice, an HSM Security Officer and the file with "
        "their half of the root PIN (000 §6.2.2); else two prompts.",
    ),
]


# Where a Dask run finds its cluster (issue 19 §3): shared by `issue` and `crl publish`,
# each of which adds its own --executor help text.
DASK_CLUSTER_OPTIONS = [
    click.option(
        "--scheduler",
        default=None,
        help="With --executor dask: the Dask scheduler (tcp://HOST:PORT); default a "
        "LocalCluster started here.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="With --executor dask and no --scheduler: LocalCluster worker processes.",
    ),
]


def dask_cluster_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(DASK_CLUSTER_OPTIONS):
        f = option(f)
    return f
