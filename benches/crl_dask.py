"""The sharded CRL rebuild on Dask against the single-process sharded publish (issue 19 §5).

    .venv/bin/python benches/crl_dask.py [N] [SHARDS] [WORKERS] [REPEATS]

Defaults: 1,000,000 revocations, 16 shards, 2 workers, 5 repeats of the shard
reads. Starts a private PostgreSQL
(tests/pg_server.py, durable: fsync on) and makes two workspaces whose ha-device CDP is
sharded in SHARDS, one on SQLite and one on PostgreSQL, each with N revocations of
ha-device-ca-1 (written once through the store's insert, COPY on PostgreSQL). Then, in
one run:

* ``sqlite-single``: the single-process sharded publish (the one publication path,
  ``publish_crl(kind="shards")``), in a child process: wall time and its peak RSS;
* ``pg-single``: the same on the PostgreSQL workspace;
* ``pg-dask``: ``publish_shards`` on a LocalCluster of WORKERS worker processes (one
  thread each) over the PostgreSQL workspace: cluster start, rebuild wall time, each
  worker's peak RSS (``ru_maxrss``, read on the worker after the run), and the per-shard
  read and total times (median, max);
* ``pg-dask-no-index``: the same rebuild again with the shard-key index dropped (the
  read is then a scan of the whole table, as before schema 9), the index put back after;
* ``shard_read``: one shard's read alone (``store_columns`` of shard s, s = 0..4, the
  median), on each store: ``index`` (schema 9: an index range of (ca_name, shard_key))
  against ``scan`` (the query before schema 9: every row of the CA, kept when its last
  hex digit is the shard's; shard counts dividing 16 only).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg_server import PgServer, bin_dir  # noqa: E402
from porthos.store import revocations  # noqa: E402
from porthos.workspace.workspace import Workspace  # noqa: E402

CA = "ha-device-ca-1"
CHUNK = 250_000

SINGLE = """
import json, resource, sys, time
from porthos.workspace import publication
from porthos.workspace.workspace import Workspace
ws = Workspace.open(sys.argv[1]); now = int(sys.argv[2]); ca = ws.ca(sys.argv[3])
t = time.perf_counter()
out = publication.publish_crl(ws, ca, ca.signer, kind="shards", this_update=now,
                              next_update=now + 86400)
wall = time.perf_counter() - t
ws.close()
print(json.dumps({"wall_s": round(wall, 3), "files": len(out),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def _profile_set(tmp: Path, shards: int) -> Path:
    text = resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text()
    at = text.index("[profiles.ha-device]")
    old = 'uris = ["{crl}/ha-device-ca-1.crl"] }'
    new = f'uris = ["{{crl}}/ha-device-ca-1-shard-{{shard}}.crl"], shards = {shards} }}'
    path = tmp / "sharded.toml"
    path.write_text(text[:at] + text[at:].replace(old, new, 1))
    return path


def _fill(ws: Workspace, n: int) -> int:
    start = ws.ca(CA).not_before + 60
    for lo in range(0, n, CHUNK):
        rows = [
            revocations.NewRevocation(
                CA,
                os.urandom(16).hex(),
                start + i % 3600,
                1 if i % 3 else None,
                start - 86400 if i % 5 == 0 else None,
                "bench",
            )  # fmt: skip
            for i in range(lo, min(n, lo + CHUNK))
        ]
        with ws.store.transaction() as conn:
            revocations.insert_revocations(conn, rows)
    return start + 7200


def _single(path: Path, now: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SINGLE, str(path), str(now), CA],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# The shard read before schema 9 (store/revocations.py at ef314b4), kept to compare.
_SCAN = (
    "SELECT count(*), {agg}(serial_hex, ','), {agg}(revoked_at{cast}, ','),"
    " {agg}(coalesce(reason, 0){cast}, ','), {agg}(coalesce(invalidity_date, 0){cast}, ',')"
    " FROM (SELECT serial_hex, revoked_at, reason, invalidity_date FROM revocations"
    " WHERE {plus}ca_name = ? AND rowid <= ? AND substr(serial_hex, length(serial_hex), 1)"
    " IN ({digits}) ORDER BY rowid) AS r"
)


def _shard_reads(ws: Workspace, shards: int, repeats: int = 5) -> dict[str, float]:
    from porthos.workspace.publication import store_columns

    conn = ws.store.conn
    pg = getattr(conn, "dialect", "sqlite") == "postgresql"
    out: dict[str, list[float]] = {"index": [], "scan": []}
    for _ in range(repeats):
        for s in range(min(5, shards)):
            key_range = revocations.shard_key_range(s, shards)
            t = time.perf_counter()
            cols = store_columns(conn, CA, None, None, key_range)
            out["index"].append(time.perf_counter() - t)
            if 16 % shards:
                continue
            digits = [format(d, "x") for d in range(16) if d % shards == s]
            sql = _SCAN.format(
                agg="string_agg" if pg else "group_concat", cast="::text" if pg else "",
                plus="" if pg else "+", digits=",".join(f"'{d}'" for d in digits),
            )  # fmt: skip
            t = time.perf_counter()
            row = conn.execute(sql, (CA, (1 << 63) - 1)).fetchone()
            out["scan"].append(time.perf_counter() - t)
            assert int(row[0]) == len(cols), (row[0], len(cols))
    return {k: round(statistics.median(v), 4) for k, v in out.items() if v}


def _dask(ws: Workspace, client: object, now: int) -> dict[str, object]:
    from porthos.workflows.dask_crl import publish_shards

    began = time.perf_counter()
    out = publish_shards(ws, [CA], client=client, now=now)  # type: ignore[arg-type]
    wall = time.perf_counter() - began
    rss = client.run(_maxrss_mib)  # type: ignore[attr-defined]
    reads = [r.read_seconds or 0.0 for r in out]
    totals = [r.seconds or 0.0 for r in out]
    return {
        "wall_s": round(wall, 3),
        "published": sum(r.outcome == "published" for r in out),
        "entries": sum(r.entries or 0 for r in out),
        "peak_rss_mib_per_worker": sorted(rss.values()),
        "shard_read_s_median_max": [round(statistics.median(reads), 3), round(max(reads), 3)],
        "shard_total_s_median_max": [
            round(statistics.median(totals), 3), round(max(totals), 3)
        ],
    }  # fmt: skip


def _maxrss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    shards = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    bindir = bin_dir()
    if bindir is None:
        sys.exit("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    server = PgServer.make(bindir)
    server.durable = True
    server.start()
    result: dict[str, object] = {"n": n, "shards": shards, "workers": workers}
    try:
        with TemporaryDirectory() as tmp:
            t = Path(tmp)
            profiles = str(_profile_set(t, shards))
            paths = {}
            now = 0
            for name, store in (("sqlite", None), ("pg", server.new_database())):
                paths[name] = t / name
                began = time.perf_counter()
                with Workspace.init(
                    paths[name], "nonprod", profile_set=profiles, store=store,
                    store_password_file=server.password_file if store else None,
                ) as ws:  # fmt: skip
                    now = _fill(ws, n)
                result[f"{name}_fill_s"] = round(time.perf_counter() - began, 1)
            result["sqlite_bytes"] = (paths["sqlite"] / "porthos.sqlite").stat().st_size
            result["sqlite-single"] = _single(paths["sqlite"], now)
            result["pg-single"] = _single(paths["pg"], now)
            for name in ("sqlite", "pg"):
                with Workspace.open(paths[name]) as ws:
                    _shard_reads(ws, shards, 1)  # warm the caches as the rebuilds do
                    result[f"shard_read_{name}"] = _shard_reads(ws, shards, repeats)
            from porthos.workflows.dask_crl import cluster_client

            began = time.perf_counter()
            with cluster_client(None, workers) as client, Workspace.open(paths["pg"]) as ws:
                started = time.perf_counter() - began
                row = ws.store.conn.execute(
                    "SELECT pg_total_relation_size('revocations')"
                ).fetchone()
                result["pg_revocations_bytes"] = int(row[0]) if row else None
                result["pg-dask"] = {"cluster_start_s": round(started, 2),
                                     **_dask(ws, client, now + 1)}  # fmt: skip
                ws.store.conn.execute("DROP INDEX revocations_shard")
                try:
                    result["pg-dask-no-index"] = _dask(ws, client, now + 2)
                finally:
                    ws.store.conn.execute(
                        "CREATE INDEX revocations_shard ON revocations (ca_name, shard_key)"
                    )
    finally:
        server.stop()
        import shutil

        shutil.rmtree(server.root, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
