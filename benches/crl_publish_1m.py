"""``porthos crl publish`` of a CA with N revocations in its store (issue 20 §1: at most
1.5 s for 1,000,000, signing included).

    .venv/bin/python benches/crl_publish_1m.py [N] [REPEATS]

Initialises a workspace, writes N revocations of user-ca-1 straight into the store (as
N `porthos revoke` calls would leave them: random 16-octet serials, keyCompromise on
two in three, an invalidity date on one in five), then per repeat copies it and times
the whole `porthos crl publish --ca user-ca-1` process. Prints the median, the split
of one in-process publish (store to columns, build and sign, write), and peak RSS.
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from porthos.workspace.workspace import Workspace

CA = "user-ca-1"


def _fill(db: Path, n: int, start: int) -> None:
    conn = sqlite3.connect(db)
    rows = (
        (CA, os.urandom(16).hex(), start + i % 3600, 1 if i % 3 else None,
         start - 86400 if i % 5 == 0 else None, "bench")
        for i in range(n)
    )  # fmt: skip
    cols = [r[1] for r in conn.execute("PRAGMA table_info(revocations)")]
    extra = "requested_by" in cols
    sql = "INSERT INTO revocations (ca_name, serial_hex, revoked_at, reason, invalidity_date" + (
        ", requested_by) VALUES (?, ?, ?, ?, ?, ?)" if extra else ") VALUES (?, ?, ?, ?, ?)"
    )
    conn.executemany(sql, rows if extra else (r[:5] for r in rows))
    conn.commit()
    conn.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    porthos = str(Path(sys.executable).with_name("porthos"))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        with Workspace.init(t / "base") as ws:
            start = ws.ca(CA).not_before + 60
        _fill(t / "base" / "porthos.sqlite", n, start)
        now = f"@{start + 7200}"
        wall = []
        for k in range(repeats):
            shutil.copytree(t / "base", t / f"w{k}")
            began = time.perf_counter()
            subprocess.run(
                [porthos, "crl", "publish", "-w", str(t / f"w{k}"), "--ca", CA, "--now", now],
                check=True, capture_output=True,
            )  # fmt: skip
            wall.append(time.perf_counter() - began)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = (t / "w0" / "repository" / f"{CA}.crl").stat().st_size
    print(f"N={n:,} repeats={repeats}: porthos crl publish whole process median "
          f"{statistics.median(wall):.3f} s (all: {', '.join(f'{w:.3f}' for w in wall)}); "
          f"CRL {size:,} octets; peak RSS {rss / 1024:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
