"""The named subject and SAN rules of the Carillon PKI CP v1.13 (seeds/001, cited as
001 §x) that no generic rule covers; carillon.toml names them."""

from __future__ import annotations

from collections.abc import Sequence

from porthos.cpcps.san_rules import SanEntries, SanRule
from porthos.cpcps.subject_rules import (
    CN_OID,
    OU_OID,
    SERIAL_NUMBER_OID,
    UB_ORGANIZATIONAL_UNIT_NAME,
    SubjectInvalid,
    SubjectRule,
    has_control,
    is_fqdn,
    single_cn,
    uuid_cn,
    values_of,
)

#: 001 §3.1.1: an unaffiliated subscriber's DN carries this as its last OU.
UNAFFILIATED = "Unaffiliated"


def _affiliation(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """001 §3.1.1, §1.3.3.1: the OUs of the request (the affiliated organisation and its
    units, most general first), or ou=Unaffiliated, which must then be the last OU."""
    ous = values_of(csr_subject, OU_OID)
    for k, ou in enumerate(ous):
        if not ou or len(ou) > UB_ORGANIZATIONAL_UNIT_NAME or has_control(ou):
            raise SubjectInvalid(
                f"OU {ou!r} must be 1-{UB_ORGANIZATIONAL_UNIT_NAME} characters without "
                "control characters (RFC 5280 Appendix A)"
            )
        if ou == UNAFFILIATED and k != len(ous) - 1:
            raise SubjectInvalid("ou=Unaffiliated must be the last OU (001 §3.1.1)")
    return [("OU", ou) for ou in ous]


def _rule_person(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """001 §3.1.2: a person's CN is "Given-Name Surname"; the OUs carry the affiliation
    (§3.1.1). DER order: OUs, then CN."""
    cn = single_cn(csr_subject)
    given, _, surname = cn.strip().partition(" ")
    if has_control(cn) or not given or not surname.strip() or cn != cn.strip():
        raise SubjectInvalid(
            f"CN {cn!r} is not 'Given-Name Surname' (001 §3.1.2: meaningful names of people)"
        )
    return [*_affiliation(csr_subject), ("CN", cn)]


def _rule_named(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """001 §3.1.2, §7.1.4: a role title, a code signer, a CMS: OUs, then one CN."""
    cn = single_cn(csr_subject)
    if not cn.strip() or has_control(cn):
        raise SubjectInvalid(f"CN {cn!r} is empty or has control characters (001 §3.1.2)")
    return [*_affiliation(csr_subject), ("CN", cn)]


def _rule_card_uuid(csr_subject: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """001 §10.2.14, §3.1.1: card authentication: no CN, serialNumber = the card's UUID
    in RFC 4122 §3 string form "with applicable DN prefix"."""
    if values_of(csr_subject, CN_OID):
        raise SubjectInvalid("a card authentication subject has no CN (001 §10.2.14, §3.1.1)")
    serials = values_of(csr_subject, SERIAL_NUMBER_OID)
    if len(serials) != 1:
        raise SubjectInvalid(
            f"CSR subject has {len(serials)} serialNumbers; exactly one, the card UUID, "
            "is required (001 §10.2.14)"
        )
    return [*_affiliation(csr_subject), ("serialNumber", uuid_cn(serials[0]))]


def _one(subject: Sequence[tuple[str, str]], attr: str, rule: str) -> str:
    values = [v for a, v in subject if a == attr]
    if len(values) != 1:
        raise SubjectInvalid(f"subject has {len(values)} {attr}; SAN rule {rule} needs one")
    return values[0]


def _san_urn_uuid(subject: Sequence[tuple[str, str]]) -> SanEntries:
    """001 §10.2.14, §10 preamble: URI urn:uuid:<the card UUID> (RFC 4122 §3, hyphenated
    lower case: the reading of the ambiguous "32 character hex", extract §20.13)."""
    return [("uri", f"urn:uuid:{uuid_cn(_one(subject, 'serialNumber', 'urn-uuid'))}")]


def _san_http_url(subject: Sequence[tuple[str, str]]) -> SanEntries:
    """001 §10.1.5-8: the HTTP URL of the OCSP responder, SCVP server or TSA, whose CN
    is its host name."""
    cn = _one(subject, "CN", "http-url-from-cn")
    why = is_fqdn(cn)
    if why is not None:
        raise SubjectInvalid(f"CN {cn!r} is not a host name: {why} (001 §10.1.5)")
    return [("uri", f"http://{cn}/")]


SUBJECT_RULES: dict[str, SubjectRule] = {
    "person": _rule_person,
    "named": _rule_named,
    "card-uuid": _rule_card_uuid,
}

SAN_RULES: dict[str, SanRule] = {
    "urn-uuid": _san_urn_uuid,
    "http-url-from-cn": _san_http_url,
}
