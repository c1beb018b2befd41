"""One CRL shard's read from the store by the shard-key index against reading the CA's
whole table (issue 19 §3, schema 9), at several shard counts.

    PYTHONPATH=python .venv/bin/python benches/shard_read.py [N] [REPEATS]

Defaults: 1,000,000 revocations of one CA, 5 repeats. Starts a private PostgreSQL
(tests/pg_server.py, durable) and fills a SQLite and a PostgreSQL store (``Store``
directly, no workspace) with the same N random 16-octet serials. Then, per store and
shard count (16, 256, 2048), for shards 0..4: ``store_columns`` of the shard by its
key range (``index``: what a Dask worker reads) against ``store_columns`` of the whole
CA (``all``: what a shard read cost before schema 9 for a shard count not dividing 16,
and what the single-process path reads), interleaved, medians. The shard's rows are
checked against the mask of the whole read.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg_server import PgServer, bin_dir  # noqa: E402
from porthos.store import revocations  # noqa: E402
from porthos.store.postgres import PostgresStore  # noqa: E402
from porthos.store.sqlite import CaRow, Store  # noqa: E402
from porthos.workspace.publication import store_columns  # noqa: E402
from porthos.workspace.shard_publication import shard_columns  # noqa: E402

CA = "ca-1"


def _fill(store: Store, serials: list[str]) -> None:
    store.add_cas([CaRow(CA, "nonprod", "CN=x", b"\x30\x00", "k", "p256", CA, 1)])
    for lo in range(0, len(serials), 250_000):
        rows = [revocations.NewRevocation(CA, s, 1_700_000_000 + i, 1, None, "bench")
                for i, s in enumerate(serials[lo : lo + 250_000])]  # fmt: skip
        with store.transaction() as conn:
            revocations.insert_revocations(conn, rows)


def _times(store: Store, repeats: int) -> dict[str, dict[str, float]]:
    conn = store.conn
    if getattr(conn, "dialect", "") == "postgresql":
        conn.execute("ANALYZE revocations")
    out: dict[str, dict[str, float]] = {}
    for shards in (16, 256, 2048):
        t_index: list[float] = []
        t_all: list[float] = []
        rows = 0
        for _ in range(repeats):
            for s in range(5):
                t = time.perf_counter()
                part = store_columns(conn, CA, None, None,
                                     revocations.shard_key_range(s, shards))  # fmt: skip
                t_index.append(time.perf_counter() - t)
                t = time.perf_counter()
                every = shard_columns(store_columns(conn, CA), s, shards)
                t_all.append(time.perf_counter() - t)
                assert len(part) == len(every)
                rows = len(part)
        out[str(shards)] = {
            "rows_per_shard": rows,
            "index_s": round(statistics.median(t_index), 4),
            "all_s": round(statistics.median(t_all), 4),
        }
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    bindir = bin_dir()
    if bindir is None:
        sys.exit("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    serials = [os.urandom(16).hex() for _ in range(n)]
    server = PgServer.make(bindir)
    server.durable = True
    server.start()
    result: dict[str, object] = {"n": n}
    try:
        with TemporaryDirectory() as tmp:
            lite = Store.create(Path(tmp) / "porthos.sqlite", env="nonprod", profile_set="p")
            url = server.new_database()
            pg = PostgresStore.create_at(url, url, env="nonprod", profile_set="p",
                                         password=server.password())  # fmt: skip
            for name, store in (("sqlite", lite), ("pg", pg)):
                _fill(store, serials)
                store_columns(store.conn, CA)  # warm the cache
                result[name] = _times(store, repeats)
                store.close()
    finally:
        server.stop()
        import shutil

        shutil.rmtree(server.root, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
