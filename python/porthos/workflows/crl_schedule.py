"""The CRL schedule (RFC 3647 §4.9.7): which CAs' CRLs are due, and why.

:func:`due` says which CRLs are due: each CA every ``crl.period`` of its CP/CPS entry,
any CA right after a revocation of a certificate it issued (§4.9.7) or a change of its
holds (suspension, §4.9.13-16), and any CA with a scheduled revocation whose time has
come (§4.9.4) or a hold past the CP/CPS's suspension limit. It decides nothing and writes
nothing: it reads the store.
:func:`crl_next_update` is the nextUpdate every published CRL gets: thisUpdate plus the
CA's ``crl.validity`` (§7.2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from porthos.crl_reasons import REASON_NAMES, REASONS
from porthos.store import audit, holds, revocations
from porthos.timestamps import iso_utc
from porthos.workflows.crl_end import publication_end, refuse_unless_publishing, retired_crls

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "DueItem",
    "crl_targets",
    "crl_next_update",
    "due",
    "kept_cas",
    "schedule",
]


def crl_next_update(ca: CertificateAuthority, this_update: int) -> int:
    """The nextUpdate of a CRL of ``ca`` issued at ``this_update``: the validity its
    CP/CPS entry gives (``crl.validity``, §7.2)."""
    return ca.spec.crl.validity.not_after(this_update)


# --------------------------------------------------------------------------------------
# the schedule
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueItem:
    """One line of the schedule: a CA's CRL, or a scheduled revocation."""

    ca: str
    kind: str  # "crl", "scheduled-revocation" or "hold-escalation"
    is_due: bool
    why: str
    last_number: int | None  # the CA's last published full CRL
    last_this_update: int | None
    next_due: int  # when it is (or was) due

    def as_json(self) -> dict[str, Any]:
        return {
            "ca": self.ca,
            "kind": self.kind,
            "due": self.is_due,
            "why": self.why,
            "last_crl_number": self.last_number,
            "last_this_update": self.last_this_update,
            "next_due": self.next_due,
        }


def _last_published(ws: Workspace, ca_name: str) -> revocations.PublishedCrl | None:
    """The CA's newest full CRL that was published. A CRL number allocated whose CRL
    was never written (a crash before the files) does not count: its CA stays due."""
    return revocations.last_published_full_crl(ws.store.conn, ca_name, audit.Event.CRL_PUBLISHED)


def kept_cas(ws: Workspace) -> list[CertificateAuthority]:
    """CAs whose CRLs are kept: active and retired ones (a retired generation-1 CA
    still signs the CRLs covering its certificates, §5.6); terminated ones published
    their final CRL (§5.8), and retired ones whose final CRL followed the expiry of
    everything they issued (workflows/crl_end.py), are left out."""
    return [ca for ca in ws.cas if publication_end(ws, ca) is None]


def schedule(ws: Workspace, now: int | None = None) -> list[DueItem]:
    """Every scheduled revocation due or pending, and one line per CA saying whether
    its CRL is due and when it next will be (000 §4.9.7)."""
    now = int(time.time()) if now is None else int(now)
    items: list[DueItem] = []
    pending_by_ca: dict[str, int] = {}
    cas = kept_cas(ws)
    names = {ca.name for ca in cas}
    last_of = {ca.name: _last_published(ws, ca.name) for ca in cas}
    for row in revocations.pending_scheduled(ws.store.conn):
        if row.ca_name not in names:
            continue
        is_due = row.due_at <= now
        if is_due:
            pending_by_ca[row.ca_name] = pending_by_ca.get(row.ca_name, 0) + 1
        superseded = REASONS["superseded"]
        name = REASON_NAMES.get(superseded if row.reason is None else row.reason, "?")
        last = last_of[row.ca_name]
        items.append(
            DueItem(
                row.ca_name,
                "scheduled-revocation",
                is_due,
                f"serial {row.serial_hex}: {name} at {iso_utc(row.due_at)}, requested by "
                f"{row.requested_by} (§4.9.4 grace period after an early re-key)",
                None if last is None else last.number,
                None if last is None else last.this_update,
                row.due_at,
            )
        )
    escalations_by_ca = _escalations(ws, now, names, last_of, items)
    for ca in ws.cas:
        end = retired_crls(ws, ca) if ca not in cas else None
        if end is not None and end.final is not None:
            # Its publication ended (RFC 5280 §3.3): one line, never due again.
            number, this_update = end.final
            items.append(
                DueItem(ca.name, "crl-ended", False, end.line(), number, this_update, this_update)
            )
    for ca in cas:
        last = last_of[ca.name]
        crl = ca.spec.crl
        label = f"every {crl.period} (§{crl.section or '4.9.7'})"
        reasons: list[str] = []
        if last is None:
            reasons.append("no CRL published yet (§2.1, §4.9.7)")
            next_due = now
        else:
            number, this_update, upto = last.number, last.this_update, last.revocations_upto
            next_due = crl.period.not_after(this_update)
            if now >= next_due:
                reasons.append(f"last CRL #{number} of {iso_utc(this_update)} is due {label}")
            newer = revocations.revocations_after(ws.store.conn, ca.name, upto)
            if newer:
                # A CP/CPS may bound the delay (crl.after_revocation, e.g. within 24 h of
                # a sub-CA revocation); the CRL is due at once either way.
                bound = (
                    f", at the latest {crl.after_revocation} after it"
                    if crl.after_revocation is not None
                    else ""
                )
                reasons.append(
                    f"{newer} revocation(s) recorded after CRL #{number} "
                    f"(§4.9.7: a CRL follows each processed revocation{bound})"
                )
                next_due = min(next_due, now)
            held = holds.changes_after(ws.store.conn, ca.name, last.holds_upto)
            if held:
                reasons.append(f"{held} suspension change(s) (hold, release) after CRL #{number}")
                next_due = min(next_due, now)
        if escalations_by_ca.get(ca.name):
            reasons.append(
                f"{escalations_by_ca[ca.name]} hold(s) past the suspension limit: "
                "revoked at publication"
            )
            next_due = min(next_due, now)
        if pending_by_ca.get(ca.name):
            reasons.append(f"{pending_by_ca[ca.name]} scheduled revocation(s) due (§4.9.4)")
            next_due = min(next_due, now)
        why = "; ".join(reasons) if reasons else f"next {label}"
        end = retired_crls(ws, ca)
        if end is not None and end.is_final(max(now, next_due)):
            why += (
                f"; the final one: everything this retired CA issued "
                f"{'expired' if end.last_expiry <= now else 'expires'} by "
                f"{iso_utc(end.last_expiry)} (RFC 5280 §3.3)"
            )
        items.append(
            DueItem(
                ca.name,
                "crl",
                bool(reasons),
                why,
                None if last is None else last.number,
                None if last is None else last.this_update,
                next_due,
            )
        )
    return items


def _escalations(
    ws: Workspace,
    now: int,
    names: set[str],
    last_of: dict[str, revocations.PublishedCrl | None],
    items: list[DueItem],
) -> dict[str, int]:
    """One line per open hold (a CP/CPS with suspension): due when it outlived the
    limit and the next publication revokes it. Returns the due count per CA."""
    policy = ws.profile_set.revocation.suspension
    out: dict[str, int] = {}
    if policy is None:
        return out
    reason = REASON_NAMES[policy.escalate_to]
    for row in holds.open_holds(ws.store.conn):
        if row.ca_name not in names:
            continue
        deadline = policy.limit.not_after(row.held_at)
        if deadline <= now:
            out[row.ca_name] = out.get(row.ca_name, 0) + 1
        last = last_of[row.ca_name]
        items.append(
            DueItem(
                row.ca_name,
                "hold-escalation",
                deadline <= now,
                f"serial {row.serial_hex} on hold since {iso_utc(row.held_at)}: {reason} "
                f"after {policy.limit} (§{policy.section})",
                None if last is None else last.number,
                None if last is None else last.this_update,
                deadline,
            )
        )
    return out


def due(ws: Workspace, now: int | None = None) -> list[DueItem]:
    """What is due at ``now``: scheduled revocations first (publishing carries them out
    before building CRLs), then the CAs whose CRL is due (000 §4.9.7)."""
    return [item for item in schedule(ws, now) if item.is_due]


def crl_targets(
    ws: Workspace, now: int | None = None, *, everything: bool = False, ca: str | None = None
) -> list[str]:
    """The CAs :func:`publish` issues a CRL for: one named CA, every kept CA, or the due
    ones (root first)."""
    if ca is not None:
        refuse_unless_publishing(ws, ws.ca(ca))
        return [ca]
    if everything:
        return [c.name for c in kept_cas(ws)]
    names = {i.ca for i in due(ws, now) if i.kind == "crl"}
    return [c.name for c in ws.cas if c.name in names]
