"""RPKI CA certificates by the profile of RFC 6487 §4 (the mechanism; which
resources and URIs a CA gets is the CP/CPS's decision).

:func:`trust_anchor_certificate` makes a self-signed trust anchor: RSA-2048 with
PKCS#1 v1.5 SHA-256 (RFC 7935 §3), basicConstraints cA critical, keyUsage
keyCertSign + cRLSign critical, SKI, the RPKI policy 1.3.6.1.5.5.7.14.2 critical
(RFC 6487 §4.8.9), SIA with its repository, manifest and optional RRDP notification
(§4.8.8.1), explicit RFC 3779 resources, critical (§4.8.10, §4.8.11), and no AKI, CRL
distribution point or AIA (§4.8.3, §4.8.6, §4.8.7: a self-signed certificate has no
issuer to point at). :func:`rpki_ca_spec` is the same profile as a template spec.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from porthos import _native
from porthos._native import ResourceSet, SoftwareKey, Template
from porthos.exceptions import KeyMaterialError, ResourceError

__all__ = ["RPKI_NAME_STRINGS", "RPKI_POLICY_OID", "rpki_ca_spec", "trust_anchor_certificate"]

RPKI_POLICY_OID = "1.3.6.1.5.5.7.14.2"  # id-cp-ipAddr-asNumber, RFC 6484 §1.2
# RFC 6487 §4.4, §4.5: issuer and subject are a CommonName (and optionally a
# serialNumber, always PrintableString), the CommonName a PrintableString. The engine's
# default for CN is UTF8String, which rpki-client and FORT accept but the `rpki` crate
# (Routinator, Krill) refuses in strict mode.
RPKI_NAME_STRINGS = {"CN": "printable"}


def rpki_ca_spec(
    *,
    ca_repository: str,
    rpki_manifest: str,
    rpki_notify: str | None = None,
    self_signed: bool,
    crl_uri: str | None = None,
    ca_issuer_uri: str | None = None,
) -> dict[str, Any]:
    """Template spec of an RPKI CA certificate (RFC 6487 §4.8), resources as holes.
    A self-signed TA has no AKI/CDP/AIA; a subordinate CA needs its issuer's CRL and
    certificate URIs (rsync)."""
    sia: dict[str, Any] = {
        "type": "subject_info_access",
        "ca_repository": [ca_repository],
        "rpki_manifest": [rpki_manifest],
    }
    if rpki_notify:
        sia["rpki_notify"] = [rpki_notify]
    ext: list[dict[str, Any]] = [
        {"type": "basic_constraints", "ca": True},
        {"type": "subject_key_identifier"},
    ]
    if not self_signed:
        if not crl_uri or not ca_issuer_uri:
            raise ValueError("a subordinate RPKI CA needs crl_uri and ca_issuer_uri")
        ext += [
            {"type": "authority_key_identifier"},
            {"type": "crl_distribution_points", "uris": [crl_uri]},
            {"type": "authority_info_access", "ca_issuers": [ca_issuer_uri]},
        ]
    ext += [
        {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]},
        {"type": "certificate_policies", "critical": True, "policies": [{"oid": RPKI_POLICY_OID}]},
        sia,
        {"type": "ip_addr_blocks"},
        {"type": "as_identifiers"},
    ]
    return {"extensions": ext, "name_strings": RPKI_NAME_STRINGS}


def trust_anchor_certificate(
    key: SoftwareKey,
    *,
    common_name: str,
    resources: ResourceSet,
    serial: bytes,
    not_before: int,
    not_after: int,
    ca_repository: str,
    rpki_manifest: str,
    rpki_notify: str | None = None,
    extra_subject: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The self-signed TA certificate (DER). Explicit resources only: a TA has no
    issuer to inherit from (RFC 6487 §7.1), so an empty set is refused."""
    if key.key_type != "rsa-2048" or key.signature_algorithm != "rsa-pkcs1-sha256":
        raise KeyMaterialError(
            f"an RPKI TA key is RSA-2048 with rsa-pkcs1-sha256 (RFC 7935 §3), got "
            f"{key.key_type} {key.signature_algorithm}"
        )
    if resources.is_empty():
        raise ResourceError("a trust anchor needs explicit resources", token="")
    subject = [("CN", common_name), *extra_subject]
    name = _native.encode_name(subject, RPKI_NAME_STRINGS)
    spec = rpki_ca_spec(
        ca_repository=ca_repository,
        rpki_manifest=rpki_manifest,
        rpki_notify=rpki_notify,
        self_signed=True,
    )
    template = Template(
        json.dumps(spec), name, _native.key_identifier(key.public_key_der()), "rsa-pkcs1-sha256"
    )
    return template.issue(
        key,
        serials=[serial],
        not_before=[not_before],
        not_after=[not_after],
        subjects=[subject],
        spkis=[key.public_key_der()],
        ip_addr_blocks=[resources.ip_addr_blocks_der()],
        as_identifiers=[resources.as_identifiers_der()],
    )[0]
