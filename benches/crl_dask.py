"""The sharded CRL rebuild on Dask against the single-process sharded publish (issue 19 §5).

    .venv/bin/python benches/crl_dask.py [N] [SHARDS] [WORKERS]

Defaults: 1,000,000 revocations, 16 shards, 2 workers. Starts a private PostgreSQL
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
  read and total times (median, max).
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
                CA, os.urandom(16).hex(), start + i % 3600, 1 if i % 3 else None,
                start - 86400 if i % 5 == 0 else None, "bench",
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


def _maxrss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    shards = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
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
            from porthos.workflows.dask_crl import cluster_client, publish_shards

            began = time.perf_counter()
            with cluster_client(None, workers) as client, Workspace.open(paths["pg"]) as ws:
                started = time.perf_counter() - began
                row = ws.store.conn.execute(
                    "SELECT pg_total_relation_size('revocations')"
                ).fetchone()
                result["pg_revocations_bytes"] = int(row[0]) if row else None
                began = time.perf_counter()
                out = publish_shards(ws, [CA], client=client, now=now)
                wall = time.perf_counter() - began
                rss = client.run(_maxrss_mib)
            reads = [r.read_seconds or 0.0 for r in out]
            totals = [r.seconds or 0.0 for r in out]
            result["pg-dask"] = {
                "cluster_start_s": round(started, 2),
                "wall_s": round(wall, 3),
                "published": sum(r.outcome == "published" for r in out),
                "entries": sum(r.entries or 0 for r in out),
                "peak_rss_mib_per_worker": sorted(rss.values()),
                "shard_read_s_median_max": [
                    round(statistics.median(reads), 3), round(max(reads), 3)
                ],
                "shard_total_s_median_max": [
                    round(statistics.median(totals), 3), round(max(totals), 3)
                ],
            }  # fmt: skip
    finally:
        server.stop()
        import shutil

        shutil.rmtree(server.root, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
