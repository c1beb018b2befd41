"""The small building blocks of porthos._native, each checked against pyca/cryptography or
hashlib (independent implementations), plus the buffer-ownership rules of DerBatch."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import pickle
from typing import Any

import numpy as np
import pytest
import reference_encoder as ref
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from porthos import _native
from porthos.exceptions import (
    BatchArgumentError,
    DerDecodeError,
    EncodeError,
    KeyMaterialError,
)


def _spki(key: Any) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _batch(n: int = 5) -> Any:
    """A real DerBatch: n TBSCertificates from a tiny template."""
    spec = {"extensions": [{"type": "basic_constraints", "ca": False}]}
    key = ec.generate_private_key(ec.SECP256R1())
    tpl = _native.Template(json.dumps(spec), ref.name([("CN", "t")]), None, "ecdsa-sha256")
    return tpl.fill(
        serials=[bytes([i + 1]) for i in range(n)],
        not_before=[1_700_000_000 + i for i in range(n)],
        not_after=[1_800_000_000] * n,
        subjects=[[("2.5.4.3", f"item {i}")] for i in range(n)],
        spkis=[_spki(key)] * n,
    )


def test_build_profile() -> None:
    assert _native.BUILD_PROFILE in ("release", "debug")
    assert isinstance(_native.__version__, str) and _native.__version__


# --- DerBatch ------------------------------------------------------------------------------


def test_der_batch_sequence_protocol() -> None:
    b = _batch(5)
    assert len(b) == 5
    items = b.to_list()
    assert list(b) == items
    assert [b[i] for i in range(5)] == items
    assert b[-1] == items[-1]
    with pytest.raises(IndexError):
        b[5]
    for i, item in enumerate(items):
        _, body, end = ref.read_tlv(item, 0)  # each item is one whole DER TLV
        assert end == len(item)
        assert f"item {i}".encode() in item


def test_der_batch_views() -> None:
    b = _batch(4)
    data, offsets = b.data, b.offsets
    assert data.dtype == np.uint8 and offsets.dtype == np.uint64
    assert offsets.shape == (5,) and int(offsets[0]) == 0 and int(offsets[-1]) == data.size
    for i in range(4):
        assert data[int(offsets[i]) : int(offsets[i + 1])].tobytes() == b[i]
    # Read-only: the batch owns the bytes; writing through a view must be impossible.
    assert not data.flags.writeable and not offsets.flags.writeable
    with pytest.raises(ValueError):
        data[0] = 0
    with pytest.raises(ValueError):
        offsets[0] = 1


def test_der_batch_views_outlive_the_batch_reference() -> None:
    b = _batch(3)
    expected = b.to_list()
    data, offsets = b.data, b.offsets
    del b
    gc.collect()
    # The views keep the batch (and its buffer) alive.
    got = [data[int(offsets[i]) : int(offsets[i + 1])].tobytes() for i in range(3)]
    assert got == expected


# --- serials -------------------------------------------------------------------------------


def test_generate_serials() -> None:
    s = _native.generate_serials(1000)
    assert s.shape == (1000, 16) and s.dtype == np.uint8
    # First octet 0x01..0x7f: positive and minimal as a DER INTEGER (RFC 5280 §4.1.2.2).
    assert int(s[:, 0].min()) >= 0x01 and int(s[:, 0].max()) <= 0x7F
    assert len({row.tobytes() for row in s}) == 1000
    s20 = _native.generate_serials(10, 20)
    assert s20.shape == (10, 20)
    assert _native.generate_serials(0).shape == (0, 16)


def test_generate_serials_rejects_oversize() -> None:
    # More than 20 octets breaks RFC 5280 §4.1.2.2.
    with pytest.raises((EncodeError, BatchArgumentError, ValueError)):
        _native.generate_serials(1, 21)


# --- names ---------------------------------------------------------------------------------

NAME_CASES = [
    [("C", "CH"), ("O", "dormakaba"), ("CN", "Porthos Root CA 1")],
    [
        ("CN", "3f1c2a4e-8b7d-4c1a-9e2f-0a1b2c3d4e5f"),
        ("OU", "Porthos HA Device"),
        ("O", "dormakaba"),
    ],
    [("serialNumber", "SN-0042"), ("CN", "Zürich Gerät"), ("L", "Rümlang"), ("ST", "ZH")],
    [("dnQualifier", "abc"), ("2.5.4.3", "dotted form")],
]
PYCA_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "dnQualifier": NameOID.DN_QUALIFIER,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
}


@pytest.mark.parametrize("attrs", NAME_CASES)
def test_encode_name_matches_pyca(attrs: list[tuple[str, str]]) -> None:
    pyca = x509.Name(
        [
            x509.NameAttribute(PYCA_OIDS[a] if a in PYCA_OIDS else x509.ObjectIdentifier(a), v)
            for a, v in attrs
        ]
    )
    assert _native.encode_name(attrs) == pyca.public_bytes()
    assert _native.encode_name(attrs) == ref.name(attrs)


def test_encode_name_rejects_non_printable_country() -> None:
    # C is a PrintableString (X.520); "Ü" cannot be one.
    with pytest.raises(EncodeError):
        _native.encode_name([("C", "Ü")])


# --- key identifiers, signatures -----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(65537, 2048),
    ],
    ids=["p256", "p384", "rsa2048"],
)
def test_key_identifier_matches_pyca(key: Any) -> None:
    expected = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    assert _native.key_identifier(_spki(key)) == expected


def test_ecdsa_raw_to_der_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for i in range(50):
        der = key.sign(f"m{i}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert _native.ecdsa_raw_to_der(raw) == der
    # Leading zero octets in r must be stripped (minimal INTEGER).
    raw = bytes(31) + b"\x05" + bytes(31) + b"\x80"
    der = _native.ecdsa_raw_to_der(raw)
    assert decode_dss_signature(der) == (5, 0x80)
    assert der == ref.seq(ref.integer(5), ref.integer(0x80))


def test_ecdsa_raw_to_der_rejects_odd_length() -> None:
    with pytest.raises(ValueError):
        _native.ecdsa_raw_to_der(b"\x01" * 63)


SOFTWARE_KEYS = [
    ("ec-p256", None, "ecdsa-sha256"),
    ("ec-p384", None, "ecdsa-sha384"),
    ("rsa-2048", None, "rsa-pkcs1-sha256"),
    ("rsa-2048", "rsa-pss-sha256", "rsa-pss-sha256"),
    ("rsa-3072", "rsa-pkcs1-sha384", "rsa-pkcs1-sha384"),
]


def _pyca_verify(spki: bytes, alg: str, sig: bytes, msg: bytes) -> None:
    pub = serialization.load_der_public_key(spki)
    h: hashes.HashAlgorithm = hashes.SHA256() if alg.endswith("256") else hashes.SHA384()
    if alg.startswith("ecdsa"):
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(sig, msg, ec.ECDSA(h))
    else:
        assert isinstance(pub, rsa.RSAPublicKey)
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(h), h.digest_size) if "pss" in alg else padding.PKCS1v15()
        )
        pub.verify(sig, msg, pad, h)


@pytest.mark.parametrize(("key_type", "requested", "alg"), SOFTWARE_KEYS)
def test_software_key_signs_verifiably(key_type: str, requested: str | None, alg: str) -> None:
    k = _native.SoftwareKey.generate(key_type, requested)
    assert k.key_type == key_type
    assert k.signature_algorithm == alg
    msg = b"tbs " * 100
    _pyca_verify(k.public_key_der(), alg, k.sign(msg), msg)
    # PKCS#8 round trip: the same key, so the same public key, and still signing.
    k2 = _native.SoftwareKey.from_pkcs8(k.to_pkcs8(), alg)
    assert k2.public_key_der() == k.public_key_der()
    _pyca_verify(k.public_key_der(), alg, k2.sign(msg), msg)
    # pyca can load the PKCS#8 too (it is a standard PrivateKeyInfo).
    loaded = serialization.load_der_private_key(k.to_pkcs8(), None)
    assert _spki(loaded) == k.public_key_der()


def test_software_key_from_pyca_pkcs8() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    k = _native.SoftwareKey.from_pkcs8(der)
    assert k.public_key_der() == _spki(key)
    _pyca_verify(_spki(key), "ecdsa-sha256", k.sign(b"x"), b"x")


def test_software_key_rejects_mismatch() -> None:
    with pytest.raises(KeyMaterialError):
        _native.SoftwareKey.generate("ec-p256", "rsa-pkcs1-sha256")
    with pytest.raises(KeyMaterialError):
        _native.SoftwareKey.from_pkcs8(b"\x30\x03\x02\x01\x00")
    with pytest.raises(KeyMaterialError):
        _native.SoftwareKey.generate("ec-p521x")


# --- digests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sha256", "sha384", "sha512"])
def test_tbs_digests_match_hashlib(name: str) -> None:
    b = _batch(6)
    d = _native.tbs_digests(b, name)
    size = hashlib.new(name).digest_size
    assert d.shape == (6, size) and d.dtype == np.uint8
    for i in range(6):
        assert d[i].tobytes() == hashlib.new(name, b[i]).digest()


def test_verify_signatures_argument_lengths_must_agree() -> None:
    with pytest.raises(BatchArgumentError):
        _native.verify_signatures("ecdsa-sha256", [b"k"], [b"m", b"m2"], [b"s"])


# --- DER decode errors carry their location (rust/porthos-py/src/error.rs) ------------------


def _crl_der() -> bytes:
    """A small valid CRL from pyca/cryptography (empty revokedCertificates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .last_update(t)
        .next_update(t + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def test_key_identifier_der_error_has_offset_and_path() -> None:
    # An empty SEQUENCE: the algorithm inside it is missing at byte 2.
    with pytest.raises(DerDecodeError) as err:
        _native.key_identifier(b"\x30\x00")
    assert err.value.code == "der-decode"
    assert (err.value.offset, err.value.path) == (2, "SubjectPublicKeyInfo.algorithm")


def test_parse_crl_der_error_has_offset_and_path() -> None:
    der = _crl_der()
    assert len(_native.parse_crl(der)) == 0
    # thisUpdate is the first UTCTime (tag 0x17, 13 octets); make it an OCTET STRING.
    at = der.index(b"\x17\x0d")
    bad = der[:at] + b"\x04" + der[at + 1 :]
    with pytest.raises(DerDecodeError) as err:
        _native.parse_crl(bad)
    assert err.value.code == "der-decode"
    assert err.value.offset == at
    assert err.value.path == "CertificateList.tbsCertList.thisUpdate"
    # Cut short: the outermost value announces more octets than there are.
    with pytest.raises(DerDecodeError) as err:
        _native.parse_crl(der[:-5])
    assert (err.value.offset, err.value.path) == (0, "CertificateList")


def test_crl_drafts_issuer_der_error_names_the_argument() -> None:
    with pytest.raises(DerDecodeError) as err:
        _native.crl_drafts(
            b"\x30\x00",
            np.zeros((0, 16), np.uint8),
            np.zeros(0, np.int64),
            np.zeros(0, np.uint8),
            crl_numbers=[b"\x01"],
            this_update=0,
            signature_algorithm="ecdsa-sha256",
        )
    assert err.value.code == "der-decode"
    assert (err.value.offset, err.value.path) == (2, "issuer_cert.Certificate.tbsCertificate")


def test_der_decode_error_location_survives_pickle_and_defaults_to_none() -> None:
    with pytest.raises(DerDecodeError) as err:
        _native.key_identifier(b"\x30\x00")
    copy = pickle.loads(pickle.dumps(err.value))
    assert (type(copy), str(copy)) == (DerDecodeError, str(err.value))
    assert (copy.offset, copy.path) == (2, "SubjectPublicKeyInfo.algorithm")
    # Raised from Python without a location: the class defaults.
    plain = DerDecodeError("not DER")
    assert (plain.offset, plain.path, str(plain)) == (None, None, "not DER")
