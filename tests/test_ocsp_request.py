"""``_native.parse_ocsp_request`` (issue 17): the responder's strict-DER request parser
(rust/porthos-core/src/ocsp/request.rs) on requests made by pyca and ``openssl ocsp``,
its refusals by stable code and reason, and arbitrary bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import ocsp_support as support
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from error_codes import raises_code
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos._native import parse_ocsp_request
from porthos.exceptions import DerDecodeError, OcspRequestError, PorthosError

PKI = support.make_pki("request-ca")


def request(algo: hashes.HashAlgorithm, nonce: bytes | None = None, label: str = "good") -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(PKI.leaves[label], PKI.cert, algo)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("algo", [hashes.SHA1(), hashes.SHA256()])
def test_pyca_requests_parse_to_their_cert_id(algo: hashes.HashAlgorithm) -> None:
    nonce = bytes(range(16))
    info = parse_ocsp_request(request(algo, nonce))
    (cid,) = info.cert_ids
    key = PKI.cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert cid.hash == algo.name
    assert cid.issuer_name_hash == hashlib.new(algo.name, PKI.cert.subject.public_bytes()).digest()
    assert cid.issuer_key_hash == hashlib.new(algo.name, key).digest()
    assert int(cid.serial_hex, 16) == PKI.leaves["good"].serial_number
    assert info.nonce == nonce and not info.signed and info.requestor_name is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
def test_openssl_signed_request_is_accepted_not_verified(tmp_path: Path) -> None:
    ca, leaf = support.pem(tmp_path / "ca.pem", PKI.cert), tmp_path / "leaf.pem"
    support.pem(leaf, PKI.leaves["good"])
    key = tmp_path / "key.pem"
    key.write_bytes(
        PKI.responder_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    signer = support.pem(tmp_path / "signer.pem", PKI.responder)
    out = tmp_path / "req.der"
    subprocess.run(
        ["openssl", "ocsp", "-issuer", str(ca), "-cert", str(leaf), "-signer", str(signer),
         "-signkey", str(key), "-reqout", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    info = parse_ocsp_request(out.read_bytes())
    assert info.signed and info.requestor_name is not None
    assert info.nonce is not None and len(info.nonce) == 16


def test_limits_raise_ocsp_request_error_with_a_reason() -> None:
    with raises_code(OcspRequestError, "ocsp-request") as e:
        parse_ocsp_request(request(hashes.SHA1(), b"n" * 33))
    assert e.value.reason == "nonce-length"
    with raises_code(OcspRequestError, "ocsp-request") as e:
        parse_ocsp_request(request(hashes.SHA384()))
    assert e.value.reason == "unsupported-hash"
    two = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(PKI.leaves["good"], PKI.cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    assert len(parse_ocsp_request(two, max_cert_ids=1).cert_ids) == 1


def test_ber_and_truncation_raise_der_decode_error() -> None:
    der = request(hashes.SHA1())
    with raises_code(DerDecodeError, "der-decode") as e:
        parse_ocsp_request(b"\x30\x80" + der[2:] + b"\x00\x00")
    assert e.value.offset == 0
    with raises_code(DerDecodeError, "der-decode"):
        parse_ocsp_request(der[:-1])
    with raises_code(DerDecodeError, "der-decode"):
        parse_ocsp_request(der + b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_a_porthos_error(data: bytes) -> None:
    try:
        info = parse_ocsp_request(data)
    except PorthosError:
        return
    assert 1 <= len(info.cert_ids) <= 1000
