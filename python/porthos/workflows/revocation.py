"""Revocation (000 §4.9), with scheduled revocations (the early re-key grace period,
§4.9.4) carried out by porthos itself.

* :func:`revoke` records revocations by serial: requester and reason recorded
  (§3.4, §4.9.3), the reason checked against what the CP/CPS allows for the kind of
  certificate (§4.9.1), never certificateHold or removeFromCRL (suspension has its
  own workflow, porthos.workflows.suspension; revoking a held certificate replaces
  the hold), all or nothing per request, one store transaction with its
  ``revocation.requested`` audit record. The revocations make their CAs' CRLs due (§4.9.7,
  porthos.workflows.crl_schedule).
* :func:`process_scheduled` turns the scheduled revocations whose time has come into
  revocations, before CRLs are published (porthos.workflows.crl_publication).

Time: every function takes ``now`` (Unix seconds); the default is the system clock
(§6.8: times come from the operating system).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509

from porthos.crl_reasons import REASON_NAMES, REASONS
from porthos.exceptions import EncodeError, LifecycleError, PorthosError
from porthos.issuance import crl as crlmod
from porthos.store import audit, cross, revocations
from porthos.timestamps import iso_utc

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

__all__ = [
    "Revoked",
    "Target",
    "parse_reason",
    "parse_serial",
    "process_scheduled",
    "record_revocations",
    "resolve_one",
    "revoke",
]

R = REASONS

# --------------------------------------------------------------------------------------
# input parsing
# --------------------------------------------------------------------------------------


def parse_reason(value: str | int | None) -> int:
    """An RFC 5280 §5.3.1 CRLReason by name (case-insensitive) or number -> its code
    (0 for unspecified; None means unspecified). Unknown names and codes are refused.
    The spelling rules are crl.reason_code's; only "unspecified" differs (kept as 0
    here, where the revocation row records it, rather than crl's "no extension")."""
    try:
        code = crlmod.reason_code(value)
    except EncodeError as exc:
        raise LifecycleError(f"{exc}: {', '.join(R)}") from None
    return R["unspecified"] if code == crlmod.REASON_NONE else code


def parse_serial(value: int | str) -> int:
    """A serial as an int, or hex text (``0x`` prefix and ``:`` separators allowed, as
    openssl prints them)."""
    if isinstance(value, int):
        serial = value
    else:
        text = value.strip().lower().removeprefix("0x").replace(":", "")
        try:
            serial = int(text, 16)
        except ValueError:
            raise LifecycleError(f"serial {value!r} is not hexadecimal") from None
    if serial <= 0 or serial.bit_length() > 160:
        raise LifecycleError(
            f"serial {value!r}: serials are positive and at most 20 octets (RFC 5280 §4.1.2.2)"
        )
    return serial


def _hex_forms(serial: int) -> list[str]:
    """The spellings under which a serial may sit in the store: issued certificates use
    the hex of the generated 16-octet row (zero-padded to 32 digits), CA certificates
    the plain hex."""
    plain = format(serial, "x")
    return sorted({plain, plain.zfill(32), plain.zfill(len(plain) + len(plain) % 2)})


# --------------------------------------------------------------------------------------
# revocation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    ca: str  # the CA whose CRL lists the certificate (its issuer)
    serial: int
    serial_hex: str  # as stored
    subject: str
    not_after: int
    is_ca: bool
    is_root: bool = False


@dataclass(frozen=True, slots=True)
class Revoked:
    """One recorded revocation."""

    ca: str
    serial_hex: str
    subject: str
    reason: str
    revoked_at: int
    requested_by: str


def _ca_certificates(ws: Workspace) -> list[tuple[int, _Target]]:
    """(serial, target) of every CA certificate: listed on its issuer's CRL."""
    out = []
    for row in ws.store.cas():
        cert = x509.load_der_x509_certificate(row.certificate)
        serial = cert.serial_number
        target = _Target(
            row.parent,
            serial,
            format(serial, "x"),
            row.subject,
            int(cert.not_valid_after_utc.timestamp()),
            True,
            row.parent == row.name,
        )
        out.append((serial, target))
    return out


def _find(
    ws: Workspace,
    serial: int,
    ca_name: str | None,
    ca_certs: list[tuple[int, _Target]] | None = None,
) -> list[_Target]:
    """Every certificate in the store with this serial (of one CA when given): issued
    certificates, and the CA certificates themselves (listed on their issuer's CRL)."""
    # A cross-certificate our CA issued certifies a CA: CA reasons apply (§4.9.1).
    crosses = [p for ps in ws.profile_sets.values() for p in ps.cross_profiles]
    conn = ws.store.conn
    found = [
        _Target(hit.ca_name, serial, hit.serial_hex, hit.subject, hit.not_after,
                cross.is_issued_cross(conn, hit.ca_name, hit.serial_hex, crosses))
        for hit in revocations.certificates_with_serial(conn, _hex_forms(serial), ca_name)
    ]  # fmt: skip
    for ca_serial, target in _ca_certificates(ws) if ca_certs is None else ca_certs:
        if ca_serial == serial and (ca_name is None or target.ca == ca_name):
            found.append(target)
    return found


def _already_revoked(ws: Workspace, target: _Target) -> bool:
    return revocations.is_revoked(ws.store.conn, target.ca, _hex_forms(target.serial))


def _check(
    ws: Workspace, target: _Target, code: int, now: int, status: dict[str, str]
) -> str | None:
    """The reason this revocation is refused, or None. Each rule names its section."""
    label = f"serial {target.serial_hex}"
    policy = ws.profile_set.revocation
    if code in policy.refused:
        return f"{label}: {policy.refused[code]}"
    if target.is_ca:
        if target.is_root:
            return (
                f"{label} is the self-signed root certificate: no CRL above it can list "
                "it; the root is replaced by a new generation (§5.6) or terminated (§5.8)"
            )
        if code not in policy.ca_reasons:
            allowed = ", ".join(REASON_NAMES[c] for c in policy.ca_reasons)
            return (
                f"{label} is a CA certificate ({target.subject}); a CA certificate is "
                f"revoked only with {allowed} (§4.9.1, §5.8), not "
                f"{REASON_NAMES[code]}"
            )
    elif code not in policy.subscriber_reasons:
        allowed = ", ".join(REASON_NAMES[c] for c in policy.subscriber_reasons)
        kind = (
            "is for CA certificates (X.509 CRLReason)"
            if code in policy.ca_reasons
            else "is not one the CP/CPS allows"
        )
        return (
            f"{label} is a subscriber certificate; {REASON_NAMES[code]} {kind}; "
            f"subscriber reasons (§4.9.1): {allowed}"
        )
    if status.get(target.ca) == "terminated":
        return f"{label}: its CA {target.ca} is terminated and publishes no more CRLs (§5.8)"
    if target.not_after <= now:
        return (
            f"{label} expired at {iso_utc(target.not_after)}: its subscription has ended "
            "(§4.10) and CRLs list unexpired revoked certificates (§4.5.2)"
        )
    if _already_revoked(ws, target):
        return f"{label} is already revoked by CA {target.ca}"
    return None


def _time_problem(ws: Workspace, target: _Target, when: int) -> str | None:
    """A revocationDate before the certificate existed, or before the CA's last CRL
    (which told relying parties the certificate was good at that time: RFC 5280
    §5.1.2.6 is when the CA processed the revocation, not a rewrite of what it
    published), is refused (issue 20 §3). invalidityDate carries an earlier compromise."""
    conn = ws.store.conn
    not_before = revocations.issued_not_before(conn, target.ca, target.serial_hex)
    if not_before is None:
        cert = next((c for c in ws.cas if c.serial_hex == target.serial_hex), None)
        not_before = None if cert is None else cert.not_before
    label = f"serial {target.serial_hex}"
    if not_before is not None and when < not_before:
        return (
            f"{label}: revocation time {iso_utc(when)} is before the certificate's notBefore "
            f"{iso_utc(not_before)}"
        )
    last = revocations.last_crl_time(conn, target.ca)
    if last is not None and when < int(last):
        return (
            f"{label}: revocation time {iso_utc(when)} is before CA {target.ca}'s last CRL "
            f"({iso_utc(int(last))}), which listed the certificate as good then; revoke it "
            "now and give the compromise time as --invalidity-date (RFC 5280 §5.3.2)"
        )
    return None


def _resolve(
    ws: Workspace, serials: Iterable[int | str], ca: str | None
) -> tuple[list[_Target], list[str]]:
    targets: list[_Target] = []
    errors: list[str] = []
    seen: set[tuple[str, int]] = set()
    if ca is not None:
        ws.ca(ca)  # WorkspaceError for an unknown CA name
    ca_certs = _ca_certificates(ws)
    for value in serials:
        try:
            serial = parse_serial(value)
        except LifecycleError as exc:
            errors.append(str(exc))
            continue
        found = _find(ws, serial, ca, ca_certs)
        where = f" of CA {ca}" if ca else ""
        if not found:
            errors.append(f"serial {format(serial, 'x')}: no certificate{where} in the store")
            continue
        if len(found) > 1:
            cas = ", ".join(sorted(t.ca for t in found))
            errors.append(
                f"serial {format(serial, 'x')} is a certificate of several CAs ({cas}); "
                "name the CA"
            )
            continue
        key = (found[0].ca, serial)
        if key in seen:
            errors.append(f"serial {found[0].serial_hex} is listed twice in this request")
            continue
        seen.add(key)
        targets.append(found[0])
    return targets, errors


#: A certificate found by serial (its CA, stored spelling, subject, expiry).
Target = _Target


def resolve_one(ws: Workspace, serial: int | str, ca: str | None) -> Target:
    """The one certificate with this serial (of CA ``ca`` when given), or
    LifecycleError saying why not (bad serial, none, several CAs)."""
    targets, errors = _resolve(ws, [serial], ca)
    if errors:
        raise LifecycleError("; ".join(errors))
    return targets[0]


def record_revocations(
    ws: Workspace,
    targets: Sequence[Target],
    code: int,
    when: int,
    requester: str,
    *,
    actor: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Revoked]:
    """Record checked revocations and their audit records in one transaction (the
    caller's when open): for workflows that decided them already (the escalation of a
    hold, porthos.workflows.suspension)."""
    return _record(ws, targets, code, when, None, requester, actor, None, extra)


def revoke(
    ws: Workspace,
    serials: Iterable[int | str],
    reason: str | int | None,
    *,
    requester: str,
    ca: str | None = None,
    when: int | None = None,
    invalidity_date: int | None = None,
    now: int | None = None,
    actor: str | None = None,
    comment: str | None = None,
) -> list[Revoked]:
    """Revoke certificates by serial, all or nothing (000 §4.9).

    ``requester`` is who asked (§4.9.2: the subscriber, the RA on someone's behalf,
    an AOR, the CA); it is recorded with each revocation and in the audit record, with
    the reason (§3.4 "the RA staff shall record the reason", §4.9.3). ``ca`` limits the
    search to one CA (otherwise the store says which CA issued each serial).
    ``when`` is the revocationDate (default ``now``; never in the future: a future
    revocation is a scheduled one, §4.9.4). ``invalidity_date`` (RFC 5280 §5.3.2) is
    when the key is known or suspected to have been compromised, never after ``when``.

    Every refusal raises :class:`LifecycleError` naming each refused serial and the
    rule, after an audited failure record; nothing is stored then. The revocations
    make their CAs' CRLs due (§4.9.7, see :func:`due`)."""
    now = int(time.time()) if now is None else int(now)
    when = now if when is None else int(when)
    serial_list = list(serials)
    requested = [str(s) if isinstance(s, str) else format(s, "x") for s in serial_list]
    try:
        if not requester or not requester.strip():
            raise LifecycleError(
                "a revocation request names its requester (§4.9.2, §4.9.3); none given"
            )
        code = parse_reason(reason)
        if when > now:
            raise LifecycleError(
                f"revocation time {iso_utc(when)} is in the future; a later revocation is "
                "scheduled instead (§4.9.4)"
            )
        if invalidity_date is not None and int(invalidity_date) > when:
            raise LifecycleError(
                f"invalidity date {iso_utc(int(invalidity_date))} is after the revocation time "
                f"{iso_utc(when)} (RFC 5280 §5.3.2)"
            )
        if not serial_list:
            raise LifecycleError("no serial to revoke")
        targets, errors = _resolve(ws, serial_list, ca)
        status = revocations.ca_statuses(ws.store.conn)
        for t in targets:
            problem = _check(ws, t, code, now, status) or _time_problem(ws, t, when)
            if problem:
                errors.append(problem)
        if errors:
            raise LifecycleError("nothing revoked: " + "; ".join(errors))
        return _record(ws, targets, code, when, invalidity_date, requester.strip(), actor, comment)
    except PorthosError as exc:
        # §5.4.1: failed revocation requests are audited too (after nothing was stored).
        audit.record_failure(
            ws.store,
            audit.Event.REVOCATION_REQUESTED,
            exc,
            actor=actor,
            requested_by=requester,
            serials=requested[:1000],
            reason=str(reason),
        )
        raise


def _record(
    ws: Workspace,
    targets: Sequence[_Target],
    code: int,
    when: int,
    invalidity_date: int | None,
    requester: str,
    actor: str | None,
    comment: str | None,
    scheduled: dict[str, Any] | None = None,
) -> list[Revoked]:
    """Insert the revocations and their audit records: one record per CA of the request
    (as ``certificates.issued`` does), in the caller's or a new transaction."""
    store = ws.store
    stored_reason = None if code == R["unspecified"] else code
    by_ca: dict[str, list[_Target]] = {}
    for t in targets:
        by_ca.setdefault(t.ca, []).append(t)
    with store.transaction() as conn:
        # A certificate on hold leaves the hold ledger: the revocation replaces it.
        ended_holds = revocations.insert_revocations(
            conn,
            [
                revocations.NewRevocation(
                    t.ca, t.serial_hex, when, stored_reason, invalidity_date, requester
                )
                for t in targets
            ],
        )
        for name, group in by_ca.items():
            details: dict[str, Any] = dict(
                ca=name,
                reason=REASON_NAMES[code],
                requested_by=requester,
                revoked_at=when,
                count=len(group),
                serials=[t.serial_hex for t in group],
            )
            if invalidity_date is not None:
                details["invalidity_date"] = int(invalidity_date)
            if comment:
                details["comment"] = comment
            if any(t.is_ca for t in group):
                details["ca_certificates"] = [t.serial_hex for t in group if t.is_ca]
            replaced = [t.serial_hex for t in group if t.serial_hex in ended_holds]
            if replaced:
                details["replaced_holds"] = replaced
            if scheduled:
                details.update(scheduled)
            audit.record(
                store,
                audit.Event.REVOCATION_REQUESTED,
                actor=actor,
                subject=group[0].subject if len(group) == 1 else None,
                serial=group[0].serial_hex if len(group) == 1 else None,
                **details,
            )
    return [
        Revoked(t.ca, t.serial_hex, t.subject, REASON_NAMES[code], when, requester)
        for t in targets
    ]


# --------------------------------------------------------------------------------------
# scheduled revocations (§4.9.4)
# --------------------------------------------------------------------------------------


def process_scheduled(
    ws: Workspace, now: int | None = None, *, actor: str | None = None
) -> list[Revoked]:
    """Turn every scheduled revocation whose ``due_at`` has passed into a revocation
    (000 §4.9.4: the early re-key grace period ends; the old certificate is revoked as
    superseded, §4.7.3 / §4.9.1), all in ONE transaction: the revocations, ``done_at``
    and their audit records. The revocationDate is ``due_at`` (when the grace period
    ended), the requester the one the row names (who asked for the re-key).

    A row that can no longer be carried out (the certificate was revoked meanwhile,
    expired before ``due_at``, or is unknown) is closed too, with a failure record
    saying why, so it never blocks the schedule."""
    now = int(time.time()) if now is None else int(now)
    store = ws.store
    done: list[Revoked] = []
    with store.transaction() as conn:
        rows = revocations.due_scheduled(conn, now)
        status = revocations.ca_statuses(ws.store.conn)
        ca_certs = _ca_certificates(ws)
        for row in rows:
            code = R["superseded"] if row.reason is None else row.reason
            extra: dict[str, Any] = {
                "scheduled": True,
                "due_at": row.due_at,
                "scheduled_at": row.created_at,
            }
            problem: str | None
            target: _Target | None = None
            try:
                found = _find(ws, parse_serial(row.serial_hex), row.ca_name, ca_certs)
            except LifecycleError as exc:
                found, problem = [], str(exc)
            else:
                missing = f"serial {row.serial_hex}: no certificate of CA {row.ca_name}"
                problem = None if found else missing
            if found:
                target = found[0]
                # Checked at due_at: the grace period ended then (§4.9.4).
                problem = _check(ws, target, code, row.due_at, status)
            revocations.close_scheduled(conn, row.rowid, now)
            if problem is not None or target is None:
                audit.record(
                    store,
                    audit.Event.REVOCATION_REQUESTED,
                    actor=actor,
                    serial=row.serial_hex,
                    outcome="failure",
                    ca=row.ca_name,
                    reason=REASON_NAMES.get(code, str(code)),
                    requested_by=row.requested_by,
                    error=problem or "unknown",
                    **extra,
                )
                continue
            done += _record(
                ws, [target], code, row.due_at, None, row.requested_by, actor, None, extra
            )
    return done
