"""Two processes writing one workspace at once (issue 6 "Concurrency").

* Two issuers, each 20 batches of 200 through ``CertificateAuthority.issue_batch``: no
  duplicate serial, no lost update (rows = the sum of what both acknowledged; each
  batch has its audit record), the chain verifies, and neither sees "database is
  locked" (``BEGIN IMMEDIATE`` takes the write lock up front and the 60 s busy timeout
  makes the second writer wait for it).
* Two CRL publishers at once: no CRL number is handed out twice.

Both children wait on stdin for "go" after they are ready, so their batches overlap
instead of one finishing during the other's start-up.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from conftest import CsrFactory
from integrity import PORTHOS, STORE, check_store, crl_numbers_known

BATCHES = 20
PER_BATCH = 200

ISSUER = r"""
import sys
from porthos.workspace.workspace import Workspace
ws = Workspace.open(sys.argv[1])
data = open(sys.argv[2], "rb").read()
ca = ws.ca_for_profile("ha-device")
ca.template("ha-device")
print("READY", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[3])):
    res = ca.issue_batch(data, "ha-device", actor=sys.argv[4])
    print("ISSUED", res.issued_count, flush=True)
"""

PUBLISHER = r"""
import sys
from porthos.workflows import crl_publication
from porthos.workspace.workspace import Workspace
ws = Workspace.open(sys.argv[1])
print("READY", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[2])):
    for p in crl_publication.publish(ws, everything=True):
        if p.kind == "crl":
            print("CRL", p.ca, p.number, flush=True)
"""


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "READY\n", line + (proc.stderr.read() if proc.stderr else "")
    return proc


def _together(procs: list[subprocess.Popen[str]]) -> list[str]:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "locked" not in err, err
        outs.append(out)
    return outs


def test_two_issuers_at_once(tmp_path: Path, csr_factory: CsrFactory) -> None:
    ws = tmp_path / "ws"
    r = subprocess.run([PORTHOS, "init", "-w", str(ws)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    csrs = tmp_path / "csrs.pem"
    csrs.write_text(
        "".join(csr_factory.pem([("CN", str(uuid.uuid4()))]) for _ in range(PER_BATCH))
    )
    before = check_store(ws)
    procs = [_start(ISSUER, str(ws), str(csrs), str(BATCHES), f"proc-{i}") for i in (1, 2)]
    outs = _together(procs)
    acked = [
        sum(int(x.split()[1]) for x in out.splitlines() if x.startswith("ISSUED")) for out in outs
    ]
    assert acked == [BATCHES * PER_BATCH] * 2
    after = check_store(ws)  # no duplicate serial; every row and audit record agree
    assert after["certificates"] - before["certificates"] == sum(acked)  # no lost update
    # One success record per batch, by each actor.
    import sqlite3

    conn = sqlite3.connect(ws / STORE)
    order = [
        a
        for (a,) in conn.execute(
            "SELECT actor FROM audit WHERE event = 'certificates.issued' AND outcome = 'success'"
            " ORDER BY seq"
        )
    ]
    conn.close()
    assert Counter(order) == {"proc-1": BATCHES, "proc-2": BATCHES}
    # The two did run at the same time: their batches interleave in the trail.
    assert sum(a != b for a, b in zip(order, order[1:], strict=False)) >= 2, order


def test_two_crl_publishers_at_once(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    r = subprocess.run([PORTHOS, "init", "-w", str(ws)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rounds = 8
    procs = [_start(PUBLISHER, str(ws), str(rounds)) for _ in range(2)]
    outs = _together(procs)
    handed: list[tuple[str, int]] = []
    for out in outs:
        handed += [
            (x.split()[1], int(x.split()[2])) for x in out.splitlines() if x.startswith("CRL")
        ]
    dup = [k for k, n in Counter(handed).items() if n > 1]
    assert dup == [], f"CRL numbers handed out twice: {dup}"
    assert len(handed) == 2 * rounds * 5
    assert set(handed) <= crl_numbers_known(ws)
    for ca in {c for c, _ in handed}:
        numbers = sorted(n for c, n in handed if c == ca)
        # Consecutive: none reused, and none skipped (no publisher crashed).
        assert numbers == list(range(numbers[0], numbers[0] + 2 * rounds))
    check_store(ws)
