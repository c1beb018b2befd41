"""What the store's COMMIT of one issuance batch costs, and how much of it is SQLite's
WAL auto-checkpoint and its fsync.

    .venv/bin/python benches/store_commit.py [N] [REPEATS]

Inserts N (default 10,000) certificate rows of issuance size (560-octet DER, an
RFC 4514 subject, 16-octet serial) into a fresh store with porthos's schema, in pieces
of 2,048 as the streamed issuance does, in one transaction, and times the inserts and
the COMMIT (medians of REPEATS, default 9, the settings taking turns) under:

- ``porthos``: the store's own (16 KiB pages, WAL, synchronous=NORMAL, auto-checkpoint
  at 4 MiB of WAL: store.PAGE_SIZE, store.WAL_CHECKPOINT_BYTES);
- ``4k-pages``: the same with SQLite's default 4 KiB pages (stores made before the
  16 KiB default);
- ``no-fsync``: porthos's with synchronous=OFF (what the fsyncs cost; never for a CA);
- ``no-checkpoint``: porthos's with wal_autocheckpoint=0 (what the checkpoint costs in
  the COMMIT).

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

from porthos.store.sqlite import _SCHEMA, PAGE_SIZE, WAL_CHECKPOINT_BYTES, _statements

PIECE = 2048
_CHECKPOINT = WAL_CHECKPOINT_BYTES // PAGE_SIZE
# name: (page size, synchronous, wal_autocheckpoint in pages)
SETTINGS = {
    "porthos": (PAGE_SIZE, "NORMAL", _CHECKPOINT),
    "4k-pages": (4096, "NORMAL", WAL_CHECKPOINT_BYTES // 4096),
    "no-fsync": (PAGE_SIZE, "OFF", _CHECKPOINT),
    "no-checkpoint": (PAGE_SIZE, "NORMAL", 0),
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
    tmp: Path, rows: list[tuple[object, ...]], page_size: int, synchronous: str,
    autocheckpoint: int,
) -> tuple[float, float]:  # fmt: skip
    conn = sqlite3.connect(tmp / f"{uuid.uuid4()}.sqlite3", isolation_level=None)
    conn.execute(f"PRAGMA page_size={page_size}")
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
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, setting in SETTINGS.items():
                runs[name].append(_once(Path(tmp), rows, *setting))
    for name, times in runs.items():
        insert = statistics.median(r[0] for r in times) * 1e3
        commit = statistics.median(r[1] for r in times) * 1e3
        print(f"{name:14s} insert {insert:6.1f} ms  commit {commit:6.1f} ms  ({n} rows)")


if __name__ == "__main__":
    main()
