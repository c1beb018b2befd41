"""Hostile PKCS#10 requests: every per-item problem is a status code with a detail, never an
exception; only a malformed *argument* raises.

Variants are cut from a valid pyca-built CSR at the DER level (tests/reference_encoder.py
decodes and re-encodes the outer TLVs), so each one differs from a good request in exactly
the way its name says.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pytest
import reference_encoder as ref
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509.oid import NameOID
from porthos.status import CsrStatus, IssueStatus, KeyType

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _native() -> Any:
    import porthos._native as native

    return native


def make_csr(
    key: Any, cn: str = "3f1c2a4e-8b7d-4c1a-9e2f-0a1b2c3d4e5f", device: bool = False
) -> bytes:
    """A CSR with O + CN and a SAN request; device=True: only CN=<UUID>, as a device sends."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if not device:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dormakaba"))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if not device:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("device.example")]), False)
    algo = None if isinstance(key, ed448.Ed448PrivateKey) else hashes.SHA256()
    return b.sign(key, algo).public_bytes(serialization.Encoding.DER)


@lru_cache(maxsize=1)
def good_p256() -> tuple[bytes, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return make_csr(key), key


# --- DER surgery ---------------------------------------------------------------------------


def split_csr(der: bytes) -> tuple[bytes, bytes, bytes]:
    """(certificationRequestInfo TLV, signatureAlgorithm TLV, signature BIT STRING contents)."""
    tag, body, end = ref.read_tlv(der, 0)
    assert tag == ref.SEQUENCE and end == len(der)
    info, alg, sig = ref.raw_children(body)
    sig_tag, sig_body, _ = ref.read_tlv(sig, 0)
    assert sig_tag == ref.BIT_STRING and sig_body[0] == 0
    return info, alg, sig_body[1:]


def join_csr(info: bytes, alg: bytes, signature: bytes) -> bytes:
    return ref.seq(info, alg, ref.bit_string(signature))


def ecdsa_sig(r: int, s: int) -> bytes:
    return ref.seq(ref.integer(r), ref.integer(s))


def ecdsa_rs(sig: bytes) -> tuple[int, int]:
    (rt, r), (st_, s) = ref.children(ref.read_tlv(sig, 0)[1])
    assert rt == st_ == ref.INTEGER
    return int.from_bytes(r, "big"), int.from_bytes(s, "big")


def with_signature(der: bytes, r: int, s: int) -> bytes:
    info, alg, _ = split_csr(der)
    return join_csr(info, alg, ecdsa_sig(r, s))


def flip_sig_bit(der: bytes) -> bytes:
    # The last octet of the CSR is the last octet of s: flipping its low bit keeps a
    # well-formed INTEGER, so only the signature check can catch it.
    return der[:-1] + bytes([der[-1] ^ 0x01])


def off_curve(der: bytes) -> bytes:
    """Flip one bit of the point's Y coordinate inside the SPKI; the result is not on P-256
    (for a random point the chance that it is, is negligible: about 2^-128)."""
    info, alg, sig = split_csr(der)
    version, subject, spki, attrs = ref.raw_children(ref.read_tlv(info, 0)[1])
    alg_id, bits = ref.raw_children(ref.read_tlv(spki, 0)[1])
    point = bytearray(ref.read_tlv(bits, 0)[1][1:])
    assert point[0] == 0x04 and len(point) == 65  # uncompressed (SEC 1 §2.3.3)
    point[-1] ^= 0x01
    new_spki = ref.seq(alg_id, ref.bit_string(bytes(point)))
    return join_csr(ref.seq(version, subject, new_spki, attrs), alg, sig)


def long_form_outer_length(der: bytes) -> bytes:
    """Same contents, but the outer length in a non-minimal long form (BER, not DER)."""
    _, body, _ = ref.read_tlv(der, 0)
    n = len(body)
    return b"\x30\x83" + n.to_bytes(3, "big") + body


def indefinite_outer_length(der: bytes) -> bytes:
    _, body, _ = ref.read_tlv(der, 0)
    return b"\x30\x80" + body + b"\x00\x00"


# --- the batch -----------------------------------------------------------------------------


def cases() -> list[tuple[str, bytes, CsrStatus]]:
    good, _ = good_p256()
    r, s = ecdsa_rs(split_csr(good)[2])
    rsa1024 = rsa.generate_private_key(65537, 1024)
    rsa2048 = rsa.generate_private_key(65537, 2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    out: list[tuple[str, bytes, CsrStatus]] = [
        ("good p256", good, CsrStatus.OK),
        ("good rsa-2048", make_csr(rsa2048), CsrStatus.OK),
        ("good p384", make_csr(p384), CsrStatus.OK),
        ("empty", b"", CsrStatus.MALFORMED),
    ]
    for cut in (1, 2, 10, len(good) // 2, len(good) - 1):
        out.append((f"truncated at {cut}", good[:cut], CsrStatus.MALFORMED))
    out += [
        ("trailing byte", good + b"\x00", CsrStatus.MALFORMED),
        ("trailing TLV", good + b"\x05\x00", CsrStatus.MALFORMED),
        ("BER long-form length", long_form_outer_length(good), CsrStatus.MALFORMED),
        ("indefinite length", indefinite_outer_length(good), CsrStatus.MALFORMED),
        ("flipped signature bit", flip_sig_bit(good), CsrStatus.BAD_SIGNATURE),
        # Out-of-range r/s are well-formed DER, so they are bad signatures, not bad DER
        # (FIPS 186-5 §6.4.2: verification fails unless 0 < r, s < n).
        ("r = 0", with_signature(good, 0, s), CsrStatus.BAD_SIGNATURE),
        ("s = 0", with_signature(good, r, 0), CsrStatus.BAD_SIGNATURE),
        ("r = n", with_signature(good, P256_N, s), CsrStatus.BAD_SIGNATURE),
        ("s = n", with_signature(good, r, P256_N), CsrStatus.BAD_SIGNATURE),
        ("s = n + s", with_signature(good, r, P256_N + s), CsrStatus.BAD_SIGNATURE),
        ("off-curve point", off_curve(good), CsrStatus.WEAK_KEY),
        ("rsa-1024", make_csr(rsa1024), CsrStatus.WEAK_KEY),
        ("ed448", make_csr(ed448.Ed448PrivateKey.generate()), CsrStatus.UNSUPPORTED_ALGORITHM),
        (
            "certificate, not a CSR",
            ref.seq(ref.seq(ref.integer(1)), ref.seq(), ref.bit_string(b"")),
            CsrStatus.MALFORMED,
        ),
    ]
    return out


@lru_cache(maxsize=1)
def parsed() -> tuple[list[tuple[str, bytes, CsrStatus]], Any]:
    c = cases()
    return c, _native().parse_csrs([der for _, der, _ in c], threads=1)


def test_statuses_per_variant() -> None:
    c, batch = parsed()
    assert len(batch) == len(c)
    got = {name: CsrStatus(int(batch.status[i])) for i, (name, _, _) in enumerate(c)}
    want = {name: status for name, _, status in c}
    assert got == want


def test_details_say_what_and_where() -> None:
    c, batch = parsed()
    for i, (name, _, status) in enumerate(c):
        detail = batch.detail(i)
        if status is CsrStatus.OK:
            assert detail == "", name
        else:
            assert detail.strip(), f"{name}: empty detail"
    for i, (name, _, status) in enumerate(c):
        # Malformed DER: the detail names the byte offset (exceptions.py DerDecodeError).
        if status is CsrStatus.MALFORMED:
            assert re.search(r"\d", batch.detail(i)), f"{name}: {batch.detail(i)!r} has no offset"


def test_good_requests_are_decoded() -> None:
    c, batch = parsed()
    names = [n for n, _, _ in c]
    i256, irsa, i384 = (
        names.index("good p256"),
        names.index("good rsa-2048"),
        names.index("good p384"),
    )
    assert (int(batch.key_type[i256]), int(batch.key_bits[i256])) == (KeyType.EC_P256, 256)
    assert (int(batch.key_type[i384]), int(batch.key_bits[i384])) == (KeyType.EC_P384, 384)
    assert (int(batch.key_type[irsa]), int(batch.key_bits[irsa])) == (KeyType.RSA, 2048)
    assert batch.signature_algorithm(i256) == "ecdsa-sha256"
    assert batch.signature_algorithm(irsa) == "rsa-pkcs1-sha256"
    good_der = c[i256][1]
    pyca = x509.load_der_x509_csr(good_der)
    assert batch.spki(i256) == pyca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert batch.subject(i256) == [
        ("2.5.4.10", "dormakaba"),
        ("2.5.4.3", "3f1c2a4e-8b7d-4c1a-9e2f-0a1b2c3d4e5f"),
    ]
    (ext,) = batch.requested_extensions(i256)
    san = pyca.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert ext == ("2.5.29.17", False, san.value.public_bytes())


def test_batch_columns_match_the_per_item_accessors() -> None:
    # subjects()/spkis()/spki_sha256() are what issuance reads (one call each): the same
    # values as subject(i)/spki(i)/sha256(spki(i)); empty/zeros where nothing parsed.
    c, batch = parsed()
    subjects, spkis, hashes = batch.subjects(), batch.spkis(), batch.spki_sha256()
    assert len(subjects) == len(spkis) == len(hashes) == len(c)
    for i, (name, _, status) in enumerate(c):
        assert subjects[i] == batch.subject(i), name
        assert spkis[i] == batch.spki(i), name
        if spkis[i]:
            assert hashes[i] == hashlib.sha256(spkis[i]).digest(), name
        else:
            assert status is not CsrStatus.OK and hashes[i] == bytes(32), name


def test_verify_false_skips_only_the_signature() -> None:
    good, _ = good_p256()
    r, s = ecdsa_rs(split_csr(good)[2])
    batch = _native().parse_csrs(
        [flip_sig_bit(good), with_signature(good, 0, s), good[:-1]], verify=False
    )
    assert [int(x) for x in batch.status] == [CsrStatus.OK, CsrStatus.OK, CsrStatus.MALFORMED]


def test_threads_do_not_change_results() -> None:
    c, batch = parsed()
    again = _native().parse_csrs([der for _, der, _ in c], threads=2)
    assert list(again.status) == list(batch.status)


@pytest.mark.parametrize(
    "bad_argument",
    [
        lambda good: [good, 123],
        lambda good: [good, None],
        lambda good: good,  # bytes itself is not a sequence of requests
    ],
)
def test_malformed_argument_raises(bad_argument: Callable[[bytes], Any]) -> None:
    from porthos.exceptions import BatchArgumentError

    good, _ = good_p256()
    with pytest.raises((TypeError, BatchArgumentError)):
        _native().parse_csrs(bad_argument(good))


def test_empty_batch() -> None:
    batch = _native().parse_csrs([])
    assert len(batch) == 0 and batch.status.shape == (0,)


# --- through the policy layer --------------------------------------------------------------


def test_issue_batch_statuses(tmp_path: Any) -> None:
    """P-384 to the P-256-only HA device profile (000 §7.1.3.1, §6.1.5) is KEY_NOT_ALLOWED;
    the CSR-level failures arrive with the same numbers (status.py: 1-4 mirror CsrStatus)."""
    import porthos

    ws = porthos.Workspace.init(tmp_path / "ws", env="nonprod")
    ca = ws.ca("ha-device-ca-1")
    good = make_csr(ec.generate_private_key(ec.SECP256R1()), device=True)
    csrs = [
        good,
        make_csr(ec.generate_private_key(ec.SECP384R1()), device=True),
        flip_sig_bit(good),
        good[:-1],
        make_csr(rsa.generate_private_key(65537, 1024), device=True),
    ]
    result = ca.issue_batch(csrs, profile="ha-device", threads=1)
    assert [int(x) for x in result.status] == [
        IssueStatus.ISSUED,
        IssueStatus.KEY_NOT_ALLOWED,
        IssueStatus.BAD_SIGNATURE,
        IssueStatus.MALFORMED,
        IssueStatus.WEAK_KEY,
    ]
    assert result.certificates[0] is not None
    assert all(c is None for c in result.certificates[1:])
    assert result.reasons[0] == "" and all(r for r in result.reasons[1:])
