"""``porthos audit verify|export|show``: the audit trail of a workspace (000 §5.4).

``verify`` and ``export`` only read: they open the store itself, not a Workspace (whose
opening records a software version change), so checking a trail never extends it.

Exit codes of ``verify``: 0 the chain holds (the record count and the head are
printed), 1 the chain is broken (the first bad record and the problem are named),
2 usage or input errors (as every porthos command).

The actor of every record a CLI command writes is ``$PORTHOS_ACTOR``, else the
operating-system user (``audit.default_actor``; 000 §5.4.1 asks who acted).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from porthos.cli.common import cell, errors_exit_2, get_console
from porthos.cli.options import when_utc
from porthos.exceptions import WorkspaceError

EXIT_BROKEN = 1

_WORKDIR = click.option(
    "--workdir",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace directory (store, keys, repository).",
)


@contextmanager
def _store(workdir: Path | None) -> Iterator[Any]:
    from porthos.exceptions import StoreError, StoreUnavailableError
    from porthos.store import location

    if workdir is None:
        raise click.UsageError("give --workdir (or --export FILE to check an export)")
    if not location.initialised(workdir):
        raise WorkspaceError(
            f"{workdir} is not an initialised porthos workspace (no {location.STORE_FILE})"
        )
    try:
        store = location.open_store(workdir)
    except StoreUnavailableError:
        raise
    except StoreError as exc:
        raise WorkspaceError(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail (000 §5.4): verify, export, show."""


def _check_head(result: Any, rows: dict[int, str], head: str) -> str:
    """'' when the trail still holds record SEQ with chain value HASH (given as SEQ:HASH),
    else the problem: catches a trail cut off after an earlier export."""
    try:
        seq_text, want = head.split(":", 1)
        seq = int(seq_text)
    except ValueError:
        raise click.BadParameter("expected SEQ:HASH", param_hint="--head") from None
    got = rows.get(seq)
    if got is None:
        return f"record {seq} of the given head is missing (the trail has {result.records})"
    if got != want.strip().lower():
        return f"record {seq}: chain value differs from the given head"
    return ""


@audit_group.command("verify")
@_WORKDIR
@click.option(
    "--export",
    "export_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Verify this exported JSON-lines file offline instead of a workspace.",
)
@click.option(
    "--head",
    default=None,
    metavar="SEQ:HASH",
    help="A head printed by an earlier verify: the trail must still hold it "
    "(detects records cut off the end).",
)
@click.pass_context
@errors_exit_2
def verify_cmd(
    ctx: click.Context, workdir: Path | None, export_file: Path | None, head: str | None
) -> None:
    """Walk the chain; exit 0 when it holds, 1 naming the first bad record."""
    from porthos.store import audit

    console = get_console()
    heads: dict[int, str] = {}
    if export_file is not None:
        result = audit.verify_export(export_file)
        where = str(export_file)
        if head is not None:
            with export_file.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        obj = json.loads(line)
                        heads[int(obj["seq"])] = str(obj["hash"])
    else:
        with _store(workdir) as store:
            result = audit.verify(store)
            where = str(workdir)
            if head is not None:
                heads = audit.chain_values(store)
    problem = result.problem
    if result.ok and head is not None:
        problem = _check_head(result, heads, head)
    if not result.ok or problem:
        first = f"first bad record: {result.first_bad}; " if result.first_bad else ""
        get_console(stderr=True).print(
            f"[bold red]audit chain broken[/] in {where}: {first}{problem}"
        )
        ctx.exit(EXIT_BROKEN)
    last = result.records
    console.print(
        f"[green]audit chain verified[/]: {result.records} records in {where}; "
        f"head {last}:{result.head}"
    )


@audit_group.command("export")
@_WORKDIR
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON-lines file (default: standard output).",
)
@errors_exit_2
def export_cmd(workdir: Path | None, out_file: Path | None) -> None:
    """Write every record as one JSON line, with its chain values (check it offline
    with ``porthos audit verify --export FILE``)."""
    from porthos.store import audit

    with _store(workdir) as store:
        n = audit.export_jsonl(store, out_file)
    if out_file is not None:
        get_console(stderr=True).print(f"{n} audit records -> {out_file}")


def _summary(details: dict[str, Any], limit: int = 90) -> str:
    parts = []
    for k, v in details.items():
        if isinstance(v, list) and len(v) > 3:
            text = f"[{len(v)} items]"
        else:
            text = json.dumps(v, ensure_ascii=False)
        parts.append(f"{k}={text}")
    out = " ".join(parts)
    return out if len(out) <= limit else out[: limit - 1] + "…"


@audit_group.command("show")
@_WORKDIR
@click.option("--event", "events", multiple=True, help="Only these events (repeatable).")
@click.option("--since", type=click.IntRange(min=1), default=1, help="From this sequence number.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--failures", is_flag=True, help="Only records with outcome 'failure'.")
@errors_exit_2
def show_cmd(
    workdir: Path | None, events: tuple[str, ...], since: int, limit: int, failures: bool
) -> None:
    """A table of the records (details summarised; ``export`` has them in full)."""
    from porthos.store import audit

    table = Table(title=f"audit trail of {workdir}")
    for col in ("seq", "time", "actor", "event", "outcome", "subject / serial", "details"):
        table.add_column(col, justify="right" if col == "seq" else "left")
    shown = 0
    with _store(workdir) as store:
        for rec in audit.records(store, since=since):
            if events and rec.event not in events:
                continue
            if failures and rec.outcome != "failure":
                continue
            outcome = rec.outcome if rec.outcome == "success" else f"[red]{rec.outcome}[/]"
            table.add_row(
                str(rec.seq),
                when_utc(rec.time),
                cell(rec.actor),
                cell(rec.event),
                outcome if rec.outcome in ("success", "failure") else cell(rec.outcome),
                cell(rec.subject or rec.serial or ""),
                cell(_summary(rec.details)),
            )
            shown += 1
            if shown >= limit:
                break
    get_console().print(table)
    if shown >= limit:
        print(f"(first {limit} shown; --since / --limit for more)", file=sys.stderr)
