"""Subject alternative name rules: where the values of a profile's SAN come from. A
rule is a named function (``{ type = "subject_alt_name", rule = "dns-from-cn" }`` in a
profile's extensions) that takes the certificate subject the subject rule built and
returns the SAN entries, (kind, value) with a kind of issuance/item_data.SAN_KINDS (the
per-item ``sans`` of docs/template-spec.md), or raises SubjectInvalid. The generic rules live
here; a CP/CPS adds its own in ``cpcps/<pki>/rules.py`` (a ``SAN_RULES`` mapping), found
by its name as the subject rules are."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from porthos.cpcps.subject_rules import SubjectInvalid, is_fqdn

__all__ = ["GENERIC_SAN_RULES", "SanEntries", "SanRule", "san_rules_for"]

SanEntries = list[tuple[str, str]]
#: The certificate subject (short attribute names, most general first) -> SAN entries.
SanRule = Callable[[Sequence[tuple[str, str]]], SanEntries]


def _rule_dns_from_cn(subject: Sequence[tuple[str, str]]) -> SanEntries:
    """One dNSName, the subject's CN (RFC 5280 §4.2.1.6; a TLS client matches the host
    name against the SAN, not the CN: RFC 6125 §6.4.4). The CN must be a host name."""
    cns = [value for attr, value in subject if attr == "CN"]
    if len(cns) != 1:
        raise SubjectInvalid(
            f"subject has {len(cns)} CNs; the SAN rule dns-from-cn needs exactly one"
        )
    why = is_fqdn(cns[0])
    if why is not None:
        raise SubjectInvalid(f"CN {cns[0]!r} cannot be a dNSName: {why} (RFC 5280 §4.2.1.6)")
    return [("dns", cns[0])]


# The named SAN rules any CP/CPS may use; a PKI adds its own in cpcps/<pki>/rules.py
# (SAN_RULES there), and the loader refuses any other name.
GENERIC_SAN_RULES: dict[str, SanRule] = {
    "dns-from-cn": _rule_dns_from_cn,
}


def san_rules_for(cpcps_name: str) -> Mapping[str, SanRule]:
    """The SAN rules a CP/CPS named ``cpcps_name`` may name: the generic ones plus the
    ``SAN_RULES`` of its folder (``porthos.cpcps.<name>.rules``), if it has any."""
    rules = dict(GENERIC_SAN_RULES)
    try:
        module = importlib.import_module(f"porthos.cpcps.{cpcps_name.replace('-', '_')}.rules")
    except ModuleNotFoundError:
        return MappingProxyType(rules)
    rules.update(getattr(module, "SAN_RULES", {}))
    return MappingProxyType(rules)
