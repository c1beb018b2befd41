"""000 §3.2.3.2 standard assurance devices: a trusted agent registers the CSR and gets
a random transaction-ID bound to the CSR's SHA-256; issuance needs both, once, in time.
The audit trail records a fingerprint of an ID, never the bearer value."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from porthos import _native
from porthos.exceptions import RegistrationError
from porthos.issuance.csr_input import normalise_csr_input
from porthos.status import CsrStatus, IssueStatus
from porthos.store import audit, registry
from porthos.timestamps import iso_utc
from porthos.workflows.ra.context import RaContext
from porthos.workflows.ra.issuing import RequestItem

__all__ = ["mark_used", "register_csr", "transaction_items", "transaction_ref"]

_RULE = "000 §3.2.3.2"


def transaction_ref(transaction_id: str) -> str:
    """What the audit trail records of a transaction-ID: a fingerprint, not the
    bearer value (an unused ID read from the trail must not be usable)."""
    return hashlib.sha256(transaction_id.encode()).hexdigest()[:16]


def register_csr(ctx: RaContext, csr: bytes | str, agent: str, ttl: int, now: int) -> str:
    """The trusted agent's step 2: register a CSR, get back a random transaction-ID
    (192 bits from the OS CSPRNG) bound to the CSR's SHA-256, single use, expiring
    after ``ttl`` seconds."""
    event = audit.Event.RA_CSR_REGISTERED
    if not agent or not agent.strip():
        raise ctx.refuse(event, f"the trusted agent must be named ({_RULE})")
    if ttl <= 0:
        raise ctx.refuse(event, f"transaction-ID lifetime must be positive, not {ttl}")
    items = normalise_csr_input(csr)
    if len(items) != 1 or items[0].der is None:
        raise ctx.refuse(
            event, f"expected exactly one CSR, got {len(items)} ({_RULE})", agent=agent
        )
    der = items[0].der
    status, vr = _native.verify_csrs([der])
    if int(status[0]) != CsrStatus.OK:
        raise ctx.refuse(
            event,
            f"CSR refused at registration: {vr.detail(0)} (000 §3.2.1, §3.2.3.2)",
            agent=agent,
        )
    digest = hashlib.sha256(der).digest()
    tid = secrets.token_urlsafe(24)
    with ctx.store.transaction() as conn:
        registry.insert_transaction(conn, tid, digest, agent, now, now + int(ttl))
        audit.record(
            ctx.store,
            event,
            actor=ctx.actor,
            agent=agent,
            csr_sha256=digest.hex(),
            transaction_ref=transaction_ref(tid),
            expires_at=now + int(ttl),
        )
    return tid


def transaction_items(
    ctx: RaContext, pairs: Iterable[tuple[bytes | str, str]], now: int
) -> list[RequestItem]:
    """Step 3: one item per (CSR, transaction-ID) pair. An unknown, used, expired or
    other-CSR ID refuses its item, and so does an ID a previous item of the batch
    uses; accepted items carry their ID for ``mark_used``."""
    items: list[RequestItem] = []
    seen: dict[str, int] = {}
    conn = ctx.store.conn
    for n, (csr, tid_given) in enumerate(pairs):
        tid = str(tid_given)
        parsed = normalise_csr_input(csr)
        if len(parsed) != 1:
            items.append(RequestItem(None, IssueStatus.MALFORMED, "expected exactly one CSR"))
            continue
        item = RequestItem(parsed[0].der)
        items.append(item)
        if item.der is None:
            item.refuse(IssueStatus.MALFORMED, parsed[0].error)
            continue
        item.meta["transaction_ref"] = transaction_ref(tid)
        why = _transaction_problem(registry.transaction(conn, tid), item.der, now)
        if not why and tid in seen:
            why = f"transaction-ID already used by item {seen[tid]} of this batch ({_RULE})"
        if why:
            item.refuse(IssueStatus.REFUSED, why)
        else:
            seen[tid] = n
            item.transaction_id = tid
    return items


def _transaction_problem(row: registry.TransactionRow | None, der: bytes, now: int) -> str:
    if row is None:
        return f"unknown transaction-ID ({_RULE})"
    if row.used_at is not None:
        return f"transaction-ID already used at {iso_utc(row.used_at)}; it is single use ({_RULE})"
    if row.expires_at <= now:
        return f"transaction-ID expired at {iso_utc(row.expires_at)} ({_RULE})"
    if row.csr_sha256 != hashlib.sha256(der).digest():
        return f"transaction-ID was issued for another CSR (SHA-256 differs) ({_RULE})"
    return ""


def mark_used(ctx: RaContext, issued: list[RequestItem], now: int) -> None:
    """Mark the IDs of issued items used, in the transaction that stores their
    certificates."""
    for item in issued:
        assert item.transaction_id is not None
        if not registry.mark_transaction_used(ctx.store.conn, item.transaction_id, now):
            # Another process used it between our check and this write: the whole
            # batch rolls back rather than issue on a spent ID.
            raise RegistrationError(
                f"transaction-ID {item.meta['transaction_ref']} was used concurrently; "
                f"nothing issued ({_RULE})"
            )
