"""Suspension (issue 16; Carillon CP §4.9.13-16, shaped as tests/cpcps/hold-approve.toml):
a certificate put on hold is listed with certificateHold and the hold instruction
"reject", released (the full CRL omits it, the delta CRL says removeFromCRL), escalated
to keyCompromise after the CP/CPS's limit, or revoked outright.

The CRLs are judged by others: pyca parses the entries and checks the signature,
``openssl crl -text`` prints the hold instruction, ``openssl verify -crl_check`` refuses
the held certificate and accepts it after the release, pkilint's CRL linter finds
nothing at WARNING or above. Every refusal is checked by its ``.code``, with nothing
stored and the failure audited."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from error_codes import raises_code
from porthos.cli.main import main
from porthos.cpcps.policy import add_months
from porthos.exceptions import LifecycleError, SuspensionError
from porthos.store import audit
from porthos.workflows import suspension
from porthos.workspace.workspace import Workspace

TOML = Path(__file__).resolve().parent / "cpcps" / "hold-approve.toml"
ISSUING = "ha-issuing"
CRL_HOST = "crl.hold-approve.example"
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
# id-holdinstruction-reject (1.2.840.10040.2.3) as the DER of the extension's value.
REJECT_OID_DER = bytes.fromhex("06072a8648ce38020 3".replace(" ", ""))
HOLD_INSTRUCTION_CODE = x509.ObjectIdentifier("2.5.29.23")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def at(ts: int) -> str:
    return f"@{ts}"


@pytest.fixture
def w(tmp_path: Path) -> Path:
    d = tmp_path / "w"
    r = run("init", "--workdir", str(d), "--cpcps", str(TOML))
    assert r.exit_code == 0, r.output
    return d


def csr_pem(tmp: Path) -> Path:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hold Approve Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, str(uuid.uuid4())),
        ]
    )
    req = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    path = tmp / f"{uuid.uuid4().hex}.csr"
    path.write_bytes(req.public_bytes(serialization.Encoding.PEM))
    return path


def issue_card(w: Path, tmp: Path) -> x509.Certificate:
    """A card certificate, through the approval steps its profile asks for."""
    r = run("ra", "request", "-w", str(w), "--profile", "card", "--csr", str(csr_pem(tmp)))
    assert r.exit_code == 0, r.output
    rid = r.output.strip()
    for operator, role in (("Alice", "ra"), ("Bob", "ca-operator")):
        a = run("ra", "approve", "-w", str(w), "--request", rid, "--operator", operator,
                "--role", role)  # fmt: skip
        assert a.exit_code == 0, a.output
    out = tmp / f"{rid}.pem"
    r = run("ra", "issue-approved", "-w", str(w), "--request", rid, "--out", str(out))
    assert r.exit_code == 0, r.output
    return x509.load_pem_x509_certificate(out.read_bytes())


def issue_device(w: Path, tmp: Path) -> x509.Certificate:
    out = tmp / f"{uuid.uuid4().hex}.pem"
    r = run("issue", "-w", str(w), "-p", "device", "--csr", str(csr_pem(tmp)), "--out", str(out))
    assert r.exit_code == 0, r.output
    return x509.load_pem_x509_certificate(out.read_bytes())


def hexs(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def suspend(w: Path, cert: x509.Certificate, now: int, *extra: str) -> Result:
    return run("suspend", "-w", str(w), "--serial", hexs(cert), "--requester",
               "HR of the subscriber", "--now", at(now), *extra)  # fmt: skip


def release(w: Path, cert: x509.Certificate, now: int) -> Result:
    return run("release", "-w", str(w), "--serial", hexs(cert), "--requester",
               "RA after in-person re-authentication", "--now", at(now))  # fmt: skip


def publish(w: Path, now: int, *extra: str) -> Result:
    r = run("crl", "publish", "-w", str(w), "--all", "--now", at(now), *extra)
    assert r.exit_code == 0, r.output
    return r


def crl_path(w: Path) -> Path:
    return w / "repository" / CRL_HOST / f"{ISSUING}.crl"


def crl(w: Path) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(crl_path(w).read_bytes())


def delta(w: Path) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((w / "repository" / f"{ISSUING}-delta.crl").read_bytes())


def reason_of(c: x509.CertificateRevocationList, cert: x509.Certificate) -> Any:
    entry = c.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is None:
        return None
    return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason


def issuer_cert(w: Path) -> x509.Certificate:
    with Workspace.open(w) as ws:
        return x509.load_der_x509_certificate(ws.ca(ISSUING).certificate)


def hold_rows(w: Path) -> list[tuple[Any, ...]]:
    with Workspace.open(w) as ws:
        return ws.store.conn.execute("SELECT serial_hex, event FROM holds").fetchall()


def records(w: Path, event: str) -> list[audit.AuditRecord]:
    with Workspace.open(w) as ws:
        return [r for r in audit.records(ws.store) if r.event == event]


def lint_crl(path: Path) -> list[str]:
    # As tests/test_crl.py: pkilint's RFC 5280 CRL linter, warnings and up.
    r = subprocess.run(
        [sys.executable, "-m", "pkilint.bin.lint_crl", "lint", "-t", "CRL", "-p", "PKIX",
         "-s", "WARNING", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]


def openssl_verify(
    w: Path, tmp: Path, leaf: x509.Certificate, when: int
) -> subprocess.CompletedProcess[str]:
    """``openssl verify -crl_check`` of a leaf against the issuing CA's published CRL
    (root and issuing CA trusted: -crl_check checks the leaf's CRL only)."""
    assert OPENSSL is not None
    pem = serialization.Encoding.PEM
    with Workspace.open(w) as ws:
        chain = b"".join(
            x509.load_der_x509_certificate(ca.certificate).public_bytes(pem) for ca in ws.cas
        )
    (tmp / "chain.pem").write_bytes(chain)
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp / "crl.pem").write_bytes(crl(w).public_bytes(pem))
    return subprocess.run(
        [OPENSSL, "verify", "-attime", str(when), "-crl_check", "-CAfile", str(tmp / "chain.pem"),
         "-CRLfile", str(tmp / "crl.pem"), str(tmp / "leaf.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# hold, release, delta
# --------------------------------------------------------------------------------------


def test_hold_is_listed_with_reject_and_judged_by_pyca_openssl_pkilint(
    w: Path, tmp_path: Path
) -> None:
    held, good = issue_card(w, tmp_path), issue_card(w, tmp_path)
    t0 = int(time.time()) + 60
    r = suspend(w, held, t0)
    assert r.exit_code == 0, r.output
    [(serial, event)] = hold_rows(w)
    assert (int(serial, 16), event) == (held.serial_number, "hold")
    [rec] = records(w, audit.Event.SUSPENSION_REQUESTED)
    assert rec.outcome == "success" and rec.details["requested_by"] == "HR of the subscriber"
    assert rec.details["deadline"] == add_months(t0, 9) and rec.details["profile"] == "card"
    publish(w, t0 + 10)
    c = crl(w)
    assert c.is_signature_valid(issuer_cert(w).public_key())  # type: ignore[arg-type]
    assert reason_of(c, held) == x509.ReasonFlags.certificate_hold
    assert reason_of(c, good) is None
    entry = c.get_revoked_certificate_by_serial_number(held.serial_number)
    assert entry is not None
    # The revocationDate of a hold is when it was placed.
    assert int(entry.revocation_date_utc.timestamp()) == t0
    # holdInstructionCode (2.5.29.23), non-critical, id-holdinstruction-reject.
    ext = entry.extensions.get_extension_for_oid(HOLD_INSTRUCTION_CODE)
    assert not ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert ext.value.value == REJECT_OID_DER
    assert lint_crl(crl_path(w)) == []
    if OPENSSL is None:
        return
    text = subprocess.run(
        [OPENSSL, "crl", "-inform", "DER", "-in", str(crl_path(w)), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Certificate Hold" in text
    assert "Hold Instruction Code" in text and "Hold Instruction Reject" in text
    v = openssl_verify(w, tmp_path, held, t0 + 20)
    assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr
    v = openssl_verify(w, tmp_path, good, t0 + 20)
    assert v.returncode == 0, v.stdout + v.stderr


def test_release_drops_the_entry_and_the_delta_says_remove_from_crl(
    w: Path, tmp_path: Path
) -> None:
    held = issue_card(w, tmp_path)
    t0 = int(time.time()) + 60
    assert suspend(w, held, t0).exit_code == 0
    publish(w, t0 + 10)
    base_number = crl(w).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    r = release(w, held, t0 + 100)
    assert r.exit_code == 0, r.output
    assert [e for _, e in hold_rows(w)] == ["hold", "release"]
    [rec] = records(w, audit.Event.SUSPENSION_RELEASED)
    assert rec.details["held_at"] == t0 and rec.details["released_at"] == t0 + 100
    # The release makes the CA's CRL due (a change of its holds).
    due = run("crl", "due", "-w", str(w), "--json", "--now", at(t0 + 110))
    assert "suspension change" in due.output
    # Delta over the full CRL that listed the hold: removeFromCRL (RFC 5280 §5.3.1).
    d = run("crl", "publish", "-w", str(w), "--delta", "--now", at(t0 + 120))
    assert d.exit_code == 0, d.output
    dc = delta(w)
    assert dc.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number == (
        base_number
    )
    assert reason_of(dc, held) == x509.ReasonFlags.remove_from_crl
    delta_file = w / "repository" / f"{ISSUING}-delta.crl"
    assert dc.is_signature_valid(issuer_cert(w).public_key())  # type: ignore[arg-type]
    assert lint_crl(delta_file) == []
    # The next full CRL omits it; openssl accepts the certificate again.
    publish(w, t0 + 200)
    assert crl(w).get_revoked_certificate_by_serial_number(held.serial_number) is None
    assert lint_crl(crl_path(w)) == []
    if OPENSSL is not None:
        v = openssl_verify(w, tmp_path, held, t0 + 210)
        assert v.returncode == 0, v.stdout + v.stderr
    # Held again after the release: a new hold, listed again.
    assert suspend(w, held, t0 + 300).exit_code == 0
    publish(w, t0 + 310)
    assert reason_of(crl(w), held) == x509.ReasonFlags.certificate_hold


def test_hold_past_the_limit_becomes_key_compromise_dated_at_the_hold(
    w: Path, tmp_path: Path
) -> None:
    held = issue_card(w, tmp_path)
    t0 = int(time.time()) + 60
    assert suspend(w, held, t0).exit_code == 0
    publish(w, t0 + 10)
    limit = add_months(t0, 9)
    # The day before the limit: listed as pending, not due, nothing revoked.
    due = run("crl", "due", "-w", str(w), "--json", "--all", "--now", at(limit - 86400))
    assert '"kind": "hold-escalation"' in due.output and '"due": false' in due.output
    publish(w, limit - 86400)
    assert reason_of(crl(w), held) == x509.ReasonFlags.certificate_hold
    # At the limit the publication revokes it: keyCompromise, revocationDate = hold date.
    r = publish(w, limit)
    assert "hold past the suspension limit revoked" in r.output
    c = crl(w)
    assert reason_of(c, held) == x509.ReasonFlags.key_compromise
    entry = c.get_revoked_certificate_by_serial_number(held.serial_number)
    assert entry is not None and int(entry.revocation_date_utc.timestamp()) == t0
    with pytest.raises(x509.ExtensionNotFound):
        entry.extensions.get_extension_for_oid(HOLD_INSTRUCTION_CODE)
    [rec] = [r for r in records(w, audit.Event.REVOCATION_REQUESTED) if r.outcome == "success"]
    assert rec.details["escalated_hold"] is True and rec.details["reason"] == "keyCompromise"
    assert rec.details["held_at"] == t0 and rec.details["escalated_at"] == limit
    assert rec.details["hold_limit"] == "9 months"
    assert [e for _, e in hold_rows(w)] == ["hold", "revoked"]
    assert lint_crl(crl_path(w)) == []
    # Nothing left to escalate; the audit chain verifies.
    with Workspace.open(w) as ws:
        assert suspension.escalate(ws, limit + 1) == []
    assert run("audit", "verify", "-w", str(w)).exit_code == 0


def test_revoking_a_held_certificate_replaces_the_hold(w: Path, tmp_path: Path) -> None:
    held = issue_card(w, tmp_path)
    t0 = int(time.time()) + 60
    assert suspend(w, held, t0).exit_code == 0
    publish(w, t0 + 10)
    r = run("revoke", "-w", str(w), "--serial", hexs(held), "--reason", "keyCompromise",
            "--requester", "RA", "--now", at(t0 + 20))  # fmt: skip
    assert r.exit_code == 0, r.output
    # The delta over the full CRL that listed the hold carries the new reason and date.
    d = run("crl", "publish", "-w", str(w), "--delta", "--now", at(t0 + 25))
    assert d.exit_code == 0, d.output
    assert reason_of(delta(w), held) == x509.ReasonFlags.key_compromise
    entry = delta(w).get_revoked_certificate_by_serial_number(held.serial_number)
    assert entry is not None and int(entry.revocation_date_utc.timestamp()) == t0 + 20
    [rec] = [r for r in records(w, audit.Event.REVOCATION_REQUESTED) if r.outcome == "success"]
    assert [int(s, 16) for s in rec.details["replaced_holds"]] == [held.serial_number]
    assert [e for _, e in hold_rows(w)] == ["hold", "revoked"]
    publish(w, t0 + 30)
    c = crl(w)
    assert reason_of(c, held) == x509.ReasonFlags.key_compromise
    assert len(list(c)) == 1  # listed once, with the revocation's reason
    r = release(w, held, t0 + 40)
    assert r.exit_code == 2 and "[suspension]" in r.output


# --------------------------------------------------------------------------------------
# refusals: by code, nothing stored, failure audited
# --------------------------------------------------------------------------------------


def _failures(w: Path) -> int:
    recs = records(w, audit.Event.SUSPENSION_REQUESTED)
    recs += records(w, audit.Event.SUSPENSION_RELEASED)
    return len([r for r in recs if r.outcome == "failure"])


def _refused(w: Path, call: Any, code: str = "suspension") -> None:
    before, failures = hold_rows(w), _failures(w)
    with Workspace.open(w) as ws, raises_code(SuspensionError, code):
        call(ws)
    assert hold_rows(w) == before
    assert _failures(w) == failures + 1


def test_refusals_by_code_with_nothing_stored(w: Path, tmp_path: Path) -> None:
    card, device = issue_card(w, tmp_path), issue_card(w, tmp_path)
    dev = issue_device(w, tmp_path)
    now = int(time.time()) + 60
    who = "RA"
    # A profile the CP/CPS does not suspend.
    _refused(w, lambda ws: suspension.suspend(ws, hexs(dev), requester=who, now=now))
    # Release of a certificate not on hold.
    _refused(w, lambda ws: suspension.release(ws, hexs(card), requester=who, now=now))
    # Already on hold.
    with Workspace.open(w) as ws:
        suspension.suspend(ws, hexs(card), requester=who, now=now)
    _refused(w, lambda ws: suspension.suspend(ws, hexs(card), requester=who, now=now + 1))
    # A revoked certificate.
    r = run("revoke", "-w", str(w), "--serial", hexs(device), "--reason", "superseded",
            "--requester", who, "--now", at(now))  # fmt: skip
    assert r.exit_code == 0, r.output
    _refused(w, lambda ws: suspension.suspend(ws, hexs(device), requester=who, now=now + 2))
    # An unknown serial, a CA certificate, no requester.
    _refused(w, lambda ws: suspension.suspend(ws, "0badc0de", requester=who, now=now))
    with Workspace.open(w) as ws:
        ca_serial = ws.ca(ISSUING).serial_hex
    _refused(w, lambda ws: suspension.suspend(ws, ca_serial, requester=who, now=now))
    _refused(w, lambda ws: suspension.suspend(ws, hexs(dev), requester=" ", now=now))
    # The CLI: exit 2, one line with the code.
    r = suspend(w, dev, now)
    assert r.exit_code == 2 and "[suspension]" in r.output and "card" in r.output
    # A revocation never says certificateHold: the CP/CPS points at `porthos suspend`.
    with Workspace.open(w) as ws, raises_code(LifecycleError, "lifecycle", match="suspend"):
        from porthos.workflows import revocation

        revocation.revoke(ws, [hexs(dev)], "certificateHold", requester=who, now=now)
    assert run("audit", "verify", "-w", str(w)).exit_code == 0


def test_a_pki_without_suspension_refuses_it(tmp_path: Path, csr_factory: Any) -> None:
    ws = Workspace.init(tmp_path / "porthos", "prod")  # the Porthos PKI: suspension = false
    try:
        result = ws.ca("ha-device-ca-1").issue_batch(
            [csr_factory.make([("CN", str(uuid.uuid4()))])], "ha-device"
        )
        cert = x509.load_der_x509_certificate(result.certificates[0] or b"")
        with raises_code(SuspensionError, "suspension", match="offers no suspension"):
            suspension.suspend(ws, hexs(cert), requester="RA")
        with raises_code(SuspensionError, "suspension"):
            suspension.release(ws, hexs(cert), requester="RA")
        assert ws.store.conn.execute("SELECT COUNT(*) FROM holds").fetchone()[0] == 0
        assert suspension.escalate(ws) == []
    finally:
        ws.close()


def test_termination_revokes_a_held_certificate_once(w: Path, tmp_path: Path) -> None:
    """§5.8: every unexpired certificate is revoked, held ones too; the final CRL lists
    the held certificate once, with the termination's reason (no duplicate serial)."""
    from porthos.workflows import termination

    held, other = issue_card(w, tmp_path), issue_card(w, tmp_path)
    t0 = int(time.time()) + 60
    assert suspend(w, held, t0).exit_code == 0
    with Workspace.open(w) as ws:
        termination.terminate(ws, destroy_keys=True, now=t0 + 10)
    assert [e for _, e in hold_rows(w)] == ["hold", "revoked"]
    c = crl(w)
    assert reason_of(c, held) == x509.ReasonFlags.cessation_of_operation
    assert reason_of(c, other) == x509.ReasonFlags.cessation_of_operation
    assert len(list(c)) == 2
    assert run("audit", "verify", "-w", str(w)).exit_code == 0
