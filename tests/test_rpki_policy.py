"""The RPKI CP/CPS data (cpcps/rpki/rpki.toml): RFC 7935's one key type and one
signature algorithm are data there, refused at load when they say anything else, and
what the CA issues follows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from porthos.cpcps.rpki.policy import load_rpki_policy, rpki_policy_text
from porthos.exceptions import ProfileError
from porthos.workspace.rpki_ca import RpkiWorkspace
from porthos.workspace.rpki_publish import publish

NOW = 1_900_000_000
SHA256_RSA = x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256


def _replaced(old: str, new: str, section: str = "[algorithms]") -> str:
    """The bundled policy with the first ``old`` after ``section`` made ``new``."""
    text = rpki_policy_text()
    head, sep, tail = text.partition(section)
    assert sep == section and old in tail
    return head + sep + tail.replace(old, new, 1)


REFUSED = {
    "ECDSA signatures": (
        _replaced(
            'signature_algorithm = "rsa-pkcs1-sha256"', 'signature_algorithm = "ecdsa-sha256"'
        ),
        "algorithms.signature_algorithm: the RPKI signs with rsa-pkcs1-sha256",
    ),
    "RSA-PSS signatures": (
        _replaced(
            'signature_algorithm = "rsa-pkcs1-sha256"', 'signature_algorithm = "rsa-pss-sha256"'
        ),
        "algorithms.signature_algorithm: the RPKI signs with rsa-pkcs1-sha256",
    ),
    "no signature algorithm in [algorithms]": (
        _replaced('signature_algorithm = "rsa-pkcs1-sha256"', ""),
        "algorithms.signature_algorithm: missing",
    ),
    "an RSA-3072 trust anchor": (
        _replaced('key_type = "rsa-2048"', 'key_type = "rsa-3072"', "[trust_anchor]"),
        "trust_anchor.key_type: the RPKI uses rsa-2048 only (RFC 7935 §3)",
    ),
    "EC child CAs": (
        _replaced('key_type = "rsa-2048"', 'key_type = "ec-p256"', "[child_ca]"),
        "child_ca.key_type: the RPKI uses rsa-2048 only (RFC 7935 §3)",
    ),
    "EC one-time EE keys": (
        _replaced('key_type = "rsa-2048"', 'key_type = "ec-p256"', "[ee]"),
        "ee.key_type: the RPKI uses rsa-2048 only (RFC 7935 §3)",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_anything_but_rfc7935_is_refused_at_load(case: str) -> None:
    text, message = REFUSED[case]
    with pytest.raises(ProfileError) as info:
        load_rpki_policy(text=text)
    assert str(info.value).startswith(message), info.value
    assert info.value.code == ProfileError.code


def test_bundled_policy_names_rfc7935_algorithms() -> None:
    policy = load_rpki_policy()
    assert (policy.ta_key_type, policy.child_key_type, policy.signature_algorithm) == (
        "rsa-2048",
        "rsa-2048",
        "rsa-pkcs1-sha256",
    )


def test_a_policy_copy_without_algorithms_means_rfc7935() -> None:
    """Workspaces made before [algorithms] existed keep their copy of the policy: it
    loads, with the one value RFC 7935 allows."""
    text = rpki_policy_text()
    start = text.index("[algorithms]")
    older = text[:start] + text[text.index("[trust_anchor]") :]
    assert "signature_algorithm" not in older
    assert load_rpki_policy(text=older).signature_algorithm == "rsa-pkcs1-sha256"


def test_issued_artefacts_carry_the_policy_algorithms(tmp_path: Path) -> None:
    ws = RpkiWorkspace.init(tmp_path / "w", "AS64496, 192.0.2.0/24", now=NOW)
    try:
        key, csr = ws.hosted_csr("kid")
        ws.add_child(csr, "AS64496", name="kid", hosted_key=key, now=NOW)
        publish(ws, now=NOW)
        repo = ws.host_dir / ws.policy.module
        ta = x509.load_der_x509_certificate((repo / "ta.cer").read_bytes())
        kid = x509.load_der_x509_certificate((repo / "ta" / "kid.cer").read_bytes())
        crl = x509.load_der_x509_crl((repo / "ta" / "ta.crl").read_bytes())
        for cert in (ta, kid):
            public = cert.public_key()
            assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
        assert {ta.signature_algorithm_oid, kid.signature_algorithm_oid} == {SHA256_RSA}
        assert crl.signature_algorithm_oid == SHA256_RSA
    finally:
        ws.close()
