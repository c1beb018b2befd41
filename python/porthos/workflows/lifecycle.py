"""Revocation (000 §4.9) and the CRL schedule (§4.9.7), with scheduled revocations
(the early re-key grace period, §4.9.4) enforced by porthos itself.

Three entry points, each reachable from the CLI (cli_lifecycle.py, cli_crl.py):

* :func:`revoke` records revocations by serial: requester and reason recorded
  (§3.4, §4.9.3), the reason checked against what the CP/CPS allows for the kind of
  certificate (§4.9.1), no suspension (certificateHold and removeFromCRL refused), all
  or nothing per request, one store transaction with its ``revocation.requested``
  audit record.
* :func:`due` says which CRLs are due: the root every year (its CRL is valid two
  years), the issuing CAs every 14 days (valid 28 days), any CA right after a
  revocation of a certificate it issued (§4.9.7), and any CA with a scheduled
  revocation whose time has come (§4.9.4).
* :func:`publish` turns due scheduled revocations into revocations, issues the due
  CRLs (one CRL number per CRL, allocated in a committed transaction together with its
  ``crl.created`` record: numbers never repeat, RFC 5280 §5.2.3) and writes each CRL
  and each CA certificate to the file its CDP / AIA URL names (§2.1):
  ``W/repository/<host>/<path>``, so a web server can serve ``W/repository`` as is.

Time: every function takes ``now`` (Unix seconds). The CLI takes ``--now`` for the
same purpose (tests, and an operator re-running a missed schedule); the default is the
system clock (§6.8: times come from the operating system).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509

from porthos.exceptions import EncodeError, LifecycleError, PorthosError
from porthos.issuance import crl as crlmod
from porthos.store import audit

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.issuance.signers import Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "CA_REASONS",
    "ISSUING_CRL_PERIOD",
    "ROOT_CRL_PERIOD",
    "SUBSCRIBER_REASONS",
    "DueItem",
    "Published",
    "Revoked",
    "crl_targets",
    "due",
    "parse_reason",
    "parse_serial",
    "process_scheduled",
    "publish",
    "repository_path",
    "revoke",
    "schedule",
]

DAY = 86400
#: 000 §4.9.7: the offline root's CRL "is updated about once every year"; issuing
#: CAs' CRLs "every 14 days". Both well inside the validity (2 years / 28 days, §7.2),
#: so §4.9.8 (publish before the previous nextUpdate) holds when the schedule is kept.
ROOT_CRL_PERIOD = 365 * DAY
ISSUING_CRL_PERIOD = 14 * DAY

R = crlmod.REASONS

#: Reasons a subscriber certificate may be revoked with, and the §4.9.1 circumstance
#: each stands for. unspecified (no reasonCode in the CRL, RFC 5280 §5.3.1) is kept
#: for a revocation whose circumstance the requester does not want on a public list.
SUBSCRIBER_REASONS: dict[int, str] = {
    R["unspecified"]: "§4.9.1 (circumstance not stated on the CRL)",
    R["keyCompromise"]: "§4.9.1 loss, theft, disclosure or compromise of the private key",
    R["affiliationChanged"]: "§4.9.1 modification of the subscriber information (§4.8)",
    R["superseded"]: "§4.9.1 re-key before the renewal window (§4.7.3, §4.9.4)",
    R["cessationOfOperation"]: "§4.9.1 end of the relationship the certificate expresses",
    R["privilegeWithdrawn"]: "§4.9.1 publisher of malicious software or impersonation",
}
#: Reasons for a CA certificate (an issuing CA, revoked on the root's CRL). §4.9.1 ¶1
#: allows revoking a CA certificate for compromise of its key, which X.509's CRLReason
#: definitions call cACompromise (keyCompromise is the end-entity reason); §5.8
#: termination revokes it with cessationOfOperation. A CA revocation always states
#: its circumstance: unspecified is refused.
CA_REASONS: dict[int, str] = {
    R["cACompromise"]: "§4.9.1 compromise of the CA's private key",
    R["cessationOfOperation"]: "§5.8 CA termination",
}
#: Refused for every certificate, with the rule that refuses it.
_REFUSED_REASONS: dict[int, str] = {
    R["certificateHold"]: (
        "certificateHold is suspension, which the Porthos PKI does not offer: §4.9 "
        "defines no suspension (its subsections stop at §4.9.9; there is no §4.9.13-16) "
        "and §4.8 replaces a certificate by revoking it"
    ),
    R["removeFromCRL"]: (
        "removeFromCRL only undoes a certificateHold in a delta CRL (RFC 5280 §5.3.1); "
        "without suspension (§4.9) a revocation is never undone"
    ),
    R["aACompromise"]: (
        "aACompromise concerns an attribute authority; the Porthos PKI has none "
        "(§1.3 lists CAs, RAs, trusted third parties and agents, subscribers and relying parties)"
    ),
}


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


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


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


def _ca_status(ws: Workspace) -> dict[str, str]:
    rows = ws.store.conn.execute("SELECT name, status FROM cas").fetchall()
    return {str(n): str(s) for n, s in rows}


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
    forms = _hex_forms(serial)
    marks = ",".join("?" * len(forms))
    sql = (
        "SELECT ca_name, serial_hex, subject, not_after FROM certificates"
        f" WHERE serial_hex IN ({marks})"
    )
    args: list[Any] = list(forms)
    if ca_name is not None:
        sql += " AND ca_name = ?"
        args.append(ca_name)
    found = [
        _Target(str(c), serial, str(h), str(s), int(na), False)
        for c, h, s, na in ws.store.conn.execute(sql, args).fetchall()
    ]
    for ca_serial, target in _ca_certificates(ws) if ca_certs is None else ca_certs:
        if ca_serial == serial and (ca_name is None or target.ca == ca_name):
            found.append(target)
    return found


def _already_revoked(ws: Workspace, target: _Target) -> bool:
    forms = _hex_forms(target.serial)
    marks = ",".join("?" * len(forms))
    hit = ws.store.conn.execute(
        f"SELECT 1 FROM revocations WHERE ca_name = ? AND serial_hex IN ({marks})",
        [target.ca, *forms],
    ).fetchone()
    return hit is not None


def _check(
    ws: Workspace, target: _Target, code: int, now: int, status: dict[str, str]
) -> str | None:
    """The reason this revocation is refused, or None. Each rule names its section."""
    label = f"serial {target.serial_hex}"
    if code in _REFUSED_REASONS:
        return f"{label}: {_REFUSED_REASONS[code]}"
    if target.is_ca:
        if target.is_root:
            return (
                f"{label} is the self-signed root certificate: no CRL above it can list "
                "it; the root is replaced by a new generation (§5.6) or terminated (§5.8)"
            )
        if code not in CA_REASONS:
            allowed = ", ".join(crlmod.REASON_NAMES[c] for c in CA_REASONS)
            return (
                f"{label} is a CA certificate ({target.subject}); a CA certificate is "
                f"revoked only with {allowed} (§4.9.1, §5.8), not "
                f"{crlmod.REASON_NAMES[code]}"
            )
    elif code not in SUBSCRIBER_REASONS:
        allowed = ", ".join(crlmod.REASON_NAMES[c] for c in SUBSCRIBER_REASONS)
        return (
            f"{label} is a subscriber certificate; {crlmod.REASON_NAMES[code]} is for CA "
            f"certificates (X.509 CRLReason); subscriber reasons (§4.9.1): {allowed}"
        )
    if status.get(target.ca) == "terminated":
        return f"{label}: its CA {target.ca} is terminated and publishes no more CRLs (§5.8)"
    if target.not_after <= now:
        return (
            f"{label} expired at {_iso(target.not_after)}: its subscription has ended "
            "(§4.10) and CRLs list unexpired revoked certificates (§4.5.2)"
        )
    if _already_revoked(ws, target):
        return f"{label} is already revoked by CA {target.ca}"
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
                f"revocation time {_iso(when)} is in the future; a later revocation is "
                "scheduled instead (§4.9.4)"
            )
        if invalidity_date is not None and int(invalidity_date) > when:
            raise LifecycleError(
                f"invalidity date {_iso(int(invalidity_date))} is after the revocation time "
                f"{_iso(when)} (RFC 5280 §5.3.2)"
            )
        if not serial_list:
            raise LifecycleError("no serial to revoke")
        targets, errors = _resolve(ws, serial_list, ca)
        status = _ca_status(ws)
        for t in targets:
            problem = _check(ws, t, code, now, status)
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
        conn.executemany(
            "INSERT INTO revocations (ca_name, serial_hex, revoked_at, reason,"
            " invalidity_date, requested_by) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (t.ca, t.serial_hex, when, stored_reason, invalidity_date, requester)
                for t in targets
            ],
        )
        for name, group in by_ca.items():
            details: dict[str, Any] = dict(
                ca=name,
                reason=crlmod.REASON_NAMES[code],
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
        Revoked(t.ca, t.serial_hex, t.subject, crlmod.REASON_NAMES[code], when, requester)
        for t in targets
    ]


# --------------------------------------------------------------------------------------
# scheduled revocations (§4.9.4)
# --------------------------------------------------------------------------------------


def _due_scheduled(ws: Workspace, now: int) -> list[tuple[Any, ...]]:
    return ws.store.conn.execute(
        "SELECT rowid, ca_name, serial_hex, reason, due_at, requested_by, created_at"
        " FROM scheduled_revocations WHERE done_at IS NULL AND due_at <= ?"
        " ORDER BY due_at, rowid",
        (now,),
    ).fetchall()


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
        rows = _due_scheduled(ws, now)
        status = _ca_status(ws)
        ca_certs = _ca_certificates(ws)
        for rowid, ca_name, serial_hex, reason, due_at, requested_by, created_at in rows:
            code = R["superseded"] if reason is None else int(reason)
            extra: dict[str, Any] = {
                "scheduled": True,
                "due_at": int(due_at),
                "scheduled_at": int(created_at),
            }
            problem: str | None
            target: _Target | None = None
            try:
                found = _find(ws, parse_serial(str(serial_hex)), str(ca_name), ca_certs)
            except LifecycleError as exc:
                found, problem = [], str(exc)
            else:
                problem = None if found else f"serial {serial_hex}: no certificate of CA {ca_name}"
            if found:
                target = found[0]
                # Checked at due_at: the grace period ended then (§4.9.4).
                problem = _check(ws, target, code, int(due_at), status)
            conn.execute(
                "UPDATE scheduled_revocations SET done_at = ? WHERE rowid = ?", (now, rowid)
            )
            if problem is not None or target is None:
                audit.record(
                    store,
                    audit.Event.REVOCATION_REQUESTED,
                    actor=actor,
                    serial=str(serial_hex),
                    outcome="failure",
                    ca=str(ca_name),
                    reason=crlmod.REASON_NAMES.get(code, str(code)),
                    requested_by=str(requested_by),
                    error=problem or "unknown",
                    **extra,
                )
                continue
            done += _record(
                ws, [target], code, int(due_at), None, str(requested_by), actor, None, extra
            )
    return done


# --------------------------------------------------------------------------------------
# the CRL schedule (§4.9.7)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueItem:
    """One line of the schedule: a CA's CRL, or a scheduled revocation."""

    ca: str
    kind: str  # "crl" or "scheduled-revocation"
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


def _last_published(ws: Workspace, ca_name: str) -> tuple[int, int, int | None] | None:
    """(number, thisUpdate, revocations_upto) of the CA's newest full CRL that was
    published. A CRL number allocated whose CRL was never written (a crash, a failed
    HSM signature) does not count: its CA stays due. Workspaces whose CRLs were written
    before the audit trail existed fall back on the store's CRL records."""
    row = ws.store.conn.execute(
        "SELECT details FROM audit WHERE event = ? AND outcome = 'success'"
        " AND json_extract(details, '$.ca') = ? AND json_extract(details, '$.kind') = 'full'"
        " ORDER BY seq DESC LIMIT 1",
        (audit.Event.CRL_PUBLISHED, ca_name),
    ).fetchone()
    if row is not None:
        d = json.loads(row[0])
        return int(d["number"]), int(d["this_update"]), d.get("revocations_upto")
    legacy = ws.store.conn.execute(
        "SELECT number, this_update, revocations_upto FROM crls WHERE ca_name = ?"
        " AND kind = 'full' ORDER BY number DESC LIMIT 1",
        (ca_name,),
    ).fetchone()
    if legacy is None:
        return None
    return int(legacy[0]), int(legacy[1]), legacy[2]


def _schedulable(ws: Workspace) -> list[CertificateAuthority]:
    """CAs whose CRLs are kept: active and retired ones (a retired generation-1 CA
    still signs the CRLs covering its certificates, §5.6); terminated ones published
    their final CRL (§5.8) and are left out."""
    status = _ca_status(ws)
    return [ca for ca in ws.cas if status.get(ca.name, "active") != "terminated"]


def schedule(ws: Workspace, now: int | None = None) -> list[DueItem]:
    """Every scheduled revocation due or pending, and one line per CA saying whether
    its CRL is due and when it next will be (000 §4.9.7)."""
    now = int(time.time()) if now is None else int(now)
    items: list[DueItem] = []
    pending_by_ca: dict[str, int] = {}
    cas = _schedulable(ws)
    names = {ca.name for ca in cas}
    last_of = {ca.name: _last_published(ws, ca.name) for ca in cas}
    for ca_name, serial_hex, reason, due_at, requested_by in ws.store.conn.execute(
        "SELECT ca_name, serial_hex, reason, due_at, requested_by FROM scheduled_revocations"
        " WHERE done_at IS NULL ORDER BY due_at"
    ).fetchall():
        if ca_name not in names:
            continue
        is_due = int(due_at) <= now
        if is_due:
            pending_by_ca[ca_name] = pending_by_ca.get(ca_name, 0) + 1
        name = crlmod.REASON_NAMES.get(R["superseded"] if reason is None else int(reason), "?")
        last = last_of[ca_name]
        items.append(
            DueItem(
                str(ca_name),
                "scheduled-revocation",
                is_due,
                f"serial {serial_hex}: {name} at {_iso(int(due_at))}, requested by "
                f"{requested_by} (§4.9.4 grace period after an early re-key)",
                None if last is None else last[0],
                None if last is None else last[1],
                int(due_at),
            )
        )
    for ca in cas:
        last = last_of[ca.name]
        root = ca.spec.self_signed
        period = ROOT_CRL_PERIOD if root else ISSUING_CRL_PERIOD
        label = "every year (§4.9.7)" if root else "every 14 days (§4.9.7)"
        reasons: list[str] = []
        if last is None:
            reasons.append("no CRL published yet (§2.1, §4.9.7)")
            next_due = now
        else:
            number, this_update, upto = last
            next_due = this_update + period
            if now >= next_due:
                reasons.append(f"last CRL #{number} of {_iso(this_update)} is due {label}")
            newer = ws.store.conn.execute(
                "SELECT COUNT(*) FROM revocations WHERE ca_name = ? AND rowid > ?",
                (ca.name, -1 if upto is None else int(upto)),
            ).fetchone()
            if int(newer[0]):
                reasons.append(
                    f"{int(newer[0])} revocation(s) recorded after CRL #{number} "
                    "(§4.9.7: a CRL follows each processed revocation)"
                )
                next_due = min(next_due, now)
        if pending_by_ca.get(ca.name):
            reasons.append(f"{pending_by_ca[ca.name]} scheduled revocation(s) due (§4.9.4)")
            next_due = min(next_due, now)
        items.append(
            DueItem(
                ca.name,
                "crl",
                bool(reasons),
                "; ".join(reasons) if reasons else f"next {label}",
                None if last is None else last[0],
                None if last is None else last[1],
                next_due,
            )
        )
    return items


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
        ws.ca(ca)
        if _ca_status(ws).get(ca) == "terminated":
            raise LifecycleError(f"CA {ca} is terminated; its final CRL stands (§5.8)")
        return [ca]
    if everything:
        return [c.name for c in _schedulable(ws)]
    names = {i.ca for i in due(ws, now) if i.kind == "crl"}
    return [c.name for c in ws.cas if c.name in names]


# --------------------------------------------------------------------------------------
# publication (§2.1)
# --------------------------------------------------------------------------------------


def repository_path(ws: Workspace, url: str) -> Path:
    """The file a repository URL names: ``W/repository/<host>/<path>`` (000 §2.1), so
    that a web server serving ``W/repository`` with name-based virtual hosts (or one
    host per directory) answers each CDP / AIA URL with the published file."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = PurePosixPath(parts.path).parts[1:] if parts.path.startswith("/") else ()
    if (
        parts.scheme not in ("http", "https")
        or not host
        or not segments
        or any(s in ("", ".", "..") or "\\" in s for s in segments)
        or host.startswith(".")
    ):
        raise LifecycleError(f"repository URL {url!r} does not name a file under a host")
    return ws.path / "repository" / host / Path(*segments)


def publication_map(ws: Workspace) -> dict[str, tuple[str, str]]:
    """Each CDP and AIA URL of the profile sets (CA and subscriber profiles) -> ("crl" or
    "crt", the CA whose CRL or certificate it names: the issuer of the certificates
    carrying it). Sharded CDP URLs are left to the shard publication. Every generation
    counts: a retired generation-1 CA keeps publishing its CRLs (000 §5.6) at the URLs
    its certificates carry."""
    out: dict[str, tuple[str, str]] = {}
    specs: list[Any] = []
    for _, ps in sorted(ws.profile_sets.items()):
        specs += [*ps.cas.values(), *ps.profiles.values()]
    for spec in specs:
        for ext in spec.extensions:
            if ext["type"] == "crl_distribution_points" and "shards" not in ext:
                for u in ext.get("uris", ()):
                    out[u] = ("crl", spec.issuer)
            elif ext["type"] == "authority_info_access":
                for u in ext.get("ca_issuers", ()):
                    out[u] = ("crt", spec.issuer)
    return out


@contextmanager
def _repository_lock(ws: Workspace) -> Iterator[None]:
    """One publisher at a time writes the repository (an advisory lock on
    W/repository/.lock), so two concurrent ``crl publish`` runs cannot leave an older
    CRL in place of a newer one."""
    lock = ws.path / "repository" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def crl_urls(ws: Workspace, ca_name: str) -> list[str]:
    """The CDP URLs (000 §2.1) that name CA ``ca_name``'s full CRL."""
    urls = publication_map(ws)
    return sorted(u for u, (kind, n) in urls.items() if kind == "crl" and n == ca_name)


def write_crl_files(
    ws: Workspace, ca: CertificateAuthority, der: bytes, number: int, urls: Sequence[str]
) -> list[Path]:
    """Write one CRL where each of ``urls`` points, and to the flat
    ``W/repository/<ca>.crl`` of issue 4 (kept for tools that read it), under the
    repository lock and never over a newer CRL. Returns the paths."""
    paths = [repository_path(ws, u) for u in urls]
    paths.append(ws.path / "repository" / crlmod.crl_file_name(ca))
    with _repository_lock(ws):
        for p in paths:
            _write_crl(p, der, number)
    return paths


def _write_crl(path: Path, der: bytes, number: int) -> bool:
    """Write a CRL unless the file already holds a newer one of the same issuer (a
    slower concurrent publisher must not replace it: RFC 5280 §5.2.3 numbers only
    grow, and relying parties keep the newest, §4.9.8). Call under the lock."""
    if path.is_file():
        try:
            old = crlmod.parse_crl(path.read_bytes())
        except PorthosError:
            old = None
        new_issuer = crlmod.parse_crl(der).issuer_der
        if (
            old is not None
            and old.issuer_der == new_issuer
            and old.crl_number is not None
            and old.crl_number > number
        ):
            return False
    return _write(path, der)


def _write(path: Path, data: bytes) -> bool:
    """Atomic write (temporary file renamed into place); False if unchanged."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True


@dataclass(frozen=True, slots=True)
class Published:
    ca: str
    kind: str  # "crl", "crl-shard", "delta-crl" or "crt"
    number: int | None
    entries: int | None
    paths: tuple[Path, ...]
    sha256: str


def _rel(ws: Workspace, p: Path) -> str:
    return str(p.relative_to(ws.path))


def _publish_crl(
    ws: Workspace, ca: CertificateAuthority, signer: Signer, now: int, urls: Sequence[str]
) -> list[Published]:
    store = ws.store
    next_update = now + crlmod.crl_validity(ca)
    out: list[Published] = []
    # Number and its crl.created record commit together, before the CRL is built: a
    # crash later skips the number, never repeats it (RFC 5280 §5.2.3).
    with store.transaction():
        number = store.next_crl_number(ca.name, this_update=now, kind="full")
        record = store.crl_record(ca.name, number)
        assert record is not None
        _, _, upto, entries = record
        audit.record(
            store,
            audit.Event.CRL_CREATED,
            ca=ca.name,
            kind="full",
            number=number,
            entries=entries,
            this_update=now,
            next_update=next_update,
            revocations_upto=upto,
        )
    try:
        columns = crlmod.store_columns(ws, ca.name, upto=upto)
        built = crlmod.build_crl(
            ca.certificate,
            signer,
            columns,
            crl_number=number,
            this_update=now,
            next_update=next_update,
        )
        der = bytes(built)
        paths = write_crl_files(ws, ca, der, number, urls)
    except BaseException as exc:
        audit.record_failure(store, audit.Event.CRL_PUBLISHED, exc, ca=ca.name, number=number)
        raise
    digest = hashlib.sha256(der).hexdigest()
    audit.record(
        store,
        audit.Event.CRL_PUBLISHED,
        ca=ca.name,
        kind="full",
        number=number,
        entries=entries,
        this_update=now,
        revocations_upto=upto,
        paths=[_rel(ws, p) for p in paths],
        urls=list(urls),
        sha256=digest,
    )
    out.append(Published(ca.name, "crl", number, entries, tuple(paths), digest))
    out += _publish_shards(ws, ca, signer, now, next_update)
    return out


def _publish_shards(
    ws: Workspace, ca: CertificateAuthority, signer: Signer, now: int, next_update: int
) -> list[Published]:
    """A CA whose profiles shard the CDP also gets one CRL per shard URL (issue 4)."""
    scheme = crlmod.shard_scheme(ws, ca.name)
    if scheme is None:
        return []
    shards, url = scheme
    store = ws.store
    with store.transaction():
        number = store.next_crl_number(ca.name, this_update=now, kind="shards")
        record = store.crl_record(ca.name, number)
        assert record is not None
        upto = record[2]
        audit.record(
            store,
            audit.Event.CRL_CREATED,
            ca=ca.name,
            kind="shards",
            number=number,
            entries=record[3],
            shards=shards,
            this_update=now,
            next_update=next_update,
        )
    columns = crlmod.store_columns(ws, ca.name, upto=upto)
    crls = crlmod.build_shards(
        ca.certificate,
        signer,
        columns,
        crl_numbers=[number] * shards,
        url_template=url,
        this_update=now,
        next_update=next_update,
    )
    out = []
    for s, shard_crl in enumerate(crls):
        der = bytes(shard_crl)
        shard_url = url.replace("{shard}", str(s))
        paths = (repository_path(ws, shard_url),)
        with _repository_lock(ws):
            _write_crl(paths[0], der, number)
        digest = hashlib.sha256(der).hexdigest()
        audit.record(
            store,
            audit.Event.CRL_PUBLISHED,
            ca=ca.name,
            kind="shards",
            shard=s,
            number=number,
            paths=[_rel(ws, p) for p in paths],
            urls=[shard_url],
            sha256=digest,
        )
        out.append(Published(ca.name, "crl-shard", number, None, paths, digest))
    return out


def _publish_certificates(ws: Workspace, urls: dict[str, tuple[str, str]]) -> list[Published]:
    """Every CA certificate at the AIA URLs naming it (§2.1, §2.3: published as soon as
    possible); a file is rewritten (and audited) only when its content changes."""
    out = []
    for ca in ws.cas:
        mine = sorted(u for u, (kind, name) in urls.items() if kind == "crt" and name == ca.name)
        paths = [repository_path(ws, u) for u in mine]
        changed = [p for p in paths if _write(p, ca.certificate)]
        if not changed:
            continue
        digest = hashlib.sha256(ca.certificate).hexdigest()
        audit.record(
            ws.store,
            audit.Event.CA_CERTIFICATE_PUBLISHED,
            subject=", ".join(f"{a}={v}" for a, v in reversed(ca.subject)),
            serial=ca.serial_hex,
            ca=ca.name,
            paths=[_rel(ws, p) for p in changed],
            urls=mine,
            sha256=digest,
        )
        out.append(Published(ca.name, "crt", None, None, tuple(changed), digest))
    return out


def publish_deltas(
    ws: Workspace,
    cas: Sequence[str] | None = None,
    *,
    now: int | None = None,
    actor: str | None = None,
    progress: Any = None,
) -> list[Published]:
    """A delta CRL (RFC 5280 §5.2.4) for each CA of ``cas`` (default: every CA still
    publishing), over its newest full CRL, written to ``W/repository/<ca>-delta.crl``.
    Audited like full CRLs (000 §5.4.1): ``crl.created`` commits with the CRL number,
    ``crl.published`` follows the file."""
    now = int(time.time()) if now is None else int(now)
    names = list(cas) if cas is not None else [ca.name for ca in _schedulable(ws)]
    store = ws.store
    out: list[Published] = []
    for name in names:
        if _ca_status(ws).get(name) == "terminated":
            raise LifecycleError(f"CA {name} is terminated; its final CRL stands (§5.8)")
        # The number, its record and the CRL built under it: one transaction (a failed
        # build hands the number back; a crash after the commit skips it, §5.2.3).
        with store.transaction():
            crl, number, base, entries = crlmod.delta_for_ca(ws, name, now=now, progress=progress)
            audit.record(
                store,
                audit.Event.CRL_CREATED,
                actor=actor,
                ca=name,
                kind="delta",
                number=number,
                delta_base=base,
                entries=entries,
                this_update=now,
            )
        der = bytes(crl)
        path = ws.path / "repository" / f"{name}-delta.crl"  # as issue 4 named it
        try:
            with _repository_lock(ws):
                _write_crl(path, der, number)
        except BaseException as exc:
            audit.record_failure(store, audit.Event.CRL_PUBLISHED, exc, ca=name, number=number)
            raise
        digest = hashlib.sha256(der).hexdigest()
        audit.record(
            store,
            audit.Event.CRL_PUBLISHED,
            actor=actor,
            ca=name,
            kind="delta",
            number=number,
            entries=entries,
            paths=[_rel(ws, path)],
            sha256=digest,
        )
        out.append(Published(name, "delta-crl", number, entries, (path,), digest))
    return out


def publish(
    ws: Workspace,
    cas: Sequence[str] | None = None,
    *,
    now: int | None = None,
    everything: bool = False,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    actor: str | None = None,
) -> list[Published]:
    """Carry out the due scheduled revocations, then issue the CRLs of ``cas`` (default:
    those due, or every kept CA with ``everything``) and write them, and every CA
    certificate, where the CDP / AIA URLs point (000 §2.1, §4.9.7).

    Signing: software keys as they are; in an HSM workspace the issuing CAs need
    ``ws.activate(pin)`` first, and the root's CRL ``root_halves`` (two officers' PIN
    halves, §6.2.2), used for this one operation (§6.2.2: the root key is activated
    only for a short period, to sign CA certificates and its CRL)."""
    now = int(time.time()) if now is None else int(now)
    process_scheduled(ws, now, actor=actor)
    names = list(cas) if cas is not None else crl_targets(ws, now, everything=everything)
    urls = publication_map(ws)
    out = _publish_certificates(ws, urls)
    for name in names:
        ca = ws.ca(name)
        mine = sorted(u for u, (kind, n) in urls.items() if kind == "crl" and n == name)
        if ca.hsm_ref is not None and ca.spec.self_signed:
            if not root_halves:
                raise LifecycleError(
                    f"the CRL of {name} is signed by the root key in the HSM: two "
                    "officers' PIN halves are needed (§6.2.2, --root-officer)"
                )
            with ws.root_activation(root_halves, f"CRL of {name}") as signer:
                out += _publish_crl(ws, ca, signer, now, mine)
        else:
            out += _publish_crl(ws, ca, ca.signer, now, mine)
    return out
