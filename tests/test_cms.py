"""porthos._native.verify_signed_data: CMS SignedData (RFC 5652) from two independent
encoders (pyca/cryptography's PKCS7SignatureBuilder and `openssl cms -sign`), and
hostile inputs (truncated, wrong content type, digest mismatch, another key)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from porthos import _native
from porthos.exceptions import DerDecodeError

ID_DATA = "1.2.840.113549.1.7.1"


def _cert(key, subject: str, issuer_key=None, *, serial: int = 0x1234, ski: bool = True):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    return b.sign(issuer_key or key, hashes.SHA256())


def _pyca(content: bytes, cert, key, *, hash_alg=None, options=()) -> bytes:
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hash_alg or hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, *options])
    )


@pytest.fixture(scope="module")
def ec_signer():
    key = ec.generate_private_key(ec.SECP256R1())
    return key, _cert(key, "DMC EC")


@pytest.fixture(scope="module")
def csr_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def signed(ec_signer, csr_der) -> bytes:
    """One fixed SignedData (ECDSA and signingTime make each signing differ)."""
    key, cert = ec_signer
    return _pyca(csr_der, cert, key)


def test_pyca_signed_data_verifies(ec_signer, csr_der) -> None:
    key, cert = ec_signer
    der = _pyca(csr_der, cert, key)
    info = _native.verify_signed_data(der)
    assert info.ok, info.detail
    assert info.status == 0 and info.status_name == "OK"
    assert info.content == csr_der
    assert info.content_type == ID_DATA
    assert info.certificates == [cert.public_bytes(serialization.Encoding.DER)]
    assert info.signer_index == 0
    assert info.signer_certificate == info.certificates[0]
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert info.signer_spki == spki
    assert info.sid_serial_hex == "1234"
    assert info.signature_algorithm == "ecdsa-sha256"
    assert info.digest_algorithm == "sha256"


@pytest.mark.parametrize("hash_alg", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_pyca_rsa_and_p384_with_each_sha2(hash_alg, csr_der) -> None:
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
        cert = _cert(key, "signer")
        info = _native.verify_signed_data(_pyca(csr_der, cert, key, hash_alg=hash_alg))
        assert info.ok, (type(key).__name__, hash_alg.name, info.detail)
        assert info.digest_algorithm == hash_alg.name


def test_pyca_without_signed_attributes(ec_signer, csr_der) -> None:
    key, cert = ec_signer
    der = _pyca(csr_der, cert, key, options=[pkcs7.PKCS7Options.NoAttributes])
    info = _native.verify_signed_data(der)
    assert info.ok, info.detail


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
@pytest.mark.parametrize("keyid", [False, True])
def test_openssl_cms_sign_verifies(tmp_path: Path, ec_signer, csr_der, keyid: bool) -> None:
    key, cert = ec_signer
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "csr.der").write_bytes(csr_der)
    cmd = [
        "openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER",
        "-in", str(tmp_path / "csr.der"), "-signer", str(tmp_path / "cert.pem"),
        "-inkey", str(tmp_path / "key.pem"), "-out", str(tmp_path / "req.p7"),
    ]  # fmt: skip
    if keyid:
        cmd.append("-keyid")  # sid = subjectKeyIdentifier (RFC 5652 §5.3, version 3)
    subprocess.run(cmd, check=True, capture_output=True)
    info = _native.verify_signed_data((tmp_path / "req.p7").read_bytes())
    assert info.ok, info.detail
    assert info.content == csr_der
    if keyid:
        assert info.sid_key_id is not None and info.sid_issuer is None
    else:
        assert info.sid_serial_hex == "1234"


def test_signature_from_another_key(ec_signer, csr_der) -> None:
    _, cert = ec_signer
    other = ec.generate_private_key(ec.SECP256R1())
    info = _native.verify_signed_data(_pyca(csr_der, cert, other))
    assert not info.ok
    assert info.status_name == "BAD_SIGNATURE"
    assert info.signer_index == 0


def test_digest_mismatch(ec_signer, csr_der) -> None:
    key, cert = ec_signer
    der = bytearray(_pyca(csr_der, cert, key))
    at = bytes(der).index(csr_der)
    der[at + len(csr_der) - 1] ^= 0x01  # the CSR's last signature octet
    info = _native.verify_signed_data(bytes(der))
    assert info.status_name == "DIGEST_MISMATCH"
    assert "messageDigest" in info.detail


def test_signer_not_carried_is_found_among_extras(ec_signer, csr_der) -> None:
    key, cert = ec_signer
    der = _pyca(csr_der, cert, key, options=[pkcs7.PKCS7Options.NoCerts])
    assert _native.verify_signed_data(der).status_name == "SIGNER_NOT_FOUND"
    info = _native.verify_signed_data(der, [cert.public_bytes(serialization.Encoding.DER)])
    assert info.ok and info.signer_index == 0 and info.certificates == []


def test_wrong_content_type_names_offset_and_path(ec_signer, csr_der) -> None:
    key, cert = ec_signer
    der = bytearray(_pyca(csr_der, cert, key))
    # ContentInfo.contentType id-signedData (…07 02) -> id-envelopedData (…07 03).
    oid = bytes.fromhex("06092a864886f70d010702")
    at = bytes(der).index(oid)
    der[at + len(oid) - 1] = 3
    with pytest.raises(DerDecodeError) as err:
        _native.verify_signed_data(bytes(der))
    assert err.value.path == "ContentInfo.contentType"
    assert err.value.offset == at
    assert "id-signedData" in str(err.value)


def test_every_truncation_raises(ec_signer, csr_der) -> None:
    key, cert = ec_signer
    der = _pyca(csr_der, cert, key)
    for n in range(0, len(der), 7):
        with pytest.raises(DerDecodeError) as err:
            _native.verify_signed_data(der[:n])
        assert 0 <= err.value.offset <= n


def test_not_cms_at_all(csr_der) -> None:
    with pytest.raises(DerDecodeError):
        _native.verify_signed_data(csr_der)
    with pytest.raises(DerDecodeError):
        _native.verify_signed_data(b"")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutations_never_crash_and_never_forge(data, signed, csr_der) -> None:
    der = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(der) - 1))
        der[i] ^= data.draw(st.integers(1, 255))
    try:
        info = _native.verify_signed_data(bytes(der))
    except DerDecodeError as exc:
        assert isinstance(exc.offset, int) and isinstance(exc.path, str)
        return
    if info.ok:
        # Only unsigned bytes changed (the certificate's own signature, ...): the
        # content that reaches the RA is the signed one.
        assert info.content == csr_der
