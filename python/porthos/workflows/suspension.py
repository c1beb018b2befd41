"""Suspension (RFC 3647 §4.9.13-16 of a CP/CPS that offers it): a certificate put on
hold, released, or revoked when the hold outlives the CP/CPS's limit.

What is allowed comes from the CP/CPS (``[revocation] suspension``, see
porthos.cpcps.profiles.SuspensionPolicy): whether suspension exists, which profiles'
certificates may be suspended, how long a hold may last and which revocation it becomes.

* :func:`suspend` puts one certificate on hold: its CA's next CRL lists it with reason
  certificateHold (RFC 5280 §5.3.1) and the CP/CPS's holdInstructionCode (reject),
  dated when the hold was placed.
* :func:`release` removes the hold: the next full CRL omits the certificate, the next
  delta CRL lists it as removeFromCRL.
* :func:`escalate` revokes, with the CP/CPS's ``escalate_to`` reason, every hold older
  than the limit; :func:`porthos.workflows.crl_publication.publish` runs it before
  building CRLs. The revocationDate is the date the hold was placed: the certificate has
  been unusable since then, and a relying party that checks a signature made during the
  hold sees it invalid either way; the escalation itself (when, which limit) is in the
  ``revocation.requested`` audit record.
* Revoking a held certificate (``porthos revoke``) replaces the hold with the
  revocation (porthos.store.holds.end_by_revocation).

Each change is one store transaction with its audit record; every refusal raises
SuspensionError (nothing stored) after an audited failure record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from porthos.exceptions import LifecycleError, PorthosError, SuspensionError
from porthos.store import audit, holds, registry, revocations
from porthos.timestamps import iso_utc
from porthos.workflows.revocation import Revoked, record_revocations, resolve_one

if TYPE_CHECKING:
    from porthos.cpcps.profiles import SuspensionPolicy
    from porthos.workflows.revocation import Target
    from porthos.workspace.workspace import Workspace

__all__ = ["Hold", "escalate", "hold_deadline", "release", "suspend"]


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold placed or released."""

    ca: str
    serial_hex: str
    subject: str
    held_at: int
    requested_by: str
    #: When the hold becomes a revocation if not released (placed holds).
    deadline: int


def _policy(ws: Workspace) -> SuspensionPolicy:
    policy = ws.profile_set.revocation.suspension
    if policy is None:
        raise SuspensionError(
            f"the CP/CPS {ws.profile_set.identity} offers no suspension "
            "(revocation.suspension = false): a certificate is revoked instead"
        )
    return policy


def hold_deadline(policy: SuspensionPolicy, held_at: int) -> int:
    """When a hold placed at ``held_at`` must have been released (§4.9.16 style limit)."""
    return policy.limit.not_after(held_at)


def _target(ws: Workspace, serial: int | str, ca: str | None) -> Target:
    try:
        return resolve_one(ws, serial, ca)
    except LifecycleError as exc:
        raise SuspensionError(str(exc)) from None


@contextmanager
def _audited(
    ws: Workspace, event: str, requester: str, serial: int | str, actor: str | None
) -> Iterator[None]:
    """Record a failure of ``event`` for any porthos error raised inside (after the
    transaction rolled back: nothing else was stored)."""
    try:
        yield
    except PorthosError as exc:
        audit.record_failure(
            ws.store, event, exc, actor=actor, requested_by=requester, serial=str(serial)
        )
        raise


def _requester(requester: str) -> str:
    if not requester or not requester.strip():
        raise SuspensionError(
            "a suspension request names who asks (a CP/CPS §4.9.14 lists who may); none given"
        )
    return requester.strip()


def suspend(
    ws: Workspace,
    serial: int | str,
    *,
    requester: str,
    ca: str | None = None,
    now: int | None = None,
    actor: str | None = None,
    comment: str | None = None,
) -> Hold:
    """Put a certificate on hold (certificateHold). Refused (SuspensionError, nothing
    stored): no suspension in the CP/CPS, a CA certificate, a profile the CP/CPS does
    not suspend, an expired, revoked or already held certificate."""
    now = int(time.time()) if now is None else int(now)
    with _audited(ws, audit.Event.SUSPENSION_REQUESTED, requester, serial, actor):
        who = _requester(requester)
        policy = _policy(ws)
        t = _target(ws, serial, ca)
        # Checked inside the transaction that writes the hold: two operators suspending
        # the same certificate at once cannot both pass.
        with ws.store.transaction() as tx:
            _check_suspendable(ws, policy, t, now)
            profile = _profile_of(ws, t)
            deadline = hold_deadline(policy, now)
            holds.add_event(tx, t.ca, t.serial_hex, "hold", now, who)
            details: dict[str, Any] = dict(
                ca=t.ca,
                profile=profile,
                requested_by=who,
                held_at=now,
                deadline=deadline,
                section=policy.section,
            )
            if comment:
                details["comment"] = comment
            audit.record(
                ws.store,
                audit.Event.SUSPENSION_REQUESTED,
                actor=actor,
                subject=t.subject,
                serial=t.serial_hex,
                **details,
            )
    return Hold(t.ca, t.serial_hex, t.subject, now, who, deadline)


def _profile_of(ws: Workspace, t: Target) -> str | None:
    issued = registry.issued_certificate(ws.store.conn, t.ca, t.serial_hex)
    return None if issued is None else issued.profile


def _check_suspendable(ws: Workspace, policy: SuspensionPolicy, t: Target, now: int) -> None:
    label = f"serial {t.serial_hex}"
    if t.is_ca:
        raise SuspensionError(f"{label} is a CA certificate; CA certificates are not held")
    conn = ws.store.conn
    profile = _profile_of(ws, t)
    if profile not in policy.profiles:
        raise SuspensionError(
            f"{label} is a {profile} certificate; the CP/CPS suspends only "
            f"{', '.join(policy.profiles)} certificates (§{policy.section})"
        )
    if revocations.ca_statuses(conn).get(t.ca) == "terminated":
        raise SuspensionError(f"{label}: its CA {t.ca} is terminated (RFC 3647 §5.8)")
    if t.not_after <= now:
        raise SuspensionError(f"{label} expired at {iso_utc(t.not_after)}")
    if revocations.is_revoked(conn, t.ca, [t.serial_hex]):
        raise SuspensionError(f"{label} is revoked; a revocation is not undone by a hold")
    held = holds.open_hold(conn, t.ca, t.serial_hex)
    if held is not None:
        raise SuspensionError(
            f"{label} is already on hold since {iso_utc(held.held_at)} "
            f"(requested by {held.requested_by})"
        )


def release(
    ws: Workspace,
    serial: int | str,
    *,
    requester: str,
    ca: str | None = None,
    now: int | None = None,
    actor: str | None = None,
    comment: str | None = None,
) -> Hold:
    """Take a certificate off hold (the CP/CPS decides how the subscriber is
    authenticated first, e.g. in person: the requester is recorded). Refused
    (SuspensionError) when the certificate is not on hold."""
    now = int(time.time()) if now is None else int(now)
    with _audited(ws, audit.Event.SUSPENSION_RELEASED, requester, serial, actor):
        who = _requester(requester)
        policy = _policy(ws)
        t = _target(ws, serial, ca)
        with ws.store.transaction() as tx:
            held = holds.open_hold(tx, t.ca, t.serial_hex)
            if held is None:
                raise SuspensionError(f"serial {t.serial_hex} is not on hold; nothing to release")
            holds.add_event(tx, t.ca, t.serial_hex, "release", now, who)
            details: dict[str, Any] = dict(
                ca=t.ca, requested_by=who, held_at=held.held_at, released_at=now
            )
            if comment:
                details["comment"] = comment
            audit.record(
                ws.store,
                audit.Event.SUSPENSION_RELEASED,
                actor=actor,
                subject=t.subject,
                serial=t.serial_hex,
                **details,
            )
    return Hold(
        t.ca, t.serial_hex, t.subject, held.held_at, who, hold_deadline(policy, held.held_at)
    )


def escalate(ws: Workspace, now: int | None = None, *, actor: str | None = None) -> list[Revoked]:
    """Revoke every certificate whose hold outlived the CP/CPS's limit, with reason
    ``escalate_to`` and revocationDate = the hold date (module docstring), in one
    transaction. Nothing to do without suspension."""
    now = int(time.time()) if now is None else int(now)
    policy = ws.profile_set.revocation.suspension
    if policy is None:
        return []
    done: list[Revoked] = []
    with ws.store.transaction() as conn:
        for row in holds.open_holds(conn):
            deadline = hold_deadline(policy, row.held_at)
            if deadline > now:
                continue
            target = _target(ws, row.serial_hex, row.ca_name)
            extra = {
                "escalated_hold": True,
                "held_at": row.held_at,
                "hold_requested_by": row.requested_by,
                "hold_limit": str(policy.limit),
                "deadline": deadline,
                "escalated_at": now,
                "section": policy.section,
            }
            requester = f"suspension limit of {policy.limit} (§{policy.section})"
            done += record_revocations(
                ws, [target], policy.escalate_to, row.held_at, requester, actor=actor, extra=extra
            )
    return done
