"""Fault tests of the shared PostgreSQL store (issue 19 §4), whole ``porthos``
processes against the session's private server (tests/pg_server.py):

* two issuing processes at once (two front ends: the workspace and a copy of it on
  the same database): no duplicate serial, one audit chain that verifies;
* two CRL publishers (and a revoker) at once: CRL numbers strictly increase with
  what they cover, and the newest CRL lists exactly the revoked set;
* the server restarted (``pg_ctl restart -m fast``) in the middle of a batch: one
  clear error, nothing of the batch stored, and the same command then works.

Overlap is made certain, not left to timing: the test holds a SHARE lock on the audit
table, which lets a process write its certificates but not its audit record, waits
until the processes are all blocked (pg_stat_activity), then lets go (or restarts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pg_server import PgServer
from porthos.store import audit
from porthos.workspace.workspace import Workspace

CA = "ha-device-ca-1"

pytestmark = pytest.mark.postgresql


def _pythonpath() -> str:
    import porthos

    return str(Path(porthos.__file__).parent.parent)


def _porthos(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    return subprocess.Popen(
        [sys.executable, "-m", "porthos.cli.main", *argv],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _csrs(path: Path, n: int) -> None:
    from porthos.bench.issue import make_csrs
    from porthos.issuance.csr_input import der_to_pem

    path.write_text("".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in make_csrs(n)))


@pytest.fixture
def pg_ws(pg_server: PgServer, pg_url: str, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    proc = _porthos("init", "-w", str(ws), "--env", "nonprod", "--store", pg_url,
                    "--store-password-file", str(pg_server.password_file))  # fmt: skip
    rc, err = _finish(proc)
    assert rc == 0, err
    return ws


def _database(ws: Path) -> str:
    text = (ws / "store.toml").read_text()
    return text.split("@/", 1)[1].split("?", 1)[0]


class AuditGate:
    """A transaction of the test holding ``LOCK TABLE audit IN SHARE MODE``: writers
    get as far as their audit INSERT and wait there (or, behind one of them, on the
    chain-head row)."""

    def __init__(self, server: PgServer, database: str) -> None:
        import psycopg

        self.conn = psycopg.connect(
            server.url(database), password=server.password(), autocommit=True
        )
        self.conn.execute("BEGIN")
        self.conn.execute("LOCK TABLE audit IN SHARE MODE")
        # pg_stat_activity is read outside that transaction (a transaction keeps its
        # first snapshot of it).
        self.monitor = psycopg.connect(
            server.url(database), password=server.password(), autocommit=True
        )
        self.holder = int(self.conn.info.backend_pid)

    def waiting(self) -> int:
        row = self.monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid NOT IN (pg_backend_pid(), %s)",
            (self.holder,),
        ).fetchone()
        return int(row[0]) if row else 0

    def wait_for(self, n: int, procs: list[subprocess.Popen[str]], limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while self.waiting() < n:
            for p in procs:
                if p.poll() is not None:
                    pytest.fail(f"a process ended before blocking: {p.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail(f"fewer than {n} writers blocked after {limit} s")
            time.sleep(0.05)

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()
        self.monitor.close()


def _counts(ws: Path) -> tuple[int, int, int]:
    with Workspace.open(ws) as w:
        conn: Any = w.store.conn
        certs = w.store.count_certificates()
        records = int(conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
        revoked = int(conn.execute("SELECT COUNT(*) FROM revocations").fetchone()[0])
    return certs, records, revoked


def test_two_concurrent_issuers_no_duplicate_serial_one_chain(
    pg_server: PgServer, pg_ws: Path, tmp_path: Path
) -> None:
    n = 300
    second = tmp_path / "front-end-2"
    shutil.copytree(pg_ws, second)  # another front end: its own files, the same database
    for k in (1, 2):
        _csrs(tmp_path / f"r{k}.pem", n)
    before = _counts(pg_ws)[0]
    gate = AuditGate(pg_server, _database(pg_ws))
    procs = [
        _porthos(
            "issue",
            "-w",
            str(w),
            "-p",
            "ha-device",
            "--csr",
            str(tmp_path / f"r{k}.pem"),
            "--out",
            str(tmp_path / f"o{k}.pem"),
        )  # fmt: skip
        for k, w in ((1, pg_ws), (2, second))
    ]
    gate.wait_for(2, procs)  # both inside their batch transaction at once
    gate.release()
    for p in procs:
        rc, err = _finish(p)
        assert rc == 0, err
    serials = [
        c.serial_number
        for k in (1, 2)
        for c in x509.load_pem_x509_certificates((tmp_path / f"o{k}.pem").read_bytes())
    ]
    assert len(serials) == len(set(serials)) == 2 * n
    assert _counts(pg_ws)[0] == before + 2 * n
    rc, err = _finish(_porthos("audit", "verify", "-w", str(second)))
    assert rc == 0, err
    with Workspace.open(pg_ws) as ws:
        assert audit.verify(ws.store).ok
        issued = [r for r in audit.records(ws.store) if r.event == "certificates.issued"]
        assert sorted(r.details["count"] for r in issued[-2:]) == [n, n]


def _revoke(ws: Path, serials: list[str]) -> subprocess.Popen[str]:
    argv = ["revoke", "-w", str(ws), "--reason", "keyCompromise", "--requester", "test"]
    for s in serials:
        argv += ["--serial", s]
    return _porthos(*argv)


def test_two_concurrent_crl_publishers_numbers_increase_and_cover_the_revoked_set(
    pg_server: PgServer, pg_ws: Path, tmp_path: Path
) -> None:
    _csrs(tmp_path / "r.pem", 40)
    out = tmp_path / "o.pem"
    issue = _porthos("issue", "-w", str(pg_ws), "-p", "ha-device",
                     "--csr", str(tmp_path / "r.pem"), "--out", str(out))  # fmt: skip
    rc, err = _finish(issue)
    assert rc == 0, err
    serials = [
        format(c.serial_number, "x")
        for c in x509.load_pem_x509_certificates((tmp_path / "o.pem").read_bytes())
    ]
    rc, err = _finish(_revoke(pg_ws, serials[:10]))
    assert rc == 0, err
    second = tmp_path / "publisher-2"
    shutil.copytree(pg_ws, second)
    for round_ in range(2):
        gate = AuditGate(pg_server, _database(pg_ws))
        batch = serials[10 + 10 * round_ : 20 + 10 * round_]
        procs = [
            _porthos("crl", "publish", "-w", str(pg_ws), "--ca", CA),
            _revoke(second, batch),
            _porthos("crl", "publish", "-w", str(second), "--ca", CA),
        ]
        gate.wait_for(3, procs)
        gate.release()
        for p in procs:
            rc, err = _finish(p)
            assert rc == 0, err
    # One more publication after everything: it must list the whole revoked set.
    rc, err = _finish(_porthos("crl", "publish", "-w", str(pg_ws), "--ca", CA))
    assert rc == 0, err
    with Workspace.open(pg_ws) as ws:
        conn: Any = ws.store.conn
        rows = conn.execute(
            "SELECT number, revocations_upto, entries FROM crls WHERE ca_name = ? ORDER BY number",
            (CA,),
        ).fetchall()
        revoked = {int(r[0], 16) for r in ws.store.revocations(CA)}
        assert audit.verify(ws.store).ok
    numbers = [int(r[0]) for r in rows]
    assert numbers == list(range(1, len(rows) + 1)) and len(rows) == 5
    # A later number never covers fewer revocations than an earlier one (the chain-head
    # lock makes rowids commit order), and each CRL lists what it covers.
    uptos = [int(r[1]) for r in rows]
    assert uptos == sorted(uptos)
    assert len(revoked) == 30
    newest = x509.load_der_x509_crl((pg_ws / "repository" / f"{CA}.crl").read_bytes())
    assert newest.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 5
    assert {r.serial_number for r in newest} == revoked
    assert int(rows[-1][2]) == 30


def test_server_restart_mid_batch_one_clear_error_nothing_stored_retry_works(
    pg_server: PgServer, pg_ws: Path, tmp_path: Path
) -> None:
    n = 500
    _csrs(tmp_path / "r.pem", n)
    argv = ["issue", "-w", str(pg_ws), "-p", "ha-device", "--csr", str(tmp_path / "r.pem"),
            "--out", str(tmp_path / "o.pem")]  # fmt: skip
    before = _counts(pg_ws)
    gate = AuditGate(pg_server, _database(pg_ws))
    proc = _porthos(*argv)
    gate.wait_for(1, [proc])  # its 500 certificates are written, its audit record waits
    pg_server.restart()
    rc, err = _finish(proc)
    assert rc == 2, err
    assert err.count("\n") == 1 and "[store-unavailable]" in err and "Traceback" not in err
    assert _counts(pg_ws) == before  # nothing half written: no certificate, no record
    rc, err = _finish(_porthos(*argv))
    assert rc == 0, err
    after = _counts(pg_ws)
    assert after[0] == before[0] + n and after[1] > before[1]
    rc, err = _finish(_porthos("audit", "verify", "-w", str(pg_ws)))
    assert rc == 0, err
