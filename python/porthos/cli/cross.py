"""``porthos cross-certify`` and ``porthos cross-import`` (issue 16): cross-certificates
both ways (porthos.workflows.cross_certification).

``cross-certify --out O`` writes the certificate as PEM when O ends in ``.pem``, as DER
when it ends in ``.der``, ``.cer`` or ``.crt`` (the repository's convention: a
``.crt`` behind an AIA URL is DER, RFC 5280 §4.2.2.1); any other suffix is a usage
error, checked before anything is issued.
"""

from __future__ import annotations

from pathlib import Path

import click

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.hsm_options import root_halves
from porthos.cli.options import NOW_OPTION, PIN_OPTIONS, WORKDIR

__all__ = ["cross_certify", "cross_import"]

#: Output suffix -> PEM?
OUT_FORMATS = {".pem": True, ".der": False, ".cer": False, ".crt": False}


def _pem(der: bytes) -> str:
    from porthos.issuance.csr_input import der_to_pem

    return der_to_pem(der, "CERTIFICATE")


@click.command("cross-certify")
@WORKDIR
@click.option("--ca", "ca_name", required=True, help="Our CA that issues the cross-certificate.")
@click.option(
    "--profile",
    required=True,
    help="The cross profile of the CP/CPS ([cross_profiles.<name>]) to issue under.",
)
@click.option(
    "--csr",
    "csr_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The external CA's PKCS#10 request (PEM or DER).",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the certificate goes: .pem (PEM) or .der/.cer/.crt (DER).",
)
@click.option(
    "--approver",
    "approvers",
    multiple=True,
    metavar="ROLE=NAME",
    help="Repeatable: a person who approved the certificate, in a role, where the cross "
    "profile asks for approval (RFC 3647 §5.2.2).",
)
@NOW_OPTION
@PIN_OPTIONS[0]
@PIN_OPTIONS[1]
@errors_exit_2
def cross_certify(
    workdir: Path,
    ca_name: str,
    profile: str,
    csr_file: Path,
    out_file: Path,
    approvers: tuple[str, ...],
    now: int | None,
    pin_file: Path | None,
    root_officers: tuple[str, ...],
) -> None:
    """Issue a CA certificate to an external CA's request (a cross-certificate)."""
    approved: list[tuple[str, str]] = []
    for item in approvers:
        role, sep, person = item.partition("=")
        if not sep or not role.strip() or not person.strip():
            raise click.BadParameter(f"{item!r}: expected ROLE=NAME", param_hint="--approver")
        approved.append((person.strip(), role.strip()))
    from porthos.cli.outputs import check_outputs
    from porthos.issuance.inputs import read_input
    from porthos.workflows.cross_certification import cross_certify as issue
    from porthos.workspace.workspace import Workspace

    pem = OUT_FORMATS.get(out_file.suffix.lower())
    if pem is None:
        raise click.BadParameter(
            f"{out_file.name}: expected .pem, .der, .cer or .crt", param_hint="--out"
        )
    # Checked before the certificate is issued and stored (issue 20 §2).
    check_outputs([("--out", out_file)], [csr_file])
    csr = read_input(csr_file, "--csr")
    with Workspace.open(workdir) as ws:
        halves = None
        ca = ws.ca(ca_name)
        if ws.hsm is not None:
            from porthos.hsm import read_pin

            if ca.spec.self_signed:
                halves = root_halves(root_officers)
            else:
                ws.activate(read_pin(pin_file, "PIN of the issuing-CA token"))
        done = issue(ws, ca_name, profile, csr, now=now, root_halves=halves, approvers=approved)
    if pem:
        out_file.write_text(_pem(done.der), encoding="ascii")
    else:
        out_file.write_bytes(done.der)
    get_console().print(
        f"cross-certificate {done.serial_hex} issued by {done.ca} (profile {profile}) -> "
        f"{out_file}; published as {done.path.relative_to(workdir)}"
    )


@click.command("cross-import")
@WORKDIR
@click.option("--ca", "ca_name", required=True, help="Our CA the cross-certificate certifies.")
@click.option(
    "--cert",
    "cert_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The cross-certificate another CA issued to ours (PEM or DER).",
)
@click.option(
    "--issuer-cert",
    "issuer_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="That CA's certificate, whose key must verify the cross-certificate.",
)
@NOW_OPTION
@errors_exit_2
def cross_import(
    workdir: Path, ca_name: str, cert_file: Path, issuer_file: Path, now: int | None
) -> None:
    """Import and publish a cross-certificate another CA issued to one of ours."""
    from porthos.issuance.inputs import read_input
    from porthos.workflows.cross_certification import import_cross_certificate
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        done = import_cross_certificate(
            ws,
            ca_name,
            read_input(cert_file, "--cert"),
            read_input(issuer_file, "--issuer-cert"),
            now=now,
        )
    get_console().print(
        f"cross-certificate {done.serial_hex} for {done.ca} imported; published as "
        f"{done.path.relative_to(workdir)}"
    )
