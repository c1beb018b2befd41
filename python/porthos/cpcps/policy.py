"""RA rules of the porthos profile set: subject from CSR, key rules, validity.

Decisions live here, in Python; the Rust core only encodes what this module decided.
Sections cited as "000 §x" are those of the LEGIC Porthos PKI CP/CPS v1.1
(/work/shared/seeds/000_ce300bfce444b8f6.txt).

A rule never raises for a bad request: it answers an IssueStatus and a reason that says
what was found and what is allowed, so one bad CSR never stops a batch.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from porthos.status import IssueStatus, KeyType

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile

__all__ = [
    "ATTRIBUTE_OIDS",
    "KEY_TYPE_NAMES",
    "SUBJECT_RULES",
    "Decision",
    "SubjectInvalid",
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
}
_CN = "2.5.4.3"
_OU = "2.5.4.11"
_SERIAL_NUMBER = "2.5.4.5"

# Upper bounds of RFC 5280 Appendix A (ub-common-name, ub-organizational-unit-name,
# ub-serial-number): all 64 characters.
UB_COMMON_NAME = 64
UB_ORGANIZATIONAL_UNIT_NAME = 64
UB_SERIAL_NUMBER = 64

# Key type names used by profiles -> (KeyType code, exact bit size or None for any).
KEY_TYPE_NAMES: dict[str, tuple[KeyType, int | None]] = {
    "ec-p256": (KeyType.EC_P256, 256),
    "ec-p384": (KeyType.EC_P384, 384),
    "rsa-2048": (KeyType.RSA, 2048),
    "rsa-3072": (KeyType.RSA, 3072),
    "rsa-4096": (KeyType.RSA, 4096),
    "ed25519": (KeyType.ED25519, None),
}


class SubjectInvalid(Exception):
    """Raised inside a subject rule; becomes IssueStatus.SUBJECT_INVALID + its text."""


# --------------------------------------------------------------------------------------
# Subject rules (000 §3.1, §3.2.3, §3.2.4, §7.1.3, §7.1.4)
# --------------------------------------------------------------------------------------

# RFC 4122 §3: 8-4-4-4-12 hex digits. Any version/variant is accepted: the CP/CPS only
# asks for "CN from CSR (UUID)" and the device makes it (000 §3.2.3.1).
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# RFC 1123 §2.1 LDH label: letters, digits, hyphen; no hyphen at either end; 1-63.
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_APPLICATION_RE = re.compile(r"[A-Za-z0-9._-]+")
_AWS_CODE_RE = re.compile(r"[A-Za-z0-9]+")
# X.520 PrintableString alphabet: encode_name writes serialNumber as PrintableString.
_PRINTABLE_RE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")


def _has_control(value: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value)


def _only(csr_subject: Sequence[tuple[str, str]], oid: str) -> list[str]:
    return [value for attr, value in csr_subject if attr == oid]


def _single_cn(csr_subject: Sequence[tuple[str, str]]) -> str:
    """Exactly one CN (000 §3.1: an unambiguous name) of at most 64 characters."""
    cns = _only(csr_subject, _CN)
    if not cns:
        raise SubjectInvalid(
            "CSR subject has no CN (000 §3.2.3: the CN identifies the subscriber)"
        )
    if len(cns) > 1:
        raise SubjectInvalid(f"CSR subject has {len(cns)} CNs, exactly one allowed (000 §3.1)")
    cn = cns[0]
    if len(cn) > UB_COMMON_NAME:
        raise SubjectInvalid(
            f"CN is {len(cn)} characters, at most {UB_COMMON_NAME} allowed "
            "(ub-common-name, RFC 5280 Appendix A)"
        )
    return cn


def _uuid(cn: str) -> str:
    if not _UUID_RE.fullmatch(cn):
        raise SubjectInvalid(
            f"CN {cn!r} is not a UUID in RFC 4122 text form 8-4-4-4-12 (000 §7.1.3.1-2)"
        )
    # RFC 4122 §3: hex digits are case-insensitive on input and output as lower case.
    # Normalising makes one device one name (000 §3.1 "unique name") whatever case the
    # device used; the value is still the CSR's (same UUID), so 000 §3.2.4 holds.
    return cn.lower()


def is_fqdn(name: str) -> str | None:
    """None if name is an FQDN porthos accepts, else why not (RFC 1123 §2.1, RFC 1035)."""
    if not name:
        return "empty host name"
    if len(name) > 253:
        return f"host name is {len(name)} characters, at most 253 allowed (RFC 1035 §2.3.4)"
    if name.endswith("."):
        return "host name has a trailing dot"
    labels = name.split(".")
    if len(labels) < 2:
        return "host name has one label; a fully qualified name has at least two"
    for label in labels:
        if label == "*":
            return "wildcard names are not issued (000 §3.2.3.3: one host per certificate)"
        if not _LABEL_RE.fullmatch(label):
            return f"label {label!r} is not a letter-digit-hyphen label of 1-63 characters"
    if labels[-1].isdigit():
        # An all-numeric last label would make "10.0.0.1" look like a host name.
        return f"top-level label {labels[-1]!r} is all-numeric (RFC 3696 §2)"
    return None


def _rule_uuid(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.3.1: CN=<CN from CSR (UUID)>."""
    return [("CN", _uuid(_single_cn(csr_subject)))]


def _rule_sa_device(
    csr_subject: Sequence[tuple[str, str]], fixed_ous: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """000 §7.1.3.2: OU=<realm> (optional), CN=<UUID>, serialNumber=<SN> (optional).

    DER order after the fixed O and OU: realm OU, CN, serialNumber (the table lists
    "serialNumber= CN= OU=<realm> OU=Porthos SA Device O=" most-specific first).
    """
    out: list[tuple[str, str]] = []
    # A CSR may already carry the fixed OU (devices often copy the certificate's DN):
    # it is not a realm.
    realms = [ou for ou in _only(csr_subject, _OU) if ou not in fixed_ous]
    if len(realms) > 1:
        raise SubjectInvalid(
            f"CSR subject has {len(realms)} realm OUs, at most one allowed (000 §7.1.3.2)"
        )
    if realms:
        realm = realms[0]
        if not realm or len(realm) > UB_ORGANIZATIONAL_UNIT_NAME or _has_control(realm):
            raise SubjectInvalid(
                f"realm OU {realm!r} must be 1-{UB_ORGANIZATIONAL_UNIT_NAME} characters "
                "without control characters (RFC 5280 Appendix A)"
            )
        out.append(("OU", realm))
    out.append(("CN", _uuid(_single_cn(csr_subject))))
    serials = _only(csr_subject, _SERIAL_NUMBER)
    if len(serials) > 1:
        raise SubjectInvalid(
            f"CSR subject has {len(serials)} serialNumbers, at most one allowed (000 §7.1.3.2)"
        )
    if serials:
        sn = serials[0]
        if len(sn) > UB_SERIAL_NUMBER or not _PRINTABLE_RE.fullmatch(sn):
            raise SubjectInvalid(
                f"serialNumber {sn!r} must be 1-{UB_SERIAL_NUMBER} PrintableString "
                "characters (X.520, RFC 5280 Appendix A)"
            )
        out.append(("serialNumber", sn))
    return out


def _rule_fqdn(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.3.4: CN=<CN from CSR (FQDN of host)>."""
    cn = _single_cn(csr_subject)
    why = is_fqdn(cn)
    if why is not None:
        raise SubjectInvalid(f"CN {cn!r} is not an FQDN: {why} (000 §3.2.3.3, §7.1.3.4)")
    return [("CN", cn)]


def _rule_fqdn_application(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.3.3: CN=<CN from CSR (FQDN of host:application)>."""
    cn = _single_cn(csr_subject)
    host, sep, app = cn.rpartition(":")
    if not sep:
        raise SubjectInvalid(f"CN {cn!r} is not FQDN:application (000 §7.1.3.3)")
    why = is_fqdn(host)
    if why is not None:
        raise SubjectInvalid(f"CN {cn!r}: host part is not an FQDN: {why} (000 §7.1.3.3)")
    if not _APPLICATION_RE.fullmatch(app):
        raise SubjectInvalid(
            f"CN {cn!r}: application {app!r} must be non-empty [A-Za-z0-9._-] (000 §7.1.3.3)"
        )
    return [("CN", cn)]


def _rule_user_name(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.3.5: CN=<CN from CSR (user name)>; 000 §3.2.3.4."""
    cn = _single_cn(csr_subject)
    if not cn.strip():
        raise SubjectInvalid("CN (user name) is empty (000 §3.2.3.4)")
    if _has_control(cn):
        raise SubjectInvalid(f"CN {cn!r} contains control characters (000 §3.1: meaningful)")
    return [("CN", cn)]


def _rule_aws_registration_code(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.4: CN=<AWS registration code>, the subject's only attribute."""
    cn = _single_cn(csr_subject)
    if not _AWS_CODE_RE.fullmatch(cn):
        raise SubjectInvalid(
            f"CN {cn!r} is not an AWS registration code (1-64 characters [A-Za-z0-9]) (000 §7.1.4)"
        )
    return [("CN", cn)]


SubjectRule = Callable[[Sequence[tuple[str, str]]], list[tuple[str, str]]]

# Rule names used by profiles (subject_rule = "..."); the loader refuses others.
SUBJECT_RULES: dict[str, SubjectRule] = {
    "uuid": _rule_uuid,
    "sa-device": _rule_sa_device,
    "fqdn": _rule_fqdn,
    "fqdn-application": _rule_fqdn_application,
    "user-name": _rule_user_name,
    "aws-registration-code": _rule_aws_registration_code,
}


def build_subject(
    profile: Profile, csr_subject: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The certificate subject, most general first: the profile's fixed prefix, then what
    the rule takes from the CSR. Every other CSR attribute is ignored (000 §3.2.4:
    information that is not verified is not included). Raises SubjectInvalid."""
    prefix = list(profile.subject_prefix)
    if profile.subject_rule == "sa-device":
        tail = _rule_sa_device(csr_subject, [v for a, v in prefix if a == "OU"])
    else:
        tail = SUBJECT_RULES[profile.subject_rule](csr_subject)
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
        f"{allowed} (000 §6.1.5, §{profile.section})"
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
) -> tuple[list[int], list[str], list[list[tuple[str, str]] | None]]:
    """:func:`decide` for a whole batch, same answers: (statuses, reasons, subjects),
    one slot per request (subject None where refused).

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
    fullmatch = _UUID_RE.fullmatch
    for i, s in enumerate(csr_subjects):
        if ok[i] and uuid_rule and len(s) == 1:
            attr, cn = s[0]
            if attr == _CN and fullmatch(cn):
                subjects[i] = [*prefix, ("CN", cn.lower())]
                continue
        d = decide(profile, s, int(key_types[i]), int(key_bits[i]))
        statuses[i] = int(d.status)
        reasons[i] = d.reason
        subjects[i] = d.subject
    return statuses, reasons, subjects
