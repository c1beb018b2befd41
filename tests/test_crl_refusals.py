"""A CA that publishes no more CRLs is refused by every CRL door, first, with nothing
committed (workflows/crl_end.py ``refuse_unless_publishing``); the one lookup of a
CA's OCSP responder profile (workspace/generations.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from porthos.bench.issue import make_csrs
from porthos.cli.main import main
from porthos.exceptions import LifecycleError
from porthos.store import registry, revocations
from porthos.workflows import crl_end, crl_publication
from porthos.workflows.termination import terminate
from porthos.workspace.generations import check_may_issue, ocsp_entry, responder_profile
from porthos.workspace.workspace import Workspace

CA = "ha-device-ca-1"


def _terminated_with_a_scheduled_revocation(tmp_path: Path) -> tuple[Path, int]:
    """A nonprod workspace, terminated (RFC 3647 §5.8), holding one scheduled revocation
    that is due (§4.9.4) — what a CRL publication would carry out first."""
    path = tmp_path / "ws"
    now = int(time.time())
    with Workspace.init(path, "nonprod") as ws:
        (_, der), *_ = ws.ca(CA).issue_batch(make_csrs(2), "ha-device").issued()
        serial = x509.load_der_x509_certificate(der).serial_number
        terminate(ws, destroy_keys=True, now=now)
        with ws.store.transaction() as conn:
            registry.schedule_revocation(conn, CA, format(serial, "X"), 4, now, "t", now)
    return path, now + 10


def _pending(ws: Workspace) -> tuple[int, int]:
    """(scheduled revocations still pending, audit records)."""
    conn = ws.store.conn
    return (
        len(revocations.pending_scheduled(conn)),
        int(conn.execute("SELECT count(*) FROM audit").fetchone()[0]),
    )


def test_publish_refuses_a_terminated_ca_before_carrying_out_scheduled_revocations(
    tmp_path: Path,
) -> None:
    path, later = _terminated_with_a_scheduled_revocation(tmp_path)
    with Workspace.open(path) as ws:
        before = _pending(ws)
        assert before[0] == 1
        for door in (crl_publication.publish, crl_publication.publish_deltas):
            with pytest.raises(LifecycleError, match="terminated") as refused:
                door(ws, [CA], now=later)
            assert refused.value.code == "lifecycle"
            assert _pending(ws) == before, door.__name__
        with pytest.raises(LifecycleError, match="terminated"):
            crl_end.refuse_unless_publishing(ws, ws.ca(CA))
        assert crl_end.publication_end(ws, ws.ca(CA)) is not None


def test_cli_publish_refuses_a_terminated_ca_before_carrying_out_scheduled_revocations(
    tmp_path: Path,
) -> None:
    path, later = _terminated_with_a_scheduled_revocation(tmp_path)
    for door in ([], ["--delta"]):  # the full and the delta door
        with Workspace.open(path) as ws:
            before = _pending(ws)
        res = CliRunner().invoke(
            main, ["crl", "publish", "-w", str(path), "--ca", CA, *door, "--now", f"@{later}"]
        )
        assert res.exit_code == 2, res.output
        assert len(res.output.strip().splitlines()) == 1 and "terminated" in res.output
        with Workspace.open(path) as ws:
            # The scheduled revocation still pending; the CLI audits its refusal, only.
            assert _pending(ws)[0] == before[0] == 1
            added = ws.store.conn.execute(
                "SELECT outcome FROM audit ORDER BY seq LIMIT -1 OFFSET ?", (before[1],)
            ).fetchall()
            assert [str(r[0]) for r in added] == ["failure"], door


def test_responder_profile_is_read_from_the_ca_generation_data(tmp_path: Path) -> None:
    """One lookup (generations.responder_profile) for the OCSP responder profile that
    check_may_issue, crl_end.last_expiry and the OCSP pre-signing use."""
    with Workspace.init(tmp_path / "ws", profile_set="carillon") as ws:
        found = {ca.name: responder_profile(ca) for ca in ws.cas}
        assert found == {
            "carillon-root-ca": None,
            "carillon-signing-ca-1": "ocsp-responder",
            "carillon-device-ca-1": "device-ocsp-responder",
        }
        assert ocsp_entry(ws.ca("carillon-root-ca")) is None
        spec = ocsp_entry(ws.ca("carillon-signing-ca-1"))
        assert spec is not None and spec.responder_profile == "ocsp-responder"
        check_may_issue(ws.ca("carillon-signing-ca-1"), "ocsp-responder")  # active: allowed
