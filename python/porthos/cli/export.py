"""``porthos export --batch ID``: the certificates of an issued batch, again (issue 20
§2), for when ``--out`` could not be written after the batch was committed."""

from __future__ import annotations

from pathlib import Path

import click

from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.options import WORKDIR
from porthos.cli.outputs import check_outputs

__all__ = ["export"]


@click.command()
@WORKDIR
@click.option(
    "--batch",
    required=True,
    type=click.IntRange(min=1),
    help="Batch id: printed by issue, or the seq of its certificates.issued audit record.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle of the batch's certificates, in issuance order.",
)
@errors_exit_2
def export(workdir: Path, batch: int, out_file: Path) -> None:
    """Write the certificates of an issued batch (re-delivery)."""
    from porthos.issuance.csr_input import der_to_pem
    from porthos.workflows.batch_export import batch_certificates
    from porthos.workspace.workspace import Workspace

    check_outputs([("--out", out_file)], [])
    with Workspace.open(workdir) as ws:
        ca, profile, ders = batch_certificates(ws, batch)
    out_file.write_text("".join(der_to_pem(d) for d in ders), encoding="ascii")
    get_console().print(
        f"{len(ders)} certificates of batch {batch} ({ca}, profile {profile}) -> {out_file}"
    )
