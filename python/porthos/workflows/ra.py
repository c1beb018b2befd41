"""The registration authority in front of CertificateAuthority (issue 6).

Sections cited as "000 §x" are those of the LEGIC Porthos PKI CP/CPS v1.1
(/work/shared/seeds/000_ce300bfce444b8f6.txt); the reading of the garbled §4.7.3 is the
one in /work/shared/seeds/README.md.

Each issuing CA has its identity check (000 §3.2.3, §4.1):

* High assurance device CA (§3.2.3.1): the PKCS#10 request arrives inside a CMS
  SignedData signed with the Device Manufacturer Certificate (DMC) key; the DMC chains to
  a configured manufacturer (issuing + root certificate, acceptable DNs) and its Chip-ID
  is on the allowlist of Porthos chips.
* Standard assurance device CA (§3.2.3.2): a trusted agent registers the CSR and gets a
  random transaction-ID bound to the CSR's SHA-256; issuance needs both, once, in time.
* Infrastructure CA (§3.2.3.3): an Authorized Organizational Representative (AOR) may
  request only the domains the AOR registry lists for it.
* User CA (§3.2.3.4): a trusted agent submits the request and is recorded.

On top of all of them: unique names (§3.1) and type A re-key (§4.7.3).

Every decision is written to the audit trail in the same store transaction as the state
change it describes (000 §5.4.1); a refused request changes nothing but the audit trail.
Per-item refusals in batches are statuses (IssueStatus.REFUSED etc.) whose reason names
the rule and its section; a refusal of the whole call raises RegistrationError.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID, ObjectIdentifier

from porthos import _native
from porthos.cpcps import policy
from porthos.exceptions import DerDecodeError, RegistrationError
from porthos.issuance.csr_input import der_to_pem, normalise_csr_input
from porthos.issuance.names import subject_text
from porthos.status import CsrStatus, IssueStatus
from porthos.store import audit
from porthos.workspace.authority import IssueResult

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile
    from porthos.issuance.csr_input import CsrInput
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "DEFAULT_REKEY_GRACE",
    "DEFAULT_TRANSACTION_TTL",
    "REKEY_GRACE_PERIOD_MONTHS",
    "RENEWAL_WINDOW_MONTHS",
    "RegistrationAuthority",
    "RekeyResult",
    "rekey_window",
]

#: 000 §3.2.3.2: a transaction-ID expires; 24 hours unless the agent says otherwise.
DEFAULT_TRANSACTION_TTL = 24 * 3600
#: 000 §4.7.3 (seeds/README.md reading): the renewal window opens 6 months before the
#: current certificate expires ...
RENEWAL_WINDOW_MONTHS = 6
#: ... and type A re-key stays possible until 5 years after it expired.
REKEY_GRACE_PERIOD_MONTHS = 60
#: 000 §4.9.4: an early re-key may leave the old certificate usable for a grace period
#: "until the new one is in place". The CP/CPS gives no figure; porthos takes 14 days,
#: the regular CRL interval of the issuing CAs (§4.9.7), so the superseded certificate
#: is listed at the latest on the second regular CRL after the re-key. Configurable
#: per call (``grace=``, ``--grace-days``); 0 revokes at the next processing.
DEFAULT_REKEY_GRACE = 14 * 24 * 3600

# RFC 5280 §5.3.1 CRLReason superseded (4.9.1: "a certificate re-key is requested
# before the CA's renewal window starts").
_REASON_SUPERSEDED = 4

# The identity check of each profile (000 §3.2.3 table: responsible RA/CA per identity).
_HA_PROFILES = ("ha-device", "aws-verification-ha")
_SA_PROFILES = ("sa-device", "aws-verification-sa")
_INFRA_PROFILES = ("tls-server", "tls-client")
_USER_PROFILES = ("user",)
# 000 §4.7.3 table: automatic type A re-key only at the two device CAs; the
# Infrastructure and User CAs re-key by type B (initial registration) only.
_TYPE_A_PROFILES = ("ha-device", "sa-device")
#: The RA command that makes a profile's identity check (000 §3.2.3); `porthos issue`
#: without RA input names it when it issues on the engine path.
RA_COMMAND_FOR_PROFILE = {
    "ha-device": "porthos ra issue-ha (DMC, §3.2.3.1)",
    "sa-device": "porthos ra register-csr + porthos issue --transaction-id (§3.2.3.2)",
    "tls-server": "porthos ra issue-infra --aor (§3.2.3.3)",
    "tls-client": "porthos ra issue-infra --aor (§3.2.3.3)",
    "user": "porthos ra issue-user --agent (§3.2.3.4)",
}

# Chip-ID attribute names accepted in add_manufacturer (short name -> OID); a dotted
# OID is accepted too.
_ATTRIBUTE_NAMES: dict[str, ObjectIdentifier] = {
    "serialNumber": NameOID.SERIAL_NUMBER,
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "dnQualifier": NameOID.DN_QUALIFIER,
    "UID": NameOID.USER_ID,
}
_DOTTED = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_AOR_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,128}")


def rekey_window(not_after: int) -> tuple[int, int]:
    """(opens, closes) of the type A re-key window of a certificate expiring at
    ``not_after`` (000 §4.7.3 as read in seeds/README.md)."""
    return (
        policy.add_months(not_after, -RENEWAL_WINDOW_MONTHS),
        policy.add_months(not_after, REKEY_GRACE_PERIOD_MONTHS),
    )


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _serial_hex(value: int) -> str:
    # The store keys serials as the hex of the 16-octet row (ca.py, generate_serials).
    return format(value, "x").zfill(32)


def _ref(transaction_id: str) -> str:
    """What the audit trail records of a transaction-ID: a fingerprint, not the
    bearer value (an unused ID read from the trail must not be usable)."""
    return hashlib.sha256(transaction_id.encode()).hexdigest()[:16]


def _dn_key(name: x509.Name) -> str:
    # X.520 caseIgnoreMatch for the attribute types DNs use here; RFC 4514 text from
    # pyca so that string types (Printable vs UTF8) do not matter.
    return name.rfc4514_string().casefold()


def _parse_dn(text: str) -> x509.Name:
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise RegistrationError(f"acceptable DN {text!r} is not an RFC 4514 DN: {exc}") from None


def _load_cert(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise RegistrationError(f"{what} is not a DER certificate: {exc}") from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(bc.ca)


def _valid_at(cert: x509.Certificate, now: int) -> bool:
    return cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp()


@dataclass
class _Item:
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


class RegistrationAuthority:
    """The RA of a workspace: registries (manufacturers, chips, transaction-IDs, AORs)
    and the identity checks in front of ``CertificateAuthority.issue_batch``."""

    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.actor = actor or audit.default_actor()

    # ---------------------------------------------------------------------------------
    # helpers
    # ---------------------------------------------------------------------------------

    def _refuse(self, event: str, message: str, **details: Any) -> RegistrationError:
        """Audit a refusal of the whole call (000 §5.4.1: failed applications) and
        return the error to raise; nothing else was changed."""
        audit.record_failure(self.store, event, message, actor=self.actor, **details)
        return RegistrationError(message)

    def _profile(self, name: str, allowed: Sequence[str], check: str) -> Profile:
        prof = self.workspace.profile_set.profiles.get(name)
        if prof is None or name not in allowed:
            raise self._refuse(
                audit.Event.APPLICATION_REJECTED,
                f"profile {name!r} is not issued after the {check} check; that check "
                f"serves {', '.join(allowed)} (000 §3.2.3)",
                profile=name,
            )
        return prof

    @staticmethod
    def _now(now: int | None) -> int:
        return int(time.time()) if now is None else int(now)

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.1 high assurance devices: manufacturers and the Chip-ID allowlist
    # ---------------------------------------------------------------------------------

    def add_manufacturer(
        self,
        name: str,
        root_der: bytes,
        issuing_der: bytes,
        acceptable_dns: Sequence[str],
        chip_id_attr: str = "serialNumber",
        *,
        now: int | None = None,
    ) -> None:
        """Register a device manufacturer: its root and issuing certificate (DMCs are
        issued by the latter) and the issuer DNs a DMC may carry (000 §3.2.3.1).

        Checked now, so a bad configuration fails here and not at issuance: the root is
        self-signed and a CA, the issuing certificate is a CA signed by the root, and
        its subject is one of the acceptable DNs."""
        now = self._now(now)
        event = audit.Event.RA_MANUFACTURER_ADDED
        if not name or not _AOR_NAME.fullmatch(name):
            raise self._refuse(event, "manufacturer name must be 1-128 printable characters")
        if chip_id_attr not in _ATTRIBUTE_NAMES and not _DOTTED.fullmatch(chip_id_attr):
            raise self._refuse(
                event,
                f"chip-id attribute {chip_id_attr!r}: one of {', '.join(_ATTRIBUTE_NAMES)} "
                "or a dotted OID",
                manufacturer=name,
            )
        root = _load_cert(root_der, "manufacturer root")
        issuing = _load_cert(issuing_der, "manufacturer issuing certificate")
        if not acceptable_dns:
            raise self._refuse(event, "at least one acceptable DN is required", manufacturer=name)
        keys = [_dn_key(_parse_dn(dn)) for dn in acceptable_dns]
        problems: list[str] = []
        if root.issuer != root.subject:
            problems.append("the root certificate is not self-issued")
        else:
            try:
                root.verify_directly_issued_by(root)
            except (InvalidSignature, ValueError, TypeError) as exc:
                problems.append(f"the root's self-signature does not verify ({exc})")
        if not _is_ca(root):
            problems.append("the root certificate is not a CA (basicConstraints)")
        if not _is_ca(issuing):
            problems.append("the issuing certificate is not a CA (basicConstraints)")
        try:
            issuing.verify_directly_issued_by(root)
        except (InvalidSignature, ValueError, TypeError) as exc:
            problems.append(f"the issuing certificate is not signed by the root ({exc})")
        if _dn_key(issuing.subject) not in keys:
            problems.append(
                f"the issuing certificate's subject {issuing.subject.rfc4514_string()!r} "
                "is not among the acceptable DNs"
            )
        if problems:
            raise self._refuse(
                event,
                f"manufacturer {name!r} refused (000 §3.2.3.1): " + "; ".join(problems),
                manufacturer=name,
            )
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM manufacturers WHERE name = ?", (name,)).fetchone():
                raise RegistrationError(f"manufacturer {name!r} is already registered")
            conn.execute(
                "INSERT INTO manufacturers (name, root_der, issuing_der, acceptable_dns,"
                " chip_id_attr, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, root_der, issuing_der, json.dumps(list(acceptable_dns)), chip_id_attr, now),
            )
            audit.record(
                self.store,
                event,
                actor=self.actor,
                subject=issuing.subject.rfc4514_string(),
                manufacturer=name,
                root_sha256=hashlib.sha256(root_der).hexdigest(),
                issuing_sha256=hashlib.sha256(issuing_der).hexdigest(),
                acceptable_dns=list(acceptable_dns),
                chip_id_attr=chip_id_attr,
            )

    def allow_chips(self, ids: Iterable[str], *, now: int | None = None) -> int:
        """Add Chip-IDs to the allowlist of chips assigned to the Porthos realm (000
        §3.2.3.1); returns how many were new. Blank entries are refused."""
        now = self._now(now)
        chip_ids = [c.strip() for c in ids]
        bad = [c for c in chip_ids if not c or len(c) > 128 or not c.isprintable()]
        if bad:
            raise self._refuse(
                audit.Event.RA_CHIPS_ALLOWED,
                f"{len(bad)} Chip-IDs are empty, longer than 128 or not printable",
            )
        with self.store.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO chip_allowlist (chip_id, added_at) VALUES (?, ?)",
                [(c, now) for c in dict.fromkeys(chip_ids)],
            )
            added = conn.total_changes - before
            audit.record(
                self.store,
                audit.Event.RA_CHIPS_ALLOWED,
                actor=self.actor,
                given=len(chip_ids),
                added=added,
            )
        return added

    def _manufacturers(
        self,
    ) -> list[tuple[str, x509.Certificate, x509.Certificate, set[str], str]]:
        rows = self.store.conn.execute(
            "SELECT name, root_der, issuing_der, acceptable_dns, chip_id_attr FROM manufacturers"
        ).fetchall()
        out = []
        for name, root_der, issuing_der, dns, attr in rows:
            out.append(
                (
                    str(name),
                    x509.load_der_x509_certificate(bytes(root_der)),
                    x509.load_der_x509_certificate(bytes(issuing_der)),
                    {_dn_key(_parse_dn(d)) for d in json.loads(dns)},
                    str(attr),
                )
            )
        return out

    def _check_dmc(self, cms_der: bytes, now: int, item: _Item) -> None:
        """000 §3.2.3.1 for one request: CMS signature by the DMC, DMC chain to a
        configured manufacturer, Chip-ID on the allowlist. Sets item.der to the
        encapsulated CSR when everything holds, else refuses the item."""
        rule = "000 §3.2.3.1"
        try:
            info = _native.verify_signed_data(cms_der)
        except DerDecodeError as exc:
            item.refuse(IssueStatus.MALFORMED, f"CMS SignedData is malformed: {exc} (RFC 5652)")
            return
        if not info.ok:
            status = (
                IssueStatus.BAD_SIGNATURE
                if info.status_name in ("BAD_SIGNATURE", "DIGEST_MISMATCH")
                else IssueStatus.REFUSED
            )
            item.refuse(
                status,
                f"CMS signature not accepted: {info.status_name}: {info.detail} ({rule})",
            )
            return
        assert info.signer_certificate is not None and info.content is not None
        try:
            dmc = x509.load_der_x509_certificate(info.signer_certificate)
        except ValueError as exc:
            # The strict DER reader took it; pyca may still refuse a field it checks
            # more closely. One bad request must not sink the batch.
            item.refuse(IssueStatus.MALFORMED, f"DMC certificate refused: {exc} ({rule})")
            return
        item.meta["dmc_subject"] = dmc.subject.rfc4514_string()
        issuer_key = _dn_key(dmc.issuer)
        candidates = [m for m in self._manufacturers() if _dn_key(m[2].subject) == issuer_key]
        if not candidates:
            item.refuse(
                IssueStatus.REFUSED,
                f"unknown manufacturer: DMC issuer {dmc.issuer.rfc4514_string()!r} is not the "
                f"issuing CA of a registered manufacturer ({rule})",
            )
            return
        problems: list[str] = []
        for name, root, issuing, acceptable, attr in candidates:
            why = self._dmc_chain_problem(dmc, issuing, root, acceptable, now)
            if why:
                problems.append(f"{name}: {why}")
                continue
            oid = _ATTRIBUTE_NAMES.get(attr) or ObjectIdentifier(attr)
            values = [str(a.value) for a in dmc.subject.get_attributes_for_oid(oid)]
            if len(values) != 1:
                item.refuse(
                    IssueStatus.REFUSED,
                    f"DMC subject has {len(values)} {attr} attributes; the Chip-ID is exactly "
                    f"one ({rule}, manufacturer {name})",
                )
                return
            chip_id = values[0]
            item.meta.update(manufacturer=name, chip_id=chip_id)
            allowed = self.store.conn.execute(
                "SELECT 1 FROM chip_allowlist WHERE chip_id = ?", (chip_id,)
            ).fetchone()
            if allowed is None:
                item.refuse(
                    IssueStatus.REFUSED,
                    f"Chip-ID {chip_id!r} is not on the allowlist of Porthos chips ({rule})",
                )
                return
            item.der = info.content
            return
        item.refuse(
            IssueStatus.REFUSED,
            f"DMC chain does not verify ({rule}): " + "; ".join(problems),
        )

    @staticmethod
    def _dmc_chain_problem(
        dmc: x509.Certificate,
        issuing: x509.Certificate,
        root: x509.Certificate,
        acceptable: set[str],
        now: int,
    ) -> str:
        """What breaks DMC <- issuing <- root at ``now`` (RFC 5280 §6.1.3: signature,
        validity, name chaining; §6.1.4 (k): intermediates are CAs), or ""."""
        if _dn_key(dmc.issuer) not in acceptable:
            return f"DMC issuer {dmc.issuer.rfc4514_string()!r} is not an acceptable DN"
        if dmc.issuer != issuing.subject or issuing.issuer != root.subject:
            return "issuer and subject names do not chain"
        for cert, what in ((dmc, "DMC"), (issuing, "issuing certificate"), (root, "root")):
            if not _valid_at(cert, now):
                return (
                    f"{what} is not valid at {_iso(now)} (valid "
                    f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
                )
        if _is_ca(dmc):
            return "the DMC is a CA certificate, not a device certificate"
        try:
            dmc.verify_directly_issued_by(issuing)
        except (InvalidSignature, ValueError, TypeError):
            return "the DMC's signature does not verify with the issuing certificate's key"
        try:
            issuing.verify_directly_issued_by(root)
        except (InvalidSignature, ValueError, TypeError):
            return "the issuing certificate's signature does not verify with the root's key"
        return ""

    def issue_ha_device(
        self,
        cms_ders: Sequence[bytes],
        *,
        profile: str = "ha-device",
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Issue one certificate per CMS request that passes 000 §3.2.3.1; one slot
        per input in the result (a bad request does not sink the batch)."""
        prof = self._profile(profile, _HA_PROFILES, "DMC (000 §3.2.3.1)")
        now = self._now(now)
        items = []
        for der in cms_ders:
            item = _Item(None)
            self._check_dmc(bytes(der), now, item)
            items.append(item)
        return self._issue(prof, items, method="dmc", now=now, threads=threads)

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.2 standard assurance devices: transaction-IDs
    # ---------------------------------------------------------------------------------

    def register_csr(
        self,
        csr: bytes | str,
        agent: str,
        ttl: int = DEFAULT_TRANSACTION_TTL,
        *,
        now: int | None = None,
    ) -> str:
        """The trusted agent's step 2 of 000 §3.2.3.2: register a CSR, get back a
        random transaction-ID (192 bits from the OS CSPRNG) bound to the CSR's
        SHA-256, single use, expiring after ``ttl`` seconds."""
        now = self._now(now)
        event = audit.Event.RA_CSR_REGISTERED
        if not agent or not agent.strip():
            raise self._refuse(event, "the trusted agent must be named (000 §3.2.3.2)")
        if ttl <= 0:
            raise self._refuse(event, f"transaction-ID lifetime must be positive, not {ttl}")
        items = normalise_csr_input(csr)
        if len(items) != 1 or items[0].der is None:
            raise self._refuse(
                event, f"expected exactly one CSR, got {len(items)} (000 §3.2.3.2)", agent=agent
            )
        der = items[0].der
        status, vr = _native.verify_csrs([der])
        if int(status[0]) != CsrStatus.OK:
            raise self._refuse(
                event,
                f"CSR refused at registration: {vr.detail(0)} (000 §3.2.1, §3.2.3.2)",
                agent=agent,
            )
        digest = hashlib.sha256(der).digest()
        tid = secrets.token_urlsafe(24)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO transactions (id, csr_sha256, agent, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (tid, digest, agent, now, now + int(ttl)),
            )
            audit.record(
                self.store,
                event,
                actor=self.actor,
                agent=agent,
                csr_sha256=digest.hex(),
                transaction_ref=_ref(tid),
                expires_at=now + int(ttl),
            )
        return tid

    def issue_with_transactions(
        self,
        pairs: Iterable[tuple[bytes | str, str]],
        *,
        profile: str = "sa-device",
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Step 3 of 000 §3.2.3.2: (CSR, transaction-ID) pairs. An unknown, used,
        expired or other-CSR ID refuses its item; the IDs of issued items are marked
        used in the transaction that stores their certificates."""
        prof = self._profile(profile, _SA_PROFILES, "transaction-ID (000 §3.2.3.2)")
        now = self._now(now)
        rule = "000 §3.2.3.2"
        items: list[_Item] = []
        seen: dict[str, int] = {}
        conn = self.store.conn
        for n, (csr, tid) in enumerate(pairs):
            parsed = normalise_csr_input(csr)
            if len(parsed) != 1:
                items.append(_Item(None, IssueStatus.MALFORMED, "expected exactly one CSR"))
                continue
            item = _Item(parsed[0].der)
            items.append(item)
            if item.der is None:
                item.refuse(IssueStatus.MALFORMED, parsed[0].error)
                continue
            item.meta["transaction_ref"] = _ref(str(tid))
            row = conn.execute(
                "SELECT csr_sha256, expires_at, used_at FROM transactions WHERE id = ?",
                (str(tid),),
            ).fetchone()
            if row is None:
                item.refuse(IssueStatus.REFUSED, f"unknown transaction-ID ({rule})")
            elif row[2] is not None:
                item.refuse(
                    IssueStatus.REFUSED,
                    f"transaction-ID already used at {_iso(int(row[2]))}; it is single use "
                    f"({rule})",
                )
            elif int(row[1]) <= now:
                item.refuse(
                    IssueStatus.REFUSED, f"transaction-ID expired at {_iso(int(row[1]))} ({rule})"
                )
            elif bytes(row[0]) != hashlib.sha256(item.der).digest():
                item.refuse(
                    IssueStatus.REFUSED,
                    f"transaction-ID was issued for another CSR (SHA-256 differs) ({rule})",
                )
            elif str(tid) in seen:
                item.refuse(
                    IssueStatus.REFUSED,
                    f"transaction-ID already used by item {seen[str(tid)]} of this batch ({rule})",
                )
            else:
                seen[str(tid)] = n
                item.transaction_id = str(tid)

        def mark_used(issued: list[_Item]) -> None:
            for it in issued:
                cur = conn.execute(
                    "UPDATE transactions SET used_at = ? WHERE id = ? AND used_at IS NULL",
                    (now, it.transaction_id),
                )
                if cur.rowcount != 1:
                    # Another process used it between our check and this write: the
                    # whole batch rolls back rather than issue on a spent ID.
                    raise RegistrationError(
                        f"transaction-ID {it.meta['transaction_ref']} was used concurrently; "
                        f"nothing issued ({rule})"
                    )

        return self._issue(
            prof, items, method="transaction-id", now=now, threads=threads, on_issued=mark_used
        )

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.3 applications and services: the AOR registry
    # ---------------------------------------------------------------------------------

    def add_aor(self, name: str, domains: Sequence[str], *, now: int | None = None) -> int:
        """Record that AOR ``name`` may request certificates for ``domains`` and their
        subdomains (000 §3.2.3.3). Each domain must be an FQDN (policy.is_fqdn)."""
        now = self._now(now)
        event = audit.Event.RA_AOR_ADDED
        if not name or not _AOR_NAME.fullmatch(name):
            raise self._refuse(event, "AOR name must be 1-128 printable characters")
        if not domains:
            raise self._refuse(event, "at least one domain is required", aor=name)
        clean = []
        for d in domains:
            d = d.strip().lower()
            why = policy.is_fqdn(d)
            if why is not None:
                raise self._refuse(
                    event, f"domain {d!r} is not an FQDN: {why} (000 §3.2.3.3)", aor=name
                )
            clean.append(d)
        with self.store.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO aors (name, domain, added_at) VALUES (?, ?, ?)",
                [(name, d, now) for d in dict.fromkeys(clean)],
            )
            added = conn.total_changes - before
            audit.record(self.store, event, actor=self.actor, aor=name, domains=clean, added=added)
        return added

    def aor_domains(self, name: str) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT domain FROM aors WHERE name = ? ORDER BY domain", (name,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def issue_infrastructure(
        self,
        csrs: CsrInput,
        profile: str,
        *,
        aor: str,
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Requests an AOR passes on (000 §3.2.3.3): the CN is an FQDN (tls-server) or
        FQDN:application (tls-client) inside a domain the AOR may request."""
        prof = self._profile(profile, _INFRA_PROFILES, "AOR (000 §3.2.3.3)")
        now = self._now(now)
        domains = self.aor_domains(aor)
        if not domains:
            raise self._refuse(
                audit.Event.APPLICATION_REJECTED,
                f"AOR {aor!r} is not registered (000 §3.2.3.3: the RA validates that the AOR "
                "is authorized)",
                aor=aor,
                profile=profile,
            )
        items = [_Item(p.der, reason=p.error) for p in normalise_csr_input(csrs)]
        ders = [it.der for it in items if it.der is not None]
        batch = _native.parse_csrs(ders, verify=False) if ders else None
        j = 0
        for it in items:
            if it.der is None:
                it.refuse(IssueStatus.MALFORMED, it.reason)
                continue
            assert batch is not None
            k, j = j, j + 1
            if int(batch.status[k]) == CsrStatus.MALFORMED:
                continue  # issue_batch reports it with its offset and path
            cns = [v for a, v in batch.subject(k) if a == "2.5.4.3"]
            if len(cns) != 1:
                continue  # the subject rule refuses it (000 §3.1)
            cn = cns[0]
            host = cn.rpartition(":")[0] if profile == "tls-client" else cn
            if profile == "tls-client" and not host:
                continue  # the subject rule refuses it (000 §7.1.3.3)
            why = policy.is_fqdn(host)
            if why is not None:
                it.refuse(
                    IssueStatus.SUBJECT_INVALID,
                    f"CN {cn!r}: {host!r} is not an FQDN: {why} (000 §3.2.3.3)",
                )
                continue
            h = host.lower()
            if not any(h == d or h.endswith("." + d) for d in domains):
                it.refuse(
                    IssueStatus.REFUSED,
                    f"AOR {aor!r} may not request {host!r}: its domains are "
                    f"{', '.join(domains)} (000 §3.2.3.3)",
                )
        return self._issue(
            prof, items, method="aor", now=now, threads=threads, extra_details={"aor": aor}
        )

    # ---------------------------------------------------------------------------------
    # 000 §3.2.3.4 humans: the trusted agent
    # ---------------------------------------------------------------------------------

    def issue_user(
        self,
        csrs: CsrInput,
        *,
        agent: str,
        profile: str = "user",
        now: int | None = None,
        threads: int | None = None,
    ) -> IssueResult:
        """Requests a trusted agent submits after authenticating the users (000
        §3.2.3.4); the agent is recorded with every accept and refuse."""
        prof = self._profile(profile, _USER_PROFILES, "trusted agent (000 §3.2.3.4)")
        if not agent or not agent.strip():
            raise self._refuse(
                audit.Event.APPLICATION_REJECTED,
                "the trusted agent must be named (000 §3.2.3.4)",
                profile=profile,
            )
        now = self._now(now)
        items = [
            _Item(p.der, IssueStatus.ISSUED if p.der else IssueStatus.MALFORMED, p.error)
            for p in normalise_csr_input(csrs)
        ]
        return self._issue(
            prof,
            items,
            method="trusted-agent",
            now=now,
            threads=threads,
            extra_details={"agent": agent.strip()},
        )

    # ---------------------------------------------------------------------------------
    # 000 §3.1 unique names, and the common issuance step
    # ---------------------------------------------------------------------------------

    def _holders(self, subject: str, now: int) -> list[tuple[str, str, bytes | None]]:
        """(ca, serial, spki_sha256) of every valid certificate of ``subject``:
        unexpired at ``now`` and not revoked."""
        rows = self.store.conn.execute(
            "SELECT c.ca_name, c.serial_hex, c.spki_sha256 FROM certificates c"
            " WHERE c.subject = ? AND c.not_after > ? AND NOT EXISTS (SELECT 1 FROM"
            " revocations r WHERE r.ca_name = c.ca_name AND r.serial_hex = c.serial_hex)",
            (subject, now),
        ).fetchall()
        return [(str(a), str(b), None if c is None else bytes(c)) for a, b, c in rows]

    def _check_unique_names(self, prof: Profile, items: list[_Item], now: int) -> None:
        """000 §3.1: each subscriber is identifiable by a unique name. A subject that a
        valid certificate already holds with another key is refused (the holder
        re-keys instead, 000 §4.7); so is a second key for one subject in a batch."""
        at = [i for i, it in enumerate(items) if it.status == IssueStatus.ISSUED and it.der]
        if not at:
            return
        batch = _native.parse_csrs([items[i].der or b"" for i in at], verify=False)
        claimed: dict[str, tuple[bytes, int]] = {}
        for k, i in enumerate(at):
            if int(batch.status[k]) == CsrStatus.MALFORMED:
                continue
            try:
                subject = subject_text(policy.build_subject(prof, batch.subject(k)))
            except policy.SubjectInvalid:
                continue  # issue_batch refuses it with the subject rule's reason
            key = hashlib.sha256(batch.spki(k)).digest()
            for ca_name, serial, spki in self._holders(subject, now):
                if spki != key:
                    items[i].refuse(
                        IssueStatus.REFUSED,
                        f"subject {subject!r} is held by valid certificate {serial} of "
                        f"{ca_name} with another key; names are unique (000 §3.1), the "
                        "holder re-keys (000 §4.7)",
                    )
                    break
            else:
                first = claimed.get(subject)
                if first is not None and first[0] != key:
                    items[i].refuse(
                        IssueStatus.REFUSED,
                        f"subject {subject!r} is requested by item {first[1]} of this batch "
                        "with another key (000 §3.1)",
                    )
                elif first is None:
                    claimed[subject] = (key, i)

    def _issue(
        self,
        prof: Profile,
        items: list[_Item],
        *,
        method: str,
        now: int,
        threads: int | None,
        on_issued: Callable[[list[_Item]], None] | None = None,
        extra_details: dict[str, Any] | None = None,
        unique_names: bool = True,
    ) -> IssueResult:
        """Unique names, then issue_batch for the items still accepted, in one store
        transaction with ``on_issued`` (e.g. marking transaction-IDs used) and the
        RA's audit records; merge back into one slot per input."""
        ca: CertificateAuthority = self.workspace.ca(prof.issuer)
        details = {"ra": method, **(extra_details or {})}
        n = len(items)
        certificates: list[bytes | None] = [None] * n
        status = np.zeros(n, dtype=np.uint8)
        reasons = [""] * n
        try:
            with self.store.transaction():
                if unique_names:
                    self._check_unique_names(prof, items, now)
                pending = [
                    i for i, it in enumerate(items) if it.status == IssueStatus.ISSUED and it.der
                ]
                if pending:
                    sub = ca.issue_batch(
                        [items[i].der or b"" for i in pending],
                        prof.name,
                        now=now,
                        threads=threads,
                        actor=self.actor,
                        audit_details=details,
                    )
                    for r, i in enumerate(pending):
                        items[i].status = IssueStatus(int(sub.status[r]))
                        items[i].reason = sub.reasons[r]
                        certificates[i] = items[i].cert = sub.certificates[r]
                issued = [it for it in items if it.status == IssueStatus.ISSUED]
                if on_issued is not None and issued:
                    on_issued(issued)
                sent = set(pending)
                ra_refused = [
                    (i, it)
                    for i, it in enumerate(items)
                    if it.status != IssueStatus.ISSUED and i not in sent
                ]
                if ra_refused:
                    audit.record(
                        self.store,
                        audit.Event.APPLICATION_REJECTED,
                        actor=self.actor,
                        outcome="failure",
                        ca=ca.name,
                        profile=prof.name,
                        count=len(ra_refused),
                        items=[
                            {"index": i, "status": it.status.name, "reason": it.reason, **it.meta}
                            for i, it in ra_refused[:1000]
                        ],
                        **details,
                    )
                if issued:
                    audit.record(
                        self.store,
                        audit.Event.APPLICATION_ACCEPTED,
                        actor=self.actor,
                        ca=ca.name,
                        profile=prof.name,
                        count=len(issued),
                        items=[
                            {"index": i, **it.meta}
                            for i, it in enumerate(items)
                            if it.status == IssueStatus.ISSUED
                        ][:1000],
                        **details,
                    )
        except Exception as exc:
            audit.record_failure(
                self.store, audit.Event.FAILURE, exc, actor=self.actor, ca=ca.name, **details
            )
            raise
        for i, it in enumerate(items):
            status[i] = it.status
            reasons[i] = it.reason
        return IssueResult(certificates, status, reasons, profile=prof.name, ca=ca.name)

    # ---------------------------------------------------------------------------------
    # 000 §4.7 type A re-key
    # ---------------------------------------------------------------------------------

    def _current_certificate(self, info: Any) -> tuple[str, str, str, str, int, bytes] | None:
        """(ca, serial_hex, subject, profile, not_after, der) of the stored certificate
        that signed the re-key request, or None when porthos did not issue it."""
        der = info.signer_certificate
        if der is None:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        for ca in self.workspace.cas:
            ca_cert = x509.load_der_x509_certificate(ca.certificate)
            if ca_cert.subject != cert.issuer:
                continue
            row = self.store.conn.execute(
                "SELECT serial_hex, subject, profile, not_after, der FROM certificates"
                " WHERE ca_name = ? AND serial_hex = ?",
                (ca.name, _serial_hex(cert.serial_number)),
            ).fetchone()
            if row is not None and bytes(row[4]) == der:
                return (ca.name, str(row[0]), str(row[1]), str(row[2]), int(row[3]), der)
        return None

    def _stored_by_sid(self, info: Any) -> list[bytes]:
        """Certificates of the store matching an issuerAndSerialNumber sid: the
        subscriber may leave its current certificate out of the request."""
        if info.sid_issuer is None or info.sid_serial_hex is None:
            return []
        serial = _serial_hex(int(info.sid_serial_hex, 16)) if info.sid_serial_hex else ""
        out = []
        for ca in self.workspace.cas:
            ca_cert = x509.load_der_x509_certificate(ca.certificate)
            if ca_cert.subject.public_bytes() != info.sid_issuer:
                continue
            der = self.store.certificate(ca.name, serial)
            if der is not None:
                out.append(der)
        return out

    def rekey(
        self,
        cms_der: bytes,
        *,
        early: bool = False,
        grace: int = DEFAULT_REKEY_GRACE,
        now: int | None = None,
        threads: int | None = None,
    ) -> RekeyResult:
        """Type A re-key (000 §3.3.1, §4.7.3): a CMS SignedData over the new CSR,
        signed with the key of the subscriber's current certificate.

        Accepted from 6 months before the current certificate expires until 5 years
        after it expired (seeds/README.md reading of §4.7.3). Outside that span the
        subscriber goes through initial registration (type B, §3.2). Before the window
        opens, ``early=True`` accepts it and schedules the old certificate's
        revocation as superseded (§4.9.1) at now + ``grace`` (§4.9.4)."""
        now = self._now(now)
        event = audit.Event.REKEY
        rule = "000 §4.7.3"
        type_b = "; go through initial registration (type B re-key, 000 §3.2)"
        try:
            info = _native.verify_signed_data(cms_der)
            if info.status_name == "SIGNER_NOT_FOUND":
                info = _native.verify_signed_data(cms_der, self._stored_by_sid(info))
        except DerDecodeError as exc:
            raise self._refuse(event, f"re-key request is not a CMS SignedData: {exc}") from None
        if not info.ok:
            raise self._refuse(
                event,
                f"re-key request not authenticated by the current key: {info.status_name}: "
                f"{info.detail} (000 §3.3.1){type_b}",
            )
        current = self._current_certificate(info)
        if current is None:
            raise self._refuse(
                event,
                "the re-key request is signed by a certificate this PKI did not issue "
                f"(000 §3.3.1){type_b}",
            )
        ca_name, old_serial, subject, profile, not_after, _ = current
        base = {"ca": ca_name, "old_serial": old_serial, "profile": profile}
        if profile not in _TYPE_A_PROFILES:
            raise self._refuse(
                event,
                f"profile {profile} re-keys by type B only ({rule} table){type_b}",
                subject=subject,
                **base,
            )
        conn = self.store.conn
        if conn.execute(
            "SELECT 1 FROM revocations WHERE ca_name = ? AND serial_hex = ?", (ca_name, old_serial)
        ).fetchone():
            raise self._refuse(
                event,
                f"certificate {old_serial} is revoked (000 §3.3.2){type_b}",
                subject=subject,
                **base,
            )
        if conn.execute(
            "SELECT 1 FROM scheduled_revocations WHERE ca_name = ? AND serial_hex = ?",
            (ca_name, old_serial),
        ).fetchone():
            raise self._refuse(
                event,
                f"certificate {old_serial} was already superseded by an early re-key; re-key "
                f"with its successor ({rule})",
                subject=subject,
                **base,
            )
        opens, closes = rekey_window(not_after)
        if now > closes:
            raise self._refuse(
                event,
                f"certificate {old_serial} expired {_iso(not_after)}; type A re-key ended "
                f"{_iso(closes)}, 5 years after expiry ({rule} grace period){type_b}",
                subject=subject,
                **base,
            )
        is_early = now < opens
        if is_early and not early:
            raise self._refuse(
                event,
                f"re-key requested before the renewal window opens at {_iso(opens)}, 6 months "
                f"before certificate {old_serial} expires ({rule}); ask for an early re-key "
                "(early=True, --early: the old certificate is then revoked as superseded, "
                f"000 §4.9.1, §4.9.4){type_b.replace('; go', ', or go')}",
                subject=subject,
                **base,
            )
        if grace < 0:
            raise self._refuse(event, f"grace period must not be negative, not {grace}")
        assert info.content is not None
        new_csr = info.content
        prof = self.workspace.profile_set.profiles[profile]
        item = _Item(new_csr, meta={"old_serial": old_serial, "rekey": "A"})
        parsed = _native.parse_csrs([new_csr], verify=False)
        if int(parsed.status[0]) != CsrStatus.MALFORMED:
            if parsed.spki(0) == info.signer_spki:
                item.refuse(
                    IssueStatus.REFUSED,
                    "the new CSR has the current certificate's key; re-key needs a new key "
                    "pair (000 §4.7)",
                )
            else:
                try:
                    new_subject = subject_text(policy.build_subject(prof, parsed.subject(0)))
                except policy.SubjectInvalid:
                    new_subject = None  # issue_batch refuses it with the rule's reason
                if new_subject is not None and new_subject != subject:
                    item.refuse(
                        IssueStatus.REFUSED,
                        f"the new CSR asks for {new_subject!r}; a re-key keeps the subject "
                        f"{subject!r} (000 §4.7)",
                    )
        due = now + int(grace) if is_early else None

        def record_rekey(issued: list[_Item]) -> None:
            # In the transaction that stores the new certificate (000 §5.4.1: re-keys).
            new_cert = issued[0].cert
            assert new_cert is not None
            new_serial = _serial_hex(x509.load_der_x509_certificate(new_cert).serial_number)
            if due is not None:
                # The contract with the lifecycle slice (store schema 4): it turns due
                # rows into revocations (000 §4.9.1 superseded, §4.9.4 grace period).
                conn.execute(
                    "INSERT INTO scheduled_revocations (ca_name, serial_hex, reason, due_at,"
                    " requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (ca_name, old_serial, _REASON_SUPERSEDED, due, self.actor, now),
                )
                audit.record(
                    self.store,
                    audit.Event.REVOCATION_SCHEDULED,
                    actor=self.actor,
                    subject=subject,
                    serial=old_serial,
                    ca=ca_name,
                    reason="superseded",
                    due_at=due,
                    superseded_by=new_serial,
                    cause="early re-key (000 §4.9.1, §4.9.4)",
                )
            audit.record(
                self.store,
                event,
                actor=self.actor,
                subject=subject,
                serial=new_serial,
                old_serial=old_serial,
                ca=ca_name,
                profile=profile,
                early=is_early,
                window_opens=opens,
                window_closes=closes,
                revocation_due_at=due,
            )

        result = self._issue(
            prof,
            [item],
            method="rekey-a",
            now=now,
            threads=threads,
            on_issued=record_rekey,
            extra_details={"old_serial": old_serial, "early": is_early},
            unique_names=False,  # the name's holder is the one re-keying (000 §3.1, §4.7)
        )
        cert = result.certificates[0]
        if cert is None:
            raise RegistrationError(
                f"re-key of {old_serial} refused: {result.reasons[0]} "
                f"[{IssueStatus(int(result.status[0])).name}]"
            )
        new_serial = _serial_hex(x509.load_der_x509_certificate(cert).serial_number)
        return RekeyResult(cert, new_serial, old_serial, ca_name, profile, is_early, due)
