"""Multi-person approval before issuance (issue 16; Carillon CP §5.2.2: "IceCAP-cardAuth
certificate issuance" needs two persons, at least one of them a Registration Authority),
as the ``card`` profile of tests/cpcps/hold-approve.toml: ``approval = { persons = 2,
roles = ["ra"], exclude = ["audit-administrator"] }``.

One approval is not enough, one person twice counts once, two persons without an RA are
refused, an audit administrator's approval does not count; two persons with an RA get
the certificate, once. `porthos issue` and the RA's other procedures refuse the profile.
Every step is in the audit trail, and the chain verifies."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from error_codes import raises_code
from porthos.cli.main import main
from porthos.cpcps.approval import ApprovalRule
from porthos.exceptions import ApprovalError, RegistrationError
from porthos.store import audit
from porthos.workflows.ra import RegistrationAuthority
from porthos.workspace.workspace import Workspace

TOML = Path(__file__).resolve().parent / "cpcps" / "hold-approve.toml"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def w(tmp_path: Path) -> Path:
    d = tmp_path / "w"
    r = run("init", "--workdir", str(d), "--cpcps", str(TOML))
    assert r.exit_code == 0, r.output
    return d


def csr(tmp: Path) -> Path:
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


def request(w: Path, tmp: Path, *extra: str) -> str:
    r = run("ra", "request", "-w", str(w), "--profile", "card", "--csr", str(csr(tmp)), *extra)
    assert r.exit_code == 0, r.output
    return r.output.strip()


def approve(w: Path, rid: str, operator: str, role: str) -> Result:
    return run("ra", "approve", "-w", str(w), "--request", rid, "--operator", operator,
               "--role", role)  # fmt: skip


def issue_approved(w: Path, rid: str, out: Path) -> Result:
    return run("ra", "issue-approved", "-w", str(w), "--request", rid, "--out", str(out))


def events(w: Path, event: str) -> list[audit.AuditRecord]:
    with Workspace.open(w) as ws:
        return [r for r in audit.records(ws.store) if r.event == event]


def certificates(w: Path) -> int:
    with Workspace.open(w) as ws:
        return int(ws.store.conn.execute("SELECT COUNT(*) FROM certificates").fetchone()[0])


def test_two_persons_one_of_them_an_ra(w: Path, tmp_path: Path) -> None:
    data = tmp_path / "ra.json"
    card_uuid = str(uuid.uuid4())
    data.write_text(json.dumps({"sans": [["uri", "urn:uuid:" + card_uuid]],
                                "not_after": "2029-01-01T00:00:00Z"}))  # fmt: skip
    rid = request(w, tmp_path, "--ra-data", str(data))
    out = tmp_path / "card.pem"
    # No approval, then one: refused, nothing issued.
    for operator, role in ((None, None), ("Alice", "ra")):
        if operator is not None:
            assert approve(w, rid, operator, role or "").exit_code == 0
        r = issue_approved(w, rid, out)
        assert r.exit_code == 2 and "[approval]" in r.output, r.output
        assert certificates(w) == 0
    # The same person again (any spelling of the name) counts once: refused.
    r = approve(w, rid, "  alice ", "ca-operator")
    assert r.exit_code == 2 and "[approval]" in r.output
    # An audit administrator's approval never counts (excluded role): refused.
    r = approve(w, rid, "Carol", "audit-administrator")
    assert r.exit_code == 2 and "[approval]" in r.output
    assert issue_approved(w, rid, out).exit_code == 2
    # A second person: the rule is met, the certificate is issued once.
    assert approve(w, rid, "Bob", "ca-operator").exit_code == 0
    r = issue_approved(w, rid, out)
    assert r.exit_code == 0, r.output
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert certificates(w) == 1
    # The RA data recorded with the request is in the certificate: the card's UUID,
    # and its expiry as notAfter (earlier than the profile's 3 years).
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:uuid:{card_uuid}"]
    assert cert.not_valid_after_utc.isoformat() == "2029-01-01T00:00:00+00:00"
    r = issue_approved(w, rid, tmp_path / "again.pem")
    assert r.exit_code == 2 and "issued already" in r.output
    assert certificates(w) == 1
    # The trail: request, two approvals, the issuance with who approved.
    [req] = events(w, audit.Event.APPROVAL_REQUESTED)
    assert req.details["profile"] == "card" and req.details["ra_data"]["sans"]
    given = [r for r in events(w, audit.Event.APPROVAL_GIVEN) if r.outcome == "success"]
    assert [(r.details["operator"], r.details["role"]) for r in given] == [
        ("Alice", "ra"),
        ("Bob", "ca-operator"),
    ]
    [done] = [r for r in events(w, audit.Event.APPROVAL_ISSUED) if r.outcome == "success"]
    assert int(done.serial or "0", 16) == cert.serial_number
    assert {a["operator"] for a in done.details["approved_by"]} == {"Alice", "Bob"}
    [issued] = events(w, audit.Event.CERTIFICATES_ISSUED)
    assert issued.details["approved_by"] == done.details["approved_by"]
    refusals = [r for r in events(w, audit.Event.APPROVAL_ISSUED) if r.outcome == "failure"]
    assert len(refusals) == 4
    assert run("audit", "verify", "-w", str(w)).exit_code == 0


def test_two_persons_without_an_ra_are_refused(w: Path, tmp_path: Path) -> None:
    rid = request(w, tmp_path)
    assert approve(w, rid, "Bob", "ca-operator").exit_code == 0
    assert approve(w, rid, "Dave", "ca-operator").exit_code == 0
    with Workspace.open(w) as ws, raises_code(ApprovalError, "approval", match="roles ra"):
        RegistrationAuthority(ws).issue_approved(rid)
    assert certificates(w) == 0


def test_the_other_doors_refuse_the_profile(w: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.pem"
    # `porthos issue` names the RA commands.
    r = run("issue", "-w", str(w), "-p", "card", "--csr", str(csr(tmp_path)), "--out", str(out))
    assert r.exit_code == 2 and "[approval]" in r.output
    assert "ra request" in r.output and "ra issue-approved" in r.output
    # The RA's trusted-agent procedure (the profile's identity check) refuses it too.
    with Workspace.open(w) as ws, raises_code(RegistrationError, "registration"):
        RegistrationAuthority(ws).issue_user(csr(tmp_path).read_bytes(), agent="Agent")
    # A profile without an approval rule has no approval request.
    r = run("ra", "request", "-w", str(w), "--profile", "device", "--csr", str(csr(tmp_path)))
    assert r.exit_code == 2 and "[approval]" in r.output
    # Bad input: RA data of another shape, a bundle of two CSRs, an unknown request.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sans": [], "subject": "CN=x"}))
    r = run("ra", "request", "-w", str(w), "--profile", "card", "--csr", str(csr(tmp_path)),
            "--ra-data", str(bad))  # fmt: skip
    assert r.exit_code == 2 and "[approval]" in r.output
    two = tmp_path / "two.pem"
    two.write_bytes(csr(tmp_path).read_bytes() + csr(tmp_path).read_bytes())
    r = run("ra", "request", "-w", str(w), "--profile", "card", "--csr", str(two))
    assert r.exit_code == 2 and "[approval]" in r.output
    # A CSR whose signature does not verify (proof of possession, §3.2.1).
    der = x509.load_pem_x509_csr(csr(tmp_path).read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    broken = tmp_path / "broken.der"
    broken.write_bytes(der[:-1] + bytes([der[-1] ^ 1]))
    r = run("ra", "request", "-w", str(w), "--profile", "card", "--csr", str(broken))
    assert r.exit_code == 2 and "[approval]" in r.output, r.output
    r = approve(w, "no-such-request", "Alice", "ra")
    assert r.exit_code == 2 and "[approval]" in r.output
    with Workspace.open(w) as ws:
        n = ws.store.conn.execute("SELECT COUNT(*) FROM approval_requests").fetchone()[0]
    assert n == 0 and certificates(w) == 0
    assert run("audit", "verify", "-w", str(w)).exit_code == 0


@pytest.mark.parametrize(
    ("rule", "approvals", "met"),
    [
        (ApprovalRule(2, ("ra",), (), "5.2.2"), [("a", "ra"), ("b", "x")], True),
        (ApprovalRule(2, ("ra",), (), "5.2.2"), [("a", "x"), ("b", "x")], False),
        (ApprovalRule(2, ("ra",), (), "5.2.2"), [("a", "ra"), ("A", "ra")], False),
        (ApprovalRule(2, ("ra", "any"), (), "5.2.2"), [("a", "x"), ("b", "ra")], True),
        (ApprovalRule(3, ("ra", "ra"), (), "x"), [("a", "ra"), ("b", "x"), ("c", "x")], False),
        (ApprovalRule(3, ("ra", "ra"), (), "x"), [("a", "ra"), ("b", "x"), ("c", "ra")], True),
        (ApprovalRule(2, (), ("aud",), "x"), [("a", "aud"), ("b", "x")], False),
        (ApprovalRule(2, (), ("aud",), "x"), [("a", "y"), ("b", "x")], True),
    ],
)
def test_rule_matching(rule: ApprovalRule, approvals: list[tuple[str, str]], met: Any) -> None:
    assert (rule.unmet(approvals) is None) is met


ISSUER = r"""
import sys
from porthos.exceptions import PorthosError
from porthos.workflows.ra import RegistrationAuthority
from porthos.workspace.workspace import Workspace
ws = Workspace.open(sys.argv[1])
ra = RegistrationAuthority(ws)
print("READY", flush=True)
sys.stdin.readline()
try:
    res = ra.issue_approved(sys.argv[2])
    print("ISSUED", res.issued_count, flush=True)
except PorthosError as exc:
    print("REFUSED", exc.code, flush=True)
"""


def test_two_processes_issue_one_request_once(w: Path, tmp_path: Path) -> None:
    """Two operators run issue-approved on the same approved request at once: one
    certificate; the other is refused (the check runs again under the write lock)."""
    import os
    import subprocess
    import sys

    rid = request(w, tmp_path)
    assert approve(w, rid, "Alice", "ra").exit_code == 0
    assert approve(w, rid, "Bob", "ca-operator").exit_code == 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ISSUER, str(w), rid],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outs == ["ISSUED 1", "REFUSED approval"], outs
    assert certificates(w) == 1
    assert run("audit", "verify", "-w", str(w)).exit_code == 0
