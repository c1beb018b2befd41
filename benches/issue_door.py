"""``porthos issue --csr FILE`` as a whole process against ``issue_batch`` in process
(issue 20 §1: the door within 1.3x of the engine behind it).

    .venv/bin/python benches/issue_door.py [N] [REPEATS]

Makes N (default 100,000) ha-device PEM requests once, initialises one workspace, and
per repeat (default 3) copies it twice: one copy gets ``ca.issue_batch(pem_bytes)``
timed in this process (workspace open and key load not timed, as a running CA does
them once), the other the whole ``porthos issue --csr requests.pem --out out.pem``
process timed from fork to exit (interpreter start, imports, workspace open, PEM
split, issuance, PEM output). Prints the medians, their ratio and the door's peak RSS.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from porthos.bench.issue import make_csrs
from porthos.issuance.csr_input import der_to_pem
from porthos.workspace.workspace import Workspace


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    porthos = str(Path(sys.executable).with_name("porthos"))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        pem = "".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in make_csrs(n))
        (t / "requests.pem").write_text(pem)
        Workspace.init(t / "base").close()
        engine, door = [], []
        rss = 0
        for k in range(repeats):
            shutil.copytree(t / "base", t / f"e{k}")
            with Workspace.open(t / f"e{k}") as ws:
                ca = ws.ca_for_profile("ha-device")
                ca.template("ha-device")
                _ = ca.signer
                data = (t / "requests.pem").read_bytes()
                start = time.perf_counter()
                result = ca.issue_batch(data, "ha-device")
                ws.store.wait_for_checkpoint()
                engine.append(time.perf_counter() - start)
                pem_out = result.pem()
                assert result.issued_count == n, result.rejected_count
            shutil.copytree(t / "base", t / f"d{k}")
            start = time.perf_counter()
            subprocess.run(
                [porthos, "issue", "-w", str(t / f"d{k}"), "-p", "ha-device",
                 "--csr", str(t / "requests.pem"), "--out", str(t / f"out{k}.pem")],
                check=True, capture_output=True,
            )  # fmt: skip
            door.append(time.perf_counter() - start)
            rss = max(rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            assert len(pem_out) > 0
    e, d = statistics.median(engine), statistics.median(door)
    print(f"N={n} repeats={repeats}")
    print(f"issue_batch in process (median): {e:.3f} s  ({n / e:,.0f} certificates/s)")
    print(f"porthos issue whole process (median): {d:.3f} s  ({n / d:,.0f} certificates/s)")
    print(f"door / engine: {d / e:.2f}x  (goal <= 1.3x)   door peak RSS: {rss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
