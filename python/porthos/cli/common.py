"""Helpers shared by the command modules of ``porthos``: the console, the one error
door (porthos errors and file errors become one line and exit status 2, and a failure
record in the workspace's audit trail), the batch report, the CA table. Below every
command module; imports none of them."""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from porthos.cli.options import when_utc
from porthos.exceptions import PorthosError

# rich is imported where output is formatted, not here: a command that prints a line or
# two (`crl build`, whose whole process is a benchmark against pyca, issue 20 §1) does
# not pay its ~40 ms of imports.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from porthos.workspace.authority import IssueResult
    from porthos.workspace.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])

EXIT_REJECTED = 3
EXIT_INPUT = 2


def get_console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Not a terminal (pipes, CliRunner): wide enough that subjects are not folded.
    width = None if sys.stdout.isatty() else 160
    return Console(stderr=stderr, width=width, highlight=False)


# What must not reach a terminal from text users supplied (actor, requester, comment,
# file names): C0 and C1 controls (ESC starts terminal sequences, CR and LF forge
# lines), DEL, and the bidirectional overrides that reorder what is shown.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    # A warning is one line on stderr, like an error (no source line, no file path).
    from rich.markup import escape

    get_console(stderr=True).print(
        f"[yellow]warning:[/] {escape(printable(str(message)))}", soft_wrap=True
    )


warnings.showwarning = _show_warning


def printable(text: str) -> str:
    """``text`` with every control character written as a visible escape (issue 20 §3):
    ``\\x1b`` instead of ESC, so printed text cannot move the cursor, recolour the
    terminal or forge a line of a table."""
    return _UNPRINTABLE.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def cell(value: object) -> str:
    """A table cell of user-supplied text: controls escaped, rich markup inert."""
    from rich.markup import escape

    return escape(printable(str(value)))


def fail(message: str) -> None:
    # One line whatever its length (soft_wrap: rich does not fold it at the width); the
    # message escaped, or rich takes the error's "[code]" for markup and drops it.
    from rich.markup import escape

    get_console(stderr=True).print(
        f"[bold red]error:[/] {escape(printable(message))}", soft_wrap=True
    )
    sys.exit(EXIT_INPUT)


def errors_exit_2(func: F) -> F:
    """porthos errors and file errors -> one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except PorthosError as exc:
            audit_failure(kwargs, exc)
            fail(f"{exc} [{exc.code}]")
        except OSError as exc:
            audit_failure(kwargs, exc)
            fail(str(exc))
        except ImportError as exc:
            fail(f"porthos is not fully built: {exc}")
        except sqlite3.DatabaseError as exc:
            audit_failure(kwargs, exc)
            fail(f"the store is damaged or unreadable: {exc} [store-integrity]")
        except UnicodeError as exc:
            audit_failure(kwargs, exc)
            fail(f"input is not valid text: {exc}")
        except Exception as exc:
            # Never a traceback on a user's terminal (issue 20 §3): one line naming the
            # failure; PORTHOS_DEBUG=1 shows the traceback to whoever debugs it.
            audit_failure(kwargs, exc)
            if os.environ.get("PORTHOS_DEBUG") == "1":
                raise
            fail(
                f"unexpected {type(exc).__name__}: {exc} (a porthos bug: please report it; "
                "PORTHOS_DEBUG=1 shows the traceback)"
            )
        return None

    return wrapper  # type: ignore[return-value]


def audit_failure(kwargs: dict[str, Any], exc: BaseException) -> None:
    # 000 §5.4.1 "failures": a command that fails in a workspace leaves a record there
    # (record_command_failure; the actor is $PORTHOS_ACTOR or the OS user).
    names = []
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    command = " ".join(["porthos", *reversed(names)])
    record_command_failure(kwargs.get("workdir"), command, exc)


def record_command_failure(workdir: Any, command: str, exc: BaseException) -> None:
    """Record that a CLI command failed with an exception (000 §5.4.1 "failures"), in
    the trail of its workspace when one exists. Never raises: the original error is
    what the operator must see. ``audit verify`` and ``audit export`` only read."""
    # Lazy: the store and workspace modules load numpy and the extension, which a
    # command that never fails (and `porthos --help`) should not pay for.
    from porthos.exceptions import StoreUnavailableError
    from porthos.store import audit, location

    if workdir is None or command in ("porthos audit verify", "porthos audit export"):
        return
    if isinstance(exc, StoreUnavailableError):
        return  # the database is what failed: no store to record it in
    try:
        if not location.initialised(Path(workdir)):
            return
        with location.open_store(Path(workdir)) as store:
            audit.record_failure(store, audit.Event.FAILURE, exc, command=command)
    except Exception:  # noqa: BLE001 - a store that cannot take the record: nothing to add
        return


def report_batch(
    ctx: click.Context,
    result: IssueResult,
    out_file: Path,
    report_file: Path | None,
    seconds: float,
    how: str | None = None,
) -> None:
    """Write the PEM bundle and the report, print the per-item refusals, exit 3 if any
    (`porthos issue` and the RA's issuing commands). ``how``: the RA's identity check."""
    try:
        out_file.write_text(result.pem(), encoding="ascii")
    except OSError as exc:
        raise _undelivered(result, out_file, exc) from None
    rejected = [
        {"index": i, "status": status.name, "reason": reason}
        for i, status, reason in result.rejected()
    ]
    if report_file is not None:
        report = {
            "profile": result.profile,
            "ca": result.ca,
            "requests": len(result),
            "issued": result.issued_count,
            "rejected": rejected,
        }
        if how is not None:
            report["identity_check"] = how
        try:
            report_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise _undelivered(result, report_file, exc) from None
    console = get_console()
    batch = "" if result.batch is None else f", batch {result.batch}"
    console.print(
        f"{result.issued_count} of {len(result)} certificates issued by {result.ca} "
        f"(profile {result.profile}{', ' + how if how else ''}{batch}) in {seconds:.3f} s "
        f"-> {out_file}"
    )
    if rejected:
        from rich.table import Table

        table = Table(title="Refused requests")
        table.add_column("index", justify="right")
        table.add_column("status")
        table.add_column("reason")
        for row in rejected[:50]:
            table.add_row(str(row["index"]), str(row["status"]), str(row["reason"]))
        console.print(table)
        if len(rejected) > 50:
            console.print(f"... and {len(rejected) - 50} more (see --report)")
        ctx.exit(EXIT_REJECTED)


def _undelivered(result: IssueResult, path: Path, exc: OSError) -> PorthosError:
    """What a failed write after the commit says: the certificates exist, and how to
    get them (issue 20 §2)."""
    from porthos.exceptions import InputError

    again = (
        f"; `porthos export --workdir W --batch {result.batch} --out FILE` delivers them"
        if result.batch is not None
        else ""
    )
    return InputError(
        f"cannot write {path}: {exc.strerror or exc}; {result.issued_count} certificates "
        f"were issued and stored (batch {result.batch}){again}"
    )


class ProgressBar:
    """A rich progress bar the Rust writer drives through its per-chunk callback. On
    a terminal only: anywhere else (a pipe, a log, CI) nothing would be shown, and
    rich's import is not paid for nothing (a callback that does nothing instead)."""

    def __init__(self, label: str) -> None:
        self._progress: Any = None
        if not sys.stderr.isatty():
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=get_console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task(label, total=None)

    def __enter__(self) -> Callable[[int, int], None] | None:
        progress = self._progress
        if progress is None:
            return None  # the writer then makes no callback at all
        progress.__enter__()

        def update(done: int, total: int) -> None:
            progress.update(self._task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)


def ca_table(ws: Workspace) -> Table:
    """The CAs of a workspace (``init``, ``show``, ``demo``)."""
    from rich.table import Table

    table = Table(title=f"CAs ({ws.env})")
    for col in ("name", "subject", "serial", "not after", "file"):
        table.add_column(col)
    for ca in ws.cas:
        rel = ws.repository_path(ca.name).relative_to(ws.path)
        table.add_row(
            ca.name,
            ", ".join(f"{a}={v}" for a, v in reversed(ca.subject)),
            ca.serial_hex,
            when_utc(ca.not_after),
            str(rel),
        )
    return table


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for k, v in value.items():
            rows += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(value, float):
        return [(prefix, f"{value:,.3f}")]
    return [(prefix, str(value))]
