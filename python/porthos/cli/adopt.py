"""``porthos adopt`` (issue 21 §3): take over an existing CA, its certificate and key
made outside porthos (porthos.workflows.adopt). PINs come from files (--pin-file,
--root-officer NAME=PINFILE) or prompts, never from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.hsm_options import root_halves
from porthos.cli.options import NOW_OPTION, PIN_OPTIONS, WORKDIR

__all__ = ["adopt"]


@click.command("adopt")
@WORKDIR
@click.option(
    "--cert",
    "cert_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The CA certificate to take over (PEM or DER).",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Its private key, unencrypted PEM or PKCS#8 DER (software workspace).",
)
@click.option(
    "--key-uri",
    help="Its key in the workspace's token, an RFC 7512 PKCS#11 URI "
    "(pkcs11:token=...;object=...) (HSM workspace).",
)
@click.option(
    "--name",
    help="The CP/CPS's CA it is ([cas.<name>]); default: the CA with its subject.",
)
@NOW_OPTION
@PIN_OPTIONS[0]
@PIN_OPTIONS[1]
@errors_exit_2
def adopt(
    workdir: Path,
    cert_file: Path,
    key_file: Path | None,
    key_uri: str | None,
    name: str | None,
    now: int | None,
    pin_file: Path | None,
    root_officers: tuple[str, ...],
) -> None:
    """Take over an existing CA: its certificate and key become the workspace's CA."""
    from porthos.workflows.adopt import adopt as take_over
    from porthos.workflows.adopt import load_ca_certificate
    from porthos.workspace.workspace import Workspace

    if (key_file is None) == (key_uri is None):
        raise click.UsageError("give exactly one of --key-file, --key-uri")
    data = cert_file.read_bytes()
    with Workspace.open(workdir) as ws:
        pin = halves = None
        if key_uri is not None and ws.hsm is not None:
            from porthos.hsm import read_pin

            cert = load_ca_certificate(data)
            if cert.issuer == cert.subject:
                halves = root_halves(root_officers)
            else:
                pin = read_pin(pin_file, "PIN of the issuing-CA token")
        done = take_over(
            ws,
            data,
            key_file=key_file,
            key_uri=key_uri,
            pin=pin,
            root_halves=halves,
            name=name,
            now=now,
        )
    recert = f"; re-certified under it: {', '.join(done.recertified)}" if done.recertified else ""
    get_console().print(
        f"adopted CA {done.ca} (serial {done.serial_hex}, key {done.key_ref}){recert}"
    )
