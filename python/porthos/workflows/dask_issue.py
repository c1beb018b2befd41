"""Batch issuance across Dask workers (issue 19 §3).

The CSR batch is split into chunks; each worker issues its chunk through the CA's own
batch path (``CertificateAuthority.issue_batch``: policy, CSPRNG serials, fill and sign
with the worker's key or HSM session pool, opened once per worker by
:class:`porthos.workflows.dask_crl.WorkspacePlugin`), and the chunk's certificates and
its ``certificates.issued`` record are ONE store transaction. The database allocates
the serials (RFC 5280 §4.1.2.2): before it signs anything, the worker reserves one
CSPRNG serial per request of its chunk in a committed transaction of its own
(store/serial_reservations.py: a serial anyone reserved before is drawn again), signs
only those, and the chunk's commit turns the reservations into certificates. A worker
that dies after reserving leaves its serials burned, never reused. The result keeps
the input order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distributed import Client, get_worker

from porthos.workflows.dask_crl import PLUGIN, WorkspacePlugin
from porthos.workspace.fault_hooks import stall_if_asked
from porthos.workspace.generations import check_may_issue

if TYPE_CHECKING:
    from porthos.hsm import Secret
    from porthos.workspace.workspace import Workspace

__all__ = ["STALL_ENV", "ChunkResult", "issue_chunks"]


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """One chunk as issued: (input index, DER) of each certificate, (input index,
    reason) of each refusal, and the id of its ``certificates.issued`` record."""

    issued: list[tuple[int, bytes]]
    rejected: list[tuple[int, int, str]]  # (input index, IssueStatus, reason)
    batch: int | None


#: Test hook (the killed-worker fault test): ``<file>:<offset>:<seconds>``. The worker
#: that reserved the serials of the chunk at <offset> writes its pid to <file> and
#: sleeps before signing, so that the test can kill it holding reservations. Later
#: workers find the file and do not stall.
STALL_ENV = "PORTHOS_TEST_ISSUE_STALL"


def _issue_task(
    profile: str,
    chunk: list[bytes],
    offset: int,
    now: int,
    actor: str | None,
    audit_details: dict[str, Any] | None,
) -> ChunkResult:
    from porthos.issuance.serials import generate_serials
    from porthos.store.serial_reservations import ReservedSerials
    from porthos.workspace.unique_names import unique_names_screen

    plugin: WorkspacePlugin = get_worker().plugins[PLUGIN]  # type: ignore[assignment]
    with plugin.lock:
        ws = plugin.workspace()
        prof = ws.profile_set.profile(profile)
        # A CA that may not issue reserves nothing (issue_batch would refuse it after).
        check_may_issue(ws.ca(prof.issuer), profile)
        unique = ws.profile_set.ra.unique_names
        # One serial per request, committed before signing; the refused ones' serials
        # end void (burned) with the chunk's commit.
        reserved = ReservedSerials.reserve(
            ws.store, prof.issuer, len(chunk), now=int(time.time()), draw=generate_serials
        )
        stall_if_asked(STALL_ENV, offset)
        res = ws.ca(prof.issuer).issue_batch(
            chunk,
            profile,
            now=now,
            actor=actor,
            audit_details=audit_details,
            # Unique names where the CP/CPS data asks for them, as `porthos issue`.
            screen=None if unique is None else unique_names_screen(ws.store, prof, now, unique),
            reserved=reserved,
        )
    return ChunkResult(
        [(offset + i, der) for i, der in res.issued()],
        [(offset + i, int(status), reason) for i, status, reason in res.rejected()],
        res.batch,
    )


def issue_chunks(
    ws: Workspace,
    csrs: Sequence[Any],
    profile: str,
    *,
    client: Client,
    chunk: int = 1000,
    now: int | None = None,
    pin: Secret | None = None,
    actor: str | None = None,
    audit_details: dict[str, Any] | None = None,
) -> list[ChunkResult]:
    """Issue ``csrs`` (DER or PEM items) under ``profile`` in chunks of ``chunk`` on the cluster
    behind ``client``; one result per chunk, in input order. A chunk that fails (a
    serial collision, the store gone) raises its error after the others finished."""
    now = int(time.time()) if now is None else int(now)
    prof = ws.profile_set.profile(profile)  # an unknown profile: one clear error first
    # A CA that may not issue (retired, RFC 3647 §5.6; terminated, §5.8) is refused
    # here, before a worker reserves a serial or a task is submitted.
    check_may_issue(ws.ca(prof.issuer), profile)
    client.register_plugin(
        WorkspacePlugin(str(ws.path.resolve()), None if pin is None else pin.reveal()),
        name=PLUGIN,
    )
    futures = [
        client.submit(_issue_task, profile, list(csrs[lo : lo + chunk]), lo, now, actor,
                      audit_details, pure=False)
        for lo in range(0, len(csrs), chunk)
    ]  # fmt: skip
    try:
        return list(client.gather(futures))
    finally:
        client.cancel(futures)


def as_issue_result(chunks: Sequence[ChunkResult], n: int, profile: str, ca: str) -> Any:
    """The chunks as one IssueResult (one slot per input, in order), for the CLI's
    report; ``batch`` is the first chunk's record id (each chunk has its own)."""
    import numpy as np

    from porthos.status import IssueStatus
    from porthos.workspace.authority import IssueResult

    certificates: list[bytes | None] = [None] * n
    status = np.full(n, int(IssueStatus.ISSUED), np.uint8)
    reasons = [""] * n
    for c in chunks:
        for i, der in c.issued:
            certificates[i] = der
        for i, code, reason in c.rejected:
            status[i], reasons[i] = code, reason
    batches = [c.batch for c in chunks if c.batch is not None]
    return IssueResult(
        certificates,
        status,
        reasons,
        profile=profile,
        ca=ca,
        batch=batches[0] if batches else None,
    )
