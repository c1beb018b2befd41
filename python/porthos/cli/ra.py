"""`porthos ra ...`: the registration authority's commands (000 §3.2.3, §4.7), and the
approval steps of profiles that need several persons (RFC 3647 §5.2.2: ``request``,
``approve``, ``issue-approved``).

Exit codes as in main.py: 0 done; 2 a refusal of the whole request (the message names
the rule and its CP/CPS section) or bad input; 3 a batch where some items were refused
(the per-item report names each rule).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from porthos.cli.common import errors_exit_2, get_console, report_batch
from porthos.cli.options import WORKDIR
from porthos.cli.outputs import check_outputs
from porthos.issuance.inputs import read_input

if TYPE_CHECKING:
    from porthos.workflows.ra import RegistrationAuthority

_OUT = click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle of the issued certificates.",
)
_REPORT = click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON report listing every refused request and its rule.",
)
_PIN = click.option(
    "--pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HSM workspaces: file with the issuing-CA token PIN (else a prompt).",
)
_THREADS = click.option("--threads", type=click.IntRange(min=1), default=None)
_INFILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@contextmanager
def _ra(
    workdir: Path, pin_file: Path | None = None, *, sign: bool = False
) -> Iterator[RegistrationAuthority]:
    from porthos.workflows.ra import RegistrationAuthority
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        if sign and ws.hsm is not None:
            from porthos.hsm import read_pin

            ws.activate(read_pin(pin_file, "PIN of the issuing-CA token"))
        yield RegistrationAuthority(ws)


@click.group()
def ra() -> None:
    """Registration authority: identity checks (000 §3.2.3), re-key (000 §4.7)."""


@ra.command("add-manufacturer")
@WORKDIR
@click.option("--name", required=True, help="Manufacturer name.")
@click.option("--root", "root_file", required=True, type=_INFILE, help="Root certificate.")
@click.option(
    "--issuing", "issuing_file", required=True, type=_INFILE, help="Issuing CA certificate."
)
@click.option(
    "--acceptable-dn",
    "acceptable_dns",
    required=True,
    multiple=True,
    help="RFC 4514 DN a DMC's issuer may carry (repeatable).",
)
@click.option(
    "--chip-id-attr",
    default="serialNumber",
    show_default=True,
    help="DMC subject attribute holding the Chip-ID (name or dotted OID).",
)
@errors_exit_2
def add_manufacturer(
    workdir: Path,
    name: str,
    root_file: Path,
    issuing_file: Path,
    acceptable_dns: tuple[str, ...],
    chip_id_attr: str,
) -> None:
    """Register a device manufacturer's root and issuing CA (000 §3.2.3.1)."""
    root = _read_cert(root_file)
    issuing = _read_cert(issuing_file)
    with _ra(workdir) as r:
        r.add_manufacturer(name, root, issuing, list(acceptable_dns), chip_id_attr)
    get_console().print(f"manufacturer {name} registered (Chip-ID from {chip_id_attr})")


@ra.command("allow-chips")
@WORKDIR
@click.argument("chip_file", type=_INFILE)
@errors_exit_2
def allow_chips(workdir: Path, chip_file: Path) -> None:
    """Add the Chip-IDs of FILE (one a line, '#' comments) to the allowlist."""
    from porthos.exceptions import InputError

    text = read_input(chip_file, "FILE").decode("utf-8")
    if "-----BEGIN " in text:
        raise InputError(f"{chip_file} is a PEM file, not a list of Chip-IDs")
    ids = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not ids:
        raise InputError(f"{chip_file} holds no Chip-ID (one a line, '#' comments)")
    with _ra(workdir) as r:
        added = r.allow_chips(ids)
    get_console().print(f"{added} of {len(ids)} Chip-IDs added to the allowlist")


@ra.command("register-csr")
@WORKDIR
@click.option("--csr", "csr_file", required=True, type=_INFILE, help="One CSR, PEM or DER.")
@click.option("--agent", required=True, help="The trusted agent registering it.")
@click.option(
    "--ttl-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Lifetime of the transaction-ID [default: the CP/CPS's ra.transaction_ttl].",
)
@errors_exit_2
def register_csr(workdir: Path, csr_file: Path, agent: str, ttl_hours: float | None) -> None:
    """Register a CSR; print its transaction-ID (000 §3.2.3.2) on stdout."""
    ttl = None if ttl_hours is None else int(ttl_hours * 3600)
    with _ra(workdir) as r:
        tid = r.register_csr(csr_file.read_bytes(), agent, ttl)
    click.echo(tid)


@ra.command("add-aor")
@WORKDIR
@click.option("--name", required=True, help="The Authorized Organizational Representative.")
@click.option("--domain", "domains", required=True, multiple=True, help="Domain (repeatable).")
@errors_exit_2
def add_aor(workdir: Path, name: str, domains: tuple[str, ...]) -> None:
    """Allow an AOR to request certificates for domains (000 §3.2.3.3)."""
    with _ra(workdir) as r:
        added = r.add_aor(name, list(domains))
    get_console().print(f"AOR {name}: {added} domain(s) added")


@ra.command("issue-ha")
@WORKDIR
@click.option(
    "--cms",
    "cms_files",
    required=True,
    multiple=True,
    type=_INFILE,
    help="CMS SignedData (DER) over a CSR, signed with the DMC key (repeatable).",
)
@click.option(
    "--profile",
    "-p",
    default=None,
    help="A profile the CP/CPS checks by DMC [default: the first one].",
)
@_OUT
@_REPORT
@_THREADS
@_PIN
@click.pass_context
@errors_exit_2
def issue_ha(
    ctx: click.Context,
    workdir: Path,
    cms_files: tuple[Path, ...],
    profile: str | None,
    out_file: Path,
    report_file: Path | None,
    threads: int | None,
    pin_file: Path | None,
) -> None:
    """Issue high assurance device certificates (000 §3.2.3.1)."""
    check_outputs([("--out", out_file), ("--report", report_file)], list(cms_files))
    ders = [read_input(f, "--cms") for f in cms_files]
    with _ra(workdir, pin_file, sign=True) as r:
        started = time.perf_counter()
        result = r.issue_ha_device(ders, profile=profile, threads=threads)
    report_batch(ctx, result, out_file, report_file, time.perf_counter() - started, "DMC")


@ra.command("issue-infra")
@WORKDIR
@click.option("--profile", "-p", required=True, help="A profile the CP/CPS checks by AOR.")
@click.option("--csr", "csr_file", required=True, type=_INFILE, help="PEM bundle or DER CSR.")
@click.option("--aor", required=True, help="The AOR passing the requests on.")
@_OUT
@_REPORT
@_THREADS
@_PIN
@click.pass_context
@errors_exit_2
def issue_infra(
    ctx: click.Context,
    workdir: Path,
    profile: str,
    csr_file: Path,
    aor: str,
    out_file: Path,
    report_file: Path | None,
    threads: int | None,
    pin_file: Path | None,
) -> None:
    """Issue application/service certificates requested by an AOR (000 §3.2.3.3)."""
    check_outputs([("--out", out_file), ("--report", report_file)], [csr_file])
    data = read_input(csr_file, "--csr")
    with _ra(workdir, pin_file, sign=True) as r:
        started = time.perf_counter()
        result = r.issue_infrastructure(data, profile, aor=aor, threads=threads)
    report_batch(ctx, result, out_file, report_file, time.perf_counter() - started, f"AOR {aor}")


@ra.command("issue-user")
@WORKDIR
@click.option("--csr", "csr_file", required=True, type=_INFILE, help="PEM bundle or DER CSR.")
@click.option("--agent", required=True, help="The trusted agent submitting the requests.")
@_OUT
@_REPORT
@_THREADS
@_PIN
@click.pass_context
@errors_exit_2
def issue_user(
    ctx: click.Context,
    workdir: Path,
    csr_file: Path,
    agent: str,
    out_file: Path,
    report_file: Path | None,
    threads: int | None,
    pin_file: Path | None,
) -> None:
    """Issue user certificates submitted by a trusted agent (000 §3.2.3.4)."""
    check_outputs([("--out", out_file), ("--report", report_file)], [csr_file])
    data = read_input(csr_file, "--csr")
    with _ra(workdir, pin_file, sign=True) as r:
        started = time.perf_counter()
        result = r.issue_user(data, agent=agent, threads=threads)
    report_batch(
        ctx, result, out_file, report_file, time.perf_counter() - started, f"agent {agent}"
    )


@ra.command("rekey")
@WORKDIR
@click.option(
    "--cms",
    "cms_file",
    required=True,
    type=_INFILE,
    help="CMS SignedData (DER) over the new CSR, signed with the current key.",
)
@_OUT
@click.option(
    "--early",
    is_flag=True,
    help="Accept before the renewal window opens; the old certificate is then "
    "revoked as superseded after the grace period (000 §4.9.1, §4.9.4).",
)
@click.option(
    "--grace-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Grace period of an early re-key [default: the CP/CPS's rekey.early.revocation_grace].",
)
@_PIN
@errors_exit_2
def rekey(
    workdir: Path,
    cms_file: Path,
    out_file: Path,
    early: bool,
    grace_days: float | None,
    pin_file: Path | None,
) -> None:
    """Type A re-key (000 §4.7.3): a new certificate for the same subject."""
    grace = None if grace_days is None else int(grace_days * 86400)
    check_outputs([("--out", out_file)], [cms_file])
    with _ra(workdir, pin_file, sign=True) as r:
        result = r.rekey(read_input(cms_file, "--cms"), early=early, grace=grace)
    out_file.write_text(result.pem(), encoding="ascii")
    console = get_console()
    console.print(
        f"re-keyed {result.old_serial_hex} -> {result.serial_hex} ({result.ca}, profile "
        f"{result.profile}) -> {out_file}"
    )
    if result.revocation_due_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(result.revocation_due_at))
        console.print(f"early re-key: {result.old_serial_hex} is revoked as superseded at {when}")


@ra.command("request")
@WORKDIR
@click.option("--profile", "-p", required=True, help="A profile with an approval rule.")
@click.option("--csr", "csr_file", required=True, type=_INFILE, help="One CSR, PEM or DER.")
@click.option(
    "--ra-data",
    "ra_data_file",
    type=_INFILE,
    default=None,
    help='JSON object {"sans": [...], "not_after": "..."} the RA vouches for; stored '
    "with the request.",
)
@errors_exit_2
def request(workdir: Path, profile: str, csr_file: Path, ra_data_file: Path | None) -> None:
    """Store a request for a profile whose CP/CPS asks for approvals before issuance
    (RFC 3647 §5.2.2); print its id on stdout."""
    from porthos.issuance.inputs import read_input

    ra_data = None
    if ra_data_file is not None:
        from porthos.exceptions import ApprovalError

        try:
            ra_data = json.loads(read_input(ra_data_file, "--ra-data").decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApprovalError(f"{ra_data_file}: not JSON: {exc}") from None
    csr = read_input(csr_file, "--csr")
    with _ra(workdir) as r:
        request_id = r.request_approval(csr, profile, ra_data=ra_data)
    click.echo(request_id)


@ra.command("approve")
@WORKDIR
@click.option("--request", "request_id", required=True, help="The id `ra request` printed.")
@click.option("--operator", required=True, help="The person approving.")
@click.option("--role", required=True, help="The trusted role they approve in (e.g. ra).")
@errors_exit_2
def approve(workdir: Path, request_id: str, operator: str, role: str) -> None:
    """Approve a pending request: one approval per person (RFC 3647 §5.2.2)."""
    with _ra(workdir) as r:
        count = r.approve(request_id, operator, role)
    get_console().print(f"request {request_id}: approved by {operator} ({role}); {count} so far")


@ra.command("issue-approved")
@WORKDIR
@click.option("--request", "request_id", required=True, help="The id `ra request` printed.")
@_OUT
@_REPORT
@_PIN
@click.pass_context
@errors_exit_2
def issue_approved(
    ctx: click.Context,
    workdir: Path,
    request_id: str,
    out_file: Path,
    report_file: Path | None,
    pin_file: Path | None,
) -> None:
    """Issue a request once its approvals satisfy the profile's rule."""
    with _ra(workdir, pin_file, sign=True) as r:
        started = time.perf_counter()
        result = r.issue_approved(request_id)
    how = f"approval request {request_id}"
    report_batch(ctx, result, out_file, report_file, time.perf_counter() - started, how)


def _read_cert(path: Path) -> bytes:
    """DER or PEM certificate file -> DER."""
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data
