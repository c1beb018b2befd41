"""000 §4.7 type A re-key: a CMS SignedData over the new CSR, signed with the key of
the subscriber's current certificate (000 §3.3.1), accepted in the window of §4.7.3 as
read in seeds/README.md; an early re-key schedules the old certificate's revocation as
superseded (§4.9.1, §4.9.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509

from porthos import _native
from porthos.cpcps import policy
from porthos.crl_reasons import REASON_NAMES
from porthos.exceptions import DerDecodeError, RegistrationError
from porthos.issuance.csr_input import der_to_pem
from porthos.issuance.names import subject_text
from porthos.status import IssueStatus
from porthos.store import audit, registry
from porthos.timestamps import iso_utc
from porthos.workflows.ra.certs import serial_hex
from porthos.workflows.ra.context import RaContext
from porthos.workflows.ra.issuing import (
    ParsedRequests,
    RaCheck,
    Refusals,
    RequestItem,
    issue_items,
)

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile

__all__ = ["RekeyResult", "rekey"]

_RULE = "000 §4.7.3"
_TYPE_B = "; go through initial registration (type B re-key, 000 §3.2)"


@dataclass(frozen=True)
class RekeyResult:
    """A type A re-key: the new certificate and what happened to the old one."""

    certificate: bytes
    serial_hex: str
    old_serial_hex: str
    ca: str
    profile: str
    early: bool
    #: Early re-key only: when the old certificate is revoked as superseded.
    revocation_due_at: int | None

    def pem(self) -> str:
        return der_to_pem(self.certificate)


@dataclass(frozen=True)
class _Current:
    """The stored certificate that signed the re-key request."""

    ca_name: str
    row: registry.IssuedCertificate


def _current_certificate(ctx: RaContext, info: Any) -> _Current | None:
    """The stored certificate that signed the request, or None when porthos did not
    issue it."""
    der = info.signer_certificate
    if der is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    for ca in ctx.workspace.cas:
        if x509.load_der_x509_certificate(ca.certificate).subject != cert.issuer:
            continue
        row = registry.issued_certificate(ctx.store.conn, ca.name, serial_hex(cert.serial_number))
        if row is not None and row.der == der:
            return _Current(ca.name, row)
    return None


def _stored_by_sid(ctx: RaContext, info: Any) -> list[bytes]:
    """Certificates of the store matching an issuerAndSerialNumber sid: the subscriber
    may leave its current certificate out of the request."""
    if info.sid_issuer is None or info.sid_serial_hex is None:
        return []
    serial = serial_hex(int(info.sid_serial_hex, 16)) if info.sid_serial_hex else ""
    out = []
    for ca in ctx.workspace.cas:
        ca_cert = x509.load_der_x509_certificate(ca.certificate)
        if ca_cert.subject.public_bytes() != info.sid_issuer:
            continue
        der = ctx.store.certificate(ca.name, serial)
        if der is not None:
            out.append(der)
    return out


def _authenticated(ctx: RaContext, cms_der: bytes) -> Any:
    """The verified SignedData of the request (000 §3.3.1), or a refusal."""
    event = audit.Event.REKEY
    try:
        info = _native.verify_signed_data(cms_der)
        if info.status_name == "SIGNER_NOT_FOUND":
            info = _native.verify_signed_data(cms_der, _stored_by_sid(ctx, info))
    except DerDecodeError as exc:
        raise ctx.refuse(event, f"re-key request is not a CMS SignedData: {exc}") from None
    if not info.ok:
        raise ctx.refuse(
            event,
            f"re-key request not authenticated by the current key: {info.status_name}: "
            f"{info.detail} (000 §3.3.1){_TYPE_B}",
        )
    return info


def _new_key_same_subject(prof: Profile, subject: str, old_spki: bytes | None) -> RaCheck:
    """The new CSR has a new key pair and asks for the current subject (000 §4.7)."""

    def check(parsed: ParsedRequests, live: list[int]) -> Refusals:
        refusals: Refusals = {}
        for k in live:
            if parsed.batch.spki(k) == old_spki:
                refusals[k] = (
                    IssueStatus.REFUSED,
                    "the new CSR has the current certificate's key; re-key needs a new key "
                    "pair (000 §4.7)",
                )
                continue
            try:
                new_subject = subject_text(policy.build_subject(prof, parsed.batch.subject(k)))
            except policy.SubjectInvalid:
                continue  # issue_batch refuses it with the rule's reason
            if new_subject != subject:
                refusals[k] = (
                    IssueStatus.REFUSED,
                    f"the new CSR asks for {new_subject!r}; a re-key keeps the subject "
                    f"{subject!r} (000 §4.7)",
                )
        return refusals

    return check


def _window(
    ctx: RaContext, current: _Current, now: int, early: bool, grace: int
) -> tuple[bool, int, int]:
    """(is_early, opens, closes) once the old certificate may re-key at ``now``."""
    event = audit.Event.REKEY
    ca_name, old = current.ca_name, current.row
    base = {"ca": ca_name, "old_serial": old.serial_hex, "profile": old.profile}
    ps = ctx.workspace.profile_set
    policy_ = ps.rekey
    prof = ps.profiles.get(old.profile)
    if policy_ is None or prof is None or "A" not in prof.rekey:
        raise ctx.refuse(
            event,
            f"profile {old.profile} re-keys by type B only ({_RULE} table){_TYPE_B}",
            subject=old.subject,
            **base,
        )
    conn = ctx.store.conn
    if registry.is_revoked(conn, ca_name, old.serial_hex):
        raise ctx.refuse(
            event,
            f"certificate {old.serial_hex} is revoked (000 §3.3.2){_TYPE_B}",
            subject=old.subject,
            **base,
        )
    if registry.is_scheduled_for_revocation(conn, ca_name, old.serial_hex):
        raise ctx.refuse(
            event,
            f"certificate {old.serial_hex} was already superseded by an early re-key; "
            f"re-key with its successor ({_RULE})",
            subject=old.subject,
            **base,
        )
    opens, closes = policy_.window(old.not_after)
    if now > closes:
        raise ctx.refuse(
            event,
            f"certificate {old.serial_hex} expired {iso_utc(old.not_after)}; type A re-key "
            f"ended {iso_utc(closes)}, {policy_.grace_period} after expiry "
            f"({_RULE} grace period){_TYPE_B}",
            subject=old.subject,
            **base,
        )
    is_early = now < opens
    if is_early and policy_.early is None:
        raise ctx.refuse(
            event,
            f"re-key requested before the renewal window opens at {iso_utc(opens)}, "
            f"{policy_.renewal_window} before certificate {old.serial_hex} expires "
            f"({_RULE}); the CP/CPS allows no early re-key{_TYPE_B}",
            subject=old.subject,
            **base,
        )
    if is_early and not early:
        raise ctx.refuse(
            event,
            f"re-key requested before the renewal window opens at {iso_utc(opens)}, "
            f"{policy_.renewal_window} before certificate {old.serial_hex} expires "
            f"({_RULE}); ask for an early re-key "
            "(early=True, --early: the old certificate is then revoked as superseded, "
            f"000 §4.9.1, §4.9.4){_TYPE_B.replace('; go', ', or go')}",
            subject=old.subject,
            **base,
        )
    if grace < 0:
        raise ctx.refuse(event, f"grace period must not be negative, not {grace}")
    return is_early, opens, closes


def rekey(
    ctx: RaContext, cms_der: bytes, *, early: bool, grace: int, now: int, threads: int | None
) -> RekeyResult:
    """Type A re-key (000 §3.3.1, §4.7.3): see RegistrationAuthority.rekey."""
    info = _authenticated(ctx, cms_der)
    current = _current_certificate(ctx, info)
    if current is None:
        raise ctx.refuse(
            audit.Event.REKEY,
            "the re-key request is signed by a certificate this PKI did not issue "
            f"(000 §3.3.1){_TYPE_B}",
        )
    is_early, opens, closes = _window(ctx, current, now, early, grace)
    ca_name, old = current.ca_name, current.row
    assert info.content is not None
    prof = ctx.workspace.profile_set.profiles[old.profile]
    item = RequestItem(info.content, meta={"old_serial": old.serial_hex, "rekey": "A"})
    due = now + int(grace) if is_early else None
    rekey_policy = ctx.workspace.profile_set.rekey
    early_policy = rekey_policy.early if is_early and rekey_policy is not None else None
    reason = early_policy.revocation_reason if early_policy is not None else 0

    def record_rekey(issued: list[RequestItem]) -> None:
        # In the transaction that stores the new certificate (000 §5.4.1: re-keys).
        assert issued[0].cert is not None
        new_serial = serial_hex(x509.load_der_x509_certificate(issued[0].cert).serial_number)
        if due is not None:
            # The contract with the lifecycle slice (store schema 4): it turns due rows
            # into revocations (000 §4.9.1 superseded, §4.9.4 grace period).
            registry.schedule_revocation(
                ctx.store.conn, ca_name, old.serial_hex, reason, due, ctx.actor, now
            )
            audit.record(
                ctx.store,
                audit.Event.REVOCATION_SCHEDULED,
                actor=ctx.actor,
                subject=old.subject,
                serial=old.serial_hex,
                ca=ca_name,
                reason=REASON_NAMES.get(reason, str(reason)),
                due_at=due,
                superseded_by=new_serial,
                cause="early re-key (000 §4.9.1, §4.9.4)",
            )
        audit.record(
            ctx.store,
            audit.Event.REKEY,
            actor=ctx.actor,
            subject=old.subject,
            serial=new_serial,
            old_serial=old.serial_hex,
            ca=ca_name,
            profile=old.profile,
            early=is_early,
            window_opens=opens,
            window_closes=closes,
            revocation_due_at=due,
        )

    result = issue_items(
        ctx,
        prof,
        [item],
        method="rekey-a",
        now=now,
        threads=threads,
        # No unique-names check: the name's holder is the one re-keying (000 §3.1, §4.7).
        checks=[_new_key_same_subject(prof, old.subject, info.signer_spki)],
        on_issued=record_rekey,
        extra_details={"old_serial": old.serial_hex, "early": is_early},
    )
    cert = result.certificates[0]
    if cert is None:
        raise RegistrationError(
            f"re-key of {old.serial_hex} refused: {result.reasons[0]} "
            f"[{IssueStatus(int(result.status[0])).name}]"
        )
    new_serial = serial_hex(x509.load_der_x509_certificate(cert).serial_number)
    return RekeyResult(cert, new_serial, old.serial_hex, ca_name, old.profile, is_early, due)
