"""The CA-certificate constraint extensions of a profile: nameConstraints,
policyMappings, policyConstraints and inhibitAnyPolicy (RFC 5280 §4.2.1.10, §4.2.1.5,
§4.2.1.11, §4.2.1.14), validated at load into the template spec entries of
docs/template-spec.md. Each appears only in a CA certificate (the loader checks
``basic_constraints ca = true`` in the same list, CA_ONLY below).

TOML forms (docs/cpcps.md):

* ``{ type = "name_constraints", critical = true, permitted = [ SUBTREE, ... ],
  excluded = [ SUBTREE, ... ], permitted_subject_rdns = N }`` with SUBTREE one of
  ``{ directory_name = [["C", "US"], ["O", "XYZ Inc"]] }``, ``{ dns = "example.com" }``,
  ``{ rfc822 = "example.com" }``, ``{ uri = ".example.com" }``, ``{ ip = "10.0.0.0/8" }``;
  ``permitted_subject_rdns = N`` adds a permitted directoryName equal to the first N
  (most general, DER order) RDNs of the certified CA's own subject, resolved when the
  template spec is written (profiles.spec_json).
* ``{ type = "policy_mappings", critical = false, mappings = [[issuer OID, subject
  OID], ...] }``
* ``{ type = "policy_constraints", critical = true, require_explicit_policy = N,
  inhibit_policy_mapping = N }`` (at least one of the two)
* ``{ type = "inhibit_any_policy", critical = true, skip_certs = N }``

Criticality is data: RFC 5280 wants these critical (policyMappings: SHOULD), but a CP
may say otherwise (bridge-certified PKIs mark some non-critical for interoperability),
so ``critical`` is accepted either way; the defaults follow RFC 5280 (true).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from porthos.cpcps.fields import as_list, as_name, as_oid, as_table, as_text, fail, join

__all__ = ["CA_ONLY", "KEYS", "OIDS", "SUBTREE_KINDS", "ca_constraint", "subtree"]

#: Allowed keys per type (besides "type").
KEYS: dict[str, frozenset[str]] = {
    "name_constraints": frozenset({"critical", "permitted", "excluded", "permitted_subject_rdns"}),
    "policy_mappings": frozenset({"critical", "mappings"}),
    "policy_constraints": frozenset(
        {"critical", "require_explicit_policy", "inhibit_policy_mapping"}
    ),
    "inhibit_any_policy": frozenset({"critical", "skip_certs"}),
}
#: Their extension OIDs (a raw entry may not smuggle one in).
OIDS = frozenset({"2.5.29.30", "2.5.29.33", "2.5.29.36", "2.5.29.54"})
#: RFC 5280 §4.2.1.5, §4.2.1.10, §4.2.1.11, §4.2.1.14: "used in certificates issued to
#: CAs" / "MUST be used only in a CA certificate".
CA_ONLY = frozenset(KEYS)
ANY_POLICY = "2.5.29.32.0"
#: The GeneralName forms a subtree may name (RFC 5280 §4.2.1.10).
SUBTREE_KINDS = ("directory_name", "dns", "rfc822", "uri", "ip")
# An RFC 1034 letter-digit-hyphen label.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# RFC 5321 §4.1.2 Local-part (dot-string of atext), the only form porthos encodes.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _domain(text: str, path: str, *, leading_dot: bool) -> str:
    """A domain constraint: LDH labels, optionally one leading '.' (RFC 5280 §4.2.1.10:
    for rfc822 and URI a leading period means "any host in the domain")."""
    body = text[1:] if leading_dot and text.startswith(".") else text
    labels = body.split(".")
    if len(body) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise fail(path, f"not a domain name of letter-digit-hyphen labels: {text!r}")
    return text


def _dns(value: Any, path: str) -> str:
    # RFC 5280 §4.2.1.10: "any DNS name that can be constructed by simply adding zero or
    # more labels to the left-hand side of the name satisfies the name constraint".
    return _domain(as_text(value, path), path, leading_dot=False)


def _rfc822(value: Any, path: str) -> str:
    # RFC 5280 §4.2.1.10: a mailbox, a host (all mailboxes there) or ".domain".
    text = as_text(value, path)
    if "@" in text:
        local, _, host = text.partition("@")
        if not _LOCAL.fullmatch(local):
            raise fail(path, f"not a mailbox (RFC 5321 §4.1.2): {text!r}")
        _domain(host, path, leading_dot=False)
        return text
    return _domain(text, path, leading_dot=True)


def _uri(value: Any, path: str) -> str:
    # RFC 5280 §4.2.1.10: the constraint is a host or ".domain", never a URI.
    return _domain(as_text(value, path), path, leading_dot=True)


def _ip(value: Any, path: str) -> str:
    # RFC 5280 §4.2.1.10: address and mask (CIDR here); host bits must be zero.
    text = as_text(value, path)
    if "/" not in text:
        raise fail(path, f"expected an address range in CIDR form (10.0.0.0/8), got {text!r}")
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        raise fail(path, f"not a CIDR range: {exc}") from None


_SUBTREE_READERS: dict[str, Callable[[Any, str], Any]] = {
    "dns": _dns,
    "rfc822": _rfc822,
    "uri": _uri,
    "ip": _ip,
}


def subtree(value: Any, path: str) -> dict[str, Any]:
    """One GeneralSubtree: a table with exactly one key of SUBTREE_KINDS."""
    table = as_table(value, path)
    if len(table) != 1 or next(iter(table)) not in SUBTREE_KINDS:
        raise fail(path, f"expected exactly one of {', '.join(SUBTREE_KINDS)}")
    kind, raw = next(iter(table.items()))
    p = join(path, kind)
    if kind == "directory_name":
        name = as_name(raw, p)
        if not name:
            raise fail(p, "an empty directoryName would permit or exclude every name")
        return {kind: [list(pair) for pair in name]}
    return {kind: _SUBTREE_READERS[kind](raw, p)}


def _count(value: Any, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 2**31:
        raise fail(path, f"expected an integer >= {minimum}, got {value!r}")
    return value


def ca_constraint(type_: str, ext: dict[str, Any], path: str) -> dict[str, Any]:
    """The clean entry of one of the four types (``critical`` is read by the caller)."""
    clean: dict[str, Any] = {}
    if type_ == "name_constraints":
        for key in ("permitted", "excluded"):
            kp = join(path, key)
            items = as_list(ext.get(key, []), kp)
            clean[key] = [subtree(item, f"{kp}[{j}]") for j, item in enumerate(items)]
        if "permitted_subject_rdns" in ext:
            clean["permitted_subject_rdns"] = _count(
                ext["permitted_subject_rdns"], join(path, "permitted_subject_rdns"), minimum=1
            )
        if (
            not clean["permitted"]
            and not clean["excluded"]
            and "permitted_subject_rdns" not in clean
        ):
            # RFC 5280 §4.2.1.10: "either the permittedSubtrees or excludedSubtrees MUST
            # be present".
            raise fail(
                path, "name_constraints needs permitted, excluded or permitted_subject_rdns"
            )
    elif type_ == "policy_mappings":
        kp = join(path, "mappings")
        if "mappings" not in ext:
            raise fail(kp, "missing")
        pairs: list[list[str]] = []
        for j, item in enumerate(as_list(ext["mappings"], kp)):
            mp = f"{kp}[{j}]"
            pair = as_list(item, mp)
            if len(pair) != 2:
                raise fail(mp, "expected [issuerDomainPolicy, subjectDomainPolicy]")
            oids = [as_oid(pair[0], f"{mp}[0]"), as_oid(pair[1], f"{mp}[1]")]
            for k, oid in enumerate(oids):
                if oid == ANY_POLICY:
                    # RFC 5280 §4.2.1.5: "Policies MUST NOT be mapped either to or
                    # from the special value anyPolicy".
                    raise fail(f"{mp}[{k}]", "anyPolicy cannot be mapped (RFC 5280 §4.2.1.5)")
            if oids in pairs:
                raise fail(mp, f"duplicate mapping {oids[0]} -> {oids[1]}")
            pairs.append(oids)
        if not pairs:
            raise fail(kp, "at least one mapping required (RFC 5280 §4.2.1.5: SIZE (1..MAX))")
        clean["mappings"] = pairs
    elif type_ == "policy_constraints":
        for key in ("require_explicit_policy", "inhibit_policy_mapping"):
            if key in ext:
                clean[key] = _count(ext[key], join(path, key))
        if not clean:
            # RFC 5280 §4.2.1.11: "Conforming CAs MUST NOT issue certificates where
            # policy constraints is an empty sequence."
            raise fail(path, "policy_constraints needs require_explicit_policy or "
                       "inhibit_policy_mapping (RFC 5280 §4.2.1.11)")  # fmt: skip
    elif type_ == "inhibit_any_policy":
        kp = join(path, "skip_certs")
        if "skip_certs" not in ext:
            raise fail(kp, "missing")
        clean["skip_certs"] = _count(ext["skip_certs"], kp)
    return clean
