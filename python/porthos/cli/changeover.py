"""``porthos rollover`` (000 §5.6) and ``porthos terminate`` (000 §5.8).

Both change the whole hierarchy at once; both are refused with exit status 2 and a
one-line reason (LifecycleError) when the workspace is not in a state that allows them.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.hsm_options import root_halves
from porthos.cli.options import WORKDIR, when_utc

__all__ = ["rollover", "terminate"]

_PIN_FILE = click.option(
    "--pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HSM workspaces: file with the issuing-CA token PIN (else a prompt).",
)
_ROOT_OFFICER = click.option(
    "--root-officer",
    "root_officers",
    multiple=True,
    metavar="NAME=PINFILE",
    help="HSM workspaces, twice: an HSM Security Officer and their half of the root "
    "PIN (000 §6.2.2: creating and deleting CA keys needs two officers).",
)


@click.command()
@WORKDIR
@_PIN_FILE
@_ROOT_OFFICER
@errors_exit_2
def rollover(workdir: Path, pin_file: Path | None, root_officers: tuple[str, ...]) -> None:
    """Create the next CA generation and the root link certificates (000 §5.6)."""
    from porthos.hsm import read_pin
    from porthos.workflows import rollover as rollover_workflow
    from porthos.workspace.workspace import Workspace

    console = get_console()
    with Workspace.open(workdir) as ws:
        halves = pin = None
        if ws.hsm is not None:
            halves = root_halves(root_officers)
            pin = read_pin(pin_file, "PIN of the issuing-CA token")
        result = rollover_workflow.rollover(ws, root_pin_halves=halves, pin=pin)
        table = Table(title=f"CA generation {result.generation} ({ws.env})")
        for col in ("name", "subject", "not after", "file"):
            table.add_column(col)
        for name in result.cas:
            ca = ws.ca(name)
            table.add_row(
                name,
                ", ".join(f"{a}={v}" for a, v in reversed(ca.subject)),
                when_utc(ca.not_after),
                str(ws.repository_path(name).relative_to(ws.path)),
            )
        console.print(table)
        for kind, issuer, path in result.links:
            console.print(f"link certificate ({kind}, signed by {issuer}): {path}")
        console.print(
            f"generation {result.from_generation} retired: "
            f"{', '.join(result.retired)} (their keys now sign only CRLs)"
        )


@click.command()
@WORKDIR
@click.option(
    "--destroy-keys",
    is_flag=True,
    help="Destroy every CA key after the final CRLs (000 §5.8).",
)
@click.option(
    "--export-to",
    metavar="TOKEN",
    default=None,
    help="Export the CA keys to this successor token instead (000 §5.8): software "
    "keys are imported non-extractable and checked before their files are "
    "destroyed; HSM keys made with `init --transferable-keys` are transferred "
    "wrapped under the Security Officer's trusted transport key (000 §6.2.6), "
    "checked, then destroyed in the source; other HSM keys are refused.",
)
@click.option(
    "--module",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--export-to: PKCS#11 module of the successor token (software workspace: "
    "default $PORTHOS_PKCS11_MODULE, else SoftHSM2 with $SOFTHSM2_CONF; HSM "
    "workspace: default the workspace's module and SoftHSM2 configuration).",
)
@click.option(
    "--successor-pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--export-to: file with the successor token's user PIN (else a prompt).",
)
@click.option(
    "--so-pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--export-to from an HSM workspace with transferable keys: file with the "
    "Security Officer PIN of the workspace's tokens (else a prompt); the SO makes "
    "the trusted transport keys (000 §6.2.6 multi-person control).",
)
@_PIN_FILE
@_ROOT_OFFICER
@click.pass_context
@errors_exit_2
def terminate(
    ctx: click.Context,
    workdir: Path,
    destroy_keys: bool,
    export_to: str | None,
    module: Path | None,
    successor_pin_file: Path | None,
    so_pin_file: Path | None,
    pin_file: Path | None,
    root_officers: tuple[str, ...],
) -> None:
    """Terminate the PKI (000 §5.8): revoke every unexpired certificate, publish
    final CRLs valid past the last expiry, then destroy the CA keys or export them
    to a successor token."""
    from porthos.hsm import read_pin
    from porthos.workflows import termination
    from porthos.workspace.workspace import Workspace

    if destroy_keys == (export_to is not None):
        raise click.UsageError("choose exactly one of --destroy-keys, --export-to", ctx)
    console = get_console()
    with Workspace.open(workdir) as ws:
        halves = pin = successor_pin = so_pin = None
        if ws.hsm is not None:
            halves = root_halves(root_officers)
            pin = read_pin(pin_file, "PIN of the issuing-CA token")
        # An HSM workspace's non-extractable keys are refused before any PIN of
        # the successor (or of the SO) is needed.
        if export_to is not None and (ws.hsm is None or ws.hsm.transferable_keys):
            if ws.hsm is not None:
                so_pin = read_pin(so_pin_file, "Security Officer PIN of the workspace's tokens")
            successor_pin = read_pin(
                successor_pin_file, f"user PIN of the successor token '{export_to}'"
            )
        result = termination.terminate(
            ws,
            destroy_keys=destroy_keys,
            export_to=export_to,
            root_pin_halves=halves,
            pin=pin,
            module=None if module is None else str(module),
            successor_pin=successor_pin,
            so_pin=so_pin,
        )
    table = Table(title="Final CRLs (000 §5.8)")
    for col in ("CA", "revoked now", "CRL number", "entries", "next update", "file"):
        table.add_column(col)
    for name, path, number, entries, next_update in result.crls:
        table.add_row(
            name,
            str(result.revoked.get(name, 0)),
            str(number),
            str(entries),
            when_utc(next_update),
            str(path),
        )
    console.print(table)
    for name, what in result.keys:
        console.print(f"key of {name}: {what}")
