"""``porthos issue``: a file of CSRs -> a PEM bundle of certificates. Without RA input it
is the engine path (no identity check, and the trail says so); with ``--transaction-id``
or ``--transactions`` it is the standard assurance RA path (000 §3.2.3.2).

Exit codes: 0 every request was issued, 3 some were rejected, 2 usage or input errors.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from porthos.cli.common import errors_exit_2, get_console, report_batch
from porthos.cli.options import WORKDIR, dask_cluster_options
from porthos.cli.outputs import check_outputs
from porthos.issuance.inputs import read_input

if TYPE_CHECKING:
    from porthos.hsm import Secret
    from porthos.workspace.authority import IssueResult
    from porthos.workspace.workspace import Workspace

__all__ = ["issue"]

#: The command of each RA procedure (the generic procedure names a CP/CPS gives a
#: profile's ``identity_check``); `porthos issue` without RA input names it.
RA_COMMAND_FOR_PROCEDURE = {
    "dmc": "porthos ra issue-ha",
    "transaction-id": "porthos ra register-csr + porthos issue --transaction-id",
    "aor": "porthos ra issue-infra --aor",
    "trusted-agent": "porthos ra issue-user --agent",
}


@click.command()
@WORKDIR
@click.option(
    "--profile",
    "-p",
    required=True,
    help="Certificate profile of the CP/CPS (porthos show lists them).",
)
@click.option(
    "--csr",
    "csr_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle or one DER CSR.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle of the issued certificates.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON report listing every rejected request.",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Worker threads.")
@click.option(
    "--pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HSM workspaces: file with the issuing-CA token PIN (else a prompt).",
)
@click.option(
    "--transaction-id",
    default=None,
    help="RA (000 §3.2.3.2): the transaction-ID of the one CSR in --csr.",
)
@click.option(
    "--transactions",
    "transactions_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="RA (000 §3.2.3.2): JSON list of transaction-IDs, one per CSR of --csr, in order.",
)
@click.option(
    "--ra-data",
    "ra_data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON list, one object per CSR of --csr, in order: "
    '{"sans": [["uri", "urn:uuid:..."], ...], "not_after": "2027-03-01T00:00:00Z"} '
    "(docs/ra-data.md).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="dask: the batch in chunks on Dask workers, one store transaction per chunk "
    "(docs/scale.md; not with --transaction-id/--transactions/--ra-data).",
)
@dask_cluster_options
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="With --executor dask: requests per chunk (one transaction each).",
)
@click.pass_context
@errors_exit_2
def issue(
    ctx: click.Context,
    workdir: Path,
    profile: str,
    csr_file: Path,
    out_file: Path,
    report_file: Path | None,
    threads: int | None,
    pin_file: Path | None,
    transaction_id: str | None,
    transactions_file: Path | None,
    ra_data_file: Path | None,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    chunk: int = 1000,
) -> None:
    """Issue certificates for a file of CSRs. Exit 0: all issued, 3: some rejected."""
    check_outputs([("--out", out_file), ("--report", report_file)], [csr_file])
    if executor == "dask" and (transaction_id or transactions_file or ra_data_file):
        raise click.UsageError(
            "--executor dask takes the engine path: not with --transaction-id, "
            "--transactions or --ra-data",
            ctx,
        )
    if executor != "dask" and scheduler is not None:
        raise click.UsageError("--scheduler goes with --executor dask", ctx)
    data = read_input(csr_file, "--csr")
    if data[:1] != b"\x30" and b"-----BEGIN " not in data:
        raise click.UsageError(f"{csr_file} is neither a PEM bundle nor a DER CSR", ctx)
    # A look for the label, not a split: issue_batch splits the bundle once, and a
    # second split here cost 100,000 requests their PEM decoding twice (issue 20 §1).
    if data[:1] != b"\x30" and b" CERTIFICATE REQUEST-----" not in data:
        raise click.UsageError(f"{csr_file} holds no CERTIFICATE REQUEST block", ctx)
    ra_data = None
    if ra_data_file is not None:
        from porthos.exceptions import BatchArgumentError
        from porthos.issuance.csr_input import normalise_csr_input
        from porthos.issuance.item_data import item_data_list, parse_ra_data_json

        if transaction_id is not None or transactions_file is not None:
            raise BatchArgumentError(
                "--ra-data goes with the engine path; the transaction-ID path takes no RA data"
            )
        # Read and checked before the workspace opens: bad RA data stores nothing (the
        # count needs the split; only RA batches pay for it).
        ra_data = parse_ra_data_json(read_input(ra_data_file, "--ra-data"), str(ra_data_file))
        item_data_list(ra_data, len(normalise_csr_input(data)), name=str(ra_data_file))
    from porthos.workspace.unique_names import unique_names_screen
    from porthos.workspace.workspace import Workspace

    with Workspace.open(workdir) as ws:
        pin = None
        if ws.hsm is not None:
            from porthos.hsm import read_pin

            pin = read_pin(pin_file, "PIN of the issuing-CA token")
            ws.activate(pin)
        ca = ws.ca_for_profile(profile)
        prof = ws.profile_set.profiles.get(profile)
        if prof is not None and prof.approval is not None:
            from porthos.exceptions import ApprovalError

            raise ApprovalError(
                f"profile {profile} is issued only after approval by "
                f"{prof.approval.describe()}: `porthos ra request`, then `porthos ra "
                "approve` by each approver, then `porthos ra issue-approved`"
            )
        identity_check = None if prof is None else prof.identity_check
        started = time.perf_counter()
        if executor == "dask":
            result = _issue_dask(ws, data, profile, ca.name, pin, scheduler, workers, chunk)
        elif transaction_id is not None or transactions_file is not None:
            result = _issue_with_transaction_ids(
                ws, data, profile, transaction_id, transactions_file, threads
            )
        else:
            # The engine path: no RA identity check (000 §3.2.3) ran here, and the
            # trail says so; `porthos ra ...` is the path that makes the checks.
            unique = ws.profile_set.ra.unique_names
            prof_obj = ws.profile_set.profiles.get(profile)
            result = ca.issue_batch(
                data,
                profile,
                threads=threads,
                audit_details={"identity_check": "none by porthos (porthos issue)"},
                # Unique names where the CP/CPS data asks for them (docs/ra.md).
                screen=(
                    unique_names_screen(ws.store, prof_obj, int(time.time()), unique)
                    if unique is not None and prof_obj is not None
                    else None
                ),
                ra_data=ra_data,
            )
        seconds = time.perf_counter() - started
    if transaction_id is None and transactions_file is None:
        check = identity_check
        command = None if check is None else RA_COMMAND_FOR_PROCEDURE.get(check.procedure)
        if check is not None and command is not None:
            get_console().print(
                f"[dim]note: issued without the RA's identity check; for profile {profile} "
                f"the CP/CPS check is `{command}` (§{check.section})[/]"
            )
    report_batch(ctx, result, out_file, report_file, seconds)


def _issue_dask(
    ws: Workspace,
    data: bytes,
    profile: str,
    ca_name: str,
    pin: Secret | None,
    scheduler: str | None,
    workers: int,
    chunk: int,
) -> IssueResult:
    """`porthos issue --executor dask`: the requests in chunks on Dask workers
    (porthos.workflows.dask_issue); the report keeps the input order."""
    from porthos.issuance.csr_input import normalise_csr_input
    from porthos.workflows import dask_crl, dask_issue

    # A block unusable as PEM goes as empty bytes: refused in its slot, as locally.
    items = [b"" if it.der is None else it.der for it in normalise_csr_input(data)]
    with dask_crl.cluster_client(scheduler, workers) as client:
        chunks = dask_issue.issue_chunks(
            ws,
            items,
            profile,
            client=client,
            chunk=chunk,
            pin=pin,
            audit_details={
                "identity_check": "none by porthos (porthos issue)",
                "executor": "dask",
            },
        )
    result: IssueResult = dask_issue.as_issue_result(chunks, len(items), profile, ca_name)
    return result


def _issue_with_transaction_ids(
    ws: Workspace,
    data: bytes,
    profile: str,
    transaction_id: str | None,
    transactions_file: Path | None,
    threads: int | None,
) -> IssueResult:
    """`porthos issue --transaction-id ID | --transactions PAIRS.json` (000 §3.2.3.2):
    the CSRs of --csr paired, in order, with the IDs (one ID, or a JSON list of IDs
    with one entry per CSR of the bundle)."""
    from porthos.exceptions import RegistrationError
    from porthos.issuance.csr_input import normalise_csr_input
    from porthos.workflows.ra import RegistrationAuthority

    items = normalise_csr_input(data)
    if transaction_id is not None and transactions_file is not None:
        raise RegistrationError("give --transaction-id or --transactions, not both")
    if transaction_id is not None:
        ids = [transaction_id]
    else:
        assert transactions_file is not None
        try:
            ids = json.loads(transactions_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RegistrationError(f"{transactions_file}: not JSON: {exc}") from None
        if not isinstance(ids, list) or not all(isinstance(t, str) for t in ids):
            raise RegistrationError(
                f"{transactions_file}: expected a JSON list of transaction-IDs, one per CSR"
            )
    if len(ids) != len(items):
        raise RegistrationError(
            f"{len(items)} CSRs but {len(ids)} transaction-IDs; they pair one to one, in order"
        )
    pairs = [(item.der or b"", tid) for item, tid in zip(items, ids, strict=True)]
    return RegistrationAuthority(ws).issue_with_transactions(
        pairs, profile=profile, threads=threads
    )
