"""The RPKI trust anchor certificate (issue 18 §2, RFC 6487 §4) and its TAL."""

from __future__ import annotations

import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from error_codes import raises_code
from porthos._native import SoftwareKey
from porthos.exceptions import KeyMaterialError, ResourceError
from porthos.issuance.rpki_certs import RPKI_POLICY_OID, trust_anchor_certificate
from porthos.issuance.rpki_resources import parse_resources
from porthos.issuance.rpki_tal import parse_tal, tal_text

NOW = int(time.time())
REPO = "rsync://rpki.example.net/repo/ta/"
IP = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")
AS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.8")


@pytest.fixture(scope="module")
def ta() -> tuple[SoftwareKey, bytes]:
    key = SoftwareKey.generate("rsa-2048")
    der = trust_anchor_certificate(
        key,
        common_name="porthos test TA",
        resources=parse_resources("AS0-4294967295, 0.0.0.0/0, ::/0"),
        serial=b"\x01",
        not_before=NOW - 60,
        not_after=NOW + 86400,
        ca_repository=REPO,
        rpki_manifest=REPO + "ta.mft",
        rpki_notify="https://rpki.example.net/rrdp/notification.xml",
    )
    return key, der


def test_trust_anchor_profile(ta, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, der = ta
    cert = x509.load_der_x509_certificate(der)
    pub = cert.public_key()
    pub.verify(  # type: ignore[union-attr, call-arg]
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    ext = cert.extensions
    oids = [e.oid for e in ext]
    for absent in (
        x509.AuthorityKeyIdentifier,
        x509.CRLDistributionPoints,
        x509.AuthorityInformationAccess,
    ):
        assert absent.oid not in oids
    pol = ext.get_extension_for_class(x509.CertificatePolicies)
    assert pol.critical and [p.policy_identifier.dotted_string for p in pol.value] == [
        RPKI_POLICY_OID
    ]
    assert ext.get_extension_for_oid(IP).critical and ext.get_extension_for_oid(AS).critical
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    sia = ext.get_extension_for_class(x509.SubjectInformationAccess).value
    assert [d.access_location.value for d in sia] == [
        REPO,
        REPO + "ta.mft",
        "https://rpki.example.net/rrdp/notification.xml",
    ]
    pem = tmp_path / "ta.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", str(pem), str(pem)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(pem), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IPv4:" in text and "0.0.0.0/0" in text and "0-4294967295" in text
    # The TAL pins the TA's key.
    tal = parse_tal(
        tal_text(
            ["rsync://rpki.example.net/ta.cer"],
            pub.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    )
    assert tal.spki_der == pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_trust_anchor_refusals() -> None:
    args = dict(
        common_name="x",
        serial=b"\x01",
        not_before=NOW,
        not_after=NOW + 1,
        ca_repository=REPO,
        rpki_manifest=REPO + "ta.mft",
    )
    with raises_code(KeyMaterialError, "key"):
        trust_anchor_certificate(
            SoftwareKey.generate("ec-p256"), resources=parse_resources("AS1"), **args
        )  # type: ignore[arg-type]
    with raises_code(ResourceError, "rpki-resources"):
        trust_anchor_certificate(
            SoftwareKey.generate("rsa-2048"), resources=parse_resources(""), **args
        )  # type: ignore[arg-type]
