"""What the store's COMMIT of one issuance batch costs, and how much of it is SQLite's
WAL auto-checkpoint and its fsync.

    .venv/bin/python benches/store_commit.py [N] [REPEATS]

Inserts N (default 10,000) certificate rows of issuance size (560-octet DER, an
RFC 4514 subject, 16-octet serial) into a fresh store with porthos's schema, in pieces
of 2,048 as the streamed issuance does, in one transaction, and times the inserts and
the COMMIT (medians of REPEATS, default 9) under three settings:

- ``porthos``: the store's own (WAL, synchronous=NORMAL, auto-checkpoint at 1,000 pages);
- ``no-fsync``: the same with synchronous=OFF (what the fsyncs cost; never for a CA);
- ``no-checkpoint``: wal_autocheckpoint=0 (what the checkpoint costs in the COMMIT).

Only the first row is what porthos does; the others take it apart.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from porthos.store import _SCHEMA, _statements

PIECE = 2048
SETTINGS = {
    "porthos": ("NORMAL", 1000),
    "no-fsync": ("OFF", 1000),
    "no-checkpoint": ("NORMAL", 0),
}


def _rows(n: int) -> list[tuple[object, ...]]:
    subject = "CN={},OU=Porthos HA Device,O=dormakaba"
    # (ca, serial, subject, profile, not_before, not_after, der, issued_at, spki_sha256)
    return [
        ("ha-device-ca-1", os.urandom(16).hex(), subject.format(uuid.uuid4()), "ha-device")
        + (1, 2, os.urandom(560), 3, os.urandom(32))
        for _ in range(n)
    ]


def _once(
    tmp: Path, rows: list[tuple[object, ...]], synchronous: str, autocheckpoint: int
) -> tuple[float, float]:
    conn = sqlite3.connect(tmp / f"{uuid.uuid4()}.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
    conn.execute("BEGIN IMMEDIATE")
    for statement in _statements(_SCHEMA):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO cas VALUES ('ha-device-ca-1', 'prod', 'x', x'00', 'k', 'p',"
        " 'ha-device-ca-1', 0, 1, 'active')"
    )
    conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    t0 = time.perf_counter()
    for k in range(0, len(rows), PIECE):
        conn.executemany(
            "INSERT INTO certificates (ca_name, serial_hex, subject, profile, not_before,"
            " not_after, der, issued_at, spki_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows[k : k + PIECE],
        )
    t1 = time.perf_counter()
    conn.execute("COMMIT")
    t2 = time.perf_counter()
    conn.close()
    return t1 - t0, t2 - t1


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    rows = _rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (synchronous, autocheckpoint) in SETTINGS.items():
            runs = [_once(Path(tmp), rows, synchronous, autocheckpoint) for _ in range(repeats)]
            insert = statistics.median(r[0] for r in runs) * 1e3
            commit = statistics.median(r[1] for r in runs) * 1e3
            print(f"{name:14s} insert {insert:6.1f} ms  commit {commit:6.1f} ms  ({n} rows)")


if __name__ == "__main__":
    main()
