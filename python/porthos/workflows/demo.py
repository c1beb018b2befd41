"""The second half of ``porthos demo``: the Porthos PKI after issuance (issue 6).

After the demo has issued its batches, this walks the rest of the CP/CPS on the same
workspace, through the same public API an operator's tooling would use:

* the RA (000 §3.2.3): a standard-assurance device through a transaction-ID (and the
  same ID refused a second time), a TLS server certificate through an AOR (and a domain
  outside the AOR's refused), a user certificate submitted by a trusted agent;
* revocation (§4.9) with three RFC 5280 reasons and the requester recorded, and a
  certificateHold refused (no suspension);
* the CRL schedule (§4.9.7): what is due, then every due CRL issued and written where the
  CDP URLs point (§2.1) -- in an HSM workspace the root CRL under two officers' PIN
  halves (§6.2.2);
* ``openssl verify -crl_check_all`` on a revoked and a valid certificate;
* the audit trail (§5.4): the hash chain verified and exported as JSON lines.

Each step prints what it did; any step that does not behave as the CP/CPS says raises,
so ``make demo`` fails loudly rather than printing a wrong story.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from rich.console import Console
from rich.table import Table

from porthos.exceptions import DemoFailure, LifecycleError
from porthos.store import audit
from porthos.workflows import crl_publication, crl_schedule, revocation
from porthos.workspace.repository import crl_file_name

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.workspace.authority import IssueResult
    from porthos.workspace.workspace import Workspace

#: make(subject attributes, key kind) -> CSR DER (the demo's _CsrMaker.make).
CsrMaker = Callable[[list[tuple[str, str]], str], bytes]

AGENT = "demo trusted agent"
REQUESTER = "demo RA operator"
AOR = "demo-aor"
AOR_DOMAIN = "svc.porthos.example"


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(what)


def run(
    ws: Workspace,
    console: Console,
    make: CsrMaker,
    issued: dict[str, IssueResult],
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
) -> None:
    """Run the lifecycle half of the demo on ``ws`` (already activated in HSM mode);
    ``issued`` holds the issuance results of the first half, by profile."""
    _registration(ws, console, make)
    revoked, kept = _revocation(ws, console, issued["ha-device"])
    _publication(ws, console, root_halves)
    _openssl_check(ws, console, revoked, kept)
    _audit(ws, console)


def _registration(ws: Workspace, console: Console, make: CsrMaker) -> None:
    import uuid

    from porthos.workflows.ra import RegistrationAuthority

    ra = RegistrationAuthority(ws)
    table = Table(title="RA identity checks (000 §3.2.3)")
    for col in ("path", "request", "outcome"):
        table.add_column(col)

    # §3.2.3.2: the trusted agent registers the CSR, the device presents it with its ID.
    csr = make([("CN", str(uuid.uuid4()))], "ec-p256")
    tid = ra.register_csr(csr, AGENT)
    first = ra.issue_with_transactions([(csr, tid)])
    _expect(first.issued_count == 1, f"transaction-ID issuance refused: {first.reasons}")
    table.add_row("sa-device, transaction-ID", f"ID {tid[:12]}...", "issued")
    again = ra.issue_with_transactions([(csr, tid)])
    _expect(again.issued_count == 0, "a used transaction-ID was accepted twice")
    table.add_row("sa-device, transaction-ID", "same ID again", f"refused: {again.reasons[0]}")

    # §3.2.3.3: the AOR may request names under its registered domain only, here for
    # the AOR-checked profile whose CN is a host name.
    infra = next(
        p.name
        for p in ws.profile_set.profiles.values()
        if p.identity_check.procedure == "aor" and p.subject_rule == "fqdn"
    )
    # Names are unique per key (§3.1): a demo run again on its workspace asks for new
    # names, not for the names the last run's keys hold.
    run = uuid.uuid4().hex[:8]
    ra.add_aor(AOR, [AOR_DOMAIN])
    host = f"api-{run}.{AOR_DOMAIN}"
    good = ra.issue_infrastructure([make([("CN", host)], "ec-p256")], infra, aor=AOR)
    _expect(good.issued_count == 1, f"AOR request refused: {good.reasons}")
    table.add_row(f"{infra}, AOR", host, "issued")
    bad = ra.issue_infrastructure([make([("CN", "www.example.org")], "ec-p256")], infra, aor=AOR)
    _expect(bad.issued_count == 0, "an AOR got a name outside its domains")
    table.add_row(f"{infra}, AOR", "www.example.org", f"refused: {bad.reasons[0]}")

    # §3.2.3.4: the trusted agent who submits is recorded with the issuance.
    user = ra.issue_user([make([("CN", f"demo.user.{run}")], "ec-p256")], agent=AGENT)
    _expect(user.issued_count == 1, f"user request refused: {user.reasons}")
    table.add_row(
        "user, trusted agent", f"CN=demo.user.{run}", f"issued (agent '{AGENT}' recorded)"
    )
    console.print(table)


def _serial(der: bytes) -> int:
    return x509.load_der_x509_certificate(der).serial_number


def _revocation(
    ws: Workspace, console: Console, result: IssueResult
) -> tuple[list[bytes], list[bytes]]:
    ders = [der for _, der in result.issued()]
    _expect(len(ders) >= 4, "the demo needs at least four ha-device certificates")
    table = Table(title="Revocation (000 §4.9)")
    for col in ("serial", "reason", "requester", "outcome"):
        table.add_column(col)
    revoked: list[bytes] = []
    reasons = ("keyCompromise", "superseded", "privilegeWithdrawn")
    for der, reason in zip(ders, reasons, strict=False):
        (done,) = revocation.revoke(ws, [_serial(der)], reason, requester=REQUESTER)
        table.add_row(done.serial_hex, done.reason, done.requested_by, "revoked")
        revoked.append(der)
    hold = ders[3]
    try:
        revocation.revoke(ws, [_serial(hold)], "certificateHold", requester=REQUESTER)
    except LifecycleError as exc:
        table.add_row(format(_serial(hold), "x"), "certificateHold", REQUESTER, f"refused: {exc}")
    else:
        raise DemoFailure("certificateHold was accepted; the Porthos PKI has no suspension")
    console.print(table)
    return revoked, ders[3:]


def _publication(
    ws: Workspace, console: Console, root_halves: Sequence[tuple[str, hsm.Secret]] | None
) -> None:
    due = [d for d in crl_schedule.due(ws) if d.kind == "crl"]
    table = Table(title="CRL schedule (000 §4.9.7): due now")
    for col in ("CA", "why"):
        table.add_column(col)
    for item in due:
        table.add_row(item.ca, item.why)
    console.print(table)
    published = crl_publication.publish(ws, root_halves=root_halves)
    crls = [p for p in published if p.kind == "crl"]
    _expect({p.ca for p in crls} >= {d.ca for d in due}, "a due CRL was not published")
    table = Table(title="Published where the CDP URLs point (000 §2.1)")
    for col in ("CA", "CRL number", "entries", "file"):
        table.add_column(col)
    for p in crls:
        table.add_row(p.ca, str(p.number), str(p.entries), str(p.paths[0].relative_to(ws.path)))
    console.print(table)
    still_due = [d for d in crl_schedule.due(ws) if d.kind == "crl" and d.is_due]
    _expect(not still_due, "CRLs still due")


def _pem(der: bytes, label: str) -> str:
    from porthos.issuance.csr_input import der_to_pem

    return der_to_pem(der, label)


def _openssl_check(
    ws: Workspace, console: Console, revoked: list[bytes], kept: list[bytes]
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        console.print("[yellow]openssl not found: CRL check skipped[/]")
        return
    ca = ws.ca("ha-device-ca-1")
    root = ws.root
    repo = ws.path / "repository"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "root.pem").write_text(_pem(root.certificate, "CERTIFICATE"))
        (d / "ca.pem").write_text(_pem(ca.certificate, "CERTIFICATE"))
        crls = []
        for who in (root, ca):
            path = d / f"{who.name}.crl.pem"
            path.write_text(_pem((repo / crl_file_name(who)).read_bytes(), "X509 CRL"))
            crls += ["-CRLfile", str(path)]
        table = Table(title="openssl verify -crl_check_all (root + ha-device-ca-1 CRLs)")
        for col in ("certificate", "openssl says"):
            table.add_column(col)
        for der, want_ok in ((kept[0], True), (revoked[0], False)):
            leaf = d / "leaf.pem"
            leaf.write_text(_pem(der, "CERTIFICATE"))
            argv = [openssl, "verify", "-x509_strict", "-crl_check_all"]
            argv += ["-CAfile", str(d / "root.pem"), "-untrusted", str(d / "ca.pem")]
            r = subprocess.run(
                [*argv, *crls, str(leaf)], capture_output=True, text=True, check=False
            )
            said = (r.stdout + r.stderr).strip().splitlines()
            _expect((r.returncode == 0) == want_ok, f"openssl verify: {said}")
            _expect(want_ok or any("revoked" in line for line in said), f"openssl: {said}")
            table.add_row(
                f"{format(_serial(der), 'x')} ({'valid' if want_ok else 'revoked'})",
                said[-1] if want_ok else next(x for x in said if "revoked" in x),
            )
        console.print(table)


def _audit(ws: Workspace, console: Console) -> None:
    result = audit.verify(ws.store)
    _expect(result.ok, f"audit chain broken at record {result.first_bad}: {result.problem}")
    out = ws.path / "audit-export.jsonl"
    n = audit.export_jsonl(ws.store, out)
    events: dict[str, int] = {}
    for rec in audit.records(ws.store):
        events[rec.event] = events.get(rec.event, 0) + 1
    table = Table(title=f"Audit trail (000 §5.4): {result.records} records, chain verified")
    for col in ("event", "records"):
        table.add_column(col)
    for event, count in sorted(events.items()):
        table.add_row(event, str(count))
    console.print(table)
    console.print(
        f"chain head {result.head[:16]}...; {n} records exported to {out} "
        "(check it offline: porthos audit verify --export FILE)"
    )
