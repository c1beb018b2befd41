"""The RA's common issuance step: the requests that passed the checks made before
parsing are parsed and verified ONCE, the RA's checks on the parsed batch run as the
screen hook of ``CertificateAuthority.issue_batch`` (which reuses that parse), and the
RA's audit records go into the same store transaction. Also the check every path but
re-key makes there: unique names (000 §3.1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from porthos import _native
from porthos.issuance.threads import check_threads
from porthos.status import CsrStatus, IssueStatus
from porthos.store import audit
from porthos.workspace.authority import IssueResult
from porthos.workspace.unique_names import unique_name_refusals

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile
    from porthos.workflows.ra.context import RaContext

__all__ = [
    "ParsedRequests",
    "RaCheck",
    "Refusals",
    "RequestItem",
    "issue_items",
    "unique_names_check",
]

#: Refusals by index into the parsed batch: (status, reason naming rule and section).
Refusals = dict[int, tuple[IssueStatus, str]]


@dataclass
class RequestItem:
    """One request on its way through the RA: DER CSR (None when unusable), the RA's
    verdict so far, and what the audit record says about it."""

    der: bytes | None
    status: IssueStatus = IssueStatus.ISSUED
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: The issued certificate, once issue_batch signed it.
    cert: bytes | None = None
    #: The transaction-ID (000 §3.2.3.2) to mark used; kept out of ``meta``, which
    #: goes to the audit trail (only its fingerprint is recorded there).
    transaction_id: str | None = None

    def refuse(self, status: IssueStatus, reason: str) -> None:
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ParsedRequests:
    """The one parse of the requests sent to issuance: item k of ``batch`` is input
    item ``at[k]`` of the RA call (the index its messages name)."""

    batch: _native.CsrBatch
    at: Sequence[int]


#: An RA check on the parsed batch: given the batch and the indices of the items still
#: accepted (CSR parsed, proof of possession verified, no earlier check refused them),
#: the refusals it makes.
RaCheck = Callable[[ParsedRequests, list[int]], Refusals]


def _screen(parsed: ParsedRequests, checks: Sequence[RaCheck]) -> Callable[[Any], Refusals]:
    """The issue_batch screen hook running ``checks`` in order; an item refused by one
    is not shown to the next."""

    def screen(batch: Any) -> Refusals:
        refusals: Refusals = {}
        live = np.flatnonzero(batch.status == CsrStatus.OK).tolist()
        for check in checks:
            found = check(parsed, live)
            refusals.update(found)
            live = [k for k in live if k not in found]
        return refusals

    return screen


def unique_names_check(ctx: RaContext, prof: Profile, now: int) -> RaCheck:
    """Unique names, when the CP/CPS data asks for them (``[ra] unique_names``, 000
    §3.1): the one check of workspace/unique_names.py, on the requests still live."""
    section = ctx.workspace.profile_set.ra.unique_names

    def check(parsed: ParsedRequests, live: list[int]) -> Refusals:
        if section is None:
            return {}
        return unique_name_refusals(
            ctx.store, prof, parsed.batch, live, now, parsed.at, section=section
        )

    return check


def issue_items(
    ctx: RaContext,
    prof: Profile,
    items: list[RequestItem],
    *,
    method: str,
    now: int,
    threads: int | None,
    checks: Sequence[RaCheck] = (),
    on_issued: Callable[[list[RequestItem]], None] | None = None,
    extra_details: dict[str, Any] | None = None,
) -> IssueResult:
    """Parse and verify the items still accepted (once), then issue_batch with
    ``checks`` as its screen hook, in one store transaction with ``on_issued`` (e.g.
    marking transaction-IDs used) and the RA's audit records; merge back into one slot
    per input.

    Refusals made on the parsed batch (``checks``, CSR, subject and key rules) are
    audited by issue_batch's ``application.rejected`` record, with ``details``; the
    RA's own record lists the items refused before parsing, with their ``meta``."""
    ca = ctx.workspace.ca(prof.issuer)
    details = {"ra": method, **(extra_details or {})}
    n = len(items)
    certificates: list[bytes | None] = [None] * n
    batch_id: int | None = None
    try:
        with ctx.store.transaction():
            pending = [
                i for i, it in enumerate(items) if it.status == IssueStatus.ISSUED and it.der
            ]
            if pending:
                ders = [items[i].der or b"" for i in pending]
                # The one parse of these requests (proof of possession included, 000
                # §3.2.1): the RA's checks read it, and issue_batch issues from it.
                batch = _native.parse_csrs(ders, verify=True, threads=check_threads(threads))
                sub = ca.issue_batch(
                    ders,
                    prof.name,
                    now=now,
                    threads=threads,
                    actor=ctx.actor,
                    audit_details=details,
                    parsed=batch,
                    screen=_screen(ParsedRequests(batch, pending), checks) if checks else None,
                )
                batch_id = sub.batch
                for r, i in enumerate(pending):
                    items[i].status = IssueStatus(int(sub.status[r]))
                    items[i].reason = sub.reasons[r]
                    certificates[i] = items[i].cert = sub.certificates[r]
            issued = [it for it in items if it.status == IssueStatus.ISSUED]
            if on_issued is not None and issued:
                on_issued(issued)
            _record(ctx, ca.name, prof.name, items, set(pending), details)
    except Exception as exc:
        audit.record_failure(
            ctx.store, audit.Event.FAILURE, exc, actor=ctx.actor, ca=ca.name, **details
        )
        raise
    status = np.array([it.status for it in items], dtype=np.uint8)
    reasons = [it.reason for it in items]
    return IssueResult(
        certificates, status, reasons, profile=prof.name, ca=ca.name, batch=batch_id
    )


def _record(
    ctx: RaContext,
    ca_name: str,
    profile: str,
    items: list[RequestItem],
    sent: set[int],
    details: dict[str, Any],
) -> None:
    """The RA's audit records of one call (000 §5.4.1), at most 1,000 items each."""
    ra_refused = [
        (i, it) for i, it in enumerate(items) if it.status != IssueStatus.ISSUED and i not in sent
    ]
    if ra_refused:
        audit.record(
            ctx.store,
            audit.Event.APPLICATION_REJECTED,
            actor=ctx.actor,
            outcome="failure",
            ca=ca_name,
            profile=profile,
            count=len(ra_refused),
            items=[
                {"index": i, "status": it.status.name, "reason": it.reason, **it.meta}
                for i, it in ra_refused[:1000]
            ],
            **details,
        )
    accepted = [(i, it) for i, it in enumerate(items) if it.status == IssueStatus.ISSUED]
    if accepted:
        audit.record(
            ctx.store,
            audit.Event.APPLICATION_ACCEPTED,
            actor=ctx.actor,
            ca=ca_name,
            profile=profile,
            count=len(accepted),
            items=[{"index": i, **it.meta} for i, it in accepted[:1000]],
            **details,
        )
