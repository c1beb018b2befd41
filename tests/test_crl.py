"""CRLs: the writer against pyca, openssl and pkilint; the strict parser against
hostile CRLs; round trips (hypothesis); shards, deltas; store, revoke, publish, CLI."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from error_codes import raises_code
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from porthos import _native
from porthos.cli.main import main
from porthos.exceptions import (
    BatchArgumentError,
    CrlSignatureError,
    DerDecodeError,
    EncodeError,
    LifecycleError,
    PolicyError,
    PorthosError,
    ProfileError,
)
from porthos.issuance import crl as C
from porthos.workflows import revocation

if TYPE_CHECKING:
    from porthos.workspace.publication import Published
    from porthos.workspace.workspace import Workspace

    from .conftest import CsrFactory

NOW = 1_750_000_000
OPENSSL = shutil.which("openssl")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


class Issuer:
    """A P-256 issuing CA made with pyca (for tests outside a workspace)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRL Test CA")])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.cert = cert
        self.der = cert.public_bytes(serialization.Encoding.DER)
        pk8 = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.soft = _native.SoftwareKey.from_pkcs8(pk8)


class PycaDigestSigner:
    """The external-signer path, with pyca standing in for an HSM."""

    signature_algorithm = "ecdsa-sha256"

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.calls = 0

    def public_key_der(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_digests(self, digests: Any) -> list[bytes]:
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        self.calls += 1
        return [
            self.key.sign(row.tobytes(), ec.ECDSA(Prehashed(hashes.SHA256()))) for row in digests
        ]


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


def random_columns(n: int, seed: int = 7, invalidity: bool = True) -> C.RevocationColumns:
    rng = np.random.default_rng(seed)
    serials = rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
    serials[:, :4] = 0
    serials[:, 4] = (serials[:, 4] & 0x7F) | 0x01  # 16 octets, positive, never zero
    reasons = rng.choice(np.array([1, 3, 4, 5, 6, 9, C.REASON_NONE], np.uint8), n)
    times = rng.integers(NOW - 86400 * 365, NOW, n, dtype=np.int64)
    inv = None
    if invalidity:
        inv = np.where(rng.random(n) < 0.3, times - 3600, C.INVALIDITY_NONE).astype(np.int64)
    return C.RevocationColumns(serials, times, reasons, inv)


def build(issuer: Issuer, cols: C.RevocationColumns, **kw: Any) -> bytes:
    args: dict[str, Any] = {"crl_number": 42, "this_update": NOW, "next_update": NOW + 86400 * 28}
    args.update(kw)
    return bytes(C.build_crl(issuer.der, issuer.soft, cols, **args))


def sort_cols(cols: C.RevocationColumns) -> C.RevocationColumns:
    order = np.lexsort(cols.serials.T[::-1])
    inv = cols.canonical()[3]
    return C.RevocationColumns(
        cols.serials[order], cols.revocation_times[order], cols.reasons[order], inv[order]
    )


# --------------------------------------------------------------------------------------
# the writer against the oracles
# --------------------------------------------------------------------------------------


def test_pyca_parses_and_verifies(issuer: Issuer) -> None:
    cols = random_columns(2000)
    der = build(issuer, cols, idp_urls=["http://crl.example/ca.crl"], only_user_certs=True)
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(issuer.cert.public_key())
    assert len(crl) == 2000
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical and idp.value.only_contains_user_certs
    assert idp.value.full_name == [x509.UniformResourceIdentifier("http://crl.example/ca.crl")]
    # Entries in serial order, each with the data of its row.
    by_serial = {int.from_bytes(cols.serials[i].tobytes(), "big"): i for i in range(len(cols))}
    serials = [e.serial_number for e in crl]
    assert serials == sorted(serials)
    for e in list(crl)[:300]:
        i = by_serial[e.serial_number]
        assert int(e.revocation_date_utc.timestamp()) == cols.revocation_times[i]
        r = int(cols.reasons[i])
        if r == C.REASON_NONE:
            with pytest.raises(x509.ExtensionNotFound):
                e.extensions.get_extension_for_class(x509.CRLReason)
        else:
            reason = e.extensions.get_extension_for_class(x509.CRLReason).value.reason
            assert reason.name == {v: k for k, v in _PYCA_REASON.items()}[r]
        assert cols.invalidity_dates is not None
        d = int(cols.invalidity_dates[i])
        if d != C.INVALIDITY_NONE:
            got = e.extensions.get_extension_for_class(x509.InvalidityDate).value
            assert int(got.invalidity_date_utc.timestamp()) == d


_PYCA_REASON = {
    "key_compromise": 1,
    "affiliation_changed": 3,
    "superseded": 4,
    "cessation_of_operation": 5,
    "certificate_hold": 6,
    "privilege_withdrawn": 9,
}


def test_empty_crl_omits_revoked_certificates(issuer: Issuer) -> None:
    der = build(issuer, C.RevocationColumns.empty())
    crl = x509.load_der_x509_crl(der)
    assert len(crl) == 0 and crl.is_signature_valid(issuer.cert.public_key())
    # version, signature, issuer, thisUpdate, nextUpdate, [0] extensions: no SEQUENCE OF.
    assert C.parse_crl(der, issuer.der).signature_checked


def test_times_utc_then_generalized(issuer: Issuer) -> None:
    t2049 = int(datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    t2050 = t2049 + 1
    cols = C.RevocationColumns(
        C.serials_from_ints([1, 2]),
        np.array([t2049, t2050], np.int64),
        np.array([1, 1], np.uint8),
    )
    der = build(issuer, cols, this_update=t2049, next_update=t2050 + 10)
    assert b"\x17\x0d491231235959Z" in der  # UTCTime through 2049 (RFC 5280 §5.1.2.6)
    assert b"\x18\x0f20500101000000Z" in der  # GeneralizedTime from 2050
    crl = x509.load_der_x509_crl(der)
    assert crl.next_update_utc == datetime(2050, 1, 1, 0, 0, 10, tzinfo=UTC)


def test_external_signer_gets_one_digest(issuer: Issuer) -> None:
    signer = PycaDigestSigner(issuer.key)
    der = bytes(
        C.build_crl(
            issuer.der,
            signer,
            random_columns(500),
            crl_number=1,
            this_update=NOW,
            next_update=NOW + 1000,
        )
    )
    assert signer.calls == 1
    assert x509.load_der_x509_crl(der).is_signature_valid(issuer.cert.public_key())


def test_s20_and_content_length_forms(issuer: Issuer) -> None:
    cols = random_columns(100, invalidity=False)
    s20 = np.frombuffer(cols.serials.tobytes(), dtype="S20")
    a = build(issuer, C.RevocationColumns(s20, cols.revocation_times, cols.reasons))
    # Content form: row[:len] are INTEGER content octets, here 16 octets left-aligned.
    content = np.zeros((100, 20), np.uint8)
    content[:, :16] = cols.serials[:, 4:]
    lens = np.full(100, 16, np.uint8)
    b = build(
        issuer,
        C.RevocationColumns(content, cols.revocation_times, cols.reasons, serial_lengths=lens),
    )
    pa, pb = C.parse_crl(a), C.parse_crl(b)
    assert pa.columns.equals(pb.columns)


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_openssl_crl_verify(issuer: Issuer, tmp_path: Path) -> None:
    der = build(issuer, random_columns(3000))
    (tmp_path / "c.crl").write_bytes(der)
    (tmp_path / "ca.pem").write_bytes(issuer.cert.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(
        [
            OPENSSL or "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "c.crl"),
            "-CAfile",
            str(tmp_path / "ca.pem"),
            "-noout",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and "verify OK" in r.stderr + r.stdout, r.stderr


def _lint_crl(path: Path) -> list[str]:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pkilint.bin.lint_crl",
            "lint",
            "-t",
            "CRL",
            "-p",
            "PKIX",
            "-s",
            "WARNING",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize("n", [0, 1, 10_000])
def test_pkilint_clean(issuer: Issuer, tmp_path: Path, n: int) -> None:
    cols = random_columns(n) if n else C.RevocationColumns.empty()
    path = tmp_path / "c.crl"
    path.write_bytes(build(issuer, cols))
    assert _lint_crl(path) == []


def test_pkilint_clean_shard_and_delta(issuer: Issuer, tmp_path: Path) -> None:
    cols = random_columns(500)
    shards = C.build_shards(
        issuer.der,
        issuer.soft,
        cols,
        crl_numbers=[7, 8],
        url_template="http://crl.example/ca-shard-{shard}.crl",
        this_update=NOW,
        next_update=NOW + 86400,
    )
    shards[1].write(tmp_path / "s.crl")
    assert _lint_crl(tmp_path / "s.crl") == []
    delta = build(issuer, cols, delta_base=41)
    (tmp_path / "d.crl").write_bytes(delta)
    assert _lint_crl(tmp_path / "d.crl") == []


# --------------------------------------------------------------------------------------
# bad input to the writer: named rows and serials, nothing written
# --------------------------------------------------------------------------------------


def _one(serial_rows: Any, times: Any = None, reasons: Any = None, **kw: Any) -> Any:
    n = len(serial_rows)
    return C.RevocationColumns(
        np.asarray(serial_rows, np.uint8),
        np.asarray(times if times is not None else [NOW] * n, np.int64),
        np.asarray(reasons if reasons is not None else [1] * n, np.uint8),
        **kw,
    )


@pytest.mark.parametrize(
    ("cols", "message"),
    [
        (
            _one([[0] * 19 + [5], [0] * 19 + [9], [0] * 19 + [5]]),
            "duplicate serial 05 (rows 0 and 2)",
        ),
        (_one([[0] * 19 + [5], [0] * 20]), "row 1: serial is zero"),
        (_one([[0x80] + [0] * 19]), "needs 21 content octets"),
        (_one([[0xFF, 1] + [0] * 18], serial_lengths=np.array([2], np.uint8)), "negative"),
        (_one([[1] * 20], serial_lengths=np.array([21], np.uint8)), "row 0: serial length 21"),
        (_one([[0] * 19 + [5]], times=[253_402_300_800]), "row 0: revocation time"),
        (_one([[0] * 19 + [5], [0] * 19 + [6]], reasons=[1, 7]), "row 1: reason code 7"),
        (_one([[0] * 19 + [5]], reasons=[0]), "unspecified"),
        (_one([[0] * 19 + [5]], reasons=[8]), "removeFromCRL"),
    ],
)
def test_writer_refuses_bad_rows(issuer: Issuer, cols: Any, message: str) -> None:
    # The message must name the row and what is wrong: no attribute carries them.
    with raises_code(EncodeError, "encode", match=message.replace("(", r"\(").replace(")", r"\)")):
        build(issuer, cols)


def test_writer_refuses_bad_arguments(issuer: Issuer) -> None:
    cols = _one([[0] * 19 + [5]])
    cols.reasons = np.array([1, 1], np.uint8)
    with raises_code(BatchArgumentError, "batch-argument"):
        build(issuer, cols)
    with raises_code(EncodeError, "encode"):
        build(issuer, _one([[0] * 19 + [5]]), crl_number=1 << 160)


def test_progress_callback_and_cancel(issuer: Issuer) -> None:
    seen: list[tuple[int, int]] = []
    cols = random_columns(100_000, invalidity=False)
    C.build_crl(
        issuer.der,
        issuer.soft,
        cols,
        crl_number=1,
        this_update=NOW,
        next_update=NOW + 10,
        progress=lambda d, t: seen.append((d, t)),
        threads=1,
    )
    assert seen[-1] == (100_000, 100_000) and len(seen) >= 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        C.build_crl(
            issuer.der,
            issuer.soft,
            cols,
            crl_number=1,
            this_update=NOW,
            next_update=NOW + 10,
            progress=stop,
        )


# --------------------------------------------------------------------------------------
# the parser: round trip, lookups, hostile CRLs
# --------------------------------------------------------------------------------------


serial_ints = st.integers(min_value=1, max_value=(1 << 159) - 1)
times = st.integers(min_value=-2_000_000_000, max_value=4_102_444_800)
reason_codes = st.sampled_from([1, 2, 3, 4, 5, 6, 9, 10, C.REASON_NONE])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(serial_ints, times, reason_codes, st.one_of(st.none(), times)),
        unique_by=lambda r: r[0],
        max_size=60,
    )
)
def test_round_trip(issuer: Issuer, rows: list[tuple[int, int, int, int | None]]) -> None:
    cols = C.RevocationColumns(
        C.serials_from_ints([r[0] for r in rows]) if rows else np.zeros((0, 20), np.uint8),
        np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.uint8),
        np.array([C.INVALIDITY_NONE if r[3] is None else r[3] for r in rows], np.int64),
    )
    parsed = C.parse_crl(build(issuer, cols), issuer.der)
    assert parsed.signature_checked
    assert parsed.columns.equals(sort_cols(cols))


def test_lookup_by_binary_search(issuer: Issuer) -> None:
    cols = random_columns(5000)
    p = C.parse_crl(build(issuer, cols))
    first = int.from_bytes(cols.serials[17].tobytes(), "big")
    assert p.is_revoked(first) and not p.is_revoked(first + 1)
    probe = np.vstack([cols.serials[:100], C.serials_from_ints(range(1, 101))])
    idx = p.lookup(probe)
    assert (idx[:100] >= 0).all() and (idx[100:] == -1).all()
    assert np.array_equal(p.columns.serials[idx[:100]], cols.serials[:100])


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def _hand_crl(issuer: Issuer, entries: list[bytes], sign_with: Any = None) -> bytes:
    """A CRL whose entries are given as raw serial INTEGER contents."""
    alg = bytes.fromhex("300a06082a8648ce3d040302")
    name = issuer.cert.subject.public_bytes()
    t = _tlv(0x17, b"250101000000Z")
    revoked = b"".join(_tlv(0x30, _tlv(0x02, s) + t) for s in entries)
    num = _tlv(0x30, bytes.fromhex("0603551d14") + _tlv(0x04, _tlv(0x02, b"\x01")))
    tbs = _tlv(
        0x30,
        b"\x02\x01\x01" + alg + name + t + t + _tlv(0x30, revoked) + _tlv(0xA0, _tlv(0x30, num)),
    )
    sig = (sign_with or issuer.key).sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + sig))


def test_hand_made_crl_parses(issuer: Issuer) -> None:
    der = _hand_crl(issuer, [b"\x05", b"\x00\x80"])
    p = C.parse_crl(der, issuer.der)
    assert p.signature_checked and p.is_revoked(5) and p.is_revoked(0x80)


# Where a DerDecodeError points: (.offset, .path); "end" is the length of the good CRL.
_ENTRY = "CertificateList.tbsCertList.revokedCertificates[]"
_SERIAL_AT = 78  # _hand_crl: the first entry's userCertificate INTEGER


@pytest.mark.parametrize(
    ("mutate", "error", "code", "where"),
    [
        (lambda i, d: d[:-10], DerDecodeError, "der-decode", (0, "CertificateList")),
        (
            lambda i, d: d[:1] + b"\x80" + d[4:] + b"\x00\x00",
            DerDecodeError,
            "der-decode",
            (0, "CertificateList"),
        ),
        (lambda i, d: _hand_crl(i, [b"\x05", b"\x07", b"\x05"]), EncodeError, "encode", None),
        (
            lambda i, d: _hand_crl(i, [b"\x01" * 21]),
            DerDecodeError,
            "der-decode",
            (_SERIAL_AT, _ENTRY),
        ),
        (
            lambda i, d: _hand_crl(i, [b"\xff\x01"]),
            DerDecodeError,
            "der-decode",
            (_SERIAL_AT, _ENTRY),
        ),
        (
            lambda i, d: _hand_crl(i, [b"\x00\x05"]),
            DerDecodeError,
            "der-decode",
            (_SERIAL_AT, _ENTRY + ".userCertificate"),
        ),
        (
            lambda i, d: _hand_crl(i, [b"\x05"], ec.generate_private_key(ec.SECP256R1())),
            CrlSignatureError,
            "crl-signature",
            None,
        ),
        (lambda i, d: d + b"\x00", DerDecodeError, "der-decode", ("end", "CertificateList")),
    ],
    ids=[
        "truncated",
        "ber-indefinite",
        "duplicate",
        "21-octets",
        "negative",
        "non-minimal",
        "wrong-signature",
        "trailing",
    ],
)
def test_hostile_crls_refused(
    issuer: Issuer, mutate: Any, error: type[PorthosError], code: str, where: Any
) -> None:
    good = build(issuer, random_columns(50))
    with raises_code(error, code) as err:
        C.parse_crl(mutate(issuer, good), issuer.der)
    if where is not None:
        offset, path = where
        assert isinstance(err.value, DerDecodeError)
        assert (err.value.offset, err.value.path) == (
            len(good) if offset == "end" else offset,
            path,
        )


def test_crl_from_another_issuer_refused(issuer: Issuer) -> None:
    other = Issuer()
    with pytest.raises(CrlSignatureError):
        C.parse_crl(build(issuer, random_columns(5)), other.der)


# --------------------------------------------------------------------------------------
# shards and deltas
# --------------------------------------------------------------------------------------


def test_shards_partition_by_serial_mod_n(issuer: Issuer) -> None:
    cols = random_columns(3000)
    n = 4
    crls = C.build_shards(
        issuer.der,
        issuer.soft,
        cols,
        crl_numbers=[10, 11, 12, 13],
        url_template="http://crl.example/ca-shard-{shard}.crl",
        this_update=NOW,
        next_update=NOW + 86400,
    )
    assert len(crls) == n
    total = 0
    for s, c in enumerate(crls):
        p = C.parse_crl(bytes(c), issuer.der)
        assert p.crl_number == 10 + s
        assert p.idp_urls == [f"http://crl.example/ca-shard-{s}.crl"]
        for v in _native_ints(p.columns.serials):
            assert C.shard_of(v, n) == s
        total += len(p)
        pyca = x509.load_der_x509_crl(bytes(c))
        assert pyca.is_signature_valid(issuer.cert.public_key())
    assert total == 3000
    native = _native.crl_shard_of(cols.serials, n)
    assert native.tolist() == [C.shard_of(v, n) for v in _native_ints(cols.serials)]


def _native_ints(serials: Any) -> list[int]:
    return [int.from_bytes(r.tobytes(), "big") for r in serials]


def test_delta_merge_equals_full_rebuild(issuer: Issuer) -> None:
    base_cols = random_columns(2000, seed=1)
    cur = sort_cols(base_cols)
    keep = np.ones(len(cur), bool)
    keep[::10] = False  # released holds / expired: removeFromCRL in the delta
    more = random_columns(300, seed=2)
    changed_reasons = cur.reasons.copy()
    changed_reasons[1::50] = 1  # e.g. certificateHold -> keyCompromise
    current = C.RevocationColumns(
        np.vstack([cur.serials[keep], more.serials]),
        np.concatenate([cur.revocation_times[keep], more.revocation_times]),
        np.concatenate([changed_reasons[keep], more.reasons]),
        np.concatenate([cur.canonical()[3][keep], more.canonical()[3]]),
    )
    delta_cols = C.delta_columns(base_cols, current)
    assert 300 + 200 <= len(delta_cols) <= 300 + 200 + 40
    base = C.parse_crl(build(issuer, base_cols, crl_number=100), issuer.der)
    delta = C.parse_crl(build(issuer, delta_cols, crl_number=101, delta_base=100), issuer.der)
    full = C.parse_crl(build(issuer, current, crl_number=101), issuer.der)
    assert delta.delta_base == 100
    assert C.check_delta(base, delta, full)
    assert C.merge_delta(base.columns, delta.columns).equals(full.columns)
    # A delta over another base does not check.
    other = C.parse_crl(build(issuer, current, crl_number=99), issuer.der)
    assert not C.check_delta(other, delta, full)
    pyca = x509.load_der_x509_crl(bytes(build(issuer, delta_cols, crl_number=101, delta_base=100)))
    ind = pyca.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert ind.critical and ind.value.crl_number == 100


# --------------------------------------------------------------------------------------
# the workspace: store, revoke, publish, openssl verify -crl_check
# --------------------------------------------------------------------------------------


def _publish(
    ws: Workspace, ca: str | None = None, *, now: int | None = None, delta: bool = False
) -> list[Published]:
    """The CRLs of one CA or of every CA, through the one publication path."""
    from porthos.workflows import crl_publication

    cas = None if ca is None else [ca]
    if delta:
        return crl_publication.publish_deltas(ws, cas, now=now)
    published = crl_publication.publish(ws, cas, now=now, everything=ca is None)
    return [p for p in published if p.kind == "crl"]


def _issue_leaves(ws: Workspace, factory: CsrFactory, n: int) -> list[bytes]:
    csrs = [factory.make([("C", "US"), ("CN", str(uuid.uuid4()))]) for _ in range(n)]
    result = ws.ca("ha-device-ca-1").issue_batch(csrs, "ha-device")
    assert result.issued_count == n, result.reasons
    return [der for _, der in result.issued()]


def test_revoke_publish_numbers_increase(
    fresh_workspace: Workspace, csr_factory: CsrFactory
) -> None:
    ws = fresh_workspace
    leaves = _issue_leaves(ws, csr_factory, 3)
    ca = ws.ca("ha-device-ca-1")
    serial = x509.load_der_x509_certificate(leaves[0]).serial_number
    # Revoked now: the certificates were issued now, and a revocation before a
    # certificate's notBefore is refused (issue 20 §3).
    now = int(time.time())
    revoked = revocation.revoke(ws, [serial], "keyCompromise", requester="t", ca=ca.name, when=now)
    assert len(revoked) == 1
    with raises_code(LifecycleError, "lifecycle"):
        revocation.revoke(ws, [serial], "superseded", requester="t", ca=ca.name)
    with raises_code(LifecycleError, "lifecycle"):
        revocation.revoke(ws, [12345], None, requester="t", ca=ca.name)
    first = _publish(ws, now=now)
    second = _publish(ws, "ha-device-ca-1", now=now + 60)
    numbers = {p.ca: p.number for p in first}
    assert second[0].number is not None and second[0].number > numbers["ha-device-ca-1"]
    assert ws.store.last_crl_number("ha-device-ca-1") == second[0].number
    path = ws.path / "repository" / "ha-device-ca-1.crl"
    crl = x509.load_der_x509_crl(path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    # 000 §7.2.2: issuing CA CRLs are valid 28 days; §7.2.1: the root's two years.
    assert (crl.next_update_utc - crl.last_update_utc).days == 28
    root = x509.load_der_x509_crl((ws.path / "repository" / "root-ca-1.crl").read_bytes())
    assert (root.next_update_utc - root.last_update_utc).days in (730, 731)
    # The file names are those of the CDP URLs in the certificates.
    cdp = (
        x509.load_der_x509_certificate(leaves[0])
        .extensions.get_extension_for_class(x509.CRLDistributionPoints)
        .value[0]
        .full_name[0]
        .value
    )
    assert cdp.endswith("/" + path.name)


def test_store_migrates_schema_1(tmp_path: Path) -> None:
    """A store written by schema 1 (no revocations, CRLs or audit) opens as the current
    version, migrated in place."""
    from porthos.store import schema
    from porthos.store import sqlite as S

    v1 = schema.SCHEMA.split(schema.MIGRATION_V2)[0]
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.executescript(v1)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("schema_version", "1"), ("env", "prod"), ("profile_set", "porthos")],
    )
    conn.commit()
    conn.close()
    store = S.Store.open(tmp_path / "s.sqlite")
    assert store.meta("schema_version") == str(schema.SCHEMA_VERSION)
    assert store.revocations("x") == []
    assert store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 0
    store.close()


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_openssl_crl_check(
    fresh_workspace: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    ws = fresh_workspace
    bad, good = _issue_leaves(ws, csr_factory, 2)
    revocation.revoke(
        ws,
        [x509.load_der_x509_certificate(bad).serial_number],
        "keyCompromise",
        requester="t",
        ca="ha-device-ca-1",
    )
    _publish(ws)
    pem = lambda der: x509.load_der_x509_certificate(der).public_bytes(  # noqa: E731
        serialization.Encoding.PEM
    )
    repo = ws.path / "repository"
    (tmp_path / "root.pem").write_bytes(pem((repo / "root-ca-1.crt").read_bytes()))
    (tmp_path / "ca.pem").write_bytes(pem((repo / "ha-device-ca-1.crt").read_bytes()))
    crls = b"".join(
        x509.load_der_x509_crl((repo / f"{n}.crl").read_bytes()).public_bytes(
            serialization.Encoding.PEM
        )
        for n in ("root-ca-1", "ha-device-ca-1")
    )
    (tmp_path / "crls.pem").write_bytes(crls)
    for name, der in (("bad", bad), ("good", good)):
        (tmp_path / f"{name}.pem").write_bytes(pem(der))

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                OPENSSL or "openssl",
                "verify",
                "-crl_check_all",
                "-CAfile",
                str(tmp_path / "root.pem"),
                "-untrusted",
                str(tmp_path / "ca.pem"),
                "-CRLfile",
                str(tmp_path / "crls.pem"),
                str(tmp_path / f"{name}.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    ok = verify("good")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    revoked = verify("bad")
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr


def _sharded_profile_set(tmp_path: Path, shards: int = 4) -> Path:
    """The porthos profile set with ha-device's CDP sharded (test only: the bundled
    set keeps the CP/CPS URLs)."""
    from importlib import resources

    text = resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text()
    at = text.index("[profiles.ha-device]")
    old = 'uris = ["{crl}/ha-device-ca-1.crl"] }'
    new = f'uris = ["{{crl}}/ha-device-ca-1-shard-{{shard}}.crl"], shards = {shards} }}'
    assert old in text[at:]
    path = tmp_path / "sharded.toml"
    path.write_text(text[:at] + text[at:].replace(old, new, 1))
    return path


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def test_profile_cdp_names_shard_url(csr_factory: CsrFactory, tmp_path: Path) -> None:
    from porthos.cpcps.loader import load_profile_set
    from porthos.workspace.workspace import Workspace

    assert load_profile_set().profile("ha-device").crl_shards is None
    ws = Workspace.init(tmp_path / "ws", "prod", profile_set=str(_sharded_profile_set(tmp_path)))
    try:
        leaves = _issue_leaves(ws, csr_factory, 12)
        certs = [x509.load_der_x509_certificate(d) for d in leaves]
        revoked = {c.serial_number for c in certs[:5]}
        revocation.revoke(ws, sorted(revoked), "keyCompromise", requester="t", ca="ha-device-ca-1")
        _publish(ws, "ha-device-ca-1")  # now: openssl checks nextUpdate
        repo = ws.path / "repository"
        # The shard set takes the one publication path: one number and crl.created for
        # the set, one crl.published per shard, each file where its URL points too.
        from porthos.store import audit

        shard_recs = [r for r in audit.records(ws.store) if r.details.get("kind") == "shards"]
        assert [r.event for r in shard_recs] == [audit.Event.CRL_CREATED] + [
            audit.Event.CRL_PUBLISHED
        ] * 4
        assert shard_recs[0].details["shards"] == 4 and shard_recs[0].details["entries"] == 5
        assert sorted(r.details["shard"] for r in shard_recs[1:]) == [0, 1, 2, 3]
        assert sum(r.details["entries"] for r in shard_recs[1:]) == 5
        for r in shard_recs[1:]:
            host_path, flat_path = (ws.path / p for p in r.details["paths"])
            assert host_path.read_bytes() == flat_path.read_bytes()
            assert host_path.parent.name == "crl.pki.porthos.services"
        issuer = (repo / "ha-device-ca-1.crt").read_bytes()
        (tmp_path / "root.pem").write_bytes(_pem((repo / "root-ca-1.crt").read_bytes()))
        (tmp_path / "ca.pem").write_bytes(_pem(issuer))
        shards_seen = set()
        for cert in certs:
            cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            url = cdp[0].full_name[0].value
            shard = cert.serial_number % 4
            shards_seen.add(shard)
            assert url == f"http://crl.pki.porthos.services/ha-device-ca-1-shard-{shard}.crl"
            der = (repo / url.rsplit("/", 1)[1]).read_bytes()
            parsed = C.parse_crl(der, issuer)
            # The shard CRL's IDP names exactly the URL in the certificate's CDP
            # (RFC 5280 §6.3.3 (b)(2)(i)), and it lists exactly its shard's revocations.
            assert parsed.idp_urls == [url]
            assert sorted(C.serial_ints(parsed.columns.serials)) == sorted(
                s for s in revoked if s % 4 == shard
            )
            assert parsed.is_revoked(cert.serial_number) == (cert.serial_number in revoked)
            if OPENSSL is None:
                continue
            pem = tmp_path / "leaf.pem"
            pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            (tmp_path / "shard.pem").write_bytes(
                x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
            )
            res = subprocess.run(
                [
                    OPENSSL,
                    "verify",
                    "-crl_check",
                    "-CAfile",
                    str(tmp_path / "root.pem"),
                    "-untrusted",
                    str(tmp_path / "ca.pem"),
                    "-CRLfile",
                    str(tmp_path / "shard.pem"),
                    str(pem),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if cert.serial_number in revoked:
                assert "certificate revoked" in res.stdout + res.stderr
            else:
                assert res.returncode == 0, res.stdout + res.stderr
        assert len(shards_seen) > 1
    finally:
        ws.close()


def test_sharded_cdp_profile_rules(tmp_path: Path) -> None:
    from porthos.cpcps.loader import load_profile_set

    path = _sharded_profile_set(tmp_path)
    prof = load_profile_set(str(path)).profile("ha-device")
    assert prof.crl_shards == 4
    with raises_code(ProfileError, "profile"):
        prof.template_spec_json()
    assert "ha-device-ca-1-shard-3.crl" in prof.template_spec_json(3)
    text = path.read_text()
    # A load error names the field path of the bad value: the path is what is checked.
    cdp = r"^profiles\.ha-device\.extensions\[2\]"
    for old, new, field in (
        ("shards = 4 }", "shards = 0 }", r"\.shards: "),
        ("shard-{shard}.crl", "shard.crl", r"\.uris\[0\]: "),
        ("ha-device-ca-1-shard-", "sa-device-ca-1-shard-", r"\.uris\[0\]: "),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text.replace(old, new, 1))
        with raises_code(ProfileError, "profile", match=cdp + field):
            load_profile_set(str(bad))
    # "{shard}" is only a placeholder where shards are declared.
    (tmp_path / "bad.toml").write_text(text.replace(", shards = 4", "", 1))
    with raises_code(ProfileError, "profile", match=cdp + r"\.uris\[0\]: "):
        load_profile_set(str(tmp_path / "bad.toml"))


def test_store_delta_publish(fresh_workspace: Workspace, csr_factory: CsrFactory) -> None:
    ws = fresh_workspace
    ca = ws.ca("ha-device-ca-1")
    serials = [
        x509.load_der_x509_certificate(d).serial_number for d in _issue_leaves(ws, csr_factory, 6)
    ]
    # Real times: a revocation must follow the certificate's notBefore and the CA's last
    # CRL (issue 20 §3), and these certificates were issued now.
    t0 = int(time.time())
    with raises_code(PolicyError, "policy"):
        _publish(ws, "ha-device-ca-1", delta=True, now=t0)
    revocation.revoke(ws, serials[:2], "keyCompromise", requester="t", ca=ca.name, when=t0)
    _publish(ws, "ha-device-ca-1", now=t0)
    repo = ws.path / "repository"
    issuer = (repo / "ha-device-ca-1.crt").read_bytes()
    base = C.parse_crl((repo / "ha-device-ca-1.crl").read_bytes(), issuer)
    revocation.revoke(ws, serials[2:5], "superseded", requester="t", ca=ca.name)
    out = CliRunner().invoke(
        main, ["crl", "publish", "--workdir", str(ws.path), "--ca", "ha-device-ca-1", "--delta"]
    )
    assert out.exit_code == 0, out.output
    delta = C.parse_crl((repo / "ha-device-ca-1-delta.crl").read_bytes(), issuer)
    assert delta.delta_base == base.crl_number
    assert delta.crl_number is not None and base.crl_number is not None
    assert delta.crl_number > base.crl_number
    assert sorted(C.serial_ints(delta.columns.serials)) == sorted(serials[2:5])
    # Audited like a full CRL (000 §5.4.1): created with its number, then published.
    from porthos.store import audit

    recs = [r for r in audit.records(ws.store) if r.details.get("kind") == "delta"]
    assert [(r.event, r.details["number"]) for r in recs] == [
        (audit.Event.CRL_CREATED, delta.crl_number),
        (audit.Event.CRL_PUBLISHED, delta.crl_number),
    ]
    assert recs[0].details["delta_base"] == base.crl_number
    assert recs[1].details["paths"] == ["repository/ha-device-ca-1-delta.crl"]
    _publish(ws, "ha-device-ca-1", now=int(time.time()) + 30)
    full = C.parse_crl((repo / "ha-device-ca-1.crl").read_bytes(), issuer)
    assert len(full) == 5
    assert C.check_delta(base, delta, full)


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _write_issuer_files(issuer: Issuer, tmp_path: Path) -> tuple[Path, Path]:
    cert = tmp_path / "ca.pem"
    key = tmp_path / "ca.key"
    cert.write_bytes(issuer.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        issuer.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_cli_build_inspect_diff(issuer: Issuer, tmp_path: Path) -> None:
    cert, key = _write_issuer_files(issuer, tmp_path)
    csv_a = tmp_path / "a.csv"
    csv_a.write_text(
        "serial_hex,revocation_time,reason,invalidity_date\n"
        "0a,2025-01-01T00:00:00Z,keyCompromise,2024-12-31T00:00:00Z\n"
        "0b,2025-01-02T00:00:00Z,superseded\n"
        "0c,2025-01-03T00:00:00Z,unspecified\n"
    )
    csv_b = tmp_path / "b.csv"
    csv_b.write_text("0b,2025-01-02T00:00:00Z,superseded\n0d,2025-01-04T00:00:00Z,cACompromise\n")
    runner = CliRunner()
    for src, out in ((csv_a, "a.crl"), (csv_b, "b.crl")):
        r = runner.invoke(
            main,
            [
                "crl",
                "build",
                "--revoked",
                str(src),
                "--issuer-cert",
                str(cert),
                "--issuer-key",
                str(key),
                "--number",
                "5",
                "--next-update",
                "7",
                "--out",
                str(tmp_path / out),
            ],
        )
        assert r.exit_code == 0, r.output
    a = x509.load_der_x509_crl((tmp_path / "a.crl").read_bytes())
    assert a.is_signature_valid(issuer.cert.public_key()) and len(a) == 3
    r = runner.invoke(
        main, ["crl", "inspect", str(tmp_path / "a.crl"), "--issuer-cert", str(cert)]
    )
    assert r.exit_code == 0 and "verified" in r.output and "keyCompromise" in r.output
    r = runner.invoke(main, ["crl", "diff", str(tmp_path / "a.crl"), str(tmp_path / "b.crl")])
    assert r.exit_code == 0
    assert "+ d" in r.output and "- a" in r.output and "- c" in r.output
    assert "1 added, 2 removed, 1 in both" in r.output


def test_cli_build_reports_bad_lines_and_writes_nothing(issuer: Issuer, tmp_path: Path) -> None:
    cert, key = _write_issuer_files(issuer, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "0a,2025-01-01T00:00:00Z,keyCompromise\n"
        "zz,2025-01-01T00:00:00Z,keyCompromise\n"
        "0b,yesterday,keyCompromise\n"
        "0c,2025-01-01T00:00:00Z,sneezed\n"
    )
    r = CliRunner().invoke(
        main,
        [
            "crl",
            "build",
            "--revoked",
            str(bad),
            "--issuer-cert",
            str(cert),
            "--issuer-key",
            str(key),
            "--number",
            "1",
            "--next-update",
            "7",
            "--out",
            str(tmp_path / "x.crl"),
        ],
    )
    assert r.exit_code == 2
    assert "line 2" in r.output and "line 3" in r.output and "line 4" in r.output
    assert not (tmp_path / "x.crl").exists()


def test_cli_build_shards_and_npz(issuer: Issuer, tmp_path: Path) -> None:
    cert, key = _write_issuer_files(issuer, tmp_path)
    cols = random_columns(1000)
    np.savez(
        tmp_path / "r.npz",
        serials=cols.serials,
        revocation_times=cols.revocation_times,
        reasons=cols.reasons,
        invalidity_dates=cols.invalidity_dates,
    )
    r = CliRunner().invoke(
        main,
        [
            "crl",
            "build",
            "--revoked",
            str(tmp_path / "r.npz"),
            "--issuer-cert",
            str(cert),
            "--issuer-key",
            str(key),
            "--number",
            "3",
            "--next-update",
            "7",
            "--out",
            str(tmp_path / "s-{shard}.crl"),
            "--shards",
            "3",
            "--url-template",
            "http://crl.example/s-{shard}.crl",
        ],
    )
    assert r.exit_code == 0, r.output
    total = sum(
        len(C.parse_crl((tmp_path / f"s-{i}.crl").read_bytes(), issuer.der)) for i in range(3)
    )
    assert total == 1000


def test_cli_publish(fresh_workspace: Workspace) -> None:
    r = CliRunner().invoke(
        main, ["crl", "publish", "-w", str(fresh_workspace.path), "--ca", "user-ca-1"]
    )
    assert r.exit_code == 0, r.output
    assert (fresh_workspace.path / "repository" / "user-ca-1.crl").is_file()
