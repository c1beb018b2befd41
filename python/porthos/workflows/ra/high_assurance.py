"""000 §3.2.3.1 high assurance devices: the manufacturer registry, the Chip-ID
allowlist, and the identity check of a request: a CMS SignedData over the PKCS#10
request, signed with the Device Manufacturer Certificate (DMC) key; the DMC chains to a
registered manufacturer (issuing + root certificate, acceptable DNs) and its Chip-ID is
on the allowlist of Porthos chips."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ObjectIdentifier

from porthos import _native
from porthos.exceptions import DerDecodeError, RegistrationError
from porthos.status import IssueStatus
from porthos.store import audit, registry
from porthos.timestamps import iso_utc
from porthos.workflows.ra.certs import (
    ATTRIBUTE_NAMES,
    DOTTED_OID,
    REGISTRY_NAME,
    dn_key,
    is_ca,
    load_cert,
    parse_dn,
    valid_at,
)
from porthos.workflows.ra.context import RaContext
from porthos.workflows.ra.issuing import RequestItem

__all__ = [
    "Manufacturer",
    "add_manufacturer",
    "allow_chips",
    "check_dmc",
    "registered_manufacturers",
]

_RULE = "000 §3.2.3.1"
_SIGNATURE_ERRORS = (InvalidSignature, ValueError, TypeError)


@dataclass(frozen=True)
class Manufacturer:
    """A registered manufacturer, its certificates loaded."""

    name: str
    root: x509.Certificate
    issuing: x509.Certificate
    acceptable: set[str]  # dn_key of each acceptable DN
    chip_id_attr: str


def add_manufacturer(
    ctx: RaContext,
    name: str,
    root_der: bytes,
    issuing_der: bytes,
    acceptable_dns: Sequence[str],
    chip_id_attr: str,
    now: int,
) -> None:
    """Register a device manufacturer: its root and issuing certificate (DMCs are
    issued by the latter) and the issuer DNs a DMC may carry.

    Checked now, so a bad configuration fails here and not at issuance: the root is
    self-signed and a CA, the issuing certificate is a CA signed by the root, and its
    subject is one of the acceptable DNs."""
    event = audit.Event.RA_MANUFACTURER_ADDED
    if not name or not REGISTRY_NAME.fullmatch(name):
        raise ctx.refuse(event, "manufacturer name must be 1-128 printable characters")
    if chip_id_attr not in ATTRIBUTE_NAMES and not DOTTED_OID.fullmatch(chip_id_attr):
        raise ctx.refuse(
            event,
            f"chip-id attribute {chip_id_attr!r}: one of {', '.join(ATTRIBUTE_NAMES)} "
            "or a dotted OID",
            manufacturer=name,
        )
    root = load_cert(root_der, "manufacturer root")
    issuing = load_cert(issuing_der, "manufacturer issuing certificate")
    if not acceptable_dns:
        raise ctx.refuse(event, "at least one acceptable DN is required", manufacturer=name)
    keys = [dn_key(parse_dn(dn)) for dn in acceptable_dns]
    problems = _registration_problems(root, issuing, keys)
    if problems:
        raise ctx.refuse(
            event,
            f"manufacturer {name!r} refused ({_RULE}): " + "; ".join(problems),
            manufacturer=name,
        )
    with ctx.store.transaction() as conn:
        if registry.manufacturer_exists(conn, name):
            raise RegistrationError(f"manufacturer {name!r} is already registered")
        registry.insert_manufacturer(
            conn,
            registry.ManufacturerRow(
                name, root_der, issuing_der, list(acceptable_dns), chip_id_attr
            ),
            now,
        )
        audit.record(
            ctx.store,
            event,
            actor=ctx.actor,
            subject=issuing.subject.rfc4514_string(),
            manufacturer=name,
            root_sha256=hashlib.sha256(root_der).hexdigest(),
            issuing_sha256=hashlib.sha256(issuing_der).hexdigest(),
            acceptable_dns=list(acceptable_dns),
            chip_id_attr=chip_id_attr,
        )


def _registration_problems(
    root: x509.Certificate, issuing: x509.Certificate, acceptable: list[str]
) -> list[str]:
    problems: list[str] = []
    if root.issuer != root.subject:
        problems.append("the root certificate is not self-issued")
    else:
        try:
            root.verify_directly_issued_by(root)
        except _SIGNATURE_ERRORS as exc:
            problems.append(f"the root's self-signature does not verify ({exc})")
    if not is_ca(root):
        problems.append("the root certificate is not a CA (basicConstraints)")
    if not is_ca(issuing):
        problems.append("the issuing certificate is not a CA (basicConstraints)")
    try:
        issuing.verify_directly_issued_by(root)
    except _SIGNATURE_ERRORS as exc:
        problems.append(f"the issuing certificate is not signed by the root ({exc})")
    if dn_key(issuing.subject) not in acceptable:
        problems.append(
            f"the issuing certificate's subject {issuing.subject.rfc4514_string()!r} "
            "is not among the acceptable DNs"
        )
    return problems


_PRINTABLE_STRING = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+").fullmatch


def allow_chips(ctx: RaContext, ids: Iterable[str], now: int) -> int:
    """Add Chip-IDs to the allowlist of chips assigned to the Porthos realm; returns
    how many were new. Blank entries are refused."""
    chip_ids = [c.strip() for c in ids]
    # A Chip-ID is matched against the DMC subject's serialNumber, a PrintableString
    # (RFC 5280 Appendix A): anything else can never match and is a mistake in the list.
    bad = [c for c in chip_ids if not c or len(c) > 128 or not _PRINTABLE_STRING(c)]
    if bad:
        raise ctx.refuse(
            audit.Event.RA_CHIPS_ALLOWED,
            f"{len(bad)} Chip-IDs are empty, longer than 128 or not PrintableString "
            f"(the first: {bad[0][:40]!r})",
        )
    with ctx.store.transaction() as conn:
        added = registry.allow_chips(conn, chip_ids, now)
        audit.record(
            ctx.store, audit.Event.RA_CHIPS_ALLOWED, actor=ctx.actor, given=len(chip_ids),
            added=added,
        )  # fmt: skip
    return added


def registered_manufacturers(ctx: RaContext) -> list[Manufacturer]:
    """The registered manufacturers, loaded once per RA call."""
    return [
        Manufacturer(
            row.name,
            x509.load_der_x509_certificate(row.root_der),
            x509.load_der_x509_certificate(row.issuing_der),
            {dn_key(parse_dn(d)) for d in row.acceptable_dns},
            row.chip_id_attr,
        )
        for row in registry.manufacturers(ctx.store.conn)
    ]


def check_dmc(
    ctx: RaContext, cms_der: bytes, makers: Sequence[Manufacturer], now: int
) -> RequestItem:
    """The identity check of one request: CMS signature by the DMC, DMC chain to a
    registered manufacturer, Chip-ID on the allowlist. The item carries the
    encapsulated CSR when everything holds, else its refusal."""
    item = RequestItem(None)
    try:
        info = _native.verify_signed_data(cms_der)
    except DerDecodeError as exc:
        item.refuse(IssueStatus.MALFORMED, f"CMS SignedData is malformed: {exc} (RFC 5652)")
        return item
    if not info.ok:
        status = (
            IssueStatus.BAD_SIGNATURE
            if info.status_name in ("BAD_SIGNATURE", "DIGEST_MISMATCH")
            else IssueStatus.REFUSED
        )
        item.refuse(
            status, f"CMS signature not accepted: {info.status_name}: {info.detail} ({_RULE})"
        )
        return item
    assert info.signer_certificate is not None and info.content is not None
    try:
        dmc = x509.load_der_x509_certificate(info.signer_certificate)
    except ValueError as exc:
        # The strict DER reader took it; pyca may still refuse a field it checks more
        # closely. One bad request must not sink the batch.
        item.refuse(IssueStatus.MALFORMED, f"DMC certificate refused: {exc} ({_RULE})")
        return item
    item.meta["dmc_subject"] = dmc.subject.rfc4514_string()
    issuer_key = dn_key(dmc.issuer)
    candidates = [m for m in makers if dn_key(m.issuing.subject) == issuer_key]
    if not candidates:
        item.refuse(
            IssueStatus.REFUSED,
            f"unknown manufacturer: DMC issuer {dmc.issuer.rfc4514_string()!r} is not the "
            f"issuing CA of a registered manufacturer ({_RULE})",
        )
        return item
    problems: list[str] = []
    for maker in candidates:
        why = _dmc_chain_problem(dmc, maker, now)
        if why:
            problems.append(f"{maker.name}: {why}")
            continue
        _check_chip_id(ctx, dmc, maker, item)
        if item.status == IssueStatus.ISSUED:
            item.der = info.content
        return item
    item.refuse(
        IssueStatus.REFUSED, f"DMC chain does not verify ({_RULE}): " + "; ".join(problems)
    )
    return item


def _check_chip_id(
    ctx: RaContext, dmc: x509.Certificate, maker: Manufacturer, item: RequestItem
) -> None:
    """The DMC names exactly one Chip-ID, and it is on the allowlist."""
    attr = maker.chip_id_attr
    oid = ATTRIBUTE_NAMES.get(attr) or ObjectIdentifier(attr)
    values = [str(a.value) for a in dmc.subject.get_attributes_for_oid(oid)]
    if len(values) != 1:
        item.refuse(
            IssueStatus.REFUSED,
            f"DMC subject has {len(values)} {attr} attributes; the Chip-ID is exactly one "
            f"({_RULE}, manufacturer {maker.name})",
        )
        return
    chip_id = values[0]
    item.meta.update(manufacturer=maker.name, chip_id=chip_id)
    if not registry.chip_allowed(ctx.store.conn, chip_id):
        item.refuse(
            IssueStatus.REFUSED,
            f"Chip-ID {chip_id!r} is not on the allowlist of Porthos chips ({_RULE})",
        )


def _dmc_chain_problem(dmc: x509.Certificate, maker: Manufacturer, now: int) -> str:
    """What breaks DMC <- issuing <- root at ``now`` (RFC 5280 §6.1.3: signature,
    validity, name chaining; §6.1.4 (k): intermediates are CAs), or ""."""
    issuing, root = maker.issuing, maker.root
    if dn_key(dmc.issuer) not in maker.acceptable:
        return f"DMC issuer {dmc.issuer.rfc4514_string()!r} is not an acceptable DN"
    if dmc.issuer != issuing.subject or issuing.issuer != root.subject:
        return "issuer and subject names do not chain"
    for cert, what in ((dmc, "DMC"), (issuing, "issuing certificate"), (root, "root")):
        if not valid_at(cert, now):
            return (
                f"{what} is not valid at {iso_utc(now)} (valid "
                f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
            )
    if is_ca(dmc):
        return "the DMC is a CA certificate, not a device certificate"
    try:
        dmc.verify_directly_issued_by(issuing)
    except _SIGNATURE_ERRORS:
        return "the DMC's signature does not verify with the issuing certificate's key"
    try:
        issuing.verify_directly_issued_by(root)
    except _SIGNATURE_ERRORS:
        return "the issuing certificate's signature does not verify with the root's key"
    return ""
