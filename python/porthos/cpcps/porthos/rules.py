"""The named subject rules of the LEGIC Porthos PKI CP/CPS (000) that no other CP/CPS
shares; porthos.toml names them (subject_rule = "sa-device" | "aws-registration-code")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from porthos.cpcps.subject_rules import (
    OU_OID,
    PRINTABLE_RE,
    SERIAL_NUMBER_OID,
    UB_ORGANIZATIONAL_UNIT_NAME,
    UB_SERIAL_NUMBER,
    SubjectInvalid,
    SubjectRule,
    has_control,
    single_cn,
    uuid_cn,
    values_of,
)

_AWS_CODE_RE = re.compile(r"[A-Za-z0-9]+")


def _rule_sa_device(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.3.2: OU=<realm> (optional), CN=<UUID>, serialNumber=<SN> (optional).

    DER order after the fixed O and OU: realm OU, CN, serialNumber (the table lists
    "serialNumber= CN= OU=<realm> OU=Porthos SA Device O=" most-specific first).
    """
    out: list[tuple[str, str]] = []
    # The fixed OU a device may copy from the certificate's DN is not a realm: the
    # profile sets ignore_prefix_in_csr, so policy.build_subject has dropped it.
    realms = values_of(csr_subject, OU_OID)
    if len(realms) > 1:
        raise SubjectInvalid(
            f"CSR subject has {len(realms)} realm OUs, at most one allowed (000 §7.1.3.2)"
        )
    if realms:
        realm = realms[0]
        if not realm or len(realm) > UB_ORGANIZATIONAL_UNIT_NAME or has_control(realm):
            raise SubjectInvalid(
                f"realm OU {realm!r} must be 1-{UB_ORGANIZATIONAL_UNIT_NAME} characters "
                "without control characters (RFC 5280 Appendix A)"
            )
        out.append(("OU", realm))
    out.append(("CN", uuid_cn(single_cn(csr_subject))))
    serials = values_of(csr_subject, SERIAL_NUMBER_OID)
    if len(serials) > 1:
        raise SubjectInvalid(
            f"CSR subject has {len(serials)} serialNumbers, at most one allowed (000 §7.1.3.2)"
        )
    if serials:
        sn = serials[0]
        if len(sn) > UB_SERIAL_NUMBER or not PRINTABLE_RE.fullmatch(sn):
            raise SubjectInvalid(
                f"serialNumber {sn!r} must be 1-{UB_SERIAL_NUMBER} PrintableString "
                "characters (X.520, RFC 5280 Appendix A)"
            )
        out.append(("serialNumber", sn))
    return out


def _rule_aws_registration_code(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """000 §7.1.4: CN=<AWS registration code>, the subject's only attribute."""
    cn = single_cn(csr_subject)
    if not _AWS_CODE_RE.fullmatch(cn):
        raise SubjectInvalid(
            f"CN {cn!r} is not an AWS registration code (1-64 characters [A-Za-z0-9]) (000 §7.1.4)"
        )
    return [("CN", cn)]


SUBJECT_RULES: dict[str, SubjectRule] = {
    "sa-device": _rule_sa_device,
    "aws-registration-code": _rule_aws_registration_code,
}
