"""The three SECOM roots porthos makes from cpcps/secom/secom.toml against the real
certificates Debian ships (ca-certificates, mozilla/): every field and extension the
same (OIDs, order, criticality, values, DN string types, algorithms, key size, the
validity span) except what is the key's or the moment's: key, SKI, serial, dates,
signature (issue 21 §7 golden structure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from porthos.workspace.workspace import Workspace

MOZILLA = Path("/usr/share/ca-certificates/mozilla")
REAL = {
    "secom-rootca2": "Security_Communication_RootCA2.crt",
    "secom-rootca3": "Security_Communication_RootCA3.crt",
    "secom-ecc-rootca1": "Security_Communication_ECC_RootCA1.crt",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.init(tmp_path_factory.mktemp("secom") / "w", profile_set="secom")


def _real(name: str) -> x509.Certificate:
    path = MOZILLA / REAL[name]
    if not path.is_file():
        pytest.fail(f"{path} missing: the ca-certificates package is in DEB_PACKAGES")
    return x509.load_pem_x509_certificate(path.read_bytes())


def _rdns(cert: x509.Certificate, which: str) -> list[tuple[str, str, int]]:
    name = getattr(cert, which)
    return [(a.oid.dotted_string, str(a.value), a._type.value) for a in name]  # noqa: SLF001


def _key(cert: x509.Certificate) -> tuple[str, object]:
    k = cert.public_key()
    if isinstance(k, rsa.RSAPublicKey):
        return ("rsa", k.key_size)
    assert isinstance(k, ec.EllipticCurvePublicKey)
    return ("ec", k.curve.name)


# The real RootCA2 has serial 0, which pyca warns about (RFC 5280 §4.1.2.2).
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@pytest.mark.parametrize("name", sorted(REAL))
def test_root_has_the_real_certificates_structure(ws: Workspace, name: str) -> None:
    real = _real(name)
    ours = x509.load_der_x509_certificate(ws.ca(name).certificate)
    assert ours.version == real.version == x509.Version.v3
    assert ours.signature_algorithm_oid == real.signature_algorithm_oid
    # Subject and issuer: the same attributes, values and string types, in order.
    assert _rdns(ours, "subject") == _rdns(real, "subject")
    assert _rdns(ours, "issuer") == _rdns(real, "issuer")
    assert _key(ours) == _key(real)
    # Every extension in the same order and criticality, with the same value; the SKI
    # is the key's (both are RFC 5280 §4.2.1.2 method 1 of their own key).
    assert [(e.oid, e.critical) for e in ours.extensions] == [
        (e.oid, e.critical) for e in real.extensions
    ]
    for mine, theirs in zip(ours.extensions, real.extensions, strict=True):
        if mine.oid == x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER:
            expect = x509.SubjectKeyIdentifier.from_public_key(ours.public_key())
            assert mine.value == expect
            theirs_expect = x509.SubjectKeyIdentifier.from_public_key(real.public_key())
            assert theirs.value == theirs_expect
        else:
            assert mine.value == theirs.value, mine.oid
    # The validity span of the real certificate (dates are the moment's).
    span = real.not_valid_after_utc - real.not_valid_before_utc
    assert ours.not_valid_after_utc - ours.not_valid_before_utc == span
    # Serial: positive, CSPRNG (the real RootCA2's 0 is against RFC 5280 §4.1.2.2).
    assert ours.serial_number > 0


def test_every_root_is_self_signed_in_one_workspace(ws: Workspace) -> None:
    roots = [ca for ca in ws.cas if ca.spec.self_signed]
    assert [ca.name for ca in roots] == list(REAL)
    for ca in roots:
        cert = x509.load_der_x509_certificate(ca.certificate)
        cert.verify_directly_issued_by(cert)
        # Each root's CRL is its own ARL, signed by that root (its own file).
        assert ws.profile_set.cas[ca.name].crl.file_name == f"{ca.name}.crl"
