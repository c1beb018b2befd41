"""Key changeover (000 §5.6): the next CA generation, the link certificates, and the
retired generation's CRLs, end to end through the CLI (porthos.workflows.rollover,
porthos.workspace.generations).

Judges: ``openssl verify -crl_check_all`` (the chain and every CRL on it), pyca for
CRL signatures and fields, pkilint for the link certificates, the store and the audit
chain for what was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from changeover_support import (
    GEN1,
    GEN2,
    cli,
    issue,
    needs_openssl,
    openssl_ok,
    openssl_verify,
)
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from interop import assert_pkilint_clean
from porthos.exceptions import LifecycleError
from porthos.store import audit
from porthos.workflows import crl_publication, revocation
from porthos.workflows.rollover import rollover
from porthos.workspace.generations import derive_generation
from porthos.workspace.workspace import Workspace


@dataclass
class Rolled:
    ws: Path
    repo: Path
    gen1_leaf: bytes
    gen1_revoked: bytes
    gen2_leaf: bytes


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory, csr_factory: CsrFactory) -> Rolled:
    """A prod workspace: two gen-1 certificates (one revoked), ``porthos rollover``,
    one gen-2 certificate, then every CA's CRL published (``porthos crl publish``)."""
    tmp = tmp_path_factory.mktemp("rollover")
    ws = tmp / "ws"
    code, output = cli(["init", "-w", str(ws)])
    assert code == 0, output
    uuid1, uuid2, uuid3 = (
        "0b5e1c7a-8f6d-4e0b-9a51-3c2f4d5e6a71",
        "1c6f2d8b-9a7e-4f1c-8b62-4d3a5e6f7b82",
        "2d7a3e9c-ab8f-4a2d-9c73-5e4b6f7a8c93",
    )
    gen1_leaf = issue(ws, "ha-device", csr_factory.pem([("CN", uuid1)], slot=1), tmp / "g1.pem")
    gen1_revoked = issue(
        ws, "ha-device", csr_factory.pem([("CN", uuid2)], slot=2), tmp / "g1r.pem"
    )
    with Workspace.open(ws) as w:
        revocation.revoke(
            w,
            [x509.load_der_x509_certificate(gen1_revoked).serial_number],
            "keyCompromise",
            requester="t",
            ca="ha-device-ca-1",
        )

    code, output = cli(["rollover", "-w", str(ws)])
    assert code == 0, output
    assert "Porthos High Assurance Device CA 2" in output
    assert "generation 1 retired" in output

    gen2_leaf = issue(ws, "ha-device", csr_factory.pem([("CN", uuid3)], slot=3), tmp / "g2.pem")
    code, output = cli(["crl", "publish", "-w", str(ws)])
    assert code == 0, output
    return Rolled(ws, ws / "repository", gen1_leaf, gen1_revoked, gen2_leaf)


def _crt(r: Rolled, name: str) -> bytes:
    return (r.repo / f"{name}.crt").read_bytes()


def _uris(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return (
        [n.value for dp in cdp for n in (dp.full_name or [])],
        [d.access_location.value for d in aia],
    )


# --------------------------------------------------------------------------------------
# rollover (000 §5.6)
# --------------------------------------------------------------------------------------


def test_generation_is_derived_from_the_profile_set() -> None:
    import tomllib

    from porthos.cpcps.loader import load_profile_set, profile_set_text

    doc = tomllib.loads(profile_set_text("porthos")[0])
    gen2 = derive_generation(doc, 2, load_profile_set("porthos", "prod").generations)
    assert list(gen2["cas"]) == list(GEN2)
    ha = gen2["cas"]["ha-device-ca-2"]
    assert ha["issuer"] == "root-ca-2"
    assert ["CN", "Non-Prod Porthos High Assurance Device CA 2"] in ha["subject"]["nonprod"]
    assert ha["extensions"][2]["uris"] == ["{crl}/root-ca-2.crl"]
    assert gen2["profiles"]["tls-server"]["issuer"] == "infrastructure-ca-2"
    # The generation-1 document is untouched.
    assert "root-ca-1" in doc["cas"]


def test_rollover_creates_generation_2_and_retires_generation_1(rolled: Rolled) -> None:
    with Workspace.open(rolled.ws) as w:
        assert w.generation == 2
        assert [ca.name for ca in w.cas_of(2)] == list(GEN2)
        assert {ca.status for ca in w.cas_of(1)} == {"retired"}
        assert {ca.status for ca in w.cas_of(2)} == {"active"}
        assert w.ca_for_profile("ha-device").name == "ha-device-ca-2"
        assert w.ca_for_profile("tls-server").name == "infrastructure-ca-2"
        assert w.root.name == "root-ca-2"
        # Both generations' subjects: "... 1" and "... 2" (000 §7.1 naming).
        assert dict(w.ca("user-ca-2").subject)["CN"] == "Porthos User CA 2"
        assert dict(w.ca("root-ca-2").subject)["CN"] == "Porthos Root CA 2"
        # Store: generation and status columns, link certificates under their issuer.
        rows = w.store.conn.execute(
            "SELECT name, generation, status FROM cas ORDER BY rowid"
        ).fetchall()
        assert rows == [(n, 1, "retired") for n in GEN1] + [(n, 2, "active") for n in GEN2]
        links = w.store.conn.execute(
            "SELECT ca_name FROM certificates WHERE profile = ? ORDER BY ca_name",
            (w.profile_set.generations.link_profile,),
        ).fetchall()
        assert links == [("root-ca-1",), ("root-ca-2",)]
        events = [r.event for r in audit.records(w.store)]
        assert events.count("ca.rollover") == 1
        assert events.count("ca.link-certificate") == 2
        assert events.count("ca.keygen") == 10 and events.count("ca.created") == 10
        assert audit.verify(w.store)
    for name in GEN2:
        assert (rolled.repo / f"{name}.crt").is_file()
        assert (rolled.ws / "keys" / f"{name}.p8").stat().st_mode & 0o777 == 0o600
    # Generation-2 CDP/AIA URLs name generation-2 files.
    ha2 = x509.load_der_x509_certificate(_crt(rolled, "ha-device-ca-2"))
    assert _uris(ha2) == (
        ["http://crl.pki.porthos.services/root-ca-2.crl"],
        ["http://crt.pki.porthos.services/root-ca-2.crt"],
    )
    leaf = x509.load_der_x509_certificate(rolled.gen2_leaf)
    assert _uris(leaf) == (
        ["http://crl.pki.porthos.services/ha-device-ca-2.crl"],
        ["http://crt.pki.porthos.services/ha-device-ca-2.crt"],
    )
    assert leaf.issuer == ha2.subject


def test_link_certificates(rolled: Rolled) -> None:
    root1 = x509.load_der_x509_certificate(_crt(rolled, "root-ca-1"))
    root2 = x509.load_der_x509_certificate(_crt(rolled, "root-ca-2"))
    nwo = x509.load_der_x509_certificate(_crt(rolled, "root-ca-2-by-root-ca-1"))
    own = x509.load_der_x509_certificate(_crt(rolled, "root-ca-1-by-root-ca-2"))
    # NewWithOld: Root CA 2's key, signed by Root CA 1 (RFC 4210 §4.4).
    assert nwo.subject == root2.subject and nwo.issuer == root1.subject
    assert nwo.public_key() == root2.public_key()
    nwo.verify_directly_issued_by(root1)
    # OldWithNew: Root CA 1's key, signed by Root CA 2.
    assert own.subject == root1.subject and own.issuer == root2.subject
    assert own.public_key() == root1.public_key()
    own.verify_directly_issued_by(root2)
    for link in (nwo, own):
        bc = link.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length is None
        assert link.not_valid_after_utc <= root1.not_valid_after_utc
        assert_pkilint_clean(link.public_bytes(Encoding.DER), "link certificate")
    assert _uris(nwo)[0] == ["http://crl.pki.porthos.services/root-ca-1.crl"]
    assert _uris(own)[0] == ["http://crl.pki.porthos.services/root-ca-2.crl"]


@needs_openssl
def test_new_certificate_chains_to_root_2_with_crls(rolled: Rolled, tmp_path: Path) -> None:
    crls = [rolled.repo / "root-ca-2.crl", rolled.repo / "ha-device-ca-2.crl"]
    proc = openssl_verify(
        tmp_path,
        _crt(rolled, "root-ca-2"),
        [_crt(rolled, "ha-device-ca-2")],
        rolled.gen2_leaf,
        crls,
    )
    assert openssl_ok(proc), proc.stdout + proc.stderr
    # A relying party that still trusts only Root CA 1 gets there through NewWithOld.
    proc = openssl_verify(
        tmp_path,
        _crt(rolled, "root-ca-1"),
        [_crt(rolled, "root-ca-2-by-root-ca-1"), _crt(rolled, "ha-device-ca-2")],
        rolled.gen2_leaf,
        [*crls, rolled.repo / "root-ca-1.crl"],
    )
    assert openssl_ok(proc), proc.stdout + proc.stderr
    # Without the link it cannot (the refusing case).
    proc = openssl_verify(
        tmp_path,
        _crt(rolled, "root-ca-1"),
        [_crt(rolled, "ha-device-ca-2")],
        rolled.gen2_leaf,
        [],
    )
    assert not openssl_ok(proc)


@needs_openssl
def test_generation_1_certificate_verifies_through_the_link(
    rolled: Rolled, tmp_path: Path
) -> None:
    """Root CA 2 is the only trust anchor; OldWithNew bridges to generation 1, and the
    CRLs come from both generations (root-ca-2.crl covers the link, root-ca-1.crl the
    gen-1 issuing CA, ha-device-ca-1.crl the leaf)."""
    untrusted = [_crt(rolled, "root-ca-1-by-root-ca-2"), _crt(rolled, "ha-device-ca-1")]
    crls = [
        rolled.repo / "root-ca-2.crl",
        rolled.repo / "root-ca-1.crl",
        rolled.repo / "ha-device-ca-1.crl",
    ]
    proc = openssl_verify(tmp_path, _crt(rolled, "root-ca-2"), untrusted, rolled.gen1_leaf, crls)
    assert openssl_ok(proc), proc.stdout + proc.stderr
    proc = openssl_verify(
        tmp_path,
        _crt(rolled, "root-ca-2"),
        untrusted,
        rolled.gen1_leaf,
        [rolled.repo / "ha-device-ca-1.crl"],
        crl_check="-crl_check",
    )
    assert openssl_ok(proc), proc.stdout + proc.stderr
    # The gen-1 CRL, signed by the retired gen-1 key, still revokes.
    proc = openssl_verify(
        tmp_path, _crt(rolled, "root-ca-2"), untrusted, rolled.gen1_revoked, crls
    )
    assert not openssl_ok(proc) and "revoked" in proc.stdout + proc.stderr
    # Without the link, Root CA 2 does not reach generation 1.
    proc = openssl_verify(
        tmp_path,
        _crt(rolled, "root-ca-2"),
        [_crt(rolled, "ha-device-ca-1")],
        rolled.gen1_leaf,
        [],
    )
    assert not openssl_ok(proc)


def test_generation_1_crls_are_signed_by_generation_1_keys(rolled: Rolled) -> None:
    for gen1, gen2 in zip(GEN1, GEN2, strict=True):
        c1 = x509.load_der_x509_certificate(_crt(rolled, gen1))
        c2 = x509.load_der_x509_certificate(_crt(rolled, gen2))
        lst = x509.load_der_x509_crl((rolled.repo / f"{gen1}.crl").read_bytes())
        assert lst.issuer == c1.subject
        assert lst.is_signature_valid(c1.public_key())  # type: ignore[arg-type]
        assert not lst.is_signature_valid(c2.public_key())  # type: ignore[arg-type]
    lst = x509.load_der_x509_crl((rolled.repo / "ha-device-ca-1.crl").read_bytes())
    serial = x509.load_der_x509_certificate(rolled.gen1_revoked).serial_number
    assert lst.get_revoked_certificate_by_serial_number(serial) is not None
    # `porthos crl publish` (porthos.workflows.crl_publication) puts a retired CA's CRL where the
    # generation-1 certificates' CDP points (000 §2.1, §5.6), signed by its own key.
    with Workspace.open(rolled.ws) as w:
        crl_publication.publish(w, ["ha-device-ca-1"])
    leaf = x509.load_der_x509_certificate(rolled.gen1_leaf)
    (point,) = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    host, path = point.full_name[0].value.removeprefix("http://").split("/", 1)
    lst = x509.load_der_x509_crl((rolled.repo / host / path).read_bytes())
    issuer = x509.load_der_x509_certificate(_crt(rolled, "ha-device-ca-1"))
    assert lst.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert lst.get_revoked_certificate_by_serial_number(serial) is not None


def test_retired_ca_refuses_to_issue(
    rolled: Rolled, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    pem = csr_factory.pem([("CN", "3e8b4fad-bc9a-4b3e-8d84-6f5c7a8b9da4")], slot=4)
    with Workspace.open(rolled.ws) as w:
        before = w.store.count_certificates("ha-device-ca-1")
        with pytest.raises(LifecycleError) as refused:
            w.ca("ha-device-ca-1").issue_batch(pem, "ha-device")
        assert refused.value.code == "lifecycle" and "retired" in str(refused.value)
        assert w.store.count_certificates("ha-device-ca-1") == before
    # The CLI issues from generation 2 (the accepting case of the same rule).
    leaf = x509.load_der_x509_certificate(issue(rolled.ws, "ha-device", pem, tmp_path / "x.pem"))
    assert "High Assurance Device CA 2" in leaf.issuer.rfc4514_string()


def test_rollover_failure_records_nothing_and_removes_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from porthos.store.sqlite import Store

    with Workspace.init(tmp_path / "ws", "nonprod") as w:
        events_before = [r.event for r in audit.records(w.store)]

        def boom(self: Store, *a: object, **k: object) -> int:
            raise RuntimeError("disk full")

        monkeypatch.setattr(Store, "insert_certificates", boom)
        # No .code (RuntimeError): the fault injected above, passed through.
        with pytest.raises(RuntimeError, match="disk full"):
            rollover(w)
        monkeypatch.undo()
        assert [n for (n,) in w.store.conn.execute("SELECT name FROM cas ORDER BY rowid")] == list(
            GEN1
        )
        assert w.generation == 1 and {ca.status for ca in w.cas} == {"active"}
        assert sorted(p.name for p in (tmp_path / "ws" / "keys").iterdir()) == sorted(
            f"{n}.p8" for n in GEN1
        )
        assert not list((tmp_path / "ws" / "repository").glob("*-2*"))
        after = list(audit.records(w.store))
        assert [r.event for r in after[: len(events_before)]] == events_before
        assert [(r.event, r.outcome) for r in after[len(events_before) :]] == [
            ("ca.rollover", "failure")
        ]
        assert audit.verify(w.store)
        # And it still works afterwards.
        result = rollover(w)
        assert result.generation == 2 and w.ca("root-ca-2").status == "active"
