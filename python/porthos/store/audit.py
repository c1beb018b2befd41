"""The audit trail (RFC 3647 §5.4): append-only records in the store, hash-chained.

Each record carries time, actor, event, subject or serial, outcome and free details,
and ``prev``: the chain value of the record before it. A record's chain value is
SHA-256 over ``prev`` and the canonical JSON of its own fields, so editing, deleting,
inserting or reordering any record breaks the chain at (or right after) that record,
and ``verify`` names the first bad one (§5.4.8 vulnerability assessment, §5.4.4
protection of the audit log).

Records are written with ``record()`` *inside* the store transaction of the change they
describe (``with store.transaction(): ...; audit.record(store, ...)``): a batch and its
audit records commit together or not at all (issue 6 "Atomicity"). Failures that roll
a transaction back are recorded afterwards in a transaction of their own
(``record_failure``). SQL triggers refuse UPDATE and DELETE on the table; the chain
catches whoever drops them.

No secrets: a ``hsm.Secret`` or any bytes value in the details is refused outright, and
detail keys that name a PIN or key material are refused too (§5.4.1 lists no secret;
§6.4.2 activation data is never recorded).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porthos.exceptions import AuditError, StoreError
from porthos.store.sqlite import Store

__all__ = [
    "chain_values",
    "GENESIS",
    "AuditRecord",
    "Details",
    "Event",
    "default_actor",
    "export_jsonl",
    "prepare",
    "record",
    "record_failure",
    "records",
    "verify",
    "verify_export",
]

#: The ``prev`` of the first record.
GENESIS = "0" * 64


class Event:
    """The event names (RFC 3647 §5.4.1); one constant per kind so a typo cannot invent one."""

    # CA certificate lifecycle, key generation, rollover, termination (§5.4.1, §5.6, §5.8)
    CA_CREATED = "ca.created"
    CA_KEYGEN = "ca.keygen"
    CA_ROLLOVER = "ca.rollover"
    CA_LINK_CERTIFICATE = "ca.link-certificate"
    CA_TERMINATED = "ca.terminated"
    CA_KEY_DESTROYED = "ca.key-destroyed"
    CA_KEY_EXPORTED = "ca.key-exported"
    #: An existing CA (certificate and key made outside porthos) taken over, and the
    #: certificates of its subordinate CAs re-issued under its key (porthos adopt).
    CA_ADOPTED = "ca.adopted"
    CA_RECERTIFIED = "ca.recertified"
    # HSM (§5.4.1, §6.2): token initialisation, activation with officer identities
    HSM_TOKEN_INIT = "hsm.token-init"
    HSM_ACTIVATION = "hsm.activation"
    HSM_DEACTIVATION = "hsm.deactivation"
    # Subscriber applications and issuance (§4.1, §4.3, §4.7)
    APPLICATION_ACCEPTED = "application.accepted"
    APPLICATION_REJECTED = "application.rejected"
    CERTIFICATES_ISSUED = "certificates.issued"
    REKEY = "certificate.rekey"
    # RA registries (§3.2.3)
    RA_MANUFACTURER_ADDED = "ra.manufacturer-added"
    RA_CHIPS_ALLOWED = "ra.chips-allowed"
    RA_CSR_REGISTERED = "ra.csr-registered"
    RA_AOR_ADDED = "ra.aor-added"
    # Revocation (§4.9)
    REVOCATION_REQUESTED = "revocation.requested"
    REVOCATION_SCHEDULED = "revocation.scheduled"
    # Suspension (a CP/CPS §4.9.13-16): hold placed, hold released (an escalation after
    # the limit is a revocation.requested record that says so)
    SUSPENSION_REQUESTED = "suspension.requested"
    SUSPENSION_RELEASED = "suspension.released"
    # Multi-person approval before issuance (RFC 3647 §5.2.2)
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GIVEN = "approval.given"
    APPROVAL_ISSUED = "approval.issued"
    # CRLs (§4.9.7)
    CRL_CREATED = "crl.created"
    CRL_PUBLISHED = "crl.published"
    #: A retired CA's final CRL, the first at or after the expiry of everything it
    #: issued (RFC 5280 §3.3): it publishes no CRL after it (RFC 3647 §5.6).
    CRL_PUBLICATION_ENDED = "crl.publication-ended"
    # OCSP (§4.9.9-10): a pre-signing run per CA, a delegated responder replaced
    OCSP_PRESIGNED = "ocsp.presigned"
    OCSP_RESPONDER_ROTATED = "ocsp.responder-rotated"
    # an offline CA's own responses, one batch per dual-control ceremony (§6.2.2)
    OCSP_CEREMONY = "ocsp.ceremony"
    # CA certificates written where the AIA URLs point (§2.1, §2.3)
    CA_CERTIFICATE_PUBLISHED = "ca.certificate-published"
    # Cross-certification (issue 16): a CA certificate for an external CA, and one an
    # external CA issued to ours, imported for publication
    CROSS_CERTIFICATE_ISSUED = "ca.cross-certificate-issued"
    CROSS_CERTIFICATE_IMPORTED = "ca.cross-certificate-imported"
    # The Resource PKI (issue 18): ROAs, child CA certificates, publications
    RPKI_ROA_ADDED = "rpki.roa-added"
    RPKI_ROA_REMOVED = "rpki.roa-removed"
    RPKI_CHILD_ADDED = "rpki.child-added"
    RPKI_CHILD_REVOKED = "rpki.child-revoked"
    RPKI_CHILD_REISSUED = "rpki.child-reissued"
    RPKI_PUBLISHED = "rpki.published"
    # Software (§5.4.1 "software version change")
    SOFTWARE_VERSION = "software.version"
    # Anything that failed and was rolled back
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    time: int
    actor: str
    event: str
    subject: str | None
    serial: str | None
    outcome: str
    details: dict[str, Any]
    prev: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "event": self.event,
            "subject": self.subject,
            "serial": self.serial,
            "outcome": self.outcome,
            "details": self.details,
            "prev": self.prev,
            "hash": self.hash,
        }


_SECRET_KEYS = ("pin", "password", "secret", "private", "so_pin", "user_pin")


def _check_details(details: Mapping[str, Any], where: str = "details") -> None:
    from porthos.hsm import Secret

    for k, v in details.items():
        lowered = k.lower()
        if any(word in lowered for word in _SECRET_KEYS):
            raise AuditError(f"audit {where}.{k}: keys naming PINs or key material are refused")
        if isinstance(v, Secret):
            raise AuditError(f"audit {where}.{k} is a Secret; PINs are never recorded")
        if isinstance(v, (bytes, bytearray, memoryview)):
            raise AuditError(f"audit {where}.{k} is raw bytes; record a hex digest instead")
        if isinstance(v, Mapping):
            _check_details(v, f"{where}.{k}")


def _canonical(
    seq: int,
    when: int,
    actor: str,
    event: str,
    subject: str | None,
    serial: str | None,
    outcome: str,
    details_json: str,
    *,
    quoted_details: str | None = None,
) -> bytes:
    """The hashed form of a record: the compact JSON array of its fields,
    ``json.dumps([seq, ..., details_json], ensure_ascii=False, separators=(",", ":"))``.
    Built item by item, which is the same text (tests/test_audit.py holds it to that),
    so that the details string's own encoding can be made ahead (``Details.quoted``)."""
    head = ",".join(_compact(v) for v in (seq, when, actor, event, subject, serial, outcome))
    quoted = _compact(details_json) if quoted_details is None else quoted_details
    return f"[{head},{quoted}]".encode()


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Details:
    """A record's details, checked and encoded ahead of ``record``: the stored JSON
    text and its encoding inside the hashed form. Why: an issuance batch's record lists
    every serial, ~4 ms of encoding at 10,000, which issuance pays while its last
    pieces still sign instead of after them (``prepare``)."""

    json: str
    quoted: str


def prepare(**details: Any) -> Details:
    """Check and encode ``details`` as ``record`` would (same refusals, same text)."""
    _check_details(details)
    text = json.dumps(details, sort_keys=True, ensure_ascii=False, default=str)
    return Details(text, _compact(text))


def chain_value(prev: str, body: bytes) -> str:
    return hashlib.sha256(prev.encode("ascii") + b"\n" + body).hexdigest()


def default_actor() -> str:
    """Who is acting: $PORTHOS_ACTOR, else the operating-system user (RFC 3647 §5.4.1 asks
    for the identity of the person performing the action)."""
    actor = os.environ.get("PORTHOS_ACTOR")
    if actor:
        return actor
    try:
        import getpass

        return f"os:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry in a container: still record something
        return f"uid:{os.getuid()}"


def record(
    store: Store,
    event: str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    serial: str | None = None,
    outcome: str = "success",
    when: int | None = None,
    prepared: Details | None = None,
    **details: Any,
) -> int:
    """Append one record; returns its sequence number. Joins the caller's open
    ``store.transaction()`` (or runs its own). The details are ``details``, or
    ``prepared`` (from ``prepare``), not both."""
    if outcome not in ("success", "failure"):
        raise AuditError(f"audit outcome must be 'success' or 'failure', not {outcome!r}")
    if prepared is None:
        prepared = prepare(**details)
    elif details:
        raise AuditError("audit record: give details or prepared details, not both")
    actor = actor or default_actor()
    when = int(time.time()) if when is None else int(when)
    details_json = prepared.json
    with store.transaction() as conn:
        last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
        body = _canonical(
            seq, when, actor, event, subject, serial, outcome, details_json,
            quoted_details=prepared.quoted,
        )  # fmt: skip
        value = chain_value(prev, body)
        conn.execute(
            "INSERT INTO audit (seq, time, actor, event, subject, serial, outcome, details,"
            " prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, when, actor, event, subject, serial, outcome, details_json, prev, value),
        )
    return seq


def record_failure(
    store: Store,
    event: str,
    error: BaseException | str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    serial: str | None = None,
    **details: Any,
) -> int | None:
    """Record that ``event`` failed (after its transaction rolled back). Never raises
    for a store that cannot take the record (the original error matters more);
    returns None then."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    try:
        return record(
            store,
            event,
            actor=actor,
            subject=subject,
            serial=serial,
            outcome="failure",
            error=text,
            **details,
        )
    except (sqlite3.Error, AuditError, StoreError):
        # StoreError: a PostgreSQL store that went away (store-unavailable) takes no
        # record either.
        return None


def _int_or(value: object, default: int) -> int:
    # A damaged record (a time that is not a number) is still shown; audit verify names it.
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def records(store: Store, *, since: int = 1) -> Iterator[AuditRecord]:
    for row in _stored_rows(store, since, errors="replace"):
        try:
            details = json.loads(row[7])
        except (TypeError, ValueError):
            details = None
        if not isinstance(details, dict):
            # A damaged record is shown as it is (audit verify names it), not a crash.
            details = {"unparseable": str(row[7])}
        yield AuditRecord(
            _int_or(row[0], -1),
            _int_or(row[1], -1),
            str(row[2]),
            str(row[3]),
            row[4],
            row[5],
            str(row[6]),
            details,
            str(row[8]),
            str(row[9]),
        )


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records: int
    first_bad: int | None
    problem: str
    #: The chain value of the last record (GENESIS for an empty trail); only when ok.
    head: str = ""

    def __bool__(self) -> bool:
        return self.ok


Row = tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any]


def _verify_rows(rows: Iterator[Row] | list[Row]) -> VerifyResult:
    """The chain walk shared by the store and an exported file: rows of (seq, time,
    actor, event, subject, serial, outcome, details_json, prev, hash)."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    rows = iter(rows)
    while True:
        # Whatever the damage (bad UTF-8, a wrong type, garbage), the walk names the
        # record it stopped at, never a traceback (issue 20 §3).
        try:
            row = next(rows)
        except StopIteration:
            break
        except _BadRecord as bad:
            return VerifyResult(False, count + 1, bad.seq, f"record {bad.seq}: {bad.why}")
        count += 1
        try:
            checked = _check_row(row, prev, expected_seq)
        except (TypeError, ValueError, OverflowError) as exc:
            where = row[0] if row and isinstance(row[0], int) else expected_seq
            return VerifyResult(
                False, count, where, f"record {where}: unreadable ({type(exc).__name__}: {exc})"
            )
        if isinstance(checked, VerifyResult):
            return VerifyResult(False, count, checked.first_bad, checked.problem)
        prev = checked
        expected_seq += 1
    return VerifyResult(True, count, None, "", prev)


class _BadRecord(Exception):
    def __init__(self, seq: int | None, why: str) -> None:
        super().__init__(why)
        self.seq = seq
        self.why = why


def _check_row(row: Row, prev: str, expected_seq: int) -> str | VerifyResult:
    """The chain value of ``row`` when it follows ``prev``; else the failure."""
    seq, when, actor, event, subject, serial, outcome, details_json, rec_prev, value = row
    if seq != expected_seq:
        what = "missing" if seq > expected_seq else "out of order"
        return VerifyResult(
            False,
            0,
            int(seq),
            f"record {seq}: expected sequence number {expected_seq} (records {what})",
        )
    if rec_prev != prev:
        return VerifyResult(
            False,
            0,
            int(seq),
            f"record {seq}: prev does not match the chain value of record {seq - 1}"
            " (a record before it was deleted, inserted, reordered or edited)",
        )
    body = _canonical(
        int(seq),
        int(when),
        str(actor),
        str(event),
        subject,
        serial,
        str(outcome),
        str(details_json),
    )
    if chain_value(prev, body) != value:
        return VerifyResult(
            False, 0, int(seq), f"record {seq}: contents do not match its chain value"
        )
    return str(value)


def chain_values(store: Store) -> dict[int, str]:
    """Every record's chain value by sequence number: what ``audit verify --head``
    compares with a head written down earlier."""
    return {int(s): str(h) for s, h in store.conn.execute("SELECT seq, hash FROM audit")}


def verify(store: Store) -> VerifyResult:
    """Walk the chain from the first record. Finds an edited record (its chain value no
    longer matches), a deletion or insertion (a sequence gap, or a ``prev`` that is not
    the previous record's value) and a reordering (both); names the first bad record.

    Cutting records off the *end* leaves a shorter chain that still holds; compare
    ``head`` with a value kept elsewhere (an earlier export, ``porthos audit verify
    --head``) to catch that (RFC 3647 §5.4.6: the archive copy)."""
    return _verify_rows(_stored_rows(store))


# The text columns read as bytes and decoded here, per record: sqlite3 raised one
# OperationalError for the whole query on a record with bad UTF-8.
_RAW_SELECT = (
    "SELECT seq, time, CAST(actor AS BLOB), CAST(event AS BLOB), CAST(subject AS BLOB),"
    " CAST(serial AS BLOB), CAST(outcome AS BLOB), CAST(details AS BLOB), CAST(prev AS BLOB),"
    " CAST(hash AS BLOB) FROM audit WHERE seq >= ? ORDER BY seq"
)


def _stored_rows(store: Store, since: int = 1, errors: str = "strict") -> Iterator[Row]:
    for raw in store.conn.execute(_RAW_SELECT, (since,)):
        seq = raw[0] if isinstance(raw[0], int) else None
        try:
            text = [None if v is None else bytes(v).decode("utf-8", errors) for v in raw[2:]]
        except UnicodeDecodeError as exc:
            raise _BadRecord(seq, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        yield (raw[0], raw[1], *text)


def _export_rows(path: str | os.PathLike[str]) -> Iterator[Row]:
    with Path(path).open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
                details_json = json.dumps(
                    obj["details"], sort_keys=True, ensure_ascii=False, default=str
                )
                yield (
                    int(obj["seq"]),
                    int(obj["time"]),
                    obj["actor"],
                    obj["event"],
                    obj["subject"],
                    obj["serial"],
                    obj["outcome"],
                    details_json,
                    obj["prev"],
                    obj["hash"],
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise AuditError(f"{path} line {lineno}: not an audit record ({exc})") from None


def verify_export(path: str | os.PathLike[str]) -> VerifyResult:
    """Verify a file written by ``export_jsonl`` offline, without the store: the same
    walk as ``verify``. The details are re-serialised the way ``record`` wrote them
    (sorted keys, no ASCII escaping), so the chain values carry over. A file with no
    record is refused: every trail has at least the records of its init."""
    result = _verify_rows(_export_rows(path))
    if result.ok and result.records == 0:
        raise AuditError(f"{path}: holds no audit record; not an export of a trail")
    return result


def export_jsonl(store: Store, path: str | os.PathLike[str] | None) -> int:
    """Write every record as one JSON line (to ``path``, or stdout when None); the
    chain values travel with them so the export can be checked offline."""
    import sys

    n = 0
    out = sys.stdout if path is None else Path(path).open("w", encoding="utf-8")
    try:
        for rec in records(store):
            out.write(json.dumps(rec.as_json(), sort_keys=True, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if path is not None:
            out.close()
    return n


def note_software_version(store: Store, version: str, *, actor: str | None = None) -> bool:
    """Record a software version change (RFC 3647 §5.4.1) the first time a porthos of another
    version opens the store; returns True when one was recorded."""
    with store.transaction() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'software_version'").fetchone()
        old = None if row is None else str(row[0])
        if old == version:
            return False
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('software_version', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (version,),
        )
        record(store, Event.SOFTWARE_VERSION, actor=actor, previous=old, current=version)
    return True
