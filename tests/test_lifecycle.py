"""Revocation (000 §4.9), the CRL schedule (§4.9.7), scheduled revocations (§4.9.4)
and publication at the CDP / AIA URLs (§2.1), end to end through the CLI.

Every CRL these tests publish is checked with pyca (``is_signature_valid``), with
``openssl verify -crl_check_all`` through the chain, and with pkilint's CRL linter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from error_codes import raises_code
from porthos.cli.main import main
from porthos.store import audit

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

    from .conftest import CsrFactory

OPENSSL = shutil.which("openssl")
DAY = 86400
CRL_HOST = "crl.pki.porthos.services"  # 000 §2.1, Prod
CRT_HOST = "crt.pki.porthos.services"
SUBSCRIBER_REASONS = [
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "privilegeWithdrawn",
]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def at(ts: int) -> str:
    return f"@{ts}"


@pytest.fixture
def ws(fresh_workspace: Workspace) -> Workspace:
    return fresh_workspace


def issue(
    ws: Workspace, factory: CsrFactory, tmp_path: Path, n: int = 1
) -> list[x509.Certificate]:
    """Issue n ha-device certificates through `porthos issue`."""
    pem = "".join(factory.pem([("CN", str(uuid.uuid4()))]) for _ in range(n))
    req = tmp_path / f"req-{uuid.uuid4().hex}.pem"
    out = req.with_suffix(".crt")
    req.write_text(pem)
    r = run("issue", "-w", str(ws.path), "-p", "ha-device", "--csr", str(req), "--out", str(out))
    assert r.exit_code == 0, r.output
    return x509.load_pem_x509_certificates(out.read_bytes())


def hexs(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def revoke(ws: Workspace, serial: str, reason: str, *extra: str) -> Result:
    return run(
        "revoke",
        "-w",
        str(ws.path),
        "--serial",
        serial,
        "--reason",
        reason,
        "--requester",
        "RA operator Alice",
        *extra,
    )


def due(ws: Workspace, now: int, *extra: str) -> list[dict[str, Any]]:
    r = run("crl", "due", "-w", str(ws.path), "--json", "--now", at(now), *extra)
    assert r.exit_code == 0, r.output
    items: list[dict[str, Any]] = json.loads(r.output)["items"]
    return items


def due_cas(ws: Workspace, now: int) -> set[str]:
    return {i["ca"] for i in due(ws, now) if i["kind"] == "crl"}


def publish(ws: Workspace, now: int, *extra: str) -> Result:
    r = run("crl", "publish", "-w", str(ws.path), "--now", at(now), *extra)
    assert r.exit_code == 0, r.output
    return r


def crl_at(ws: Workspace, name: str) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((ws.path / "repository" / CRL_HOST / f"{name}.crl").read_bytes())


def events(ws: Workspace, event: str) -> list[audit.AuditRecord]:
    return [r for r in audit.records(ws.store) if r.event == event]


def revocation_rows(ws: Workspace) -> list[tuple[Any, ...]]:
    return ws.store.conn.execute(
        "SELECT ca_name, serial_hex, reason, requested_by, revoked_at FROM revocations"
    ).fetchall()


def _lint_crl(path: Path) -> list[str]:
    # As tests/test_crl.py: pkilint's RFC 5280 CRL linter, warnings and up.
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


def check_crls(
    ws: Workspace,
    tmp_path: Path,
    revoked: x509.Certificate | None = None,
    good: x509.Certificate | None = None,
) -> None:
    """Every published CRL: pyca signature, pkilint clean; openssl -crl_check_all
    accepts the good leaf and refuses the revoked one, through the chain read back
    from the AIA-mapped repository paths."""
    repo = ws.path / "repository"
    root = x509.load_der_x509_certificate((repo / CRT_HOST / "root-ca-1.crt").read_bytes())
    issuing = x509.load_der_x509_certificate((repo / CRT_HOST / "ha-device-ca-1.crt").read_bytes())
    issuers = {
        cert.subject: cert
        for cert in (x509.load_der_x509_certificate(c.certificate) for c in ws.cas)
    }
    crls = sorted((repo / CRL_HOST).glob("*.crl"))
    assert crls
    for path in crls:
        crl = x509.load_der_x509_crl(path.read_bytes())
        key = issuers[crl.issuer].public_key()
        assert crl.is_signature_valid(key), path  # type: ignore[arg-type]
        assert _lint_crl(path) == [], path
    if OPENSSL is None:
        return
    pem = serialization.Encoding.PEM
    (tmp_path / "root.pem").write_bytes(root.public_bytes(pem))
    (tmp_path / "ca.pem").write_bytes(issuing.public_bytes(pem))
    (tmp_path / "crls.pem").write_bytes(
        crl_at(ws, "root-ca-1").public_bytes(pem) + crl_at(ws, "ha-device-ca-1").public_bytes(pem)
    )
    # openssl checks at one time: just after the newest CRL (they carry --now times).
    attime = max(
        int(c.last_update_utc.timestamp())
        for c in (crl_at(ws, "root-ca-1"), crl_at(ws, "ha-device-ca-1"))
    )
    for name, leaf in (("good", good), ("revoked", revoked)):
        if leaf is None:
            continue
        when = max(attime, int(leaf.not_valid_before_utc.timestamp())) + 1
        (tmp_path / f"{name}.pem").write_bytes(leaf.public_bytes(pem))
        v = subprocess.run(
            [
                OPENSSL,
                "verify",
                "-attime",
                str(when),
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
        if name == "good":
            assert v.returncode == 0, v.stdout + v.stderr
        else:
            assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr


# --------------------------------------------------------------------------------------
# revocation (§4.9)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", SUBSCRIBER_REASONS)
def test_revoke_with_each_subscriber_reason(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path, reason: str
) -> None:
    """§4.9.1 circumstances -> RFC 5280 reasons; requester and reason recorded (§3.4,
    §4.9.3) and audited (§5.4.1); the CRL carries the reason (unspecified: none,
    RFC 5280 §5.3.1)."""
    bad, good = issue(ws, csr_factory, tmp_path, 2)
    r = revoke(ws, hexs(bad), reason)
    assert r.exit_code == 0, r.output
    [(ca, serial_hex, code, requester, _)] = revocation_rows(ws)
    assert (ca, int(serial_hex, 16), requester) == (
        "ha-device-ca-1",
        bad.serial_number,
        "RA operator Alice",
    )
    assert code == (None if reason == "unspecified" else _code(reason))
    [rec] = events(ws, audit.Event.REVOCATION_REQUESTED)
    assert rec.outcome == "success" and rec.serial == serial_hex
    assert rec.details["reason"] == reason and rec.details["requested_by"] == "RA operator Alice"
    publish(ws, ws.ca("ha-device-ca-1").not_before + 60)
    entry = crl_at(ws, "ha-device-ca-1").get_revoked_certificate_by_serial_number(
        bad.serial_number
    )
    assert entry is not None
    if reason == "unspecified":
        assert len(entry.extensions) == 0
    else:
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name == (
            _flag(reason)
        )
    check_crls(ws, tmp_path, revoked=bad, good=good)


def _flag(reason: str) -> str:
    return {
        "keyCompromise": "key_compromise",
        "affiliationChanged": "affiliation_changed",
        "superseded": "superseded",
        "cessationOfOperation": "cessation_of_operation",
        "privilegeWithdrawn": "privilege_withdrawn",
        "cACompromise": "ca_compromise",
        "unspecified": "unspecified",
    }[reason]


def _code(reason: str) -> int:
    from porthos.crl_reasons import REASONS

    return REASONS[reason]


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("certificateHold", "suspension"),
        ("removeFromCRL", "never undone"),
        ("aACompromise", "attribute authority"),
        ("cACompromise", "is for CA certificates"),
        ("6", "suspension"),
        ("bogus", "unknown revocation reason"),
    ],
)
def test_refused_reasons_change_nothing(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path, reason: str, message: str
) -> None:
    """No suspension (§4.9 has no suspension subsections), no attribute authority, CA
    reasons not for subscribers: exit 2, the serial named, nothing stored, the failed
    request audited (§5.4.1)."""
    [leaf] = issue(ws, csr_factory, tmp_path)
    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0)
    r = revoke(ws, hexs(leaf), reason, "--now", at(t0 + 1))
    flat = "".join(r.output.split())
    assert r.exit_code == 2 and "".join(message.split()) in flat, r.output
    if reason != "bogus":
        assert f"serial{leaf.serial_number:032x}" in flat  # the refused serial is named
    assert revocation_rows(ws) == []
    [rec] = events(ws, audit.Event.REVOCATION_REQUESTED)
    assert rec.outcome == "failure" and rec.details["requested_by"] == "RA operator Alice"
    assert due_cas(ws, t0 + 2) == set()  # nothing became due


def test_unknown_and_already_revoked_and_all_or_nothing(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    a, b = issue(ws, csr_factory, tmp_path, 2)
    r = revoke(ws, "0xdeadbeef", "keyCompromise")
    assert r.exit_code == 2 and "serial deadbeef: no certificate" in r.output
    # One unknown serial in the request: the known one is not revoked either.
    r = run(
        "revoke",
        "-w",
        str(ws.path),
        "--serial",
        hexs(a),
        "--serial",
        "abc123",
        "--reason",
        "superseded",
        "--requester",
        "x",
    )
    assert r.exit_code == 2 and "abc123" in r.output
    assert revocation_rows(ws) == []
    assert revoke(ws, hexs(a), "superseded").exit_code == 0
    r = revoke(ws, hexs(a).upper(), "keyCompromise")
    assert r.exit_code == 2 and "already revoked" in r.output
    # openssl's colon spelling is accepted.
    colon = ":".join(f"{b.serial_number:x}"[i : i + 2] for i in range(0, 32, 2))
    assert revoke(ws, colon, "keyCompromise").exit_code == 0
    # A requester is required (§4.9.2, §4.9.3).
    r = run("revoke", "-w", str(ws.path), "--serial", hexs(a), "--reason", "superseded")
    assert r.exit_code == 2 and "--requester" in r.output
    # The Python API applies the same rules.
    from porthos.exceptions import LifecycleError
    from porthos.workflows import revocation

    with raises_code(LifecycleError, "lifecycle"):
        revocation.revoke(
            ws, [b.serial_number], "certificateHold", requester="t", ca="ha-device-ca-1"
        )


def test_future_revocation_and_invalidity_date(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    from porthos.exceptions import LifecycleError
    from porthos.workflows import revocation

    [leaf] = issue(ws, csr_factory, tmp_path)
    now = ws.ca("ha-device-ca-1").not_before + 100
    with raises_code(LifecycleError, "lifecycle"):
        revocation.revoke(
            ws, [leaf.serial_number], "keyCompromise", requester="r", now=now, when=now + 1
        )
    # The message must cite the rule (RFC 5280 §5.3.2).
    with raises_code(LifecycleError, "lifecycle", match="5.3.2"):
        revocation.revoke(
            ws,
            [leaf.serial_number],
            "keyCompromise",
            requester="r",
            now=now,
            invalidity_date=now + 1,
        )
    r = revoke(
        ws, hexs(leaf), "keyCompromise", "--invalidity-date", at(now - 3600), "--now", at(now)
    )
    assert r.exit_code == 0, r.output
    publish(ws, now)
    entry = crl_at(ws, "ha-device-ca-1").get_revoked_certificate_by_serial_number(
        leaf.serial_number
    )
    assert entry is not None
    inv = entry.extensions.get_extension_for_class(x509.InvalidityDate).value
    assert int(inv.invalidity_date_utc.timestamp()) == now - 3600


def test_ca_certificate_rules(ws: Workspace, tmp_path: Path) -> None:
    """An issuing CA certificate is revoked on the root's CRL, only for cACompromise or
    cessationOfOperation (§4.9.1, §5.8); the self-signed root is never revocable."""
    user_ca = ws.ca("user-ca-1")
    r = revoke(ws, user_ca.serial_hex, "keyCompromise")
    assert r.exit_code == 2 and "CA certificate" in r.output
    r = revoke(ws, ws.ca("root-ca-1").serial_hex, "cACompromise")
    assert r.exit_code == 2 and "self-signed root" in r.output
    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0, "--all")
    assert due_cas(ws, t0 + 1) == set()
    r = revoke(ws, user_ca.serial_hex, "cACompromise", "--now", at(t0 + 5))
    assert r.exit_code == 0, r.output
    assert due_cas(ws, t0 + 6) == {"root-ca-1"}
    # §5.8 termination revokes a CA certificate with cessationOfOperation.
    sa_ca = ws.ca("sa-device-ca-1")
    r = revoke(ws, sa_ca.serial_hex, "cessationOfOperation", "--now", at(t0 + 7))
    assert r.exit_code == 0, r.output
    publish(ws, t0 + 8)
    crl = crl_at(ws, "root-ca-1")
    for ca, flag in ((user_ca, "ca_compromise"), (sa_ca, "cessation_of_operation")):
        entry = crl.get_revoked_certificate_by_serial_number(int(ca.serial_hex, 16))
        assert entry is not None
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name == (flag)
    check_crls(ws, tmp_path)


# --------------------------------------------------------------------------------------
# the schedule (§4.9.7)
# --------------------------------------------------------------------------------------


def test_schedule_root_yearly_issuing_fortnightly_and_after_revocation(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    everyone = {c.name for c in ws.cas}
    t0 = ws.ca("root-ca-1").not_before + 10
    assert due_cas(ws, t0) == everyone  # no CRL yet
    publish(ws, t0)
    assert due_cas(ws, t0) == set()
    first = {c.name: ws.store.last_crl_number(c.name) for c in ws.cas}
    # Issuing CAs: every 14 days (their CRLs are valid 28, §7.2.2).
    assert due_cas(ws, t0 + 14 * DAY - 1) == set()
    assert due_cas(ws, t0 + 14 * DAY) == everyone - {"root-ca-1"}
    [item] = [i for i in due(ws, t0 + 14 * DAY) if i["ca"] == "user-ca-1"]
    assert item["last_crl_number"] == first["user-ca-1"] and item["last_this_update"] == t0
    # A revocation makes its issuing CA due at once.
    [leaf] = issue(ws, csr_factory, tmp_path)
    assert revoke(ws, hexs(leaf), "superseded", "--now", at(t0 + DAY)).exit_code == 0
    assert due_cas(ws, t0 + DAY) == {"ha-device-ca-1"}
    publish(ws, t0 + DAY)
    assert due_cas(ws, t0 + DAY) == set()
    # Only the due ones were issued: the others kept their numbers.
    assert ws.store.last_crl_number("user-ca-1") == first["user-ca-1"]
    assert ws.store.last_crl_number("ha-device-ca-1") == first["ha-device-ca-1"] + 1
    # Root: every year (its CRL is valid two years, §7.2.1).
    publish(ws, t0 + 300 * DAY)  # the issuing CAs are due again by then
    assert "root-ca-1" not in due_cas(ws, t0 + 365 * DAY - 1)
    assert "root-ca-1" in due_cas(ws, t0 + 365 * DAY)
    root_crl = crl_at(ws, "root-ca-1")
    assert root_crl.next_update_utc.timestamp() - root_crl.last_update_utc.timestamp() >= 730 * DAY
    # The table view names the section.
    r = run("crl", "due", "-w", str(ws.path), "--now", at(t0 + 365 * DAY))
    # The period is the root's crl.period of the CP/CPS (365 days for Porthos).
    period = ws.ca("root-ca-1").spec.crl.period
    assert str(period) == "365 days"
    assert r.exit_code == 0 and f"every {period} (§4.9.7" in r.output
    check_crls(ws, tmp_path, revoked=leaf)


def test_publish_writes_url_mapped_files_and_audits(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    [leaf] = issue(ws, csr_factory, tmp_path)
    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0)
    repo = ws.path / "repository"
    # The leaf's CDP and AIA URLs name files under repository/<host>/<path>.
    cdp = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    for url in [cdp[0].full_name[0].value, aia[0].access_location.value]:  # type: ignore[index]
        assert url.startswith("http://")
        assert (repo / url.removeprefix("http://")).is_file(), url
    for ca in ws.cas:
        assert (repo / CRT_HOST / f"{ca.name}.crt").read_bytes() == ca.certificate
        assert (repo / CRL_HOST / f"{ca.name}.crl").is_file()
    # crl.created (number, entries) and crl.published (path, SHA-256) per CRL (§5.4.1).
    import hashlib

    created = events(ws, audit.Event.CRL_CREATED)
    published = events(ws, audit.Event.CRL_PUBLISHED)
    assert len(created) == len(published) == len(ws.cas)
    for rec in published:
        path = ws.path / rec.details["paths"][0]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rec.details["sha256"]
        assert {"number", "entries"} <= set(rec.details)
    assert len(events(ws, audit.Event.CA_CERTIFICATE_PUBLISHED)) == len(ws.cas)
    # Republishing rewrites CRLs with new numbers; unchanged certificates are not re-audited.
    publish(ws, t0 + 60, "--all")
    assert len(events(ws, audit.Event.CA_CERTIFICATE_PUBLISHED)) == len(ws.cas)
    numbers = [
        r.details["number"]
        for r in events(ws, audit.Event.CRL_CREATED)
        if r.details["ca"] == "user-ca-1"
    ]
    assert numbers == sorted(set(numbers)) and len(numbers) == 2
    assert audit.verify(ws.store)
    check_crls(ws, tmp_path, good=leaf)


def test_publish_one_ca_and_usage_errors(ws: Workspace) -> None:
    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0, "--ca", "user-ca-1")
    assert crl_at(ws, "user-ca-1") is not None
    assert not (ws.path / "repository" / CRL_HOST / "sa-device-ca-1.crl").exists()
    r = run("crl", "publish", "-w", str(ws.path), "--ca", "nope")
    assert r.exit_code == 2 and "no CA 'nope'" in r.output
    r = run("crl", "due", "-w", str(ws.path), "--now", "yesterday")
    assert r.exit_code == 2 and "ISO-8601" in r.output


def test_a_failed_signature_publishes_nothing_and_keeps_no_number(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one atomicity rule (porthos.workspace.publication): the number, the CRL and
    crl.created commit together, so a failed signature leaves no number behind (none
    was published under it) and is audited as a failed crl.created."""
    from porthos.exceptions import SigningError
    from porthos.workspace import publication

    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0, "--ca", "user-ca-1")
    number = ws.store.last_crl_number("user-ca-1")
    published = len(events(ws, audit.Event.CRL_PUBLISHED))

    def refuse(*args: object, **kwargs: object) -> None:
        raise SigningError("the token refused to sign")

    monkeypatch.setattr(publication, "build_crl", refuse)
    r = run("crl", "publish", "-w", str(ws.path), "--now", at(t0 + 60), "--ca", "user-ca-1")
    assert r.exit_code == 2 and "refused to sign" in r.output
    assert len(r.output.strip().splitlines()) == 1
    monkeypatch.undo()
    assert ws.store.last_crl_number("user-ca-1") == number
    assert len(events(ws, audit.Event.CRL_PUBLISHED)) == published
    failed = [r for r in events(ws, audit.Event.CRL_CREATED) if r.outcome == "failure"]
    assert [(f.details["ca"], f.details["kind"]) for f in failed] == [("user-ca-1", "full")]
    # The next publication takes the very next number.
    publish(ws, t0 + 120, "--ca", "user-ca-1")
    assert ws.store.last_crl_number("user-ca-1") == (number or 0) + 1
    assert audit.verify(ws.store)


# --------------------------------------------------------------------------------------
# scheduled revocations: the early re-key grace period (§4.9.4)
# --------------------------------------------------------------------------------------


def _schedule(ws: Workspace, cert: x509.Certificate, due_at: int, created: int) -> None:
    """What the RA writes for an early re-key (the contract of store schema 4)."""
    with ws.store.transaction() as conn:
        conn.execute(
            "INSERT INTO scheduled_revocations (ca_name, serial_hex, reason, due_at,"
            " requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                "ha-device-ca-1",
                format(cert.serial_number, "032x"),
                4,
                due_at,
                "device 42",
                created,
            ),
        )


def test_scheduled_revocation_after_due_at_and_not_before(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    old, other = issue(ws, csr_factory, tmp_path, 2)
    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0)
    _schedule(ws, old, t0 + 7 * DAY, t0)
    # Before due_at: listed only with --all, not revoked by publishing.
    assert due(ws, t0 + 7 * DAY - 1) == []
    pending = [i for i in due(ws, t0, "--all") if i["kind"] == "scheduled-revocation"]
    assert len(pending) == 1 and not pending[0]["due"]
    publish(ws, t0 + 7 * DAY - 1)
    assert revocation_rows(ws) == []
    # At due_at: due, and the CA's CRL with it.
    now = t0 + 7 * DAY
    kinds = {(i["ca"], i["kind"]) for i in due(ws, now)}
    assert kinds == {("ha-device-ca-1", "scheduled-revocation"), ("ha-device-ca-1", "crl")}
    r = publish(ws, now + 5)
    assert "scheduled revocation carried out" in r.output
    [(ca, serial_hex, code, requester, revoked_at)] = revocation_rows(ws)
    assert (ca, int(serial_hex, 16), code, requester, revoked_at) == (
        "ha-device-ca-1",
        old.serial_number,
        4,
        "device 42",
        now,
    )
    done = ws.store.conn.execute("SELECT done_at FROM scheduled_revocations").fetchone()[0]
    assert done == now + 5
    [rec] = events(ws, audit.Event.REVOCATION_REQUESTED)
    assert rec.details["scheduled"] is True and rec.details["reason"] == "superseded"
    entry = crl_at(ws, "ha-device-ca-1").get_revoked_certificate_by_serial_number(
        old.serial_number
    )
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name == (
        "superseded"
    )
    assert due(ws, now + 6) == []
    # Carried out once: a later publish does not revisit the row.
    publish(ws, now + 20 * DAY)
    assert len(revocation_rows(ws)) == 1
    check_crls(ws, tmp_path, revoked=old, good=other)


def test_a_delta_crl_lists_a_scheduled_revocation_that_came_due(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    """A delta CRL (RFC 5280 §5.2.4) carries out the scheduled revocations whose time
    has come first, as a full CRL does, through the CLI and through the Python API
    (crl_publication.publish_deltas), and lists them."""
    from porthos.workflows import crl_publication

    old, other = issue(ws, csr_factory, tmp_path, 2)
    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0)
    _schedule(ws, old, t0 + DAY, t0)
    [published] = crl_publication.publish_deltas(ws, ["ha-device-ca-1"], now=t0 + DAY + 5)
    assert [r[1] for r in revocation_rows(ws)] == [format(old.serial_number, "032x")]
    delta = x509.load_der_x509_crl(published.paths[0].read_bytes())
    assert [e.serial_number for e in delta] == [old.serial_number]
    # The CLI's delta door says what it carried out.
    _schedule(ws, other, t0 + 2 * DAY, t0)
    r = publish(ws, t0 + 2 * DAY + 5, "--ca", "ha-device-ca-1", "--delta")
    assert "scheduled revocation carried out" in r.output
    delta = x509.load_der_x509_crl(
        (ws.path / "repository" / "ha-device-ca-1-delta.crl").read_bytes()
    )
    assert {e.serial_number for e in delta} == {old.serial_number, other.serial_number}


def test_scheduled_revocation_of_an_already_revoked_certificate_is_closed(
    ws: Workspace, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    [old] = issue(ws, csr_factory, tmp_path)
    t0 = ws.ca("root-ca-1").not_before + 10
    _schedule(ws, old, t0 + DAY, t0)
    assert revoke(ws, hexs(old), "keyCompromise", "--now", at(t0 + 10)).exit_code == 0
    publish(ws, t0 + DAY)
    rows = revocation_rows(ws)
    assert len(rows) == 1 and rows[0][2] == 1  # the keyCompromise stands
    recs = events(ws, audit.Event.REVOCATION_REQUESTED)
    assert [r.outcome for r in recs] == ["success", "failure"]
    assert "already revoked" in recs[1].details["error"]
    assert ws.store.conn.execute("SELECT done_at FROM scheduled_revocations").fetchone()[0]


# --------------------------------------------------------------------------------------
# HSM workspace: issuing PIN and the root's two PIN halves
# --------------------------------------------------------------------------------------


@pytest.fixture
def hsm_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if (
        shutil.which("softhsm2-util") is None
        and not Path("/usr/lib/softhsm/libsofthsm2.so").exists()
    ):
        pytest.skip("SoftHSM2 is not installed")
    env = dict(os.environ)
    env.pop("SOFTHSM2_CONF", None)
    for name, pin in (
        ("so", "so-pin-1234"),
        ("user", "user-pin-5678"),
        ("alice", "half-a1"),
        ("bob", "half-b2"),
    ):
        (tmp_path / f"{name}.pin").write_text(pin + "\n")
    yield env


def _porthos(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "porthos"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.hsm
def test_hsm_workspace_publish_needs_pins(
    tmp_path: Path, hsm_env: dict[str, str], csr_factory: CsrFactory
) -> None:
    w = str(tmp_path / "ws")
    officers = ["--root-officer", "alice=alice.pin", "--root-officer", "bob=bob.pin"]
    r = _porthos(
        [
            "init",
            "-w",
            w,
            "--hsm",
            "softhsm",
            "--so-pin-file",
            "so.pin",
            "--pin-file",
            "user.pin",
            *officers,
        ],
        hsm_env,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "req.pem").write_text(
        csr_factory.pem([("CN", str(uuid.uuid4()))]) + csr_factory.pem([("CN", str(uuid.uuid4()))])
    )
    r = _porthos(
        [
            "issue",
            "-w",
            w,
            "-p",
            "ha-device",
            "--csr",
            "req.pem",
            "--out",
            "out.pem",
            "--pin-file",
            "user.pin",
        ],
        hsm_env,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    bad, good = x509.load_pem_x509_certificates((tmp_path / "out.pem").read_bytes())
    r = _porthos(
        [
            "revoke",
            "-w",
            w,
            "--serial",
            hexs(bad),
            "--reason",
            "keyCompromise",
            "--requester",
            "subscriber",
        ],
        hsm_env,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # A wrong root PIN half: nothing of the root is published, exit 2.
    (tmp_path / "wrong.pin").write_text("half-zz\n")
    r = _porthos(
        [
            "crl",
            "publish",
            "-w",
            w,
            "--pin-file",
            "user.pin",
            "--root-officer",
            "alice=alice.pin",
            "--root-officer",
            "bob=wrong.pin",
        ],
        hsm_env,
        tmp_path,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    r = _porthos(
        ["crl", "publish", "-w", w, "--pin-file", "user.pin", *officers], hsm_env, tmp_path
    )
    assert r.returncode == 0, r.stdout + r.stderr
    from porthos.workspace.workspace import Workspace

    with Workspace.open(w) as ws:
        assert due_cas(ws, ws.ca("root-ca-1").not_before + 60) == set()
        check_crls(ws, tmp_path, revoked=bad, good=good)


def test_an_older_crl_never_replaces_a_newer_one(ws: Workspace) -> None:
    """A slower concurrent publisher holding an older CRL number must not overwrite the
    newer file (RFC 5280 §5.2.3, 000 §4.9.8)."""
    from porthos.workspace.repository import write_crl_file

    t0 = ws.ca("root-ca-1").not_before + 10
    publish(ws, t0, "--ca", "user-ca-1")
    path = ws.path / "repository" / CRL_HOST / "user-ca-1.crl"
    older = path.read_bytes()
    publish(ws, t0 + 60, "--ca", "user-ca-1")
    newer = path.read_bytes()
    assert older != newer
    assert write_crl_file(path, older, 1) is False
    assert path.read_bytes() == newer
