"""``porthos revoke``, ``porthos crl due`` and ``porthos crl publish`` (000 §4.9): the
revocations of a workspace and the CRLs its schedule (§4.9.7) makes due. main.py adds
the two ``crl`` commands to the group of crl.py.

``--now`` says which time the command acts at: ISO-8601 (``2027-03-01T12:00:00Z``; no
zone means UTC) or ``@<unix seconds>``. Without it the system clock is used (000 §6.8).
It exists so that the schedule (§4.9.7) and scheduled revocations (§4.9.4) can be
exercised and replayed without waiting a year; it is recorded in the audit records
of what it causes (``revoked_at``, ``this_update``), next to the real record time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from porthos.cli.common import ProgressBar, errors_exit_2, get_console
from porthos.cli.hsm_options import root_halves
from porthos.cli.options import (
    NOW_OPTION,
    PIN_OPTIONS,
    TIME,
    WORKDIR,
    dask_cluster_options,
    when_utc,
)
from porthos.store import shard_leases

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

__all__ = ["due", "publish", "revoke"]


@click.command()
@WORKDIR
@click.option(
    "--serial",
    "serials",
    multiple=True,
    required=True,
    help="Serial of a certificate to revoke, hex (0x and colons allowed); repeatable. "
    "All of them are revoked, or none.",
)
@click.option(
    "--reason",
    required=True,
    help="RFC 5280 §5.3.1 reason, by name or code; the CP/CPS of the workspace says "
    "which it allows for subscriber and for CA certificates (others are refused).",
)
@click.option(
    "--requester",
    required=True,
    help="Who requested the revocation (000 §4.9.2, §3.4); recorded and audited.",
)
@click.option("--ca", "ca_name", default=None, help="The issuing CA (default: from the store).")
@click.option(
    "--invalidity-date",
    type=TIME,
    default=None,
    help="When the key is known or suspected compromised (RFC 5280 §5.3.2).",
)
@click.option("--comment", default=None, help="Free text for the audit record.")
@NOW_OPTION
@errors_exit_2
def revoke(
    workdir: Path,
    serials: tuple[str, ...],
    reason: str,
    requester: str,
    ca_name: str | None,
    invalidity_date: int | None,
    comment: str | None,
    now: int | None,
) -> None:
    """Revoke certificates by serial (000 §4.9); their CAs' CRLs become due (§4.9.7)."""
    from porthos.workflows import revocation
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        done = revocation.revoke(
            ws,
            serials,
            reason,
            requester=requester,
            ca=ca_name,
            now=now,
            invalidity_date=invalidity_date,
            comment=comment,
        )
    table = Table(title=f"{len(done)} certificate(s) revoked")
    for col in ("CA", "serial", "subject", "reason", "revoked at", "requested by"):
        table.add_column(col)
    for r in done:
        table.add_row(
            r.ca, r.serial_hex, r.subject, r.reason, when_utc(r.revoked_at), r.requested_by
        )
    get_console().print(table)
    get_console().print("their CRLs are due now: porthos crl publish (000 §4.9.7)")


@click.command("due")
@WORKDIR
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Also list what is not due yet.")
@NOW_OPTION
@errors_exit_2
def due(workdir: Path, as_json: bool, show_all: bool, now: int | None) -> None:
    """What is due (§4.9.7): each CA's CRL every crl.period of its CP/CPS entry, a CA's
    CRL after a revocation, and scheduled revocations whose grace period ended
    (§4.9.4). Exit 0 either way; `porthos crl publish` issues what is due."""
    from porthos.workflows import crl_schedule
    from porthos.workspace.workspace import Workspace

    now = int(time.time()) if now is None else now
    with Workspace.open(workdir) as ws:
        items = crl_schedule.schedule(ws, now) if show_all else crl_schedule.due(ws, now)
    if as_json:
        click.echo(json.dumps({"now": now, "items": [i.as_json() for i in items]}, indent=1))
        return
    table = Table(title=f"due at {when_utc(now)}" if items else f"nothing due at {when_utc(now)}")
    for col in ("CA", "kind", "due", "why", "last CRL", "next due"):
        table.add_column(col)
    for i in items:
        last = "-" if i.last_number is None else f"#{i.last_number} {when_utc(i.last_this_update)}"
        table.add_row(i.ca, i.kind, "yes" if i.is_due else "no", i.why, last, when_utc(i.next_due))
    get_console().print(table)


def _publish_due(
    workdir: Path,
    ca_name: str | None,
    everything: bool,
    now: int | None,
    pin_file: Path | None,
    root_officers: tuple[str, ...],
) -> None:
    """The body of ``porthos crl publish`` without --delta."""
    from porthos.workflows import crl_end, crl_publication, crl_schedule
    from porthos.workspace.workspace import Workspace

    now = int(time.time()) if now is None else now
    console = get_console()
    with Workspace.open(workdir) as ws:
        if ca_name is not None:
            # A CA that publishes no more is refused before anything below commits.
            crl_end.refuse_unless_publishing(ws, ws.ca(ca_name))
        # Scheduled revocations and escalated holds first: they can make a CA due
        # (§4.9.4, §4.9.7, a CP/CPS's suspension limit).
        carried_out = _carry_out_due_revocations(ws, now)
        names = crl_schedule.crl_targets(ws, now, everything=everything, ca=ca_name)
        halves = None
        if ws.hsm is not None and names:
            from porthos.hsm import read_pin

            if any(not ws.ca(n).spec.self_signed for n in names):
                ws.activate(read_pin(pin_file, "PIN of the issuing-CA token"))
            if any(ws.ca(n).spec.self_signed for n in names):
                halves = root_halves(root_officers)
        results = crl_publication.publish(ws, names, now=now, root_halves=halves)
        # A retired CA whose final CRL this was: one line each (workflows/crl_end.py).
        ended = [
            end.line()
            for end in (crl_end.retired_crls(ws, ws.ca(n)) for n in names)
            if end is not None and end.ended
        ]
    for line in carried_out:
        console.print(line)
    table = Table(title=f"published at {when_utc(now)}" if results else "nothing was due")
    for col in ("CA", "what", "CRL number", "entries", "files", "SHA-256"):
        table.add_column(col)
    for p in results:
        table.add_row(
            p.ca,
            p.kind,
            "-" if p.number is None else str(p.number),
            "-" if p.entries is None else str(p.entries),
            "\n".join(str(x.relative_to(workdir)) for x in p.paths),
            p.sha256[:16],
        )
    console.print(table)
    for line in ended:
        console.print(line, soft_wrap=True)


def _carry_out_due_revocations(ws: Workspace, now: int) -> list[str]:
    """Carry out the scheduled revocations and escalate the holds past the CP/CPS's
    limit that are due at ``now`` (each one transaction, workflows/revocation.py and
    suspension.py), so that the CRLs published next list them; one line each. Every
    CRL door of the CLI runs it first: full, delta and the Dask shard rebuild."""
    from porthos.workflows import revocation, suspension

    lines = [
        f"scheduled revocation carried out: {r.ca} serial {r.serial_hex} ({r.reason}, "
        f"requested by {r.requested_by})"
        for r in revocation.process_scheduled(ws, now)
    ]
    lines += [
        f"hold past the suspension limit revoked: {r.ca} serial {r.serial_hex} "
        f"({r.reason}, revocation date {when_utc(r.revoked_at)}: the hold date)"
        for r in suspension.escalate(ws, now)
    ]
    return lines


def _publish_dask(
    workdir: Path,
    ca_name: str | None,
    now: int | None,
    pin_file: Path | None,
    scheduler: str | None,
    workers: int,
    lease_ttl: int,
) -> None:
    """``crl publish --executor dask``: the shard sets on Dask (workflows/dask_crl.py)."""
    from porthos.workflows import dask_crl
    from porthos.workspace.workspace import Workspace

    console = get_console()
    with Workspace.open(workdir) as ws:
        # An unknown CA, one that publishes no more (terminated, past its final CRL) or
        # one without a sharded CDP: one clear error before any cluster starts.
        names = dask_crl.shard_targets(ws, ca_name)
        # As the local path: what is due to be revoked is revoked before the rebuild.
        for line in _carry_out_due_revocations(ws, int(time.time()) if now is None else now):
            console.print(line)
        pin = None
        if ws.hsm is not None:
            from porthos.hsm import read_pin

            pin = read_pin(pin_file, "PIN of the issuing-CA token")
        with dask_crl.cluster_client(scheduler, workers) as client:
            results = dask_crl.publish_shards(
                ws, names, client=client, now=now, pin=pin, ttl=lease_ttl
            )
    table = Table(title="CRL shards (Dask)")
    for col in ("shard", "outcome", "entries", "SHA-256"):
        table.add_column(col)
    for r in results:
        table.add_row(
            str(r.shard),
            r.outcome,
            "-" if r.entries is None else str(r.entries),
            (r.sha256 or "-")[:16],
        )
    console.print(table)


def _publish_options(func: Any) -> Any:
    # --now, --pin-file, --root-officer (the HSM PINs of the CRL signers).
    for option in reversed([NOW_OPTION, *PIN_OPTIONS]):
        func = option(func)
    return func


@click.command("publish")
@WORKDIR
@click.option("--ca", "ca_name", default=None, help="Only this CA, due or not.")
@click.option("--all", "everything", is_flag=True, help="Every CA, due or not.")
@click.option(
    "--delta",
    is_flag=True,
    help="Publish delta CRLs (<ca>-delta.crl) over each CA's newest full CRL instead.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="dask: rebuild the sharded CRLs (--ca, or every CA with a sharded CDP), one "
    "task per shard, on Dask workers (docs/scale.md).",
)
@dask_cluster_options
@click.option(
    "--lease-ttl",
    type=click.IntRange(shard_leases.MIN_LEASE_SECONDS, shard_leases.MAX_LEASE_SECONDS),
    default=None,
    metavar="SECONDS",
    help="With --executor dask: how long a worker's lease on a shard lasts before another "
    f"worker may take the shard over ({shard_leases.MIN_LEASE_SECONDS}.."
    f"{shard_leases.MAX_LEASE_SECONDS}; default {shard_leases.LEASE_SECONDS}). Longer than "
    "one shard's build; a dead worker's shard waits this long.",
)
@_publish_options
@errors_exit_2
def publish(
    workdir: Path,
    ca_name: str | None,
    everything: bool,
    delta: bool,
    now: int | None,
    pin_file: Path | None,
    root_officers: tuple[str, ...],
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    lease_ttl: int | None = None,
) -> None:
    """Issue the CRLs that are due (000 §4.9.7; see `porthos crl due`), after carrying
    out the scheduled revocations whose time has come (§4.9.4), or every CA's (--all)
    or one CA's (--ca). Each CRL and each CA certificate is written where its CDP / AIA
    URL points: W/repository/<host>/<path> (e.g.
    W/repository/crl.pki.porthos.io/root-ca-1.crl), so that a web server can serve
    W/repository as is (§2.1); the CRL is also copied to W/repository/<ca>.crl.
    HSM workspaces: the issuing CAs need --pin-file, the root CRL two --root-officer."""
    if executor == "dask":
        if delta or everything:
            raise click.UsageError("--executor dask rebuilds shard sets: not with --delta/--all")
        ttl = shard_leases.LEASE_SECONDS if lease_ttl is None else lease_ttl
        _publish_dask(workdir, ca_name, now, pin_file, scheduler, workers, ttl)
        return
    if scheduler is not None:
        raise click.UsageError("--scheduler goes with --executor dask")
    if lease_ttl is not None:
        raise click.UsageError("--lease-ttl goes with --executor dask")
    if not delta:
        if everything and ca_name:
            raise click.UsageError("--all and --ca exclude each other")
        _publish_due(workdir, ca_name, everything, now, pin_file, root_officers)
        return
    from porthos.workflows import crl_end, crl_publication
    from porthos.workspace.workspace import Workspace

    console = get_console()
    with Workspace.open(workdir) as ws:
        # A CA that publishes no more is refused before the PIN is asked for or anything
        # commits (the token's activation is audited).
        if ca_name is not None:
            crl_end.refuse_unless_publishing(ws, ws.ca(ca_name))
        # What is due to be revoked is revoked first, as for full CRLs: the delta lists it.
        for line in _carry_out_due_revocations(ws, int(time.time()) if now is None else now):
            console.print(line)
        if ws.hsm is not None:
            from porthos.hsm import read_pin

            ws.activate(read_pin(pin_file, "PIN of the issuing-CA token"))
        table = Table(title="delta CRLs published")
        for col in ("CA", "CRL number", "entries", "file"):
            table.add_column(col)
        with ProgressBar("building CRLs") as bar:
            results = crl_publication.publish_deltas(
                ws, [ca_name] if ca_name else None, now=now, progress=bar
            )
        for p in results:
            table.add_row(p.ca, str(p.number), str(p.entries), str(p.paths[0]))
        console.print(table)
