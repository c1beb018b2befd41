"""OCSP pre-signing on the (smaller) Carillon PKI (001 §4.9.9-10, §10.4-10.5): every
response file of the index is parsed and verified by pyca, accepted by ``openssl
ocsp`` and GnuTLS ``ocsptool``, clean under pkilint's OCSP linter; revoked responses
carry the CRL entry's time and reason; re-signing is incremental; rotation replaces
the responder; the on-demand signer answers good / revoked / unknown with the nonce."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from carillon_support import variant
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as pyocsp
from interop import to_pem
from porthos.cli.main import main
from porthos.exceptions import PorthosError
from porthos.store import revocations
from porthos.workflows import crl_publication, ocsp_files, ocsp_presign, revocation
from porthos.workflows.ocsp_responder import ROTATED
from porthos.workspace.workspace import Workspace

SIGNING = "carillon-signing-ca-1"
OPENSSL = shutil.which("openssl")
OCSPTOOL = shutil.which("ocsptool")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ocsp")
    toml = variant(base / "cpcps")
    d = base / "demo"
    r = CliRunner().invoke(main, ["demo", "--cpcps", str(toml), "--workdir", str(d)])
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture
def ws_dir(demo: Path, tmp_path: Path) -> Path:
    d = tmp_path / "w"
    shutil.copytree(demo, d)
    return d


def run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def index(d: Path) -> list[dict[str, str]]:
    lines = (d / "ocsp" / SIGNING / "index.tsv").read_text().splitlines()
    assert lines[0] == ocsp_files.INDEX_HEADER
    keys = lines[0].split("\t")
    return [dict(zip(keys, line.split("\t"), strict=True)) for line in lines[1:]]


def responder_cert(resp: pyocsp.OCSPResponse) -> x509.Certificate:
    (cert,) = resp.certificates
    return cert


def verify(resp: pyocsp.OCSPResponse) -> None:
    pub = responder_cert(resp).public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    algo = resp.signature_hash_algorithm
    assert isinstance(algo, hashes.SHA256)
    pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), algo)


def test_presign_writes_the_contract_and_every_response_verifies(ws_dir: Path) -> None:
    run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING, "--no-presign")
    run("ocsp", "presign", "-w", str(ws_dir))
    folder = ws_dir / "ocsp" / SIGNING
    ca = x509.load_der_x509_certificate((folder / "issuer.der").read_bytes())
    assert (folder / "issuer.der").read_bytes() == (
        ws_dir / "repository" / f"{SIGNING}.crt"
    ).read_bytes()

    config = json.loads((folder / "config.json").read_text())
    assert config["nonce"] == "echo" and config["hashes"] == ["sha1", "sha256"]
    assert 0 < config["max_age_hint"] <= 2 * 86400
    rows = index(ws_dir)
    with Workspace.open(ws_dir) as ws:
        issued = {r[0].upper() for r in ws.store.conn.execute(
            "SELECT serial_hex FROM certificates WHERE ca_name = ?", (SIGNING,))}  # fmt: skip
        sql = "SELECT serial_hex, revoked_at, reason FROM revocations WHERE ca_name = ?"
        revoked = {r[0].upper(): (r[1], r[2]) for r in ws.store.conn.execute(sql, (SIGNING,))}
        crl = revocations.last_full_crl(ws.store.conn, SIGNING)
        assert crl is not None
    # Every certificate (none expired), once per CertID hash.
    assert {(r["serial_hex"], r["hash"]) for r in rows} == {
        (s, h) for s in issued for h in ("sha1", "sha256")
    }
    crl_der = x509.load_der_x509_crl((ws_dir / "repository" / f"{SIGNING}.crl").read_bytes())
    for r in rows:
        der = (folder / r["path"]).read_bytes()
        assert r["path"] == f"responses/{r['hash']}/{r['serial_hex']}.der"
        assert hashlib.sha256(der).hexdigest() == r["sha256_hex"]
        resp = pyocsp.load_der_ocsp_response(der)
        verify(resp)
        assert responder_cert(resp).issuer == ca.subject
        assert resp.serial_number == int(r["serial_hex"], 16)
        assert resp.hash_algorithm.name == r["hash"]
        # 001 §10.5 fn 18: thisUpdate / nextUpdate are the CRL's.
        assert resp.this_update_utc == crl_der.last_update_utc
        assert resp.next_update_utc == crl_der.next_update_utc
        assert int(resp.this_update_utc.timestamp()) == int(r["this_update"])
        assert int(resp.produced_at_utc.timestamp()) == int(r["produced_at"])
        status = resp.certificate_status.name.lower()
        assert status == r["status"]
        if r["serial_hex"] in revoked:
            at, reason = revoked[r["serial_hex"]]
            assert status == "revoked"
            # 001 §10.5 fn 17: time and reason of the CRL entry.
            assert int(resp.revocation_time_utc.timestamp()) == at
            assert resp.revocation_reason == x509.ReasonFlags.key_compromise and reason == 1
        else:
            assert status == "good"
    assert sum(r["status"] == "revoked" for r in rows) == 2


def _tools(ws_dir: Path, tmp: Path) -> tuple[Path, Path, Path]:
    repo = ws_dir / "repository"
    sub, root = tmp / "sub.pem", tmp / "chain.pem"
    sub.write_bytes(to_pem((repo / f"{SIGNING}.crt").read_bytes()))
    root.write_bytes(sub.read_bytes() + to_pem((repo / "carillon-root-ca.crt").read_bytes()))
    return sub, root, tmp / "responder.pem"


@pytest.mark.interop
@pytest.mark.skipif(OPENSSL is None or OCSPTOOL is None, reason="openssl / ocsptool missing")
def test_openssl_ocsptool_and_pkilint_accept_them(ws_dir: Path, tmp_path: Path) -> None:
    run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING)
    sub, chain, responder = _tools(ws_dir, tmp_path)
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
    folder = ws_dir / "ocsp" / SIGNING
    seen = set()
    for r in index(ws_dir):
        if (r["status"], r["hash"]) in seen:
            continue  # one of each kind: the tools are slow to start
        seen.add((r["status"], r["hash"]))
        path = folder / r["path"]
        der = path.read_bytes()
        resp = pyocsp.load_der_ocsp_response(der)
        responder.write_bytes(to_pem(responder_cert(resp).public_bytes(Encoding.DER)))
        out = subprocess.run(
            [OPENSSL, "ocsp", "-respin", str(path), "-issuer", str(sub), "-CAfile", str(chain),
             # The CertID hash goes before the serial it applies to.
             f"-{r['hash']}", "-serial", "0x" + r["serial_hex"], "-resp_text"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert out.returncode == 0 and "Response verify OK" in out.stderr + out.stdout, out
        assert f"0x{r['serial_hex']}: {r['status']}" in out.stdout
        if r["status"] == "revoked":
            assert "Reason: keyCompromise" in out.stdout
        gnutls = subprocess.run(
            [OCSPTOOL, "-e", "--load-signer", str(responder), "--infile", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert "Verifying OCSP Response: Success" in gnutls.stdout, gnutls
        info = subprocess.run([OCSPTOOL, "-j", "--infile", str(path)], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        assert r["serial_hex"].lower() in info.lower().replace(":", "")
        doc = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
        findings = [
            f"{fd.finding.severity.name} {fd.finding.code}"
            for result in validator.validate(doc.root)
            for fd in result.finding_descriptions
            if fd.finding.severity <= ValidationFindingSeverity.WARNING
        ]
        assert findings == [], (r, findings)
    assert {s for s, _ in seen} == {"good", "revoked"}


def test_incremental_resigning_and_audit(ws_dir: Path) -> None:
    with Workspace.open(ws_dir) as ws:
        (spec,) = ocsp_presign.ocsp_cas(ws, SIGNING)
        from porthos.workflows.ocsp_responder import rotate_responder

        rotate_responder(ws, spec)
        now = int(time.time())
        (first,) = ocsp_presign.presign(ws, SIGNING, now=now)
        assert first.signed == first.responses == 2 * len(index(ws_dir)) // 2
        (again,) = ocsp_presign.presign(ws, SIGNING, now=now + 1)
        assert again.signed == 0 and again.responses == first.responses
        # A revocation shows once the next CRL lists it: then only that serial (both
        # hashes) is signed again.
        good = next(r["serial_hex"] for r in index(ws_dir) if r["status"] == "good")
        revocation.revoke(ws, [good], "superseded", requester="test", ca=SIGNING, now=now + 2)
        (before_crl,) = ocsp_presign.presign(ws, SIGNING, now=now + 3)
        assert before_crl.signed == 0
        crl_publication.publish(ws, [SIGNING], now=now + 4)
        (after,) = ocsp_presign.presign(ws, SIGNING, now=now + 5)
        assert after.signed == 2 and after.crl_number == first.crl_number + 1
        rows = {(r["serial_hex"], r["hash"]): r for r in index(ws_dir)}
        assert rows[(good, "sha1")]["status"] == rows[(good, "sha256")]["status"] == "revoked"
        # Within the refresh margin of nextUpdate (24 h of a 48 h CRL): everything.
        (due,) = ocsp_presign.presign(ws, SIGNING, now=now + 30 * 3600)
        assert due.signed == due.responses

    conn = sqlite3.connect(ws_dir / "porthos.sqlite")
    details = [json.loads(d) for (d,) in conn.execute(
        "SELECT details FROM audit WHERE event = ? AND outcome = 'success' ORDER BY seq",
        (ocsp_presign.EVENT,))]  # fmt: skip
    # The demo's own runs (one per CA) come first.
    assert [d["ca"] for d in details[:2]] == [SIGNING, DEVICE]
    details = details[2:]
    assert [d["signed"] for d in details] == [first.signed, 0, 0, 2, due.signed]
    assert all(d["ca"] == SIGNING and d["responses"] == first.responses for d in details)
    # The demo's rotations (one per CA), then this test's.
    assert (
        conn.execute("SELECT COUNT(*) FROM audit WHERE event = ?", (ROTATED,)).fetchone()[0] == 3
    )


def test_rotation_resigns_everything_and_refuses_a_long_life(ws_dir: Path) -> None:
    run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING)
    first = {r["serial_hex"]: r["sha256_hex"] for r in index(ws_dir) if r["hash"] == "sha1"}
    out = run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING, "--days", "7")
    rows = index(ws_dir)
    # Everything again (both hashes), the new responder's own certificate included.
    assert f"{len(rows)} responses signed" in out and len(rows) == 2 * (len(first) + 1)
    assert all(first[s] != r["sha256_hex"] for r in rows if (s := r["serial_hex"]) in first)
    der = (ws_dir / "ocsp" / SIGNING / rows[0]["path"]).read_bytes()
    cert = responder_cert(pyocsp.load_der_ocsp_response(der))
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 6 * 86400 < life.total_seconds() <= 7 * 86400
    # 001 §10.1.5: no longer than one month.
    r = CliRunner().invoke(main, ["ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING,
                                  "--days", "40"])  # fmt: skip
    assert r.exit_code == 2, r.output
    r = CliRunner().invoke(main, ["ocsp", "rotate-responder", "-w", str(ws_dir), "--ca",
                                  "carillon-root-ca"])  # fmt: skip
    assert r.exit_code == 2 and "does not answer OCSP" in r.output


def test_presign_needs_a_responder_and_porthos_has_no_ocsp(tmp_path: Path) -> None:
    # A new workspace (the demo already has responders): a CRL, but no responder yet.
    ws_dir = tmp_path / "new"
    run("init", "--workdir", str(ws_dir), "--cpcps", str(variant(tmp_path / "cpcps")))
    run("crl", "publish", "-w", str(ws_dir))
    r = CliRunner().invoke(main, ["ocsp", "presign", "-w", str(ws_dir)])
    assert r.exit_code == 2 and "rotate-responder" in r.output
    assert not (ws_dir / "ocsp" / SIGNING / "index.tsv").exists()
    # Audited as a failed run, like a failed CRL publication (RFC 3647 §5.4.1).
    conn = sqlite3.connect(ws_dir / "porthos.sqlite")
    (failed,) = conn.execute(
        "SELECT details FROM audit WHERE event = ? AND outcome = 'failure'", (ocsp_presign.EVENT,)
    ).fetchall()
    assert SIGNING in failed[0] and "rotate-responder" in failed[0]
    porthos_ws = tmp_path / "porthos"
    run("init", "--workdir", str(porthos_ws))
    assert "no CA of this CP/CPS answers OCSP" in run("ocsp", "presign", "-w", str(porthos_ws))


def test_on_demand_signer(ws_dir: Path) -> None:
    run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING)
    rows = index(ws_dir)
    good = next(r["serial_hex"] for r in rows if r["status"] == "good")
    revoked = next(r["serial_hex"] for r in rows if r["status"] == "revoked")
    with ocsp_presign.OnDemandSigner(ws_dir) as signer:
        for serial, hash_name, want in (
            (good, "sha1", pyocsp.OCSPCertStatus.GOOD),
            (revoked, "sha256", pyocsp.OCSPCertStatus.REVOKED),
            ("7F" * 16, "sha1", pyocsp.OCSPCertStatus.UNKNOWN),
        ):
            der = signer.sign(SIGNING, bytes.fromhex(serial), hash_name, b"\x01" * 16)
            resp = pyocsp.load_der_ocsp_response(der)
            verify(resp)
            assert resp.certificate_status == want
            assert resp.serial_number == int(serial, 16)
            assert resp.hash_algorithm.name == hash_name
            nonce = resp.extensions.get_extension_for_class(x509.OCSPNonce).value
            assert nonce.nonce == b"\x01" * 16
        no_nonce = pyocsp.load_der_ocsp_response(
            signer.sign(SIGNING, bytes.fromhex(good), "sha1", None)
        )
        assert len(no_nonce.extensions) == 0
        for bad in (
            lambda: signer.sign("carillon-root-ca", bytes.fromhex(good), "sha1", None),
            lambda: signer.sign(SIGNING, b"", "sha1", None),
            lambda: signer.sign(SIGNING, bytes.fromhex(good), "md5", None),
            lambda: signer.sign(SIGNING, bytes.fromhex(good), "sha1", b"x" * 33),
        ):
            with pytest.raises(PorthosError):
                bad()


def _softhsm() -> bool:
    from porthos import hsm
    from porthos.exceptions import HsmNotFoundError

    try:
        hsm.find_module()
    except HsmNotFoundError:
        return False
    return True


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_hsm_workspace_keeps_the_responder_key_in_the_token(tmp_path: Path) -> None:
    """HSM mode: rotation makes the responder key in the issuing-CA token (a PKCS#11 URI
    in the workspace, no key file), signs the request and every response there."""
    import os

    toml = variant(tmp_path / "cpcps")
    d = tmp_path / "hsm"
    env = dict(os.environ)
    env.pop("SOFTHSM2_CONF", None)  # the workspace's own token store
    porthos = [sys.executable, "-m", "porthos.cli.main"]
    demo = [*porthos, "demo", "--cpcps", str(toml), "--workdir", str(d), "--hsm", "softhsm"]
    r = subprocess.run(demo, capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    pin = d / "hsm" / "demo-pins" / "issuing.pin"
    rotate = [*porthos, "ocsp", "rotate-responder", "-w", str(d), "--ca", SIGNING]
    r = subprocess.run([*rotate, "--pin-file", str(pin)], capture_output=True, text=True,
                       env=env, check=False)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    # The demo's responders of both CAs, and this rotation's.
    refs = list((d / "keys" / "ocsp").iterdir())
    assert len(refs) == 3 and len(list((d / "keys" / "ocsp").glob(f"{SIGNING}-*"))) == 2
    for ref in refs:
        assert ref.suffix == ".uri" and ref.read_text().startswith("pkcs11:token=")
    assert not list((d / "keys" / "ocsp").glob("*.p8"))
    rows = index(d)
    assert rows and {r["status"] for r in rows} == {"good", "revoked"}
    for row in rows:
        resp = pyocsp.load_der_ocsp_response((d / "ocsp" / SIGNING / row["path"]).read_bytes())
        verify(resp)
    # Without the PIN the token key cannot sign: one clear error, exit 2.
    no_pin = [*porthos, "ocsp", "presign", "-w", str(d), "--pin-file", str(tmp_path / "none")]
    r = subprocess.run(no_pin, capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 2


def test_on_demand_signer_from_server_threads_sees_a_rotation(ws_dir: Path) -> None:
    """An HTTP server calls sign() from its worker threads; a rotation is picked up at
    the next refresh, without a new signer (no restart)."""
    from concurrent.futures import ThreadPoolExecutor

    run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING)
    serials = [bytes.fromhex(r["serial_hex"]) for r in index(ws_dir) if r["hash"] == "sha1"]
    signer = ocsp_presign.OnDemandSigner(ws_dir)
    try:
        with ThreadPoolExecutor(4) as pool:
            ders = list(pool.map(lambda s: signer.sign(SIGNING, s, "sha1", None), serials * 3))
        first = {responder_cert(pyocsp.load_der_ocsp_response(d)).serial_number for d in ders}
        assert len(first) == 1
        run("ocsp", "rotate-responder", "-w", str(ws_dir), "--ca", SIGNING, "--no-presign")
        signer.REFRESH = 0.0
        with ThreadPoolExecutor(2) as pool:
            ders = list(pool.map(lambda s: signer.sign(SIGNING, s, "sha256", b"n"), serials))
        for d in ders:
            resp = pyocsp.load_der_ocsp_response(d)
            verify(resp)
            assert responder_cert(resp).serial_number not in first
    finally:
        signer.close()
    with pytest.raises(PorthosError):
        ocsp_presign.OnDemandSigner(ws_dir / "missing")


DEVICE = "carillon-device-ca-1"


def test_the_demo_presigns_for_both_cas_and_the_device_ca_answers(demo: Path) -> None:
    """The Device CA's profiles name its OCSP URL: its own delegated responder
    (device-ocsp-responder, 001 §10.1.5) answers for every certificate it issued."""
    with Workspace.open(demo) as ws:
        assert [c.ca for c in ocsp_presign.ocsp_cas(ws)] == [SIGNING, DEVICE]
        issued = {r[0].upper() for r in ws.store.conn.execute(
            "SELECT serial_hex FROM certificates WHERE ca_name = ?", (DEVICE,))}  # fmt: skip
        device = ws.ca(DEVICE).certificate
    folder = demo / "ocsp" / DEVICE
    assert (folder / "issuer.der").read_bytes() == device
    lines = (folder / "index.tsv").read_text().splitlines()[1:]
    rows = [
        dict(zip(ocsp_files.INDEX_HEADER.split("\t"), x.split("\t"), strict=True)) for x in lines
    ]
    assert {(r["serial_hex"], r["hash"]) for r in rows} == {
        (s, h) for s in issued for h in ("sha1", "sha256")
    }
    ca = x509.load_der_x509_certificate(device)
    for r in rows:
        resp = pyocsp.load_der_ocsp_response((folder / r["path"]).read_bytes())
        verify(resp)
        cert = responder_cert(resp)
        assert cert.issuer == ca.subject
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]
        assert resp.certificate_status == pyocsp.OCSPCertStatus.GOOD
    assert (demo / "ocsp" / SIGNING / "index.tsv").is_file()
