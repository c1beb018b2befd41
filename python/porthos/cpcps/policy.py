"""RA rules of the porthos profile set: subject from CSR, key rules, validity.

Decisions live here, in Python; the Rust core only encodes what this module decided.
Sections cited as "000 §x" are those of the LEGIC Porthos PKI CP/CPS v1.1
(/work/shared/seeds/000_ce300bfce444b8f6.txt).

A rule never raises for a bad request: it answers an IssueStatus and a reason that says
what was found and what is allowed, so one bad CSR never stops a batch.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from porthos.cpcps import san_rules, subject_rules
from porthos.cpcps.subject_rules import CN_OID, UUID_RE, SubjectInvalid, is_fqdn_cn
from porthos.status import IssueStatus, KeyType

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile

__all__ = [
    "ATTRIBUTE_OIDS",
    "KEY_TYPE_NAMES",
    "Decision",
    "add_months",
    "build_subject",
    "check_key",
    "decide",
    "decide_batch",
    "describe_key",
    "validity",
]

# Attribute types porthos reads from a CSR subject (dotted OID -> short name).
ATTRIBUTE_OIDS: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.46": "dnQualifier",
    # IA5String attributes (RFC 4519 §2.4, PKCS #9): bridge-certified PKIs name CAs by DC.
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}
# Key type names used by profiles -> (KeyType code, exact bit size or None for any).
KEY_TYPE_NAMES: dict[str, tuple[KeyType, int | None]] = {
    "ec-p256": (KeyType.EC_P256, 256),
    "ec-p384": (KeyType.EC_P384, 384),
    "rsa-2048": (KeyType.RSA, 2048),
    "rsa-3072": (KeyType.RSA, 3072),
    "rsa-4096": (KeyType.RSA, 4096),
    "ed25519": (KeyType.ED25519, None),
}


def build_subject(
    profile: Profile, csr_subject: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The certificate subject, most general first: the profile's fixed prefix, then what
    the rule takes from the CSR. Every other CSR attribute is ignored (000 §3.2.4:
    information that is not verified is not included). Raises SubjectInvalid."""
    prefix = list(profile.subject_prefix)
    if profile.ignore_prefix_in_csr:
        # Devices often copy the certificate's fixed attributes into the CSR: those are
        # not the subscriber's own values (the profile says so).
        fixed = set(prefix)
        csr_subject = [
            (a, v) for a, v in csr_subject if (ATTRIBUTE_OIDS.get(a, a), v) not in fixed
        ]
    tail = profile.rule(csr_subject)
    return prefix + tail


# --------------------------------------------------------------------------------------
# Keys (000 §6.1.5)
# --------------------------------------------------------------------------------------


def describe_key(key_type: int, key_bits: int) -> str:
    kt = KeyType(key_type) if key_type in KeyType._value2member_map_ else KeyType.UNKNOWN
    if kt in (KeyType.EC_P256, KeyType.EC_P384):
        return f"EC P-{key_bits or (256 if kt is KeyType.EC_P256 else 384)}"
    if kt is KeyType.RSA:
        return f"RSA {key_bits} bit"
    if kt is KeyType.ED25519:
        return "Ed25519"
    return "an unknown key type"


def _describe_name(name: str) -> str:
    kt, bits = KEY_TYPE_NAMES[name]
    return describe_key(kt, bits or 0)


def check_key(profile: Profile, key_type: int, key_bits: int) -> str | None:
    """None if the subject key is allowed by the profile, else the reason."""
    for name in profile.key_types:
        kt, bits = KEY_TYPE_NAMES[name]
        if key_type == kt and (bits is None or bits == key_bits):
            return None
    allowed = ", ".join(_describe_name(n) for n in profile.key_types)
    return (
        f"subject key is {describe_key(key_type, key_bits)}; profile {profile.name} allows "
        f"{allowed} (CP/CPS §6.1.5, §{profile.section})"
    )


# --------------------------------------------------------------------------------------
# Validity (000 §7.1.3: "now" to "now + 13 months"; §7.1.4: "now + 5 days")
# --------------------------------------------------------------------------------------


def add_months(timestamp: int, months: int) -> int:
    """timestamp + N calendar months in UTC; the day of month is clamped to the target
    month's length (Jan 31 + 1 month = Feb 28/29), the time of day is kept."""
    t = datetime.fromtimestamp(timestamp, tz=UTC)
    index = t.year * 12 + (t.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return int(t.replace(year=year, month=month, day=day).timestamp())


def validity(profile: Profile, now: int) -> tuple[int, int]:
    """(notBefore, notAfter) in integer seconds since the epoch, UTC."""
    return now, profile.validity.not_after(now)


# --------------------------------------------------------------------------------------
# One decision per request
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    status: IssueStatus
    reason: str
    subject: list[tuple[str, str]] | None


def decide(
    profile: Profile, csr_subject: Sequence[tuple[str, str]], key_type: int, key_bits: int
) -> Decision:
    """Key rule first (000 §6.1.5), then the subject rule (000 §7.1.3/§7.1.4)."""
    why = check_key(profile, key_type, key_bits)
    if why is not None:
        return Decision(IssueStatus.KEY_NOT_ALLOWED, why, None)
    try:
        subject = build_subject(profile, csr_subject)
    except SubjectInvalid as exc:
        return Decision(IssueStatus.SUBJECT_INVALID, str(exc), None)
    return Decision(IssueStatus.ISSUED, "", subject)


def decide_batch(
    profile: Profile,
    csr_subjects: Sequence[Sequence[tuple[str, str]]],
    key_types: NDArray[np.uint8],
    key_bits: NDArray[np.uint32],
) -> tuple[
    list[int],
    list[str],
    list[list[tuple[str, str]] | None],
    list[list[tuple[str, str]] | None] | None,
]:
    """:func:`decide` for a whole batch, same answers: (statuses, reasons, subjects,
    sans), one slot per request (subject None where refused). ``sans`` is None when the
    profile has no SAN; else each accepted request's SAN entries from the profile's SAN
    rule (cpcps/san_rules.py), None where refused; a subject the SAN rule refuses is
    SUBJECT_INVALID with the rule's reason.

    Why a batch form: issuance calls this for 10,000s of requests, and per request
    :func:`decide` costs ~15 µs of Python (key loop, rule dispatch, a Decision object),
    serial work that no core count speeds up. Here the key rule is one NumPy pass and
    the common subjects take a short path; anything the short path does not settle
    goes through :func:`decide` itself, so every reason stays the same.
    """
    n = len(csr_subjects)
    key_ok = np.zeros(n, dtype=bool)
    for name in profile.key_types:
        kt, bits = KEY_TYPE_NAMES[name]
        hit = key_types == int(kt)
        if bits is not None:
            hit &= key_bits == bits
        key_ok |= hit
    ok = key_ok.tolist()
    statuses = [int(IssueStatus.ISSUED)] * n
    reasons = [""] * n
    subjects: list[list[tuple[str, str]] | None] = [None] * n
    prefix = list(profile.subject_prefix)
    # Short path of the "uuid" rule (000 §7.1.3.1): a subject that is exactly one CN
    # holding a UUID gets [CN=<lower-case UUID>] after the prefix, as _rule_uuid gives
    # (one CN; 36 characters is under ub-common-name; RFC 4122 lower case).
    uuid_rule = profile.subject_rule == "uuid"
    fullmatch = UUID_RE.fullmatch
    # Short path of the generic "fqdn" rule (§7.1.3.4, BR §7.1.4.3): a subject that is
    # exactly one CN holding a host name is_fqdn accepts gets [CN=<it>] after the
    # prefix, as _rule_fqdn gives; with the generic dns-from-cn SAN rule its SAN is that
    # name (its CN is the subject's only one when the prefix has none, and it is an
    # FQDN). ~20 µs a request of rule calls at P-384 issuance rates (issue 16 §5).
    prefix_cn = any(a in ("CN", CN_OID) for a, _ in prefix)
    fqdn_rule = profile.rule is subject_rules.GENERIC_RULES["fqdn"] and not prefix_cn
    dns_from_cn = profile.san_rule is san_rules.GENERIC_SAN_RULES["dns-from-cn"]
    short_sans: dict[int, list[tuple[str, str]]] = {}
    for i, s in enumerate(csr_subjects):
        if ok[i] and len(s) == 1:
            attr, cn = s[0]
            if attr == CN_OID and uuid_rule and fullmatch(cn):
                subjects[i] = [*prefix, ("CN", cn.lower())]
                continue
            if attr == CN_OID and fqdn_rule and is_fqdn_cn(cn):
                subjects[i] = [*prefix, ("CN", cn)]
                if dns_from_cn:
                    short_sans[i] = [("dns", cn)]
                continue
        d = decide(profile, s, int(key_types[i]), int(key_bits[i]))
        statuses[i] = int(d.status)
        reasons[i] = d.reason
        subjects[i] = d.subject
    san_rule = profile.san_rule
    if san_rule is None:  # no per-item cost for a profile without a SAN
        return statuses, reasons, subjects, None
    sans: list[list[tuple[str, str]] | None] = [None] * n
    for i, subject in enumerate(subjects):
        if subject is not None:
            if i in short_sans:
                sans[i] = short_sans[i]
                continue
            try:
                sans[i] = san_rule(subject)
            except SubjectInvalid as exc:
                statuses[i] = int(IssueStatus.SUBJECT_INVALID)
                reasons[i] = str(exc)
                subjects[i] = None
    return statuses, reasons, subjects, sans
