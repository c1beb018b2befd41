"""The external-signer path (digests out, signatures in) that HSMs use, checked with
pyca/cryptography keys standing in for the token: the certificates it assembles must
verify and equal, apart from the signature, what the software path produces."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from error_codes import raises_code
from porthos import _native
from porthos.exceptions import SigningError
from porthos.issuance.signers import DigestSigner, issue_certificates

SPEC = json.dumps(
    {
        "extensions": [
            {"type": "authority_key_identifier"},
            {"type": "subject_key_identifier"},
            {"type": "key_usage", "usages": ["digital_signature"]},
            {"type": "basic_constraints", "ca": False},
        ]
    }
)
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}


class PycaDigestSigner:
    """A DigestSigner over a pyca key: signs the digest it is handed (Prehashed)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, alg: str) -> None:
        self.key = key
        self._alg = alg
        self.calls = 0

    @property
    def signature_algorithm(self) -> str:
        return self._alg

    def public_key_der(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    def sign_digests(self, digests: np.ndarray) -> list[bytes]:
        self.calls += 1
        h = HASHES["sha384" if self._alg.endswith("384") else "sha256"]
        out = []
        for row in digests:
            pre = utils.Prehashed(h)
            if isinstance(self.key, ec.EllipticCurvePrivateKey):
                out.append(self.key.sign(row.tobytes(), ec.ECDSA(pre)))
            elif "pss" in self._alg:
                pss = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
                out.append(self.key.sign(row.tobytes(), pss, pre))
            else:
                out.append(self.key.sign(row.tobytes(), padding.PKCS1v15(), pre))
        return out


def _items(n: int) -> dict:
    leaf = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = leaf.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    return dict(
        serials=_native.generate_serials(n),
        not_before=np.full(n, now, dtype=np.int64),
        not_after=np.full(n, now + 86400, dtype=np.int64),
        subjects=[[("O", "porthos"), ("CN", f"leaf {i}")] for i in range(n)],
        spkis=[spki] * n,
    )


@pytest.mark.parametrize(
    "make_key,alg",
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-sha384"),
        (lambda: rsa.generate_private_key(65537, 2048), "rsa-pkcs1-sha256"),
        (lambda: rsa.generate_private_key(65537, 2048), "rsa-pss-sha384"),
    ],
)
def test_external_signer_certificates_verify(make_key, alg):  # type: ignore[no-untyped-def]
    signer = PycaDigestSigner(make_key(), alg)
    assert isinstance(signer, DigestSigner)
    issuer_name = _native.encode_name([("CN", "external issuer")])
    kid = _native.key_identifier(signer.public_key_der())
    template = _native.Template(SPEC, issuer_name, kid, alg)
    items = _items(5)
    certs = issue_certificates(template, signer, **items)
    assert signer.calls == 1, "one call per batch, never per item"
    tbs = template.fill(**items)
    issuer_key = signer.key.public_key()
    for i, der in enumerate(certs):
        cert = x509.load_der_x509_certificate(der)
        assert cert.tbs_certificate_bytes == tbs[i]
        h = cert.signature_hash_algorithm
        assert h is not None
        if isinstance(issuer_key, ec.EllipticCurvePublicKey):
            issuer_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(h))
        else:
            pad = cert.signature_algorithm_parameters
            assert isinstance(pad, padding.PSS | padding.PKCS1v15)
            issuer_key.verify(cert.signature, cert.tbs_certificate_bytes, pad, h)


def test_signer_algorithm_must_match_template() -> None:
    signer = PycaDigestSigner(ec.generate_private_key(ec.SECP384R1()), "ecdsa-sha384")
    template = _native.Template(
        SPEC, _native.encode_name([("CN", "x")]), b"\x01" * 20, "ecdsa-sha256"
    )
    with raises_code(SigningError, "signing"):
        issue_certificates(template, signer, **_items(1))


def test_short_signature_batch_is_refused() -> None:
    class Lossy(PycaDigestSigner):
        def sign_digests(self, digests: np.ndarray) -> list[bytes]:
            return super().sign_digests(digests)[:-1]

    signer = Lossy(ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha256")
    template = _native.Template(
        SPEC, _native.encode_name([("CN", "x")]), b"\x01" * 20, "ecdsa-sha256"
    )
    with raises_code(SigningError, "signing"):
        issue_certificates(template, signer, **_items(3))
