"""``porthos rpki``: an RPKI CA (issue 18 §2-§4) — init, ROAs, child CAs, publish, show.
docs/rpki.md describes the workspace and the repository layout."""

from __future__ import annotations

from pathlib import Path

import click

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.options import NOW_OPTION, WORKDIR, when_utc

__all__ = ["rpki"]

_PREFIX = click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    required=True,
    help="IP prefix a/len (repeat the option or separate with commas).",
)
_MAX = click.option(
    "--max-length", type=int, default=None, help="maxLength of every prefix (RFC 9582 §4.3.2)."
)


@click.group()
def rpki() -> None:
    """The Resource PKI (RFC 6480): trust anchor, ROAs, child CAs, rsync publication."""


@rpki.command()
@WORKDIR
@click.option(
    "--resources", required=True, help='Held resources, e.g. "AS64496-64511, 192.0.2.0/24".'
)
@click.option("--store", "store_url", default=None, help="postgresql:// URL (default: SQLite).")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="RPKI CP/CPS data (TOML like cpcps/rpki/rpki.toml; default: the bundled one).",
)
@NOW_OPTION
@errors_exit_2
def init(
    workdir: Path, resources: str, store_url: str | None, policy_file: Path | None, now: int | None
) -> None:
    """Create an RPKI workspace: the trust anchor (RFC 6487 §4) holding RESOURCES."""
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.init(
        workdir, resources, store_url=store_url, now=now, policy_file=policy_file
    )
    ws.close()
    get_console().print(f"RPKI trust anchor created in {workdir} (publish: porthos rpki publish)")


@rpki.group()
def roa() -> None:
    """Route origin authorisations (RFC 9582)."""


@roa.command("add")
@WORKDIR
@click.option("--asn", type=int, required=True)
@_PREFIX
@_MAX
@click.option("--ca", "ca_name", default="ta", show_default=True, help="The CA that signs it.")
@NOW_OPTION
@errors_exit_2
def roa_add(
    workdir: Path,
    asn: int,
    prefixes: tuple[str, ...],
    max_length: int | None,
    ca_name: str,
    now: int | None,
) -> None:
    """Sign a ROA (one-time EE key) and store it; publish to make it visible."""
    from porthos.workspace.rpki_ca import RpkiWorkspace, parse_roa_request

    ws = RpkiWorkspace.open(workdir)
    try:
        req = parse_roa_request(asn, prefixes, max_length, ws.policy)
        files = ws.add_roas([req], ca_name=ca_name, now=now)
    finally:
        ws.close()
    get_console().print(f"ROA AS{asn} {req.text}: {files[0]} (CA {ca_name})")


@roa.command("remove")
@WORKDIR
@click.option("--asn", type=int, required=True)
@_PREFIX
@_MAX
@NOW_OPTION
@errors_exit_2
def roa_remove(
    workdir: Path, asn: int, prefixes: tuple[str, ...], max_length: int | None, now: int | None
) -> None:
    """Withdraw a ROA: its EE certificate goes on the CRL, its file leaves the point."""
    from porthos.workspace.rpki_ca import RpkiWorkspace, parse_roa_request

    ws = RpkiWorkspace.open(workdir)
    try:
        roa = ws.remove_roa(parse_roa_request(asn, prefixes, max_length, ws.policy), now=now)
    finally:
        ws.close()
    get_console().print(f"ROA {roa.file} removed; EE serial {roa.ee_serial} revoked")


@rpki.group()
def child() -> None:
    """CA certificates for child resource holders (RFC 6487 §4)."""


@child.command("add")
@WORKDIR
@click.option("--csr", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option("--resources", required=True, help="Resources to certify (a subset of ours).")
@click.option("--name", default=None, help="Child name (default: its key identifier).")
@click.option("--parent", default="ta", show_default=True)
@NOW_OPTION
@errors_exit_2
def child_add(
    workdir: Path, csr: Path, resources: str, name: str | None, parent: str, now: int | None
) -> None:
    """Certify a child from its PKCS#10 request (SIA taken from it)."""
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(workdir)
    try:
        row = ws.add_child(csr.read_bytes(), resources, name=name, parent=parent, now=now)
    finally:
        ws.close()
    get_console().print(f"child {row.name}: {row.file} serial {row.serial_hex} ({row.resources})")


@child.command("revoke")
@WORKDIR
@click.option("--name", required=True, help="The child whose CA certificate is revoked.")
@NOW_OPTION
@errors_exit_2
def child_revoke(workdir: Path, name: str, now: int | None) -> None:
    """Revoke a child's CA certificate: onto the parent's CRL, off its point (and a
    hosted child's own point withdrawn) at the next publish."""
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(workdir)
    try:
        row = ws.revoke_child(name, now=now)
    finally:
        ws.close()
    get_console().print(
        f"child {row.name}: serial {row.serial_hex} revoked by {row.ca_name}"
        " (publish to make it visible)"
    )


@child.command("reissue")
@WORKDIR
@click.option("--name", required=True, help="The child whose CA certificate is replaced.")
@click.option(
    "--resources", default=None, help="Resources of the new certificate (default: the same)."
)
@NOW_OPTION
@errors_exit_2
def child_reissue(workdir: Path, name: str, resources: str | None, now: int | None) -> None:
    """A new CA certificate for the same child key (same SIA), the old one revoked."""
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(workdir)
    try:
        old = ws.live_child(name)
        row = ws.reissue_child(name, resources, now=now)
    finally:
        ws.close()
    get_console().print(
        f"child {row.name}: serial {row.serial_hex} ({row.resources}) replaces"
        f" {old.serial_hex}, revoked (publish to make it visible)"
    )


@rpki.command()
@WORKDIR
@click.option("--force", is_flag=True, help="Re-issue every manifest and CRL now.")
@NOW_OPTION
@errors_exit_2
def publish(workdir: Path, force: bool, now: int | None) -> None:
    """Write the rsync repository (atomic swap) and the TAL."""
    from porthos.workspace.rpki_ca import RpkiWorkspace
    from porthos.workspace.rpki_publish import publish as do_publish

    ws = RpkiWorkspace.open(workdir)
    try:
        pub = do_publish(ws, now=now, force=force)
    finally:
        ws.close()
    if pub.changed:
        get_console().print(
            f"published version {pub.version}: {pub.files} files at {pub.path}"
            f" (re-issued: {', '.join(pub.reissued) or 'none'})"
        )
    else:
        get_console().print(f"unchanged: version {pub.version} is current")


@rpki.command()
@WORKDIR
@errors_exit_2
def show(workdir: Path) -> None:
    """Holdings, children, ROAs, manifest and CRL numbers, next update."""
    from rich.table import Table

    from porthos.store import rpki as db
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(workdir)
    try:
        conn = ws.store.conn
        console = get_console()
        cas = Table(
            "CA", "status", "parent", "resources", "manifest #", "CRL #", "next update", "ROAs"
        )
        for ca in db.cas(conn, retired=True):
            cas.add_row(
                ca.name,
                ca.status,
                ca.parent or "-",
                ca.resources,
                str(ca.manifest_number),
                str(ca.crl_number),
                when_utc(ca.next_update),
                str(len(db.roas(conn, ca.name))),
            )
        console.print(cas)
        kids = Table("child", "parent", "resources", "serial", "caRepository", "status")
        for c in db.children(conn):
            kids.add_row(c.name, c.ca_name, c.resources, c.serial_hex, c.ca_repository, c.status)
        console.print(kids)
        roas = db.roas(conn)
        table = Table("CA", "AS", "prefixes", "EE serial", "file")
        for r in roas[:50]:
            table.add_row(r.ca_name, str(r.asn), r.prefixes, r.ee_serial, r.file)
        console.print(table)
        if len(roas) > 50:
            console.print(f"... {len(roas) - 50} more ROAs")
    finally:
        ws.close()


@rpki.group()
def rollover() -> None:
    """CA key rollover (RFC 6489) of a hosted child CA: start, then activate."""


@rollover.command("start")
@WORKDIR
@click.option("--ca", "ca_name", required=True)
@NOW_OPTION
@errors_exit_2
def rollover_start(workdir: Path, ca_name: str, now: int | None) -> None:
    """New key, certified by the parent, published while it stages."""
    from porthos.workspace import rpki_rollover
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(workdir)
    try:
        new = rpki_rollover.start(ws, ca_name, now=now)
        staging = ws.policy.rollover_staging
    finally:
        ws.close()
    get_console().print(
        f"CA {ca_name}: new key staging as {new.name} until {when_utc(new.created_at + staging)}"
    )


@rollover.command("activate")
@WORKDIR
@click.option("--ca", "ca_name", required=True)
@NOW_OPTION
@errors_exit_2
def rollover_activate(workdir: Path, ca_name: str, now: int | None) -> None:
    """After staging: ROAs move to the new key, the old CA certificate is revoked."""
    from porthos.workspace import rpki_rollover
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(workdir)
    try:
        new = rpki_rollover.activate(ws, ca_name, now=now)
    finally:
        ws.close()
    get_console().print(f"CA {ca_name} retired; {new.name} active (publish to make it visible)")
