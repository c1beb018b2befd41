"""Workspace + CertificateAuthority end to end, checked with pyca/cryptography against
the 000 §7.1 tables field by field."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID
from error_codes import raises_code
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos import IssueStatus, Workspace
from porthos.cpcps.policy import add_months
from porthos.exceptions import PolicyError, WorkspaceError
from porthos.issuance.csr_input import split_csr_pem
from test_profiles import BASES, CAS, PROFILES

NOW = int(datetime(2026, 1, 31, 9, 30, 0, tzinfo=UTC).timestamp())
SHORT = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.SERIAL_NUMBER: "serialNumber",
}
KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def name_list(name: x509.Name) -> list[tuple[str, str]]:
    return [(SHORT[a.oid], str(a.value)) for a in name]


def ski_of(cert: x509.Certificate) -> bytes:
    # RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def request_for(
    profile: str, factory: CsrFactory, n: int = 0
) -> tuple[bytes, list[tuple[str, str]]]:
    """A good CSR for a profile, and the subject tail the certificate must carry."""
    if profile in ("ha-device", "sa-device"):
        u = str(uuid.UUID(int=n + 1))
        if profile == "sa-device":
            csr = factory.make([("OU", "realm-a"), ("CN", u), ("serialNumber", "SN-1")])
            return csr, [("OU", "realm-a"), ("CN", u), ("serialNumber", "SN-1")]
        return factory.make([("C", "US"), ("CN", u)]), [("CN", u)]
    if profile == "tls-client":
        cn = f"host{n}.porthos.example:agent"
    elif profile == "tls-server":
        cn = f"host{n}.porthos.example"
    elif profile == "user":
        cn = f"Jürg Müller {n}"
    else:
        cn = f"ABC{n:061d}"
        return factory.make([("CN", cn)], "rsa-2048"), [("CN", cn)]
    return factory.make([("O", "ignored"), ("CN", cn)]), [("CN", cn)]


# --------------------------------------------------------------------------------------
# The hierarchy
# --------------------------------------------------------------------------------------


def test_hierarchy_matches_the_tables(workspace: Workspace) -> None:
    env = workspace.env
    crl, crt = BASES[env]
    assert [ca.name for ca in workspace.cas] == list(CAS)
    root = x509.load_der_x509_certificate(workspace.ca("root-ca-1").certificate)
    for ca in workspace.cas:
        cn_prod, cn_nonprod, months, path_len = CAS[ca.name]
        der = workspace.repository_path(ca.name).read_bytes()
        assert der == ca.certificate  # published under the AIA file name (000 §2.1)
        cert = x509.load_der_x509_certificate(der)
        assert cert.version == x509.Version.v3
        assert name_list(cert.subject) == [
            ("C", "CH"),
            ("O", "dormakaba"),
            ("CN", cn_prod if env == "prod" else cn_nonprod),
        ]
        assert cert.issuer.public_bytes() == root.subject.public_bytes()
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
        assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
        start = int(cert.not_valid_before_utc.timestamp())
        assert int(cert.not_valid_after_utc.timestamp()) == add_months(start, months)
        # 16-octet CSPRNG serial, positive (not the real PKI's 1..4, see porthos.toml)
        assert 0 < cert.serial_number < 2**127
        assert cert.serial_number.bit_length() > 64
        cert.verify_directly_issued_by(root)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical
        assert [f for f in KU_FIELDS if getattr(ku.value, f)] == ["key_cert_sign", "crl_sign"]
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == path_len
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert aki.value.key_identifier == ski_of(root)
        assert cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest == ski_of(cert)
        oids = [e.oid for e in cert.extensions]
        if ca.name == "root-ca-1":
            # The table lists AKI = SKI for the root.
            assert aki.value.key_identifier == ski_of(cert)
            assert oids == [
                ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                ExtensionOID.KEY_USAGE,
                ExtensionOID.BASIC_CONSTRAINTS,
            ]
        else:
            assert oids == [
                ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                ExtensionOID.CRL_DISTRIBUTION_POINTS,
                ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
                ExtensionOID.KEY_USAGE,
                ExtensionOID.BASIC_CONSTRAINTS,
            ]
            cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            assert [n.value for n in cdp[0].full_name or []] == [f"{crl}/root-ca-1.crl"]
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            assert [(d.access_method._name, d.access_location.value) for d in aia] == [
                ("caIssuers", f"{crt}/root-ca-1.crt")
            ]


def test_keys_are_private_and_reload(workspace: Workspace) -> None:
    for ca in workspace.cas:
        path = workspace.path / "keys" / f"{ca.name}.p8"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        key = serialization.load_der_private_key(path.read_bytes(), None)
        cert = x509.load_der_x509_certificate(ca.certificate)
        assert key.public_key() == cert.public_key()


def test_init_refuses_an_initialised_workspace(workspace: Workspace) -> None:
    with raises_code(WorkspaceError, "workspace"):
        Workspace.init(workspace.path, workspace.env)


def test_open_refuses_a_missing_workspace(tmp_path: Path) -> None:
    with raises_code(WorkspaceError, "workspace"):
        Workspace.open(tmp_path)


def test_open_and_issue_with_reloaded_keys(workspace: Workspace, csr_factory: CsrFactory) -> None:
    with Workspace.open(workspace.path) as ws:
        assert ws.env == workspace.env
        assert [c.certificate for c in ws.cas] == [c.certificate for c in workspace.cas]
        csr, _ = request_for("user", csr_factory, 999)
        result = ws.ca("user-ca-1").issue_batch([csr], "user", now=NOW)
        assert result.issued_count == 1
        cert = x509.load_der_x509_certificate(result.certificates[0] or b"")
        cert.verify_directly_issued_by(
            x509.load_der_x509_certificate(ws.ca("user-ca-1").certificate)
        )


# --------------------------------------------------------------------------------------
# Every profile, field by field
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(PROFILES))
def test_issue_every_profile(workspace: Workspace, csr_factory: CsrFactory, profile: str) -> None:
    section, issuer_name, _rule, prefix, _keys, validity, usages, eku = PROFILES[profile]
    crl, crt = BASES[workspace.env]
    ca = workspace.ca_for_profile(profile)
    assert ca.name == issuer_name
    issuer = x509.load_der_x509_certificate(ca.certificate)
    csrs = [request_for(profile, csr_factory, n) for n in range(3)]
    before = workspace.store.count_certificates(ca.name)
    result = ca.issue_batch([c for c, _ in csrs], profile, now=NOW)
    assert result.status.dtype == np.uint8
    assert result.status.tolist() == [0, 0, 0], result.reasons
    assert result.reasons == ["", "", ""]
    assert result.issued_count == 3
    assert workspace.store.count_certificates(ca.name) == before + 3

    serials = set()
    for (csr_der, tail), der in zip(csrs, result.certificates, strict=True):
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        csr = x509.load_der_x509_csr(csr_der)
        assert cert.version == x509.Version.v3
        assert cert.issuer.public_bytes() == issuer.subject.public_bytes()
        assert name_list(cert.subject) == [*prefix, *tail]
        assert int(cert.not_valid_before_utc.timestamp()) == NOW
        assert int(cert.not_valid_after_utc.timestamp()) == validity.not_after(NOW)
        if validity.days:
            assert cert.not_valid_after_utc - cert.not_valid_before_utc == (
                datetime.fromtimestamp(NOW + 5 * 86400, UTC) - datetime.fromtimestamp(NOW, UTC)
            )
        else:  # 2026-01-31 + 13 months = 2027-02-28 (day clamped)
            assert cert.not_valid_after_utc == datetime(2027, 2, 28, 9, 30, 0, tzinfo=UTC)
        assert cert.public_key() == csr.public_key()
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
        serials.add(cert.serial_number)
        assert 0 < cert.serial_number < 2**127

        expected_oids = [
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
            ExtensionOID.SUBJECT_KEY_IDENTIFIER,
            ExtensionOID.CRL_DISTRIBUTION_POINTS,
            ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
            ExtensionOID.KEY_USAGE,
            *([ExtensionOID.EXTENDED_KEY_USAGE] if eku else []),
            ExtensionOID.BASIC_CONSTRAINTS,
        ]
        assert [e.oid for e in cert.extensions] == expected_oids
        exts: dict[Any, x509.Extension[Any]] = {e.oid: e for e in cert.extensions}
        aki = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER]
        assert not aki.critical and aki.value.key_identifier == ski_of(issuer)
        ski = exts[ExtensionOID.SUBJECT_KEY_IDENTIFIER]
        assert not ski.critical and ski.value.digest == ski_of(cert)
        # SKI = SHA-1 of the subjectPublicKey BIT STRING of the CSR's key (RFC 5280
        # §4.2.1.2 method 1): the EC point, or the DER RSAPublicKey.
        pub = csr.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            bits = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        else:
            bits = pub.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        assert ski.value.digest == hashlib.sha1(bits).digest()
        cdp = exts[ExtensionOID.CRL_DISTRIBUTION_POINTS]
        assert not cdp.critical
        assert [n.value for n in cdp.value[0].full_name] == [f"{crl}/{issuer_name}.crl"]
        aia = exts[ExtensionOID.AUTHORITY_INFORMATION_ACCESS]
        assert not aia.critical
        assert [d.access_location.value for d in aia.value] == [f"{crt}/{issuer_name}.crt"]
        ku = exts[ExtensionOID.KEY_USAGE]
        assert ku.critical
        assert [f for f in KU_FIELDS if getattr(ku.value, f)] == usages
        if eku:
            e = exts[ExtensionOID.EXTENDED_KEY_USAGE]
            assert not e.critical and [o.dotted_string for o in e.value] == eku
        bc = exts[ExtensionOID.BASIC_CONSTRAINTS]
        assert bc.critical and not bc.value.ca and bc.value.path_length is None
        cert.verify_directly_issued_by(issuer)
    assert len(serials) == 3


def test_tls_server_has_no_key_encipherment(
    workspaces: dict[str, Workspace], csr_factory: CsrFactory
) -> None:
    """Deviation from 000 §7.1.3.4 (RFC 5480 §3): the EC server certificate carries
    digitalSignature + keyAgreement, never keyEncipherment."""
    ws = workspaces["prod"]
    csr, _ = request_for("tls-server", csr_factory, 77)
    der = ws.ca("infrastructure-ca-1").issue_batch([csr], "tls-server").certificates[0]
    ku = x509.load_der_x509_certificate(der or b"").extensions.get_extension_for_class(
        x509.KeyUsage
    )
    assert ku.value.digital_signature and ku.value.key_agreement
    assert not ku.value.key_encipherment and not ku.value.data_encipherment


# --------------------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------------------


def _flip_last(der: bytes) -> bytes:
    return der[:-1] + bytes([der[-1] ^ 0x01])


def test_rejections_store_nothing(fresh_workspace: Workspace, csr_factory: CsrFactory) -> None:
    ws = fresh_workspace
    ca = ws.ca("ha-device-ca-1")
    good = csr_factory.make([("CN", str(uuid.uuid4()))])
    batch = [
        good,  # 0
        csr_factory.make([("CN", str(uuid.uuid4()))], "ec-p384"),  # 1 wrong key type
        csr_factory.make([("CN", "device-42")]),  # 2 bad CN
        b"\x30\x03\x02\x01",  # 3 malformed DER
        _flip_last(csr_factory.make([("CN", str(uuid.uuid4()))])),  # 4 bad signature
        good,  # 5 duplicate of 0
        csr_factory.make([("CN", str(uuid.uuid4()))], "rsa-2048"),  # 6 RSA for a P-256 profile
        csr_factory.make([("CN", str(uuid.uuid4()))], "rsa-1024"),  # 7 weak RSA
        csr_factory.make([("OU", "x")]),  # 8 no CN
    ]
    result = ca.issue_batch(batch, "ha-device", now=NOW)
    expected = [
        IssueStatus.ISSUED,
        IssueStatus.KEY_NOT_ALLOWED,
        IssueStatus.SUBJECT_INVALID,
        IssueStatus.MALFORMED,
        IssueStatus.BAD_SIGNATURE,
        IssueStatus.DUPLICATE_IN_BATCH,
        IssueStatus.KEY_NOT_ALLOWED,
        IssueStatus.WEAK_KEY,
        IssueStatus.SUBJECT_INVALID,
    ]
    assert [IssueStatus(s) for s in result.status.tolist()] == expected, result.reasons
    assert "§6.1.5" in result.reasons[1] and "EC P-384" in result.reasons[1]
    assert "§6.1.5" in result.reasons[6] and "RSA 2048 bit" in result.reasons[6]
    assert "UUID" in result.reasons[2]
    assert "item 0" in result.reasons[5]
    assert all(result.reasons[i] for i in range(1, 9))
    assert [i for i, _ in result.issued()] == [0]
    assert [i for i, _, _ in result.rejected()] == list(range(1, 9))
    assert all(result.certificates[i] is None for i in range(1, 9))
    # Only the issued certificate is stored.
    assert ws.store.count_certificates() == result.issued_count == 1
    cert = x509.load_der_x509_certificate(result.certificates[0] or b"")
    assert (
        ws.store.certificate(ca.name, format(cert.serial_number, "032x")) == result.certificates[0]
    )


def test_all_rejected_and_empty_batches(
    fresh_workspace: Workspace, csr_factory: CsrFactory
) -> None:
    ca = fresh_workspace.ca("user-ca-1")
    result = ca.issue_batch([b"\x00"], "user", now=NOW)
    assert result.status.tolist() == [IssueStatus.MALFORMED]
    empty = ca.issue_batch([], "user", now=NOW)
    assert len(empty) == 0 and empty.issued_count == 0
    assert fresh_workspace.store.count_certificates() == 0


def test_profile_must_belong_to_the_ca(workspace: Workspace, csr_factory: CsrFactory) -> None:
    csr, _ = request_for("user", csr_factory)
    with raises_code(PolicyError, "policy"):
        workspace.ca("ha-device-ca-1").issue_batch([csr], "user")
    with raises_code(PolicyError, "policy"):
        workspace.ca("root-ca-1").issue_batch([csr], "user")
    with raises_code(PolicyError, "policy"):
        workspace.ca_for_profile("web-server")


def test_templates_are_compiled_once(workspace: Workspace) -> None:
    ca = workspace.ca("infrastructure-ca-1")
    assert ca.template("tls-server") is ca.template("tls-server")
    assert ca.template("tls-client") is not ca.template("tls-server")


def test_certificate_may_not_outlive_its_ca(workspace: Workspace, csr_factory: CsrFactory) -> None:
    ca = workspace.ca("user-ca-1")
    csr, _ = request_for("user", csr_factory, 5)
    late = ca.not_after - 30 * 86400  # 13 months from here passes the CA's notAfter
    result = ca.issue_batch([csr], "user", now=late)
    assert result.status.tolist() == [IssueStatus.REFUSED]
    assert "notAfter" in result.reasons[0]


# --------------------------------------------------------------------------------------
# PEM input
# --------------------------------------------------------------------------------------


def test_pem_bundle_input(fresh_workspace: Workspace, csr_factory: CsrFactory) -> None:
    ca = fresh_workspace.ca("user-ca-1")
    a = csr_factory.pem([("CN", "alice")])
    b = csr_factory.pem([("CN", "bob")]).replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    lines = csr_factory.pem([("CN", "carol")]).splitlines()
    lines[2] = lines[2][:10] + "!!" + lines[2][12:]  # breaks the base64
    broken = "\n".join(lines) + "\n"
    bundle = "junk before\n" + a + broken + "# comment\n" + b
    result = ca.issue_batch(bundle, "user", now=NOW)
    assert result.status.tolist() == [0, IssueStatus.MALFORMED, 0]
    assert "base64" in result.reasons[1]
    names = [
        x509.load_der_x509_certificate(d).subject.rfc4514_string() for _, d in result.issued()
    ]
    assert names == ["CN=alice,OU=Porthos user,O=dormakaba", "CN=bob,OU=Porthos user,O=dormakaba"]
    # bytes bundle, and a list mixing PEM and DER items
    assert ca.issue_batch(bundle.encode(), "user", now=NOW).issued_count == 2
    der = csr_factory.make([("CN", "dave")])
    mixed = ca.issue_batch([a, der, a + b], "user", now=NOW)
    assert mixed.status.tolist() == [0, 0, IssueStatus.MALFORMED]
    assert "found 2" in mixed.reasons[2]
    assert fresh_workspace.store.count_certificates() == 2 + 2 + 2
    assert result.pem().count("-----BEGIN CERTIFICATE-----") == 2


def test_split_csr_pem_edge_cases() -> None:
    assert split_csr_pem("") == []
    assert split_csr_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") == []
    unterminated = split_csr_pem("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n")
    assert (
        len(unterminated) == 1 and unterminated[0].der is None and "END" in unterminated[0].error
    )
    two_begins = split_csr_pem(
        "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n"
        "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"
    )
    assert [i.der for i in two_begins] == [None, b"\x30\x00"]
    mismatched = split_csr_pem(
        "-----BEGIN NEW CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"
    )
    assert mismatched[0].der is None
    empty = split_csr_pem("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----")
    assert empty[0].der is None


@pytest.mark.parametrize("threads", [None, 2, 1])
def test_streamed_batch_matches_the_sequential_path(
    fresh_workspace: Workspace,
    csr_factory: CsrFactory,
    monkeypatch: pytest.MonkeyPatch,
    threads: int | None,
) -> None:
    # With more than one thread a large batch is streamed: parsed, screened, signed and
    # stored piece by piece (batch.PIPELINE_PIECE requests a piece; shrunk here so 15
    # requests make 5 pieces). Same result as the one-thread path: one slot per request,
    # refused items untouched (a refusal in a later piece, a duplicate of a request two
    # pieces back), rows stored in request order with the SPKI hash, one audit record
    # listing the serials in that order, and everything in one transaction.
    from porthos.issuance import batch
    from porthos.store import audit

    monkeypatch.setattr(batch, "PIPELINE_PIECE", 3)
    good = [request_for("ha-device", csr_factory, n)[0] for n in range(11)]
    p384 = csr_factory.make([("CN", str(uuid.uuid4()))], "ec-p384")
    not_uuid = csr_factory.make([("CN", "not-a-uuid")])
    csrs = [*good[:4], b"\x30\x00", *good[4:9], good[2], p384, *good[9:], not_uuid]
    authority = fresh_workspace.ca("ha-device-ca-1")
    before = fresh_workspace.store.count_certificates()
    res = authority.issue_batch(csrs, "ha-device", now=NOW, threads=threads)
    want = [IssueStatus.ISSUED] * len(csrs)
    want[4], want[10] = IssueStatus.MALFORMED, IssueStatus.DUPLICATE_IN_BATCH
    want[11], want[14] = IssueStatus.KEY_NOT_ALLOWED, IssueStatus.SUBJECT_INVALID
    assert [IssueStatus(int(s)) for s in res.status] == want
    issued = [c for c in res.certificates if c is not None]
    assert len(issued) == 11
    store = fresh_workspace.store
    assert store.count_certificates() == before + 11
    rows = store.conn.execute(
        "SELECT serial_hex, subject, der, spki_sha256 FROM certificates"
        " WHERE ca_name = ? ORDER BY rowid DESC LIMIT 11",
        ("ha-device-ca-1",),
    ).fetchall()[::-1]
    assert [r[2] for r in rows] == issued
    for (serial_hex, subject, der, spki_sha256), csr in zip(rows, good, strict=True):
        cert = x509.load_der_x509_certificate(der)
        assert int(serial_hex, 16) == cert.serial_number
        assert subject == cert.subject.rfc4514_string()
        spki = (
            x509.load_der_x509_csr(csr)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        assert (
            cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            == spki
        )
        assert spki_sha256 == hashlib.sha256(spki).digest()
    (issued_rec,) = [r for r in audit.records(store) if r.event == audit.Event.CERTIFICATES_ISSUED]
    assert issued_rec.details["serials"] == [r[0] for r in rows]
    assert issued_rec.details["count"] == 11


def test_streamed_batch_failing_mid_way_stores_nothing(
    fresh_workspace: Workspace, csr_factory: CsrFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store refuses the third piece of a streamed batch: the pieces already inserted
    # roll back with it, no certificate is returned, and the trail records the failure.
    from porthos.exceptions import StoreError
    from porthos.issuance import batch
    from porthos.store import audit

    monkeypatch.setattr(batch, "PIPELINE_PIECE", 3)
    store = fresh_workspace.store
    before = store.count_certificates()
    store.conn.execute(
        "CREATE TRIGGER refuse_third_piece BEFORE INSERT ON certificates"
        f" WHEN (SELECT count(*) FROM certificates) >= {before + 6}"
        " BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
    )
    csrs = [request_for("ha-device", csr_factory, n)[0] for n in range(12)]
    # The text of the fault the trigger injects: the StoreError is that fault.
    with raises_code(StoreError, "store", match="disk full"):
        fresh_workspace.ca("ha-device-ca-1").issue_batch(csrs, "ha-device", now=NOW, threads=2)
    assert store.count_certificates() == before
    assert not store.conn.in_transaction
    last = list(audit.records(store))[-1]
    assert last.event == audit.Event.CERTIFICATES_ISSUED and last.outcome == "failure"
    assert audit.verify(store).ok


@settings(max_examples=300, deadline=None)
@given(
    attrs=st.lists(
        st.tuples(
            st.sampled_from(["CN", "O", "OU", "ST", "L"]),
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_subject_text_is_rfc4514_as_pyca_writes_it(attrs: list[tuple[str, str]]) -> None:
    # The store's subject column (and the unique-names rule, 000 §3.1, that compares it)
    # must be the text pyca gives for the certificate's subject, fast path or not.
    from cryptography.x509.oid import NameOID
    from porthos.issuance.names import subject_text

    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
            "L": NameOID.LOCALITY_NAME}  # fmt: skip
    name = x509.Name([x509.NameAttribute(oids[a], v) for a, v in attrs])
    assert subject_text(attrs) == name.rfc4514_string()
