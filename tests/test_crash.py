"""SIGKILL mid-batch (issue 6 "Crash test"): the CLI issuing a large batch, publishing
CRLs, and a revoking process are killed at random points; after each kill the
workspace is reopened and shows

* no serial half-issued or duplicated: every stored certificate parses, carries the
  serial of its row and verifies with its CA key; the batch is all in or all out; the
  certificates and the ``certificates.issued`` audit records list the same serials;
* every acknowledged revocation is still there;
* CRL numbers never repeat (across every CRL file written and every ``crls`` row);
* ``PRAGMA integrity_check`` is ok and ``porthos audit verify`` passes.

Each operation first runs once to completion to measure how long it takes on this
machine; the kills then land at random fractions of that time (seeded; the seed is in
the failure message). Set PORTHOS_CRASH_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import CsrFactory
from integrity import PORTHOS, STORE, check_store, crl_numbers_in_files, crl_numbers_known

BATCH = 3000  # CSRs in the issuance batch
REVOKE_CHUNK = 100  # serials per revocation transaction
KILLS_PER_OP = 3

# Revocations through the Python API, one transaction per chunk; a line "ACK serials"
# is printed only after revoke() returned (the commit happened).
REVOKER = r"""
import sys
from porthos.workflows import revocation
from porthos.workspace.workspace import Workspace
ws = Workspace.open(sys.argv[1])
ca = ws.ca("ha-device-ca-1")
chunk = int(sys.argv[2])
todo = [s for (s,) in ws.store.conn.execute(
    "SELECT serial_hex FROM certificates WHERE ca_name = ? AND serial_hex NOT IN"
    " (SELECT serial_hex FROM revocations WHERE ca_name = ?) ORDER BY serial_hex",
    (ca.name, ca.name))]
print("READY", flush=True)
for i in range(0, len(todo), chunk):
    part = todo[i:i + chunk]
    revocation.revoke(ws, part, "keyCompromise", requester="crash test", ca=ca.name)
    print("ACK " + " ".join(part), flush=True)
"""


def _count(ws: Path, table: str) -> int:
    conn = sqlite3.connect(ws / STORE)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def _revoked(ws: Path) -> set[str]:
    conn = sqlite3.connect(ws / STORE)
    try:
        return {s for (s,) in conn.execute("SELECT serial_hex FROM revocations")}
    finally:
        conn.close()


def _command(op: str, ws: Path, tmp: Path) -> list[str]:
    if op == "issue":
        return [PORTHOS, "issue", "-w", str(ws), "-p", "ha-device", "--csr",
                str(tmp / "big.pem"), "--out", str(tmp / "out.pem"), "--threads", "1"]  # fmt: skip
    if op == "crl":
        return [PORTHOS, "crl", "publish", "-w", str(ws)]
    return [sys.executable, "-c", REVOKER, str(ws), str(REVOKE_CHUNK)]


def test_sigkill_mid_batch(tmp_path: Path, csr_factory: CsrFactory) -> None:
    seed = int(os.environ.get("PORTHOS_CRASH_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    started = time.monotonic()
    ws = tmp_path / "ws"
    r = subprocess.run([PORTHOS, "init", "-w", str(ws)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (tmp_path / "big.pem").write_text(
        "".join(csr_factory.pem([("CN", str(uuid.uuid4()))]) for _ in range(BATCH))
    )

    crl_files: dict[tuple[str, int], str] = {}  # (file, number) -> SHA-256

    verified: dict[str, bytes] = {}

    def check(what: str, acked: set[str]) -> None:
        check_store(ws, verified)
        missing = acked - _revoked(ws)
        assert not missing, f"{what}: acknowledged revocations lost: {sorted(missing)[:3]}"
        known = crl_numbers_known(ws)
        for name, (number, digest) in crl_numbers_in_files(ws).items():
            # A number in a file was allocated (and committed) before the file was
            # written, and one number never names two different CRLs of a file.
            ca = name.removesuffix("-delta.crl").removesuffix(".crl")
            assert (ca, number) in known, f"{what}: {name} has unallocated number {number}"
            old = crl_files.setdefault((name, number), digest)
            assert old == digest, f"{what}: CRL number {number} of {name} reused"

    acked: set[str] = set()
    log: list[tuple[str, float | None, bool, int, int]] = []

    def run(op: str, kill_after: float | None) -> float:
        t0 = time.monotonic()
        before_certs = _count(ws, "certificates")
        before_revs = _count(ws, "revocations")
        proc = subprocess.Popen(
            _command(op, ws, tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        elapsed = time.monotonic() - t0
        killed = proc.returncode == -signal.SIGKILL
        what = f"{op} killed after {kill_after:.2f} s (seed {seed})" if killed else op
        assert killed or proc.returncode == 0, f"{what}: rc {proc.returncode}: {err}"
        for line in out.splitlines(keepends=True):
            # Only whole lines: a kill can cut the last one short.
            if line.startswith("ACK ") and line.endswith("\n"):
                acked.update(line.split()[1:])
        check(what, acked)
        # All or nothing per transaction.
        grown = _count(ws, "certificates") - before_certs
        assert grown in (0, BATCH) if op == "issue" else grown == 0, f"{what}: +{grown} certs"
        # Every batch is a multiple of the chunk, so whole chunks or nothing.
        revs = _count(ws, "revocations") - before_revs
        assert revs % REVOKE_CHUNK == 0, f"{what}: +{revs} revocations"
        log.append((op, kill_after, killed, grown, revs))
        return elapsed

    # Calibrate: one full run of each (a batch to revoke from, a CRL set to compare).
    timing = {}
    for op in ("issue", "crl", "revoke", "issue"):
        timing[op] = run(op, None)
    plan = [op for op in ("issue", "crl", "revoke") for _ in range(KILLS_PER_OP)]
    rng.shuffle(plan)
    for op in plan:
        run(op, rng.uniform(0.05, 0.95) * timing[op])
        if time.monotonic() - started > 90:
            pytest.fail(f"crash test took too long (seed {seed})")
    # A run faster than its calibration (a warm cache, a quieter machine) can end
    # before its kill: try again earlier until one kill per operation landed.
    for op in ("issue", "crl", "revoke"):
        for _ in range(6):
            if any(k for o, a, k, _, _ in log if o == op and a is not None):
                break
            run(op, rng.uniform(0.05, 0.5) * timing[op])
    # The workspace is still usable: a complete run of each after the kills.
    for op in ("issue", "crl"):
        run(op, None)
    for op, after, killed, grown, revs in log:
        when = "-" if after is None else f"{after:.2f} s"
        print(f"seed {seed}: {op:7} kill at {when:>7} killed={killed} +{grown} certs +{revs} revs")
    # The kills did land before the end (else this test showed nothing).
    for op in ("issue", "crl", "revoke"):
        assert any(k for o, a, k, _, _ in log if o == op and a is not None), op
