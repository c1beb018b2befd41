"""``porthos bench``: the benchmark group and ``bench issue``. The other benchmarks live
with their command groups (``bench crl`` in crl.py, ``bench hsm`` in hsm.py, ``bench
verify`` in verify.py, ``bench ifma`` in porthos.bench.ifma); main.py adds them here."""

from __future__ import annotations

import click
from rich.table import Table

from porthos.cli.common import errors_exit_2, flatten, get_console

__all__ = ["bench"]


@click.group()
def bench() -> None:
    """Benchmarks (porthos.bench)."""


@bench.command("issue")
@click.option("--n", "n", type=click.IntRange(min=1), default=10000, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@click.option(
    "--cpcps",
    default=None,
    help="A CP/CPS (bundled name or TOML path with demo.toml beside it): issue --profile "
    "of it with its CA's own key. Default: the Porthos PKI's ha-device.",
)
@click.option("--profile", default=None, help="The profile to issue (with --cpcps).")
@errors_exit_2
def bench_issue(
    n: int,
    repeats: int,
    threads: int | None,
    json_out: str | None,
    cpcps: str | None,
    profile: str | None,
) -> None:
    """Batch issuance throughput against its peers."""
    from porthos.bench import issue as bench_issue_module

    if (cpcps is None) != (profile is None):
        raise click.UsageError("--cpcps and --profile go together")
    result = bench_issue_module.run(
        n=n, repeats=repeats, threads=threads, json_out=json_out, cpcps=cpcps, profile=profile
    )
    table = Table(title=f"bench issue (n={n}, repeats={repeats})")
    table.add_column("key")
    table.add_column("value")
    for key, value in flatten(result):
        table.add_row(key, value)
    get_console().print(table)
