"""The registration authority end to end through the CLI (issue 6): identity checks per
CA (000 §3.2.3), unique names (000 §3.1) and type A re-key (000 §4.7.3, seeds/README.md
reading). Every rule has an accepting and a refusing case; issued certificates are
checked with pyca/cryptography and `openssl verify`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from error_codes import raises_code
from porthos import _native
from porthos.cli.main import main
from porthos.cpcps import policy
from porthos.exceptions import BatchArgumentError, RegistrationError
from porthos.status import IssueStatus
from porthos.store import audit
from porthos.workflows import revocation
from porthos.workflows.ra import RegistrationAuthority
from porthos.workspace.workspace import Workspace

DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
DAY = 86400


def _rekey_window(ws: Workspace, not_after: int) -> tuple[int, int]:
    """The type A re-key window the workspace's CP/CPS gives a certificate."""
    assert ws.profile_set.rekey is not None
    return ws.profile_set.rekey.window(not_after)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def flat(r: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(r.output.split())


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(**attrs: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME,
            "serialNumber": NameOID.SERIAL_NUMBER}  # fmt: skip
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items()])


def _csr(key: Any, **subject: str) -> bytes:
    b = x509.CertificateSigningRequestBuilder().subject_name(_name(**subject))
    return b.sign(key, hashes.SHA256()).public_bytes(DER)


def _pem_csr(key: Any, **subject: str) -> bytes:
    return x509.load_der_x509_csr(_csr(key, **subject)).public_bytes(PEM)


class ManufacturerPki:
    """A device manufacturer: root -> issuing CA -> DMCs (serialNumber = Chip-ID)."""

    def __init__(self, org: str) -> None:
        now = dt.datetime.now(dt.UTC)
        self.root_key, self.issuing_key = _key(), _key()
        self.root_name = _name(CN=f"{org} Root", O=org)
        self.issuing_name = _name(CN=f"{org} DMC Issuing CA", O=org)
        ca = x509.BasicConstraints(ca=True, path_length=None)
        self.root = (
            x509.CertificateBuilder().subject_name(self.root_name).issuer_name(self.root_name)
            .public_key(self.root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(ca, critical=True).sign(self.root_key, hashes.SHA256())
        )  # fmt: skip
        self.issuing = (
            x509.CertificateBuilder().subject_name(self.issuing_name)
            .issuer_name(self.root_name).public_key(self.issuing_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3000))
            .add_extension(ca, critical=True).sign(self.root_key, hashes.SHA256())
        )  # fmt: skip

    def dmc(self, chip_id: str) -> tuple[Any, x509.Certificate]:
        key = _key()
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(CN="Secure Element", serialNumber=chip_id))
            .issuer_name(self.issuing_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2000))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.issuing_key, hashes.SHA256())
        )  # fmt: skip
        return key, cert

    def write(self, d: Path) -> tuple[Path, Path]:
        (d / "root.pem").write_bytes(self.root.public_bytes(PEM))
        (d / "issuing.der").write_bytes(self.issuing.public_bytes(DER))
        return d / "root.pem", d / "issuing.der"


def cms(content: bytes, cert: x509.Certificate, key: Any, *, carry: bool = True) -> bytes:
    options = [pkcs7.PKCS7Options.Binary]
    if not carry:
        options.append(pkcs7.PKCS7Options.NoCerts)
    return (
        pkcs7.PKCS7SignatureBuilder().set_data(content)
        .add_signer(cert, key, hashes.SHA256()).sign(DER, options)
    )  # fmt: skip


@pytest.fixture(scope="module")
def wsdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ra") / "ws"
    assert run("init", "-w", d).exit_code == 0
    return d


@pytest.fixture
def ws(wsdir: Path) -> Iterator[Workspace]:
    w = Workspace.open(wsdir)
    yield w
    w.close()


@pytest.fixture(scope="module")
def maker(wsdir: Path, tmp_path_factory: pytest.TempPathFactory) -> ManufacturerPki:
    pki = ManufacturerPki("Acme Secure Elements")
    root, issuing = pki.write(tmp_path_factory.mktemp("maker"))
    dn = pki.issuing_name.rfc4514_string()
    r = run("ra", "add-manufacturer", "-w", wsdir, "--name", "acme", "--root", root,
            "--issuing", issuing, "--acceptable-dn", dn)  # fmt: skip
    assert r.exit_code == 0, r.output
    return pki


def certs_of(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes()) if path.read_bytes() else []


def check_issued(ws: Workspace, cert: x509.Certificate, tmp: Path) -> None:
    """pyca: signed by its issuing CA, which the root signed; openssl verify: the chain."""
    root = x509.load_der_x509_certificate(ws.cas[0].certificate)
    issuer = next(
        x509.load_der_x509_certificate(ca.certificate)
        for ca in ws.cas
        if x509.load_der_x509_certificate(ca.certificate).subject == cert.issuer
    )
    cert.verify_directly_issued_by(issuer)
    issuer.verify_directly_issued_by(root)
    if shutil.which("openssl") is None:
        return
    (tmp / "root.pem").write_bytes(root.public_bytes(PEM))
    (tmp / "issuing.pem").write_bytes(issuer.public_bytes(PEM))
    (tmp / "leaf.pem").write_bytes(cert.public_bytes(PEM))
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", tmp / "root.pem", "-untrusted", tmp / "issuing.pem",
         tmp / "leaf.pem"], capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def events(ws: Workspace, event: str) -> list[audit.AuditRecord]:
    return [r for r in audit.records(ws.store) if r.event == event]


# --------------------------------------------------------------------------------------
# 000 §3.2.3.1 high assurance devices
# --------------------------------------------------------------------------------------


def test_dmc_good_unknown_manufacturer_chip_not_allowed_bad_signature(
    wsdir: Path, ws: Workspace, maker: ManufacturerPki, tmp_path: Path
) -> None:
    chips = tmp_path / "chips.txt"
    chips.write_text("# Porthos chips\nCHIP-0001\nCHIP-0002\n")
    r = run("ra", "allow-chips", "-w", wsdir, chips)
    assert r.exit_code == 0 and "2 of 2" in flat(r), r.output

    good_key, good_dmc = maker.dmc("CHIP-0001")
    stranger = ManufacturerPki("Unknown Fab")
    s_key, s_dmc = stranger.dmc("CHIP-0002")
    n_key, n_dmc = maker.dmc("CHIP-9999")
    device = str(uuid.uuid4())
    requests = {
        "good": cms(_csr(_key(), CN=device), good_dmc, good_key),
        "unknown-manufacturer": cms(_csr(_key(), CN=str(uuid.uuid4())), s_dmc, s_key),
        "chip-not-allowed": cms(_csr(_key(), CN=str(uuid.uuid4())), n_dmc, n_key),
        "bad-signature": cms(_csr(_key(), CN=str(uuid.uuid4())), good_dmc, _key()),
        "not-cms": _csr(_key(), CN=str(uuid.uuid4())),
    }
    files = []
    for name, der in requests.items():
        (tmp_path / f"{name}.p7").write_bytes(der)
        files += ["--cms", tmp_path / f"{name}.p7"]
    out, report = tmp_path / "out.pem", tmp_path / "report.json"
    r = run("ra", "issue-ha", "-w", wsdir, *files, "--out", out, "--report", report)
    assert r.exit_code == 3, r.output
    rejected = {row["index"]: row for row in json.loads(report.read_text())["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4]
    assert "unknown manufacturer" in rejected[1]["reason"]
    assert "§3.2.3.1" in rejected[1]["reason"]
    assert "CHIP-9999" in rejected[2]["reason"] and "allowlist" in rejected[2]["reason"]
    assert rejected[3]["status"] == "BAD_SIGNATURE"
    assert rejected[4]["status"] == "MALFORMED"
    (cert,) = certs_of(out)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device
    check_issued(ws, cert, tmp_path)
    ws.store.conn.execute("SELECT 1")  # a fresh read of what the CLI committed
    accepted = events(ws, audit.Event.APPLICATION_ACCEPTED)[-1]
    assert accepted.details["ra"] == "dmc"
    assert accepted.details["items"][0]["chip_id"] == "CHIP-0001"
    assert accepted.details["items"][0]["manufacturer"] == "acme"
    refused = events(ws, audit.Event.APPLICATION_REJECTED)[-1]
    assert refused.outcome == "failure" and refused.details["count"] == 4


def test_manufacturer_refused_when_issuing_dn_not_acceptable(wsdir: Path, tmp_path: Path) -> None:
    pki = ManufacturerPki("Other Fab")
    root, issuing = pki.write(tmp_path)
    r = run("ra", "add-manufacturer", "-w", wsdir, "--name", "other", "--root", root,
            "--issuing", issuing, "--acceptable-dn", "CN=Someone Else,O=Other Fab")  # fmt: skip
    assert r.exit_code == 2
    assert "acceptable DNs" in flat(r) and "§3.2.3.1" in flat(r)
    # The issuing certificate of another root does not chain either.
    wrong_root = ManufacturerPki("Third Fab")
    (tmp_path / "wrong.pem").write_bytes(wrong_root.root.public_bytes(PEM))
    r = run("ra", "add-manufacturer", "-w", wsdir, "--name", "other", "--root",
            tmp_path / "wrong.pem", "--issuing", issuing, "--acceptable-dn",
            pki.issuing_name.rfc4514_string())  # fmt: skip
    assert r.exit_code == 2 and "not signed by the root" in flat(r)


def test_dmc_chain_checked_at_issuance_time(ws: Workspace, maker: ManufacturerPki) -> None:
    """A DMC used after the manufacturer's issuing CA expired is refused (validity)."""
    ra = RegistrationAuthority(ws)
    ra.allow_chips(["CHIP-LATE"])
    key, dmc = maker.dmc("CHIP-LATE")
    req = cms(_csr(_key(), CN=str(uuid.uuid4())), dmc, key)
    later = int(time.time()) + 3100 * DAY
    result = ra.issue_ha_device([req], now=later)
    assert result.issued_count == 0
    assert "not valid at" in result.reasons[0]


# --------------------------------------------------------------------------------------
# 000 §3.2.3.2 standard assurance devices
# --------------------------------------------------------------------------------------


def _register(wsdir: Path, csr_file: Path, *extra: str) -> str:
    r = run("ra", "register-csr", "-w", wsdir, "--csr", csr_file, "--agent", "agent-7", *extra)
    assert r.exit_code == 0, r.output
    tid = r.output.strip()
    assert len(tid) >= 22  # >= 128 bits of URL-safe base64
    return tid


def test_transaction_id_good_reused_wrong_csr(wsdir: Path, ws: Workspace, tmp_path: Path) -> None:
    csr = tmp_path / "a.pem"
    csr.write_bytes(_pem_csr(_key(), CN=str(uuid.uuid4())))
    tid = _register(wsdir, csr)
    out = tmp_path / "out.pem"
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", csr, "--out", out,
            "--transaction-id", tid)  # fmt: skip
    assert r.exit_code == 0, r.output
    (cert,) = certs_of(out)
    check_issued(ws, cert, tmp_path)
    used = ws.store.conn.execute("SELECT used_at FROM transactions WHERE id = ?", (tid,))
    assert used.fetchone()[0] is not None

    # Reused: refused, nothing issued.
    before = ws.store.count_certificates()
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", csr, "--out", out,
            "--transaction-id", tid)  # fmt: skip
    assert r.exit_code == 3 and "already used" in flat(r) and "§3.2.3.2" in flat(r)

    # Bound to another CSR.
    other = tmp_path / "b.pem"
    other.write_bytes(_pem_csr(_key(), CN=str(uuid.uuid4())))
    fresh = _register(wsdir, csr)
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", other, "--out", out,
            "--transaction-id", fresh)  # fmt: skip
    assert r.exit_code == 3 and "another CSR" in flat(r)

    # Unknown.
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", other, "--out", out,
            "--transaction-id", "no-such-id")  # fmt: skip
    assert r.exit_code == 3 and "unknown transaction-ID" in flat(r)
    assert ws.store.count_certificates() == before
    # The audit trail keeps a fingerprint of the ID, never the ID itself.
    text = json.dumps([rec.as_json() for rec in audit.records(ws.store)])
    assert tid not in text and fresh not in text


def test_transaction_id_expired(wsdir: Path, tmp_path: Path) -> None:
    csr = tmp_path / "c.pem"
    csr.write_bytes(_pem_csr(_key(), CN=str(uuid.uuid4())))
    tid = _register(wsdir, csr, "--ttl-hours", "0.0003")  # about one second
    time.sleep(2.1)
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", csr, "--out",
            tmp_path / "o.pem", "--transaction-id", tid)  # fmt: skip
    assert r.exit_code == 3 and "expired" in flat(r)


def test_transactions_file_batch(wsdir: Path, tmp_path: Path) -> None:
    pems = [_pem_csr(_key(), CN=str(uuid.uuid4())) for _ in range(3)]
    ids = []
    for i, pem in enumerate(pems):
        (tmp_path / f"{i}.pem").write_bytes(pem)
        ids.append(_register(wsdir, tmp_path / f"{i}.pem"))
    bundle = tmp_path / "all.pem"
    bundle.write_bytes(b"".join(pems))
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([ids[0], ids[1], ids[1]]))  # the third reuses the second's
    out, report = tmp_path / "out.pem", tmp_path / "r.json"
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", bundle, "--out", out,
            "--report", report, "--transactions", pairs)  # fmt: skip
    assert r.exit_code == 3, r.output
    rejected = json.loads(report.read_text())["rejected"]
    assert [row["index"] for row in rejected] == [2]
    assert len(certs_of(out)) == 2
    pairs.write_text(json.dumps([ids[2]]))
    r = run("issue", "-w", wsdir, "-p", "sa-device", "--csr", bundle, "--out", out,
            "--transactions", pairs)  # fmt: skip
    assert r.exit_code == 2 and "pair one to one" in flat(r)


def test_register_csr_refuses_broken_proof_of_possession(wsdir: Path, tmp_path: Path) -> None:
    der = bytearray(_csr(_key(), CN=str(uuid.uuid4())))
    der[-1] ^= 1
    (tmp_path / "bad.der").write_bytes(bytes(der))
    r = run("ra", "register-csr", "-w", wsdir, "--csr", tmp_path / "bad.der", "--agent", "a")
    assert r.exit_code == 2 and "§3.2.1" in flat(r)


# --------------------------------------------------------------------------------------
# 000 §3.2.3.3 applications and services
# --------------------------------------------------------------------------------------


def test_aor_good_domain_not_allowed_wildcard_bad_fqdn(
    wsdir: Path, ws: Workspace, tmp_path: Path
) -> None:
    r = run("ra", "add-aor", "-w", wsdir, "--name", "ops", "--domain", "svc.porthos.example")
    assert r.exit_code == 0, r.output
    cns = [
        "api.svc.porthos.example",  # accepted
        "evil.example",  # domain not allowed
        "*.svc.porthos.example",  # wildcard
        "bad_host.svc.porthos.example",  # not an LDH label
        "svc.porthos.example",  # the domain itself: accepted
        "-x.svc.porthos.example",  # label starting with '-'
    ]
    bundle = tmp_path / "in.pem"
    bundle.write_bytes(b"".join(_pem_csr(_key(), CN=cn) for cn in cns))
    out, report = tmp_path / "out.pem", tmp_path / "r.json"
    r = run("ra", "issue-infra", "-w", wsdir, "-p", "tls-server", "--csr", bundle,
            "--aor", "ops", "--out", out, "--report", report)  # fmt: skip
    assert r.exit_code == 3, r.output
    rejected = {row["index"]: row["reason"] for row in json.loads(report.read_text())["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 5]
    assert "may not request 'evil.example'" in rejected[1]
    assert "wildcard" in rejected[2]
    assert "bad_host" in rejected[3] and "§3.2.3.3" in rejected[3]
    issued = certs_of(out)
    assert len(issued) == 2
    for cert in issued:
        check_issued(ws, cert, tmp_path)

    client = tmp_path / "client.pem"
    client.write_bytes(_pem_csr(_key(), CN="worker.svc.porthos.example:sync"))
    r = run("ra", "issue-infra", "-w", wsdir, "-p", "tls-client", "--csr", client,
            "--aor", "ops", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output

    r = run("ra", "issue-infra", "-w", wsdir, "-p", "tls-server", "--csr", client,
            "--aor", "nobody", "--out", out)  # fmt: skip
    assert r.exit_code == 2 and "not registered" in flat(r)
    r = run("ra", "add-aor", "-w", wsdir, "--name", "ops", "--domain", "*.example")
    assert r.exit_code == 2 and "not an FQDN" in flat(r)


# --------------------------------------------------------------------------------------
# 000 §3.2.3.4 humans, 000 §3.1 unique names
# --------------------------------------------------------------------------------------


def test_user_agent_recorded_and_unique_names(wsdir: Path, ws: Workspace, tmp_path: Path) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    k1, k2 = _key(), _key()
    (tmp_path / "u1.pem").write_bytes(_pem_csr(k1, CN=user))
    out = tmp_path / "out.pem"
    r = run("ra", "issue-user", "-w", wsdir, "--csr", tmp_path / "u1.pem", "--agent",
            "alice@ra", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    (cert,) = certs_of(out)
    check_issued(ws, cert, tmp_path)
    issued = events(ws, audit.Event.CERTIFICATES_ISSUED)[-1]
    assert issued.details["agent"] == "alice@ra" and issued.details["ra"] == "trusted-agent"
    assert events(ws, audit.Event.APPLICATION_ACCEPTED)[-1].details["agent"] == "alice@ra"

    # Same subject, another key: refused (000 §3.1).
    (tmp_path / "u2.pem").write_bytes(_pem_csr(k2, CN=user))
    r = run("ra", "issue-user", "-w", wsdir, "--csr", tmp_path / "u2.pem", "--agent",
            "alice@ra", "--out", out)  # fmt: skip
    assert r.exit_code == 3 and "unique" in flat(r) and "§3.1" in flat(r)
    rejected = events(ws, audit.Event.APPLICATION_REJECTED)[-1]
    assert rejected.details["agent"] == "alice@ra"
    # Same subject and the same key (a renewal of the key's certificate): accepted.
    r = run("ra", "issue-user", "-w", wsdir, "--csr", tmp_path / "u1.pem", "--agent",
            "alice@ra", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    # Two keys for one new name in one batch: the second is refused.
    other = f"user-{uuid.uuid4().hex[:8]}"
    (tmp_path / "pair.pem").write_bytes(_pem_csr(k1, CN=other) + _pem_csr(k2, CN=other))
    r = run("ra", "issue-user", "-w", wsdir, "--csr", tmp_path / "pair.pem", "--agent",
            "alice@ra", "--out", out)  # fmt: skip
    assert r.exit_code == 3 and "item 0 of this batch" in flat(r)
    # No agent: refused.
    r = run("ra", "issue-user", "-w", wsdir, "--csr", tmp_path / "u1.pem", "--agent", " ",
            "--out", out)  # fmt: skip
    assert r.exit_code == 2 and "§3.2.3.4" in flat(r)


# --------------------------------------------------------------------------------------
# 000 §4.7.3 type A re-key
# --------------------------------------------------------------------------------------


def _sa_cert(ws: Workspace, key: Any, device: str, issued_at: int) -> x509.Certificate:
    """An SA device certificate issued at ``issued_at`` through the RA's API."""
    ra = RegistrationAuthority(ws)
    der = _csr(key, CN=device)
    tid = ra.register_csr(der, "agent-7", now=issued_at)
    result = ra.issue_with_transactions([(der, tid)], now=issued_at)
    assert result.issued_count == 1, result.reasons
    return x509.load_der_x509_certificate(result.certificates[0] or b"")


def _rekey(wsdir: Path, tmp: Path, content: bytes, cert: x509.Certificate, key: Any,
           *extra: str, carry: bool = True) -> Result:  # fmt: skip
    (tmp / "rekey.p7").write_bytes(cms(content, cert, key, carry=carry))
    return run("ra", "rekey", "-w", wsdir, "--cms", tmp / "rekey.p7", "--out",
               tmp / "new.pem", *extra)  # fmt: skip


def test_rekey_inside_window_keeps_subject_and_passes_unique_names(
    wsdir: Path, ws: Workspace, tmp_path: Path
) -> None:
    now = int(time.time())
    old_key, new_key = _key(), _key()
    device = str(uuid.uuid4())
    # Issued 8 months ago: 13-month validity, so it expires in ~5 months, inside the
    # 6-month renewal window.
    old = _sa_cert(ws, old_key, device, policy.add_months(now, -8))
    opens, closes = _rekey_window(ws, int(old.not_valid_after_utc.timestamp()))
    assert opens < now < closes
    new_csr = _csr(new_key, CN=device)

    # Unique names: the same subject with the new key outside re-key is refused.
    ra = RegistrationAuthority(ws)
    tid = ra.register_csr(new_csr, "agent-7")
    refused = ra.issue_with_transactions([(new_csr, tid)])
    assert refused.issued_count == 0 and "§3.1" in refused.reasons[0]

    # Through re-key (the sid is found in the store: the current certificate is not
    # carried in the request).
    r = _rekey(wsdir, tmp_path, new_csr, old, old_key, carry=False)
    assert r.exit_code == 0, r.output
    (new,) = certs_of(tmp_path / "new.pem")
    assert new.subject == old.subject
    assert new.public_key().public_numbers() == new_key.public_key().public_numbers()
    check_issued(ws, new, tmp_path)
    rec = events(ws, audit.Event.REKEY)[-1]
    assert rec.details["old_serial"] == format(old.serial_number, "x").zfill(32)
    assert rec.details["early"] is False and rec.details["revocation_due_at"] is None
    sched = ws.store.conn.execute(
        "SELECT COUNT(*) FROM scheduled_revocations WHERE serial_hex = ?",
        (format(old.serial_number, "x").zfill(32),),
    ).fetchone()[0]
    assert sched == 0

    # Re-key needs a new key pair, and keeps the subject.
    r = _rekey(wsdir, tmp_path, _csr(old_key, CN=device), old, old_key)
    assert r.exit_code == 2 and "new key pair" in flat(r)
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN=str(uuid.uuid4())), old, old_key)
    assert r.exit_code == 2 and "keeps the subject" in flat(r)


def test_rekey_too_early_refused_then_accepted_with_early(
    wsdir: Path, ws: Workspace, tmp_path: Path
) -> None:
    old_key = _key()
    device = str(uuid.uuid4())
    old = _sa_cert(ws, old_key, device, int(time.time()))
    content = _csr(_key(), CN=device)
    r = _rekey(wsdir, tmp_path, content, old, old_key)
    assert r.exit_code == 2
    assert "renewal window" in flat(r) and "§4.7.3" in flat(r)
    assert "--early" in flat(r) and "initial registration" in flat(r)
    failed = events(ws, audit.Event.REKEY)[-1]
    assert failed.outcome == "failure"

    before = int(time.time())
    r = _rekey(wsdir, tmp_path, content, old, old_key, "--early", "--grace-days", "3")
    assert r.exit_code == 0, r.output
    assert "superseded" in flat(r)
    row = ws.store.conn.execute(
        "SELECT reason, due_at, requested_by, done_at FROM scheduled_revocations"
        " WHERE serial_hex = ?",
        (format(old.serial_number, "x").zfill(32),),
    ).fetchone()
    assert row is not None
    reason, due_at, requested_by, done_at = row
    assert reason == 4  # RFC 5280 §5.3.1 superseded
    assert before + 3 * DAY <= due_at <= int(time.time()) + 3 * DAY
    assert requested_by and done_at is None
    sched = events(ws, audit.Event.REVOCATION_SCHEDULED)[-1]
    assert sched.serial == format(old.serial_number, "x").zfill(32)
    check_issued(ws, certs_of(tmp_path / "new.pem")[0], tmp_path)
    # The superseded certificate cannot re-key again.
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN=device), old, old_key, "--early")
    assert r.exit_code == 2 and "superseded" in flat(r)


def test_rekey_past_grace_period_refused(wsdir: Path, ws: Workspace, tmp_path: Path) -> None:
    now = int(time.time())
    old_key = _key()
    device = str(uuid.uuid4())
    # Expired 5 years and 1 month ago.
    issued = policy.add_months(now, -(13 + 60 + 1))
    old = _sa_cert(ws, old_key, device, issued)
    assert _rekey_window(ws, int(old.not_valid_after_utc.timestamp()))[1] < now
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN=device), old, old_key)
    assert r.exit_code == 2
    assert "5 years after expiry" in flat(r) and "type B" in flat(r)
    # 4 years after expiry is still inside the grace period.
    old_key2 = _key()
    device2 = str(uuid.uuid4())
    old2 = _sa_cert(ws, old_key2, device2, policy.add_months(now, -(13 + 48)))
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN=device2), old2, old_key2)
    assert r.exit_code == 0, r.output


def test_rekey_refusals_type_b_only_foreign_signer_revoked(
    wsdir: Path, ws: Workspace, tmp_path: Path
) -> None:
    ra = RegistrationAuthority(ws)
    # User CA: type B only (000 §4.7.3 table).
    key = _key()
    user = f"user-{uuid.uuid4().hex[:8]}"
    res = ra.issue_user(_csr(key, CN=user), agent="bob")
    cert = x509.load_der_x509_certificate(res.certificates[0] or b"")
    with raises_code(RegistrationError, "registration"):
        ra.rekey(cms(_csr(_key(), CN=user), cert, key), early=True)
    # A signer this PKI did not issue.
    foreign_key = _key()
    foreign = (
        x509.CertificateBuilder().subject_name(_name(CN="x")).issuer_name(_name(CN="x"))
        .public_key(foreign_key.public_key()).serial_number(1)
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)).sign(foreign_key, hashes.SHA256())
    )  # fmt: skip
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN="x"), foreign, foreign_key)
    assert r.exit_code == 2 and "did not issue" in flat(r)
    # Not a CMS at all: the offset and field path of the bad byte are named.
    (tmp_path / "junk.p7").write_bytes(b"\x30\x03\x02\x01")
    r = run("ra", "rekey", "-w", wsdir, "--cms", tmp_path / "junk.p7", "--out", tmp_path / "n")
    assert r.exit_code == 2 and "not a CMS SignedData" in flat(r) and "at byte" in flat(r)
    # Another key signed the request.
    old_key = _key()
    device = str(uuid.uuid4())
    old = _sa_cert(ws, old_key, device, policy.add_months(int(time.time()), -8))
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN=device), old, _key())
    assert r.exit_code == 2 and "BAD_SIGNATURE" in flat(r)
    # A revoked certificate re-keys by initial registration only (000 §3.3.2).
    revocation.revoke(
        ws, [old.serial_number], "keyCompromise", requester="RA operator", ca="sa-device-ca-1"
    )
    r = _rekey(wsdir, tmp_path, _csr(_key(), CN=device), old, old_key)
    assert r.exit_code == 2 and "revoked" in flat(r) and "§3.3.2" in flat(r)


# --------------------------------------------------------------------------------------
# One parse per request: the RA's checks and issuance share it
# --------------------------------------------------------------------------------------


def test_ra_parses_each_csr_once(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = _native.parse_csrs

    def counting(csrs: Any, **kwargs: Any) -> Any:
        calls.append(len(csrs))
        return real(csrs, **kwargs)

    monkeypatch.setattr(_native, "parse_csrs", counting)
    ra = RegistrationAuthority(ws)
    ra.add_aor("parse-once", ["once.porthos.example"])
    csrs = [_csr(_key(), CN=f"h{i}.once.porthos.example") for i in range(3)]
    csrs.append(_csr(_key(), CN="elsewhere.example"))
    result = ra.issue_infrastructure(csrs, "tls-server", aor="parse-once")
    assert result.issued_count == 3
    assert "may not request 'elsewhere.example'" in result.reasons[3]
    assert calls == [4]  # one parse of the whole batch, no per-check re-parse


def test_issue_batch_screen_hook_and_parsed_batch(ws: Workspace) -> None:
    """The interface the RA issues through: ``parsed=`` is not parsed again, and the
    ``screen=`` refusals land on their items like policy refusals."""
    ders = [_csr(_key(), CN=f"user-{uuid.uuid4().hex[:8]}") for _ in range(3)]
    parsed = _native.parse_csrs(ders, verify=True)
    seen: list[int] = []

    def screen(batch: Any) -> dict[int, tuple[IssueStatus, str]]:
        seen.append(len(batch))
        return {1: (IssueStatus.REFUSED, "refused by the caller's check")}

    ca = ws.ca_for_profile("user")
    result = ca.issue_batch(ders, "user", parsed=parsed, screen=screen)
    assert seen == [3]
    assert [int(s) for s in result.status] == [0, int(IssueStatus.REFUSED), 0]
    assert result.reasons[1] == "refused by the caller's check"
    assert result.certificates[1] is None and result.issued_count == 2
    with pytest.raises(BatchArgumentError) as err:
        ca.issue_batch(ders[:2], "user", parsed=parsed)
    assert err.value.code == "batch-argument"


def test_audit_chain_verifies_after_ra_work(wsdir: Path) -> None:
    r = run("audit", "verify", "-w", wsdir) if "audit" in main.commands else None
    with Workspace.open(wsdir) as w:
        assert audit.verify(w.store)
    if r is not None:
        assert r.exit_code == 0, r.output
