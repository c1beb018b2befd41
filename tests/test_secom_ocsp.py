"""OCSP of the SECOM PKI (cpcps/secom: 002 §2.1, read from BR §4.9.9-10): the demo
pre-signs every sub CA's responses through its delegated responder and each offline
root's own in a ceremony (``porthos ocsp ceremony``, RFC 6960 §4.2.2.2: the CA signs);
pyca parses and verifies every response, pkilint's OCSP linter is clean at WARNING and
above, openssl says good / revoked with its reason. The ceremony: incremental, audited,
refused for one officer, a wrong PIN (nothing written), a delegated CA and a CA with
no OCSP; with the root key in SoftHSM2 (its own process) and in a software workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp as pyocsp
from porthos.cli.main import main
from porthos.exceptions import PolicyError
from porthos.workflows import (
    crl_publication,
    demo_ocsp,
    ocsp_ceremony,
    ocsp_files,
    ocsp_presign,
    revocation,
)
from porthos.workspace.workspace import Workspace

ROOTS = ("secom-rootca2", "secom-rootca3", "secom-ecc-rootca1")
SUBS = ("secom-tls-rsa-ca-1", "secom-tls-ecc-ca-1", "secom-client-ca-1")
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("secom-ocsp") / "demo"
    r = CliRunner().invoke(main, ["demo", "--cpcps", "secom", "--workdir", str(d)])
    assert r.exit_code == 0, r.output
    return d


def rows(d: Path, ca: str) -> list[dict[str, str]]:
    lines = (ocsp_files.ca_dir(d, ca) / "index.tsv").read_text().splitlines()
    assert lines[0] == ocsp_files.INDEX_HEADER
    keys = lines[0].split("\t")
    return [dict(zip(keys, x.split("\t"), strict=True)) for x in lines[1:]]


def verify(resp: pyocsp.OCSPResponse) -> x509.Certificate:
    """The response's signature under the certificate it carries; returns that."""
    (cert,) = resp.certificates
    pub = cert.public_key()
    algo = resp.signature_hash_algorithm
    assert algo is not None
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), algo)
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(algo))
    return cert


def test_every_response_of_the_demo_verifies(demo: Path) -> None:
    with Workspace.open(demo) as ws:
        certs = {c.name: c.certificate for c in ws.cas}
        revoked = {
            r[0].upper() for r in ws.store.conn.execute("SELECT serial_hex FROM revocations")
        }
    for ca in SUBS + ROOTS:
        listed = rows(demo, ca)
        assert listed and {r["hash"] for r in listed} == {"sha1", "sha256"}
        issuer = x509.load_der_x509_certificate(certs[ca])
        for r in listed:
            resp = pyocsp.load_der_ocsp_response(
                (ocsp_files.ca_dir(demo, ca) / r["path"]).read_bytes()
            )
            signer = verify(resp)
            assert resp.serial_number == int(r["serial_hex"], 16)
            if ca in ROOTS:
                # The root signs its own responses (RFC 6960 §4.2.2.2), with its ARL's
                # 12-month window (BR §4.9.10: sub-CA status at least every 12 months).
                assert signer == issuer
                assert resp.next_update_utc is not None
                life = resp.next_update_utc - resp.this_update_utc
                assert 360 * 86400 < life.total_seconds() <= 366 * 86400
            else:
                assert signer.issuer == issuer.subject and signer != issuer
            want = "revoked" if r["serial_hex"] in revoked else "good"
            assert resp.certificate_status.name.lower() == want == r["status"]
    # The roots answer for the sub CAs they certified.
    for root, sub in zip(ROOTS, ("secom-tls-rsa-ca-1", "secom-client-ca-1", "secom-tls-ecc-ca-1"),
                         strict=True):  # fmt: skip
        serial = x509.load_der_x509_certificate(certs[sub]).serial_number
        assert demo_ocsp.response_file(demo, root, serial).is_file()
    assert sum(r["status"] == "revoked" for r in rows(demo, "secom-tls-rsa-ca-1")) == 2
    # After the changeover the new generation answers too: its roots for their sub CA
    # and link certificate, its sub CAs through their own responders.
    for ca in ROOTS + SUBS:
        listed = rows(demo, f"{ca}-g2")
        # A root: sub CA + link certificate; a sub CA: at least its responder's own
        # (x 2 CertID hashes).
        assert len(listed) == 4 if ca in ROOTS else len(listed) >= 2
        for r in listed:
            path = ocsp_files.ca_dir(demo, f"{ca}-g2") / r["path"]
            verify(pyocsp.load_der_ocsp_response(path.read_bytes()))


def test_pkilint_ocsp_linter_is_clean(demo: Path) -> None:
    from pkilint import loader, pkix
    from pkilint.pkix import extension, name, ocsp
    from pkilint.validation import ValidationFindingSeverity

    # What pkilint's lint_ocsp_response runs (pkilint/bin/lint_ocsp_response.py).
    validator = ocsp.create_pkix_ocsp_response_validator_container(
        [
            ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )
    for ca in SUBS + ROOTS:
        for r in rows(demo, ca):
            der = (ocsp_files.ca_dir(demo, ca) / r["path"]).read_bytes()
            doc = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
            findings = [
                f"{fd.finding.severity.name} {fd.finding.code}"
                for result in validator.validate(doc.root)
                for fd in result.finding_descriptions
                if fd.finding.severity <= ValidationFindingSeverity.WARNING
            ]
            assert findings == [], (ca, r, findings)


@pytest.mark.interop
@pytest.mark.skipif(OPENSSL is None, reason="openssl missing")
def test_openssl_says_good_and_revoked_with_its_reason(demo: Path) -> None:
    samples = demo / "samples"
    with Workspace.open(demo) as ws:
        root3, client = ws.ca("secom-rootca3").certificate, ws.ca("secom-client-ca-1").certificate
        rsa_ca, root2 = ws.ca("secom-tls-rsa-ca-1").certificate, ws.ca("secom-rootca2").certificate
    leaf = x509.load_der_x509_certificate((samples / "tls-server-rsa.crt").read_bytes())
    gone = next(samples.glob("tls-server-rsa-revoked-*.crt"))
    bad = x509.load_der_x509_certificate(gone.read_bytes())
    path = demo_ocsp.response_file(demo, "secom-tls-rsa-ca-1", leaf.serial_number)
    assert demo_ocsp.openssl_status(path, rsa_ca, [root2, rsa_ca]) == "good"
    path = demo_ocsp.response_file(demo, "secom-tls-rsa-ca-1", bad.serial_number, "sha256")
    assert demo_ocsp.openssl_status(path, rsa_ca, [root2, rsa_ca]).startswith(
        "revoked (keyCompromise"
    )
    # The root's own response for its live sub CA, trusting the root alone.
    sub = x509.load_der_x509_certificate(client).serial_number
    path = demo_ocsp.response_file(demo, "secom-rootca3", sub)
    assert demo_ocsp.openssl_status(path, root3, [root3]) == "good"
    # A response under another issuer is refused (openssl checks the signature).
    with pytest.raises(RuntimeError, match="refused"):
        demo_ocsp.openssl_status(path, root2, [root2])


def test_ceremony_is_incremental_audited_and_follows_the_arl(demo: Path, tmp_path: Path) -> None:
    d = tmp_path / "w"
    shutil.copytree(demo, d)
    root = "secom-rootca3"
    now = int(time.time()) + 60
    # The demo's changeover made this root sign a link certificate (and a new ARL)
    # after its first ceremony: the next one signs just that (both CertID hashes).
    r = CliRunner().invoke(main, ["ocsp", "ceremony", "-w", str(d), "--ca", root])
    assert r.exit_code == 0, r.output
    assert "2 responses signed, 4 in the index" in r.output
    index = ocsp_files.ca_dir(d, root) / "index.tsv"
    before = index.read_bytes()
    with Workspace.open(d) as ws:
        assert ocsp_ceremony.ceremony(ws, root, now=now).signed == 0
        assert index.read_bytes() == before  # the same files, nothing re-signed
        sub = x509.load_der_x509_certificate(ws.ca("secom-client-ca-1").certificate)
        revocation.revoke(ws, [sub.serial_number], "cACompromise", requester="CA", now=now)
        # Not on an ARL yet: the ceremony answers from the ARL, so nothing changes.
        assert ocsp_ceremony.ceremony(ws, root, now=now + 1).signed == 0
        crl_publication.publish(ws, [root], now=now + 2)
        after = ocsp_ceremony.ceremony(ws, root, now=now + 3)
        assert (after.signed, after.responses, after.removed) == (2, 4, 0)
        arl = x509.load_der_x509_crl((d / "repository" / f"{root}.crl").read_bytes())
    path = demo_ocsp.response_file(d, root, sub.serial_number)
    resp = pyocsp.load_der_ocsp_response(path.read_bytes())
    assert resp.certificate_status == pyocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.ca_compromise
    assert resp.this_update_utc == arl.last_update_utc
    assert resp.next_update_utc == arl.next_update_utc
    conn = sqlite3.connect(d / "porthos.sqlite")
    details = [json.loads(x) for (x,) in conn.execute(
        "SELECT details FROM audit WHERE event = ? AND outcome = 'success' ORDER BY seq",
        (ocsp_ceremony.EVENT,))]  # fmt: skip
    mine = [x for x in details if x["ca"] == root]
    assert [x["signed"] for x in mine] == [2, 2, 0, 0, 2]  # the demo's, then this test's
    assert mine[-1]["next_update"] == int(arl.next_update_utc.timestamp())
    assert mine[-1]["this_update"] == int(arl.last_update_utc.timestamp())


def test_ceremony_and_presign_refusals(demo: Path, tmp_path: Path) -> None:
    d = tmp_path / "w"
    shutil.copytree(demo, d)

    def refused(*args: str) -> str:
        r = CliRunner().invoke(main, ["ocsp", *args, "-w", str(d)])
        assert r.exit_code == 2, r.output
        return r.output

    assert "delegated responder" in refused("ceremony", "--ca", "secom-tls-rsa-ca-1")
    assert "does not answer OCSP" in refused("ceremony", "--ca", "no-such-ca")
    # After the demo's changeover the data's [ocsp] names the new generation's CAs.
    assert "ocsp ceremony" in refused("presign", "--ca", "secom-rootca2-g2")
    assert "ocsp ceremony" in refused("rotate-responder", "--ca", "secom-rootca2-g2")
    with Workspace.open(d) as ws, pytest.raises(PolicyError) as err:
        ocsp_ceremony.ceremony(ws, "no-such-ca")
    assert err.value.code == "policy"
    # presign for every CA leaves the roots to their ceremony (the demo gave the new
    # generation's sub CAs their responders); the retired sub CAs, whose samples are
    # unexpired, are refreshed too (tests/test_secom_retired_ocsp.py).
    with Workspace.open(d) as ws:
        done = {r.ca for r in ocsp_presign.presign(ws)}
    assert done == {f"{s}-g2" for s in SUBS} | set(SUBS)


def test_ceremony_under_dual_control_in_softhsm(tmp_path: Path) -> None:
    """The root key in SoftHSM2 (its own process: one SoftHSM2 configuration per
    process): one officer or a wrong PIN half is refused with nothing written; two
    officers sign."""
    d = tmp_path / "hsm"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "python")}
    env.pop("SOFTHSM2_CONF", None)

    def porthos(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "porthos.cli.main", *args]
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    r = porthos("demo", "--cpcps", "secom", "--workdir", str(d), "--hsm", "softhsm")
    assert r.returncode == 0, r.stdout + r.stderr
    root = "secom-ecc-rootca1"
    folder = ocsp_files.ca_dir(d, root)
    for row in rows(d, root):
        verify(pyocsp.load_der_ocsp_response((folder / row["path"]).read_bytes()))
    pins = d / "hsm" / "demo-pins"
    one = f"o1={pins / 'root-officer-1.pin'}"
    two = f"o2={pins / 'root-officer-2.pin'}"
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("not-the-half\n")
    state = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    cmd = ["ocsp", "ceremony", "-w", str(d), "--ca", root]
    r = porthos(*cmd, "--root-officer", one)
    assert r.returncode == 2 and "two" in r.stdout + r.stderr, r.stdout + r.stderr
    r = porthos(*cmd, "--root-officer", one, "--root-officer", f"o2={wrong}")
    assert r.returncode == 2, r.stdout + r.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == state
    later = int(time.time()) + 340 * 86400  # within 31 days of the ARL's nextUpdate
    r = porthos(*cmd, "--root-officer", one, "--root-officer", two, "--now", f"@{later}")
    assert r.returncode == 0, r.stdout + r.stderr
    # Near the ARL's nextUpdate everything is due again, and the link certificate the
    # changeover made is new: 2 serials x 2 CertID hashes.
    assert "4 responses signed, 4 in the index" in r.stdout
    for row in rows(d, root):
        resp = pyocsp.load_der_ocsp_response((folder / row["path"]).read_bytes())
        assert verify(resp) == x509.load_der_x509_certificate((folder / "issuer.der").read_bytes())
        assert int(resp.produced_at_utc.timestamp()) == later
    conn = sqlite3.connect(d / "porthos.sqlite")
    officers = [json.loads(x)["officers"] for (x,) in conn.execute(
        "SELECT details FROM audit WHERE event = 'hsm.activation' AND details LIKE ?",
        (f"%OCSP ceremony of {root}%",))]  # fmt: skip
    assert officers[-1] == ["o1", "o2"]
