"""RFC 6487 §4.4/§4.5: an RPKI certificate's CommonName is a PrintableString (the
`rpki` crate refuses UTF8String in strict mode, rust/porthos-core/tests/rpki_crate.rs),
in the TA and in every certificate its CA profile issues."""

from __future__ import annotations

import json
import time

import pytest
from cryptography import x509
from porthos._native import SoftwareKey, Template
from porthos.exceptions import EncodeError
from porthos.issuance.rpki_certs import rpki_ca_spec, trust_anchor_certificate
from porthos.issuance.rpki_resources import parse_resources

BASE = "rsync://rpki.example.net/repo/ta/"
PRINTABLE = x509.name._ASN1Type.PrintableString


def _cn_type(der: bytes, which: str) -> object:
    cert = x509.load_der_x509_certificate(der)
    name = cert.subject if which == "subject" else cert.issuer
    (attr,) = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return attr._type


def test_ta_and_child_names_are_printable() -> None:
    now = int(time.time())
    key = SoftwareKey.generate("rsa-2048")
    res = parse_resources("AS64496, 192.0.2.0/24")
    ta = trust_anchor_certificate(
        key, common_name="porthos TA 1", resources=res, serial=b"\x01", not_before=now,
        not_after=now + 86400, ca_repository=BASE, rpki_manifest=BASE + "ta.mft",
    )  # fmt: skip
    assert _cn_type(ta, "subject") == _cn_type(ta, "issuer") == PRINTABLE
    spec = rpki_ca_spec(
        ca_repository=BASE + "c/", rpki_manifest=BASE + "c/c.mft", self_signed=False,
        crl_uri=BASE + "ta.crl", ca_issuer_uri="rsync://rpki.example.net/ta.cer",
    )  # fmt: skip
    child = SoftwareKey.generate("rsa-2048")
    t = Template.for_issuer(json.dumps(spec), ta, "rsa-pkcs1-sha256")
    der = t.issue(
        key, serials=[b"\x02"], not_before=[now], not_after=[now + 60],
        subjects=[[("CN", "child-1")]], spkis=[child.public_key_der()],
        ip_addr_blocks=[res.ip_addr_blocks_der()], as_identifiers=[res.as_identifiers_der()],
    )[0]  # fmt: skip
    assert _cn_type(der, "subject") == _cn_type(der, "issuer") == PRINTABLE
    # A name outside PrintableString's alphabet is refused, not silently re-typed.
    with pytest.raises(EncodeError):
        t.issue(
            key, serials=[b"\x03"], not_before=[now], not_after=[now + 60],
            subjects=[[("CN", "child_é")]], spkis=[child.public_key_der()],
            ip_addr_blocks=[res.ip_addr_blocks_der()], as_identifiers=[res.as_identifiers_der()],
        )  # fmt: skip
