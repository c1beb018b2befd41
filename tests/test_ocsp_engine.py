"""The OCSP response engine (rust/porthos-core/src/ocsp, porthos.issuance.ocsp) judged
by pyca/cryptography: its tbsResponseData equals, byte for byte, what pyca's
OCSPResponseBuilder encodes from the same inputs (whole responses too with a
deterministic RSA PKCS#1 v1.5 key), pyca parses every response and its signature
verifies with the responder certificate; bad input is one PorthosError."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp as pyocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos import _native
from porthos.exceptions import PorthosError
from porthos.issuance import ocsp
from porthos.issuance.signers import HASH_OF

T0 = 1_760_000_000
STATUSES = [
    pyocsp.OCSPCertStatus.GOOD,
    pyocsp.OCSPCertStatus.REVOKED,
    pyocsp.OCSPCertStatus.UNKNOWN,
]
HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
REASON_FLAGS = {f.value: f for f in x509.ReasonFlags}
CODE_TO_FLAG = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
    0: x509.ReasonFlags.unspecified,
}


def _cert(
    subject: str, issuer: str, key: Any, signing_key: Any, *, ca: bool, serial: int
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), True)
    return b.sign(signing_key, hashes.SHA256())


class Pki:
    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("Test CA", "Test CA", self.ca_key, self.ca_key, ca=True, serial=1)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.ec_responder = _cert(
            "EC OCSP", "Test CA", self.ec_key, self.ca_key, ca=False, serial=2
        )
        self.rsa_key = rsa.generate_private_key(65537, 2048)
        self.rsa_responder = _cert(
            "RSA OCSP", "Test CA", self.rsa_key, self.ca_key, ca=False, serial=3
        )

    def der(self, cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.DER)

    def native_key(self, key: Any) -> _native.SoftwareKey:
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return _native.SoftwareKey.from_pkcs8(pkcs8)

    def template(self, rsa_responder: bool = False, hash_name: str = "sha1") -> Any:
        cert = self.rsa_responder if rsa_responder else self.ec_responder
        alg = "rsa-pkcs1-sha256" if rsa_responder else "ecdsa-sha256"
        return ocsp.OcspTemplate(self.der(cert), self.der(self.ca), alg, hash_name)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def columns(serials: Sequence[int], status: Sequence[int], times: Sequence[int],
            reasons: Sequence[int]) -> ocsp.ResponseColumns:  # fmt: skip
    rows = np.array([list(s.to_bytes(20, "big")) for s in serials], np.uint8).reshape(-1, 20)
    return ocsp.ResponseColumns(rows, np.array(status), np.array(times), np.array(reasons))


def verify(resp: pyocsp.OCSPResponse, responder: x509.Certificate) -> None:
    """The response's signature with the responder certificate's key (pyca)."""
    pub = responder.public_key()
    algo = resp.signature_hash_algorithm
    assert algo is not None
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(algo))
    else:
        assert isinstance(pub, rsa.RSAPublicKey)
        pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), algo)


def pyca_response(pki: Pki, serial: int, status: int, rev: int, reason: int,
                  hash_name: str, nonce: bytes | None, rsa_responder: bool,
                  this_update: int, next_update: int) -> pyocsp.OCSPResponse:  # fmt: skip
    """The same response made by pyca's builder (it sets producedAt to its own now)."""
    responder = pki.rsa_responder if rsa_responder else pki.ec_responder
    key = pki.rsa_key if rsa_responder else pki.ec_key
    cert_status = STATUSES[status]
    revoked = status == ocsp.REVOKED
    ts = lambda t: dt.datetime.fromtimestamp(t, dt.UTC)  # noqa: E731
    b = pyocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=_hash(hash_name, pki.ca.subject.public_bytes()),
        issuer_key_hash=_hash(hash_name, _key_bits(pki.ca)),
        serial_number=serial,
        algorithm=HASHES[hash_name],
        cert_status=cert_status,
        this_update=ts(this_update),
        next_update=ts(next_update),
        revocation_time=ts(rev) if revoked else None,
        revocation_reason=CODE_TO_FLAG.get(reason) if revoked and reason != 255 else None,
    )
    b = b.responder_id(pyocsp.OCSPResponderEncoding.HASH, responder).certificates([responder])
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.sign(key, hashes.SHA256())


def _hash(name: str, data: bytes) -> bytes:
    h = hashes.Hash(HASHES[name])
    h.update(data)
    return h.finalize()


def _key_bits(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = cert.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    return pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


@settings(max_examples=40, deadline=None)
@given(
    serial=st.integers(1, (1 << 159) - 1),
    status=st.sampled_from([0, 1, 2]),
    rev=st.integers(0, 4_000_000_000),
    reason=st.sampled_from([255, 0, 1, 2, 3, 4, 5, 6, 9, 10]),
    hash_name=st.sampled_from(["sha1", "sha256"]),
    nonce=st.none() | st.binary(min_size=1, max_size=32),
    rsa_responder=st.booleans(),
)
def test_equals_pycas_builder(pki: Pki, serial: int, status: int, rev: int, reason: int,
                              hash_name: str, nonce: bytes | None,
                              rsa_responder: bool) -> None:  # fmt: skip
    theirs = pyca_response(
        pki, serial, status, rev, reason, hash_name, nonce, rsa_responder, T0, T0 + 86400
    )
    produced = int(theirs.produced_at_utc.timestamp())
    key = pki.native_key(pki.rsa_key if rsa_responder else pki.ec_key)
    batch = ocsp.sign_responses(
        pki.template(rsa_responder, hash_name),
        key,
        columns([serial], [status], [rev], [reason]),
        this_update=T0,
        next_update=T0 + 86400,
        produced_at=produced,
        nonce=nonce,
    )
    ours = pyocsp.load_der_ocsp_response(batch[0])
    assert ours.tbs_response_bytes == theirs.tbs_response_bytes
    if rsa_responder:
        # PKCS#1 v1.5 is deterministic: the whole response is the same bytes.
        assert batch[0] == theirs.public_bytes(serialization.Encoding.DER)
    verify(ours, pki.rsa_responder if rsa_responder else pki.ec_responder)


def test_batch_parses_and_verifies_on_every_path(pki: Pki) -> None:
    n = 300
    serials = list(range(1000, 1000 + n))
    status = [i % 3 for i in range(n)]
    cols = columns(
        serials, status, [T0 - i for i in range(n)], [1 if i % 2 else 255 for i in range(n)]
    )
    key = pki.native_key(pki.ec_key)
    tpl = pki.template()
    one = ocsp.sign_responses(
        tpl, key, cols, this_update=T0, next_update=None, produced_at=T0, threads=1
    )
    many = ocsp.sign_responses(
        tpl, key, cols, this_update=T0, next_update=T0 + 3600, produced_at=T0
    )
    external = ocsp.sign_responses(
        tpl, PycaSigner(pki.ec_key), cols, this_update=T0, next_update=T0 + 3600, produced_at=T0
    )
    for batch in (one, many, external):
        assert len(batch) == n
        for i, der in enumerate(batch):
            r = pyocsp.load_der_ocsp_response(der)
            assert r.response_status == pyocsp.OCSPResponseStatus.SUCCESSFUL
            assert r.serial_number == serials[i]
            assert r.certificate_status == STATUSES[status[i]]
            assert r.certificates[0] == pki.ec_responder
            assert r.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
                pki.ec_key.public_key()).digest  # fmt: skip
            if status[i] == 1:
                assert r.revocation_time_utc == dt.datetime.fromtimestamp(T0 - i, dt.UTC)
                assert r.revocation_reason == (x509.ReasonFlags.key_compromise if i % 2 else None)
            verify(r, pki.ec_responder)
    assert pyocsp.load_der_ocsp_response(one[0]).next_update_utc is None


class PycaSigner:
    """A DigestSigner outside porthos (as a KMS would be): pyca signs the digests."""

    signature_algorithm = "ecdsa-sha256"

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key

    def public_key_der(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_digests(self, digests: Any) -> list[bytes]:
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        assert HASH_OF[self.signature_algorithm] == "sha256"
        algo = ec.ECDSA(Prehashed(hashes.SHA256()))
        return [self.key.sign(bytes(row), algo) for row in digests]


def test_single_response_echoes_the_nonce(pki: Pki) -> None:
    der = ocsp.sign_one(
        pki.template(), pki.native_key(pki.ec_key), b"\x00\x00\x12\x34", status=ocsp.UNKNOWN,
        this_update=T0, next_update=T0 + 60, produced_at=T0, nonce=b"n" * 32,
    )  # fmt: skip
    r = pyocsp.load_der_ocsp_response(der)
    assert r.serial_number == 0x1234
    assert r.certificate_status == pyocsp.OCSPCertStatus.UNKNOWN
    assert r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 32


def _code(fn: Any) -> str:
    with pytest.raises(PorthosError) as e:
        fn()
    return e.value.code


def test_hostile_inputs_are_porthos_errors(pki: Pki) -> None:
    ca, rsp = pki.der(pki.ca), pki.der(pki.ec_responder)
    key = pki.native_key(pki.ec_key)
    tpl = pki.template()
    ok = columns([5], [0], [0], [255])
    t = dict(this_update=T0, next_update=T0 + 1, produced_at=T0)

    def sign(cols: ocsp.ResponseColumns, **kw: Any) -> Any:
        return ocsp.sign_responses(tpl, key, cols, **{**t, **kw})

    assert _code(lambda: ocsp.OcspTemplate(b"junk", ca, "ecdsa-sha256")) == "der-decode"
    assert _code(lambda: ocsp.OcspTemplate(rsp, ca, "ecdsa-sha256", "md5")) == "batch-argument"
    assert _code(lambda: ocsp.OcspTemplate(rsp, ca, "dsa")) == "key"
    # The CA certificate was not issued by the responder: no delegation.
    assert _code(lambda: ocsp.OcspTemplate(ca, rsp, "ecdsa-sha256")) == "batch-argument"
    assert _code(lambda: sign(columns([0], [0], [0], [255]))) == "batch-argument"
    assert _code(lambda: sign(columns([5], [3], [0], [255]))) == "batch-argument"
    assert _code(lambda: sign(columns([5], [1], [0], [7]))) == "batch-argument"
    assert _code(lambda: sign(columns([5], [1], [1 << 62], [1]))) == "batch-argument"
    assert _code(lambda: sign(ok, nonce=b"x" * 33)) == "batch-argument"
    assert _code(lambda: sign(ok, nonce=b"")) == "batch-argument"
    assert _code(lambda: sign(ok, next_update=T0 - 1)) == "batch-argument"
    short = ocsp.ResponseColumns(ok.serials, ok.status, np.zeros(2, np.int64), ok.reasons)
    assert _code(lambda: sign(short)) == "batch-argument"
    flat = np.zeros(3, np.uint8)
    bad = lambda: ocsp.ResponseColumns(flat, ok.status, ok.revocation_times, ok.reasons)  # noqa: E731
    assert _code(bad) == "batch-argument"
    other = _native.SoftwareKey.generate("ec-p256")
    assert _code(lambda: ocsp.sign_responses(tpl, other, ok, **t)) == "batch-argument"
    rsa_key = pki.native_key(pki.rsa_key)
    assert _code(lambda: ocsp.sign_responses(tpl, rsa_key, ok, **t)) == "signing"
    assert _code(lambda: ocsp.serial_row(b"\x01" * 21)) == "batch-argument"
    wrong = PycaSigner(ec.generate_private_key(ec.SECP256R1()))
    assert _code(lambda: ocsp.sign_responses(tpl, wrong, ok, **t)) == "signing"
    # A 1-D array where the N x W serial matrix belongs.
    assert _code(lambda: tpl.sign(key, np.zeros(3, np.uint8), ok.status, ok.revocation_times,
                                  ok.reasons, **t)) == "batch-argument"  # fmt: skip


def test_bench_ocsp_runs_small() -> None:
    """`porthos bench ocsp` end to end at a tiny N: every figure present and positive."""
    import json

    from click.testing import CliRunner
    from porthos.cli.main import main

    args = [
        "bench",
        "ocsp",
        "--n",
        "300",
        "--rsa-n",
        "30",
        "--repeats",
        "1",
        "--pyca-sample",
        "30",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout[r.stdout.index("{") :])
    assert set(result["keys"]) == {"ec-p256", "rsa-2048"}
    for fig in result["keys"].values():
        for k in (
            "porthos_one_thread_per_s",
            "bare_aws_lc_per_s",
            "pyca_per_s",
            "porthos_over_pyca",
        ):
            assert fig[k] > 0
    assert result["peak_rss_mib"] > 0


def _softhsm() -> str | None:
    from porthos import hsm
    from porthos.exceptions import HsmNotFoundError

    try:
        return str(hsm.find_module())
    except HsmNotFoundError:
        return None


@pytest.mark.hsm
@pytest.mark.skipif(_softhsm() is None, reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_pkcs11_pool_signs_responses(pki: Pki, tmp_path: Any) -> None:
    """The responder key in a SoftHSM2 token: the N digests go through the PKCS#11
    session pool (Rust threads and worker processes), pyca verifies every response."""
    from porthos import hsm
    from porthos.issuance import signers

    module = _softhsm()
    assert module is not None
    from porthos.exceptions import HsmError

    try:  # a token store of our own, never the system's
        hsm.use_softhsm_conf(hsm.softhsm_conf(tmp_path))
    except HsmError:
        pass  # this process already uses a test store (tests/test_hsm.py): same labels apart
    hsm.load_module(module)
    label, pin = "porthos-ocsp-test", hsm.Secret(b"user-ocsp-5c1e")
    hsm.init_token(module, label, hsm.Secret(b"so-ocsp-9a2b"), pin)
    spki = hsm.generate_key(module, label, pin, "ocsp-responder", "ec-p256")
    pub = serialization.load_der_public_key(spki)
    responder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HSM OCSP")]))
        .issuer_name(pki.ca.subject)
        .public_key(pub)  # type: ignore[arg-type]
        .serial_number(77)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), True)
        .sign(pki.ca_key, hashes.SHA256())
    )
    tpl = ocsp.OcspTemplate(pki.der(responder), pki.der(pki.ca), "ecdsa-sha256", "sha256")
    cols = columns(range(1, 41), [i % 3 for i in range(40)], [T0] * 40, [4] * 40)
    for workers in ("threads", "processes"):
        args = (module, label, "ocsp-responder", pin, "ecdsa-sha256")
        with signers.Pkcs11Signer(*args, sessions=2, workers=workers, public_key=spki) as signer:
            batch = ocsp.sign_responses(
                tpl, signer, cols, this_update=T0, next_update=T0 + 60, produced_at=T0
            )
        for i, der in enumerate(batch):
            r = pyocsp.load_der_ocsp_response(der)
            assert r.serial_number == i + 1 and r.certificates == [responder]
            verify(r, responder)


def test_write_der_files_writes_whole_files_and_refuses_paths(pki: Pki, tmp_path: Any) -> None:
    cols = columns([1, 2, 3], [0, 1, 2], [T0] * 3, [255] * 3)
    batch = ocsp.sign_responses(
        pki.template(), pki.native_key(pki.ec_key), cols, this_update=T0, next_update=None,
        produced_at=T0,
    )  # fmt: skip
    _native.write_der_files(tmp_path, ["a.der", "b.der", "c.der"], batch)
    assert [(tmp_path / f"{c}.der").read_bytes() for c in "abc"] == batch.to_list()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.der", "b.der", "c.der"]
    for bad in (["../x", "b", "c"], ["a", "", "c"], ["a", "..", "c"], ["a", "b"]):
        assert (
            _code(lambda bad=bad: _native.write_der_files(tmp_path, bad, batch))
            == "batch-argument"
        )
    assert not (tmp_path.parent / "x").exists()
