"""The ``porthos ocsp`` group: pre-signing (``presign``) and responder rotation
(``rotate-responder``). The responder itself (``serve``) is added by main.py from its
own module, as the ``crl`` group gets its workspace commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.options import NOW_OPTION, PIN_OPTIONS, WORKDIR, when_utc

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

#: --pin-file: HSM workspaces keep the responder key in the issuing-CA token.
PIN_FILE = PIN_OPTIONS[0]


def _activate(ws: Workspace, pin_file: Path | None) -> None:
    if ws.hsm is not None:
        from porthos.hsm import read_pin

        ws.activate(read_pin(pin_file, "PIN of the issuing-CA token"))


@click.group("ocsp")
def ocsp() -> None:
    """OCSP (RFC 6960, RFC 5019): pre-signed responses and the delegated responder."""


@ocsp.command()
@WORKDIR
@click.option("--ca", "ca_name", default=None, help="Only this CA (default: every OCSP CA).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Signing threads.")
@NOW_OPTION
@PIN_FILE
@errors_exit_2
def presign(
    workdir: Path, ca_name: str | None, threads: int | None, now: int | None, pin_file: Path | None
) -> None:
    """Sign a response for every certificate of each CA the CP/CPS says answers OCSP
    ([ocsp]), from the snapshot of its newest CRL, and write W/ocsp/<ca>/ (one DER
    file per serial and CertID hash, index.tsv last; docs/ocsp.md). Incremental:
    only responses whose status changed or whose nextUpdate is near are signed again."""
    from porthos.workflows import ocsp_presign
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        _activate(ws, pin_file)
        results = ocsp_presign.presign(ws, ca_name, now=now, threads=threads)
    table = Table(title="OCSP responses pre-signed")
    for col in ("CA", "CRL number", "responses", "signed now", "removed", "responder"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.ca,
            str(r.crl_number),
            str(r.responses),
            str(r.signed),
            str(r.removed),
            r.responder_serial,
        )
    if not results:
        get_console().print("no CA of this CP/CPS answers OCSP (no [ocsp] table)")
        return
    get_console().print(table)


@ocsp.command("rotate-responder")
@WORKDIR
@click.option("--ca", "ca_name", required=True, help="The CA whose responder is replaced.")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Validity in days (default: the profile's; longer is refused).",
)
@click.option("--key-type", default=None, help="Default: the profile's first key type.")
@click.option("--no-presign", is_flag=True, help="Do not sign the responses again now.")
@NOW_OPTION
@PIN_FILE
@errors_exit_2
def rotate_responder(
    workdir: Path,
    ca_name: str,
    days: int | None,
    key_type: str | None,
    no_presign: bool,
    now: int | None,
    pin_file: Path | None,
) -> None:
    """Issue the CA's next delegated OCSP responder certificate (the CP/CPS's responder
    profile) with a new key (HSM workspaces: in the issuing-CA token, --pin-file), then
    sign every response again with it: the responder serves them with the next index
    it reads, without a restart."""
    from cryptography import x509

    from porthos.workflows import ocsp_presign, ocsp_responder
    from porthos.workspace.workspace import Workspace

    console = get_console()
    with Workspace.open(workdir) as ws:
        _activate(ws, pin_file)
        (spec,) = ocsp_presign.ocsp_cas(ws, ca_name, now=now)
        der = ocsp_responder.rotate_responder(ws, spec, days=days, key_type=key_type, now=now)
        cert = x509.load_der_x509_certificate(der)
        console.print(
            f"responder certificate {cert.serial_number:x} of {ca_name}: "
            f"{when_utc(int(cert.not_valid_before_utc.timestamp()))} .. "
            f"{when_utc(int(cert.not_valid_after_utc.timestamp()))}"
        )
        if not no_presign:
            for r in ocsp_presign.presign(ws, ca_name, now=now):
                console.print(f"{r.ca}: {r.signed} responses signed with the new responder")


@ocsp.command()
@WORKDIR
@click.option("--ca", "ca_name", required=True, help='The offline CA (responder = "ca").')
@click.option(
    "--root-officer",
    "root_officers",
    multiple=True,
    metavar="NAME=PINFILE",
    help="HSM workspaces, twice: an HSM Security Officer and their half of the root "
    "PIN (§6.2.2: every root operation needs two officers).",
)
@NOW_OPTION
@errors_exit_2
def ceremony(workdir: Path, ca_name: str, root_officers: tuple[str, ...], now: int | None) -> None:
    """Pre-sign, with the offline CA's own key under dual control, one batch of
    responses for every certificate it issued (sub CAs, link certificates), valid for
    the window its CP/CPS data allows (from its newest ARL), and write W/ocsp/<ca>/.
    A later ceremony signs again only what changed or is near its nextUpdate."""
    from porthos.cli.hsm_options import root_halves
    from porthos.workflows import ocsp_ceremony
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        halves = root_halves(root_officers) if ws.hsm is not None else None
        r = ocsp_ceremony.ceremony(ws, ca_name, root_halves=halves, now=now)
    get_console().print(
        f"{r.ca}: {r.signed} responses signed, {r.responses} in the index "
        f"(ARL {r.crl_number}), {r.removed} removed"
    )
