"""The external-signer path (digests out, signatures in) that HSMs use, checked with
pyca/cryptography keys standing in for the token: the certificates it assembles must
verify and equal, apart from the signature, what the software path produces."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from error_codes import raises_code
from porthos import _native
from porthos.exceptions import BatchArgumentError, SigningError
from porthos.issuance.signers import DigestSigner, issue_certificates, sign_filled

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


def _assert_signed_tbs(issuer_key: Any, certs: list[bytes], tbs: _native.DerBatch) -> None:
    """Certificate i holds TBS i exactly, signed by ``issuer_key`` (ECDSA, PKCS#1 v1.5
    or PSS, as the certificate says)."""
    assert len(certs) == len(tbs)
    for i, der in enumerate(certs):
        cert = x509.load_der_x509_certificate(der)
        assert cert.tbs_certificate_bytes == tbs[i]
        h = cert.signature_hash_algorithm
        assert h is not None
        if isinstance(issuer_key, ec.EllipticCurvePublicKey):
            issuer_key.verify(cert.signature, tbs[i], ec.ECDSA(h))
        else:
            pad = cert.signature_algorithm_parameters
            assert isinstance(pad, padding.PSS | padding.PKCS1v15)
            issuer_key.verify(cert.signature, tbs[i], pad, h)


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
    _assert_signed_tbs(signer.key.public_key(), list(certs), tbs)


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


@pytest.mark.parametrize("key_type", ["ec-p384", "rsa-2048"])
@pytest.mark.parametrize("threads", [1, 2, None])
def test_sign_filled_is_the_signing_half_of_issue(key_type: str, threads: int | None) -> None:
    """Fill on one call, sign on another (the streamed batch's split): the same TBS as
    fill wrote, a signature by the key over it, and the certificate `issue` makes
    apart from the signature. Run twice per thread count: at threads=1 fill and
    sign_filled run on the calling thread (threads.rs `place`), and `issue` in the
    thread's kept one-worker pool (threads.rs `pool`)."""
    key = _native.SoftwareKey.generate(key_type)
    alg = key.signature_algorithm
    template = _native.Template(SPEC, _native.encode_name([("CN", "ca")]), b"\x01" * 20, alg)
    items = _items(70)  # more than one 64-item run of the parallel map
    issuer_key = serialization.load_der_public_key(key.public_key_der())
    for _ in range(2):
        tbs = template.fill(**items)
        for signed in (
            template.sign_filled(key, tbs, threads=threads),
            sign_filled(template, key, tbs, threads=threads),
        ):
            _assert_signed_tbs(issuer_key, signed.to_list(), tbs)
        whole = template.issue(key, threads=threads, **items)
        # RSA PKCS#1 v1.5 is deterministic: the two paths give the same bytes.
        if key_type.startswith("rsa"):
            assert whole.to_list() == signed.to_list()


def test_sign_filled_refuses_what_fill_did_not_write() -> None:
    key = _native.SoftwareKey.generate("ec-p256")
    template = _native.Template(
        SPEC, _native.encode_name([("CN", "ca")]), b"\x01" * 20, "ecdsa-sha256"
    )
    other = _native.Template(
        SPEC, _native.encode_name([("CN", "ca")]), b"\x01" * 20, "ecdsa-sha384"
    )
    tbs = template.fill(**_items(2))
    with raises_code(SigningError, "signing"):
        sign_filled(other, key, tbs)
    with raises_code(SigningError, "signing"):
        other.sign_filled(key, tbs)  # the Rust side checks the key too
    with raises_code(BatchArgumentError, "batch-argument"):
        template.sign_filled(key, [b"0\x00"])  # type: ignore[arg-type]


def _issue_three(template: _native.Template, key: _native.SoftwareKey) -> None:
    assert len(template.issue(key, threads=1, **_items(3))) == 3


def test_kept_thread_pools_follow_the_count_and_survive_fork() -> None:
    """A thread keeps its last Rust pool for the calls that still take one at threads=1
    (Template.issue; threads.rs `pool`): counts may change between calls, and a child
    forked after the parent used its kept pool builds its own instead of waiting on a
    worker that was never copied into it."""
    from forked import assert_finishes_in_forked_child

    key = _native.SoftwareKey.generate("ec-p256")
    alg = key.signature_algorithm
    template = _native.Template(SPEC, _native.encode_name([("CN", "ca")]), b"\x01" * 20, alg)
    for threads in (1, 1, 2, 1, None, 1):
        assert len(template.issue(key, threads=threads, **_items(3))) == 3
    assert_finishes_in_forked_child(_issue_three, template, key, timeout=30)
