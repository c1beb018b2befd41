"""A CA's certificate request: one PKCS#10 CSR from a CA outside the workspace (a
cross-certification partner), read and judged against limits the caller gives.

Rust parses and verifies the proof of possession (``_native.parse_csrs``, RFC 2986
§3); pyca reads the extensionRequest values (one request, not a batch). What the
request *asks for* is compared with what the caller allows:

* basicConstraints pathLenConstraint (RFC 5280 §4.2.1.9): a request asking for a
  larger one than allowed is refused; one that asks for none asks for nothing;
* nameConstraints permittedSubtrees (RFC 5280 §4.2.1.10): when the request carries
  the extension, every name form the caller constrains must be constrained in the
  request too ("missing" otherwise), each requested subtree within an allowed one
  ("wider" otherwise). Excluded subtrees only narrow, and are not compared;
* subjectKeyIdentifier (RFC 5280 §4.2.1.2): handed back so the certificate can repeat
  it, and so are the string types of the request's subject (a certificate naming the
  CA should encode its name as the CA does).

No workspace, no CP/CPS: the limits come in as plain values (subtrees in the
``{kind: value}`` form of cpcps/ca_constraints.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from porthos import _native
from porthos.exceptions import CaRequestError, EncodeError, PolicyError
from porthos.issuance.csr_input import normalise_csr_input
from porthos.status import CsrStatus

__all__ = [
    "CaRequest",
    "Subtree",
    "check_name_space",
    "check_eku",
    "check_path_len",
    "read_ca_request",
]

#: Longest requested key identifier repeated (the template spec's limit).
MAX_KEY_ID = 64

#: One subtree: (kind, value) with kind in directory_name | dns | rfc822 | uri | ip;
#: a directory_name value is a tuple of (dotted OID, value) pairs, DER order.
Subtree = tuple[str, Any]


@dataclass(frozen=True)
class CaRequest:
    """What a verified CA request says and asks for."""

    der: bytes
    #: (dotted OID, value) per attribute, DER order (most general first).
    subject: list[tuple[str, str]]
    spki: bytes
    key_type: int
    key_bits: int
    #: The requested subjectKeyIdentifier, or None.
    key_id: bytes | None
    #: True when the request carries a basicConstraints extension.
    asks_basic_constraints: bool
    #: Its cA flag and pathLenConstraint (None: absent).
    asks_ca: bool
    asks_path_len: int | None
    #: The requested permitted subtrees; None when no nameConstraints is requested.
    asks_permitted: list[Subtree] | None
    #: The string type of each subject attribute (dotted OID -> name_strings kind) that
    #: makes porthos's encoding of ``subject`` equal the request's own DER; None when
    #: none does (another string type, a multi-valued RDN) or the subject is empty.
    subject_strings: dict[str, str] | None = None
    #: The requested extendedKeyUsage purposes (dotted OIDs); None when not requested.
    asks_eku: tuple[str, ...] | None = None


def _subtree(name: x509.GeneralName) -> Subtree | None:
    """A GeneralName of a requested subtree in the (kind, value) form; None for forms
    porthos does not compare (otherName, registeredID, ...)."""
    if isinstance(name, x509.DNSName):
        return ("dns", name.value)
    if isinstance(name, x509.RFC822Name):
        return ("rfc822", name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return ("uri", name.value)
    if isinstance(name, x509.IPAddress):
        return ("ip", name.value)
    if isinstance(name, x509.DirectoryName):
        pairs = tuple((a.oid.dotted_string, str(a.value)) for a in name.value)
        return ("directory_name", pairs)
    return None


#: The string types porthos encodes (cpcps/name_strings.py), tried in this order.
_KINDS = ("printable", "utf8", "ia5")


def _subject_strings(name: x509.Name, subject: list[tuple[str, str]]) -> dict[str, str] | None:
    """The name_strings under which porthos re-encodes ``name`` byte for byte, found by
    encoding each attribute alone (RFC 5280 §7.1: relying parties such as pyca compare
    names as encoded, so a certificate naming this CA must repeat its string types)."""
    if not subject:
        return None
    out: dict[str, str] = {}
    for attr in name:
        oid = attr.oid.dotted_string
        want = x509.Name([attr]).public_bytes()
        for kind in _KINDS:
            try:
                got = _native.encode_name([(oid, str(attr.value))], {oid: kind})
            except EncodeError:
                continue
            if got == want:
                if out.setdefault(oid, kind) != kind:
                    return None  # one attribute type in two string types
                break
        else:
            return None
    try:
        same = _native.encode_name(subject, out) == name.public_bytes()
    except EncodeError:
        return None
    return out if same else None


def read_ca_request(data: bytes | str) -> CaRequest:
    """Exactly one CSR (PEM or DER), its proof of possession verified; CaRequestError
    otherwise."""
    items = normalise_csr_input(data)
    if len(items) != 1:
        raise CaRequestError(f"expected one certificate request, found {len(items)}")
    item = items[0]
    if item.der is None:
        raise CaRequestError(f"the certificate request cannot be read: {item.error}")
    batch = _native.parse_csrs([item.der], verify=True)
    status = int(batch.status[0])
    if status != CsrStatus.OK:
        raise CaRequestError(
            f"the certificate request is refused ({CsrStatus(status).name}): "
            f"{batch.detail(0)} (RFC 2986 §3: proof of possession)"
        )
    try:
        csr = x509.load_der_x509_csr(item.der)
        exts = csr.extensions
    except ValueError as exc:  # an extension value pyca cannot read
        raise CaRequestError(f"the request's extensionRequest cannot be read: {exc}") from None
    subject = batch.subject(0)
    key_id = None
    ca, path_len, has_bc, permitted = False, None, False, None
    eku: tuple[str, ...] | None = None
    for ext in exts:
        value = ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            key_id = value.digest
            if not 1 <= len(key_id) <= MAX_KEY_ID:
                # The template takes 1..64 octets; ids are short hashes (RFC 5280 §4.2.1.2).
                raise CaRequestError(
                    f"the request's subjectKeyIdentifier has {len(key_id)} octets; "
                    f"expected 1..{MAX_KEY_ID}"
                )
        elif isinstance(value, x509.BasicConstraints):
            has_bc, ca, path_len = True, value.ca, value.path_length
        elif isinstance(value, x509.ExtendedKeyUsage):
            eku = tuple(oid.dotted_string for oid in value)
        elif isinstance(value, x509.NameConstraints):
            permitted = []
            for name in value.permitted_subtrees or ():
                tree = _subtree(name)
                if tree is None:
                    raise PolicyError(
                        f"the request's nameConstraints permits a {type(name).__name__}, "
                        "a name form porthos does not compare (RFC 5280 §4.2.1.10)"
                    )
                permitted.append(tree)
    return CaRequest(
        der=item.der,
        subject=subject,
        spki=batch.spki(0),
        key_type=int(batch.key_type[0]),
        key_bits=int(batch.key_bits[0]),
        key_id=key_id,
        asks_basic_constraints=has_bc,
        asks_ca=ca,
        asks_path_len=path_len,
        asks_permitted=permitted,
        subject_strings=_subject_strings(csr.subject, subject),
        asks_eku=eku,
    )


def check_eku(request: CaRequest, allowed: Sequence[str] | None, where: str) -> None:
    """Refuse a request whose extendedKeyUsage asks for a purpose beyond ``allowed``
    (the profile's EKU purposes; None: the profile sets no EKU, so none is beyond it).
    The certificate carries the profile's EKU, never the request's (CA/B Forum BR
    §7.1.2.10.6: an issuing CA's purposes are the issuer's decision)."""
    if request.asks_eku is None or allowed is None:
        return
    beyond = [p for p in request.asks_eku if p not in allowed]
    if beyond:
        raise PolicyError(
            f"the request asks for extendedKeyUsage {', '.join(beyond)}; {where} allows "
            f"only {', '.join(allowed)} (RFC 5280 §4.2.1.12)"
        )


def check_path_len(request: CaRequest, limit: int | None, where: str) -> None:
    """Refuse a request that asks for cA = FALSE or a larger pathLenConstraint than
    ``limit`` (None: any); ``where`` names the rule for the message."""
    if request.asks_basic_constraints and not request.asks_ca:
        raise PolicyError(
            f"the request asks for basicConstraints cA = FALSE; {where} issues a CA "
            "certificate (RFC 5280 §4.2.1.9)"
        )
    asked = request.asks_path_len
    if asked is not None and limit is not None and asked > limit:
        raise PolicyError(
            f"the request asks for pathLenConstraint {asked}; {where} allows at most "
            f"{limit} (RFC 5280 §4.2.1.9)"
        )


def _fold(text: str) -> str:
    # RFC 5280 §7.1 compares names after case folding and space collapsing (a
    # simplification of the LDAP StringPrep it cites; enough to compare subtrees).
    return " ".join(text.casefold().split())


def _domain_within(value: str, allowed: str) -> bool:
    """DNS-style containment: equal, or more labels on the left (RFC 5280 §4.2.1.10);
    an ``allowed`` with a leading '.' takes only names strictly below it."""
    value, allowed = value.casefold().rstrip("."), allowed.casefold().rstrip(".")
    if allowed.startswith("."):
        return value.endswith(allowed)
    return value == allowed or value.endswith("." + allowed)


def _within(kind: str, value: Any, allowed: Any) -> bool:
    if kind == "directory_name":
        # A directoryName subtree holds every name it is a prefix of (RDN by RDN).
        return len(value) >= len(allowed) and all(
            a[0] == b[0] and _fold(a[1]) == _fold(b[1])
            for a, b in zip(value, allowed, strict=False)
        )
    if kind == "ip":
        v, a = ipaddress.ip_network(value), ipaddress.ip_network(allowed)
        return v.version == a.version and v.subnet_of(a)  # type: ignore[arg-type]
    if kind == "rfc822":
        # A mailbox, a host (its mailboxes) or ".domain" (hosts below it).
        if "@" in allowed:
            return bool(_fold(value) == _fold(allowed))
        host = value.rpartition("@")[2]
        if allowed.startswith("."):
            return _domain_within(host, allowed) or _domain_within(value, allowed)
        return bool(host.casefold() == allowed.casefold())
    if kind == "uri":
        if allowed.startswith("."):
            return _domain_within(value, allowed)
        return bool(value.casefold() == allowed.casefold())
    return _domain_within(value, allowed)  # dns


def check_name_space(request: CaRequest, permitted: Sequence[Subtree], where: str) -> None:
    """Refuse a request whose nameConstraints asks for a wider permitted name space
    than ``permitted`` (the subtrees the certificate will carry), or leaves a name form
    of ``permitted`` unconstrained. A request without nameConstraints asks for
    nothing: the certificate carries ``permitted``."""
    asked = request.asks_permitted
    if asked is None or not permitted:
        return
    for kind in dict.fromkeys(k for k, _ in permitted):
        mine = [v for k, v in permitted if k == kind]
        theirs = [v for k, v in asked if k == kind]
        if not theirs:
            raise PolicyError(
                f"the request's nameConstraints has no permitted {kind} subtree, so it "
                f"asks for every {kind} name; {where} permits only {_show(kind, mine)} "
                "(RFC 5280 §4.2.1.10)"
            )
        for v in theirs:
            if not any(_within(kind, v, a) for a in mine):
                raise PolicyError(
                    f"the request permits {kind} {_show(kind, [v])}, wider than "
                    f"{_show(kind, mine)} that {where} permits (RFC 5280 §4.2.1.10)"
                )


def _show(kind: str, values: Sequence[Any]) -> str:
    if kind == "directory_name":
        return "; ".join(",".join(f"{a}={v}" for a, v in value) for value in values)
    return ", ".join(str(v) for v in values)
