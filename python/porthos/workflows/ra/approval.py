"""Issuance after multi-person approval (RFC 3647 §5.2.2 "number of persons required per
task"), for the profiles whose CP/CPS entry has an ``approval`` rule
(porthos.cpcps.approval, e.g. "two persons, one of them an RA").

1. :func:`request` stores one CSR (proof of possession checked) and its RA data as a
   pending request and returns its id;
2. :func:`approve` records one person's approval in a role (a person approves a
   request once; an excluded role is refused);
3. :func:`issue_approved` issues it when the approvals satisfy the rule, in one store
   transaction with the request marked issued: a request is issued once.

Every step is an audit record (``approval.requested``, ``approval.given``,
``approval.issued``, and ``certificates.issued`` for the certificate); every refusal
raises ApprovalError after an audited failure record, with nothing else stored.
``porthos issue`` and the RA's other procedures refuse these profiles
(RaContext.profile, cli/issue.py).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from porthos import _native
from porthos.cpcps.approval import ANY_ROLE
from porthos.cpcps.fields import NAME_RE
from porthos.exceptions import ApprovalError, BatchArgumentError
from porthos.issuance.csr_input import normalise_csr_input
from porthos.issuance.item_data import item_data_list
from porthos.status import CsrStatus, IssueStatus
from porthos.store import approvals, audit

if TYPE_CHECKING:
    from porthos.cpcps.approval import ApprovalRule
    from porthos.cpcps.profiles import Profile
    from porthos.workflows.ra.context import RaContext
    from porthos.workspace.authority import IssueResult

__all__ = ["RA_DATA_KEYS", "approve", "issue_approved", "request", "rule_of"]

#: The RA data one request may carry (the shape of one item of `porthos issue
#: --ra-data`): subject alternative names and the notAfter the RA vouches for.
RA_DATA_KEYS = ("sans", "not_after")


def _refuse(ra: RaContext, event: str, message: str, **details: Any) -> ApprovalError:
    audit.record_failure(ra.store, event, message, actor=ra.actor, **details)
    return ApprovalError(message)


def rule_of(ra: RaContext, profile: str, event: str) -> tuple[Profile, ApprovalRule]:
    """The profile and its approval rule; refused when the profile has none (it is
    issued without approvals: `porthos issue`)."""
    prof = ra.workspace.profile_set.profiles.get(profile)
    if prof is None:
        raise _refuse(ra, event, f"unknown profile {profile!r}", profile=profile)
    if prof.approval is None:
        raise _refuse(
            ra,
            event,
            f"profile {profile} needs no approval; it is issued by `porthos issue`",
            profile=profile,
        )
    return prof, prof.approval


def _ra_data(ra: RaContext, data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) - set(RA_DATA_KEYS):
        extra = sorted(set(data) - set(RA_DATA_KEYS)) if isinstance(data, dict) else data
        raise _refuse(
            ra,
            audit.Event.APPROVAL_REQUESTED,
            f"RA data: a JSON object with {', '.join(RA_DATA_KEYS)}; not {extra!r}",
        )
    if "sans" in data and not isinstance(data["sans"], list):
        raise _refuse(ra, audit.Event.APPROVAL_REQUESTED, "RA data: sans is a list")
    if "not_after" in data and not isinstance(data["not_after"], str):
        raise _refuse(ra, audit.Event.APPROVAL_REQUESTED, "RA data: not_after is ISO-8601 text")
    # The format issuance reads (docs/ra-data.md), checked now: a request whose RA data
    # could never be applied is refused here, not after its approvals.
    try:
        item_data_list([data], 1)
    except BatchArgumentError as exc:
        raise _refuse(ra, audit.Event.APPROVAL_REQUESTED, f"RA data: {exc}") from None
    return json.dumps(data, sort_keys=True)


def request(
    ra: RaContext,
    csr: bytes | str,
    profile: str,
    *,
    ra_data: dict[str, Any] | None,
    now: int,
) -> str:
    """Store one CSR (its proof of possession verified) for approval; returns the id."""
    event = audit.Event.APPROVAL_REQUESTED
    prof, rule = rule_of(ra, profile, event)
    items = normalise_csr_input(csr)
    if len(items) != 1 or items[0].der is None:
        why = items[0].error if len(items) == 1 else f"{len(items)} CSRs"
        raise _refuse(ra, event, f"one CSR per approval request: {why}", profile=profile)
    der = items[0].der
    batch = _native.parse_csrs([der], verify=True)
    if int(batch.status[0]) != CsrStatus.OK:
        raise _refuse(
            ra,
            event,
            f"the CSR is refused: {CsrStatus(int(batch.status[0])).name} (RFC 3647 §3.2.1)",
            profile=profile,
        )
    data = _ra_data(ra, ra_data)
    request_id = uuid.uuid4().hex
    with ra.store.transaction() as conn:
        approvals.add_request(conn, request_id, prof.name, der, data, ra.actor, now)
        audit.record(
            ra.store,
            event,
            actor=ra.actor,
            request=request_id,
            profile=prof.name,
            rule=rule.describe(),
            ra_data=None if data is None else json.loads(data),
        )
    return request_id


def _pending(ra: RaContext, request_id: str, event: str) -> approvals.PendingRequest:
    req = approvals.request(ra.store.conn, request_id)
    if req is None:
        raise _refuse(ra, event, f"no approval request {request_id!r}", request=request_id)
    if req.issued_at is not None:
        raise _refuse(
            ra,
            event,
            f"request {request_id} was issued already (serial {req.serial_hex})",
            request=request_id,
        )
    return req


def _person(name: str) -> str:
    return " ".join(name.split())


def approve(ra: RaContext, request_id: str, operator: str, role: str, *, now: int) -> int:
    """Record ``operator``'s approval in ``role``; returns how many persons approved.
    Refused: an unknown or issued request, a person approving twice, a role the rule
    excludes, a malformed role name."""
    event = audit.Event.APPROVAL_GIVEN
    req = _pending(ra, request_id, event)
    _prof, rule = rule_of(ra, req.profile, event)
    person = _person(operator)
    details: dict[str, Any] = dict(request=request_id, operator=person, role=role)
    if not person:
        raise _refuse(ra, event, "an approval names its operator", **details)
    if not NAME_RE.fullmatch(role) or role == ANY_ROLE:
        raise _refuse(
            ra, event, f"role {role!r}: a role name (lower-case letters, digits, '-')", **details
        )
    if role in rule.exclude:
        raise _refuse(
            ra,
            event,
            f"an approval in the role {role} does not count for profile {req.profile}: "
            f"{rule.describe()}",
            **details,
        )
    given = approvals.approvals_of(ra.store.conn, request_id)
    if any(a.operator.casefold() == person.casefold() for a in given):
        raise _refuse(
            ra,
            event,
            f"{person} already approved request {request_id}: one person counts once; "
            f"the rule asks for {rule.describe()}",
            **details,
        )
    with ra.store.transaction() as conn:
        if not approvals.add_approval(conn, request_id, person, role, now):
            # Another process recorded the same person meanwhile (UNIQUE in the schema).
            raise ApprovalError(f"{person} already approved request {request_id}")
        audit.record(ra.store, event, actor=ra.actor, profile=req.profile, **details)
    return len(given) + 1


def issue_approved(
    ra: RaContext, request_id: str, *, now: int, threads: int | None = None
) -> IssueResult:
    """Issue an approved request (the rule satisfied), and mark it issued, in one store
    transaction. A request whose CSR the CA refuses (a status, exit 3) stays pending."""
    event = audit.Event.APPROVAL_ISSUED
    req = _pending(ra, request_id, event)
    prof, rule = rule_of(ra, req.profile, event)
    given = approvals.approvals_of(ra.store.conn, request_id)
    unmet = rule.unmet([(a.operator, a.role) for a in given])
    if unmet is not None:
        raise _refuse(
            ra,
            event,
            f"request {request_id} is not approved: {unmet}; profile {prof.name} needs "
            f"{rule.describe()} (`porthos ra approve`)",
            request=request_id,
            approvals=[a.operator for a in given],
        )
    approved_by = [{"operator": a.operator, "role": a.role} for a in given]
    try:
        result = _issue_and_mark(ra, req, prof, rule, approved_by, now, threads)
    except Exception as exc:
        # The transaction rolled back (issue_batch left the record to its owner, us).
        audit.record_failure(ra.store, event, exc, actor=ra.actor, request=request_id)
        raise
    return result


def _issue_and_mark(
    ra: RaContext,
    req: approvals.PendingRequest,
    prof: Profile,
    rule: ApprovalRule,
    approved_by: list[dict[str, str]],
    now: int,
    threads: int | None,
) -> IssueResult:
    """Issue the request's CSR and mark the request issued, in one transaction."""
    request_id = req.id
    ca = ra.workspace.ca_for_profile(prof.name)
    with ra.store.transaction() as conn:
        # Checked again under the write lock: two operators issuing the same request at
        # once get one certificate.
        fresh = approvals.request(conn, request_id)
        if fresh is None or fresh.issued_at is not None:
            raise ApprovalError(f"request {request_id} was issued already")
        # The RA data recorded with the request (SANs, a card's notAfter) goes into the
        # certificate like any request's (docs/ra-data.md); it was stored, not applied.
        result = ca.issue_batch(
            [req.csr_der],
            prof.name,
            now=now,
            threads=threads,
            actor=ra.actor,
            ra_data=None if req.ra_data is None else [json.loads(req.ra_data)],
            audit_details={
                "identity_check": f"approval request {request_id}",
                "approved_by": approved_by,
            },
        )
        if int(result.status[0]) == IssueStatus.ISSUED:
            cert = result.certificates[0]
            assert cert is not None
            serial_hex = _serial_hex(cert)
            approvals.mark_issued(conn, request_id, serial_hex, now)
            audit.record(
                ra.store,
                audit.Event.APPROVAL_ISSUED,
                actor=ra.actor,
                serial=serial_hex,
                request=request_id,
                profile=prof.name,
                approved_by=approved_by,
                rule=rule.describe(),
                ra_data=None if req.ra_data is None else json.loads(req.ra_data),
            )
    return result


def _serial_hex(der: bytes) -> str:
    from cryptography import x509

    return format(x509.load_der_x509_certificate(der).serial_number, "x")
