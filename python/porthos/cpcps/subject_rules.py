"""Subject rules: how a certificate subject is taken from a CSR. A rule is a named
function (``subject_rule = "fqdn"`` in a profile) that returns the attributes after the
profile's fixed prefix, or raises SubjectInvalid saying what was found and what is
allowed. The generic rules live here; a CP/CPS adds its own in
``cpcps/<pki>/rules.py`` (a ``SUBJECT_RULES`` mapping), found by its name."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

CN_OID = "2.5.4.3"
OU_OID = "2.5.4.11"
SERIAL_NUMBER_OID = "2.5.4.5"

# Upper bounds of RFC 5280 Appendix A (ub-common-name, ub-organizational-unit-name,
# ub-serial-number): all 64 characters.
UB_COMMON_NAME = 64
UB_ORGANIZATIONAL_UNIT_NAME = 64
UB_SERIAL_NUMBER = 64


class SubjectInvalid(Exception):
    """Raised inside a subject rule; becomes IssueStatus.SUBJECT_INVALID + its text."""


# --------------------------------------------------------------------------------------
# Subject rules (CP/CPS §3.1, §3.2.3, §3.2.4, §7.1.3, §7.1.4)
# --------------------------------------------------------------------------------------

# RFC 4122 §3: 8-4-4-4-12 hex digits. Any version/variant is accepted: the CP/CPS only
# asks for "CN from CSR (UUID)" and the device makes it (CP/CPS §3.2.3.1).
UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# RFC 1123 §2.1 LDH label: letters, digits, hyphen; no hyphen at either end; 1-63.
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_APPLICATION_RE = re.compile(r"[A-Za-z0-9._-]+")
# X.520 PrintableString alphabet: encode_name writes serialNumber as PrintableString.
PRINTABLE_RE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")


# C0 and C1 control characters and DEL. One regex search instead of a per-character
# generator: subject rules run once per request, and at RSA-2048 issuance rates the
# generator alone was ~5 % of the time per certificate (bench issue --cpcps).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control(value: str) -> bool:
    return _CONTROL_RE.search(value) is not None


def values_of(csr_subject: Sequence[tuple[str, str]], oid: str) -> list[str]:
    return [value for attr, value in csr_subject if attr == oid]


def single_cn(csr_subject: Sequence[tuple[str, str]]) -> str:
    """Exactly one CN (CP/CPS §3.1: an unambiguous name) of at most 64 characters."""
    cns = values_of(csr_subject, CN_OID)
    if not cns:
        raise SubjectInvalid(
            "CSR subject has no CN (CP/CPS §3.2.3: the CN identifies the subscriber)"
        )
    if len(cns) > 1:
        raise SubjectInvalid(f"CSR subject has {len(cns)} CNs, exactly one allowed (CP/CPS §3.1)")
    cn = cns[0]
    if len(cn) > UB_COMMON_NAME:
        raise SubjectInvalid(
            f"CN is {len(cn)} characters, at most {UB_COMMON_NAME} allowed "
            "(ub-common-name, RFC 5280 Appendix A)"
        )
    return cn


def uuid_cn(cn: str) -> str:
    if not UUID_RE.fullmatch(cn):
        raise SubjectInvalid(
            f"CN {cn!r} is not a UUID in RFC 4122 text form 8-4-4-4-12 (CP/CPS §7.1.3.1-2)"
        )
    # RFC 4122 §3: hex digits are case-insensitive on input and output as lower case.
    # Normalising makes one device one name (CP/CPS §3.1 "unique name") whatever case the
    # device used; the value is still the CSR's (same UUID), so CP/CPS §3.2.4 holds.
    return cn.lower()


# What is_fqdn accepts, as one pattern for names of at most ub-common-name characters
# (so under RFC 1035's 253): two or more LDH labels, no trailing dot, no wildcard (not
# LDH), the last label not all digits (the lookahead). decide_batch's short path for the
# fqdn rule; tests/test_policy_batch.py checks it against is_fqdn on random names.
_FQDN_CN_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?![0-9]+\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def is_fqdn_cn(cn: str) -> bool:
    """True when ``cn`` is a CN the fqdn rule accepts as it is: at most 64 characters
    (ub-common-name) and ``is_fqdn(cn) is None``. One regex match, no reasons: the
    batch short path; anything else goes through the rule for its reason."""
    return len(cn) <= UB_COMMON_NAME and _FQDN_CN_RE.fullmatch(cn) is not None


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
            return "wildcard names are not issued (CP/CPS §3.2.3.3: one host per certificate)"
        if not _LABEL_RE.fullmatch(label):
            return f"label {label!r} is not a letter-digit-hyphen label of 1-63 characters"
    if labels[-1].isdigit():
        # An all-numeric last label would make "10.0.0.1" look like a host name.
        return f"top-level label {labels[-1]!r} is all-numeric (RFC 3696 §2)"
    return None


def _rule_uuid(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """CP/CPS §7.1.3.1: CN=<CN from CSR (UUID)>."""
    return [("CN", uuid_cn(single_cn(csr_subject)))]


def _rule_fqdn(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """CP/CPS §7.1.3.4: CN=<CN from CSR (FQDN of host)>."""
    cn = single_cn(csr_subject)
    why = is_fqdn(cn)
    if why is not None:
        raise SubjectInvalid(f"CN {cn!r} is not an FQDN: {why} (CP/CPS §3.2.3.3, §7.1.3.4)")
    return [("CN", cn)]


def _rule_fqdn_application(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """CP/CPS §7.1.3.3: CN=<CN from CSR (FQDN of host:application)>."""
    cn = single_cn(csr_subject)
    host, sep, app = cn.rpartition(":")
    if not sep:
        raise SubjectInvalid(f"CN {cn!r} is not FQDN:application (CP/CPS §7.1.3.3)")
    why = is_fqdn(host)
    if why is not None:
        raise SubjectInvalid(f"CN {cn!r}: host part is not an FQDN: {why} (CP/CPS §7.1.3.3)")
    if not _APPLICATION_RE.fullmatch(app):
        raise SubjectInvalid(
            f"CN {cn!r}: application {app!r} must be non-empty [A-Za-z0-9._-] (CP/CPS §7.1.3.3)"
        )
    return [("CN", cn)]


def _rule_user_name(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """CP/CPS §7.1.3.5: CN=<CN from CSR (user name)>; CP/CPS §3.2.3.4."""
    cn = single_cn(csr_subject)
    if not cn.strip():
        raise SubjectInvalid("CN (user name) is empty (CP/CPS §3.2.3.4)")
    if has_control(cn):
        raise SubjectInvalid(f"CN {cn!r} contains control characters (CP/CPS §3.1: meaningful)")
    return [("CN", cn)]


SubjectRule = Callable[[Sequence[tuple[str, str]]], list[tuple[str, str]]]

# The named rules any CP/CPS may use (subject_rule = "..."); a PKI adds its own in
# cpcps/<pki>/rules.py (SUBJECT_RULES there), and the loader refuses any other name.
GENERIC_RULES: dict[str, SubjectRule] = {
    "uuid": _rule_uuid,
    "fqdn": _rule_fqdn,
    "fqdn-application": _rule_fqdn_application,
    "user-name": _rule_user_name,
}


def rules_for(cpcps_name: str) -> Mapping[str, SubjectRule]:
    """The rules a CP/CPS named ``cpcps_name`` may name: the generic ones plus those of
    its folder (``porthos.cpcps.<name>.rules``), if it has one."""
    rules = dict(GENERIC_RULES)
    try:
        module = importlib.import_module(f"porthos.cpcps.{cpcps_name.replace('-', '_')}.rules")
    except ModuleNotFoundError:
        return MappingProxyType(rules)
    rules.update(module.SUBJECT_RULES)
    return MappingProxyType(rules)
