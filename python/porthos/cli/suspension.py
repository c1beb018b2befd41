"""``porthos suspend`` and ``porthos release``: certificates put on hold and taken off
it, where the workspace's CP/CPS offers suspension (``[revocation] suspension``;
porthos.workflows.suspension). The CRLs show it at the next ``porthos crl publish``,
which also revokes the holds that outlived the CP/CPS's limit.

Exit 2 with one line naming the rule when the CP/CPS refuses (no suspension, a profile
it does not suspend, a revoked or already held certificate, a release of one not on
hold); nothing is stored then.
"""

from __future__ import annotations

from pathlib import Path

import click

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.options import NOW_OPTION, WORKDIR, when_utc

__all__ = ["release", "suspend"]

_SERIAL = click.option(
    "--serial", required=True, help="Serial of the certificate, hex (0x and colons allowed)."
)
_CA = click.option(
    "--ca", "ca_name", default=None, help="The issuing CA (default: from the store)."
)
_REQUESTER = click.option(
    "--requester",
    default=None,
    help="Who asked (the subscriber, a supervisor, the RA, ...); recorded and audited "
    "[default: the operator, $PORTHOS_ACTOR or the OS user].",
)
_COMMENT = click.option("--comment", default=None, help="Free text for the audit record.")


def _who(requester: str | None) -> str:
    from porthos.store import audit

    return requester or audit.default_actor()


@click.command()
@WORKDIR
@_SERIAL
@_CA
@_REQUESTER
@_COMMENT
@NOW_OPTION
@errors_exit_2
def suspend(
    workdir: Path,
    serial: str,
    ca_name: str | None,
    requester: str | None,
    comment: str | None,
    now: int | None,
) -> None:
    """Put a certificate on hold (certificateHold): the next CRL lists it.

    Where the CP/CPS offers suspension, for the profiles it names; a hold not released
    within its limit is revoked at the next `porthos crl publish`."""
    from porthos.workflows import suspension
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        hold = suspension.suspend(
            ws, serial, requester=_who(requester), ca=ca_name, now=now, comment=comment
        )
    console = get_console()
    console.print(
        f"on hold: {hold.ca} serial {hold.serial_hex} ({hold.subject}) since "
        f"{when_utc(hold.held_at)}, requested by {hold.requested_by}"
    )
    console.print(
        f"released by `porthos release` before {when_utc(hold.deadline)}, or revoked then; "
        "its CRL is due now: porthos crl publish"
    )


@click.command()
@WORKDIR
@_SERIAL
@_CA
@_REQUESTER
@_COMMENT
@NOW_OPTION
@errors_exit_2
def release(
    workdir: Path,
    serial: str,
    ca_name: str | None,
    requester: str | None,
    comment: str | None,
    now: int | None,
) -> None:
    """Take a certificate off hold: the next full CRL omits it.

    The next delta CRL lists it with reason removeFromCRL."""
    from porthos.workflows import suspension
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        hold = suspension.release(
            ws, serial, requester=_who(requester), ca=ca_name, now=now, comment=comment
        )
    get_console().print(
        f"released: {hold.ca} serial {hold.serial_hex} ({hold.subject}), on hold since "
        f"{when_utc(hold.held_at)}; its CRL is due now: porthos crl publish"
    )
