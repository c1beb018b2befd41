"""Batch issuance on Dask workers against one process (issue 19 §5).

    .venv/bin/python benches/issue_dask.py [N] [WORKERS] [CHUNK]

Defaults: 10,000 ha-device CSRs (made once), 2 workers, chunks of 2,500. Starts a
private PostgreSQL (tests/pg_server.py, fsync on) and times, each on a new workspace,
certificates per second including the commit:

* ``sqlite-single`` / ``pg-single``: ``issue_batch`` of the whole batch in this process;
* ``pg-dask``: ``issue_chunks`` on a LocalCluster of WORKERS worker processes (one
  thread each; the cluster start is reported apart), one transaction per chunk.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg_server import PgServer, bin_dir  # noqa: E402
from porthos.bench.issue import make_csrs  # noqa: E402
from porthos.workspace.workspace import Workspace  # noqa: E402

PROFILE = "ha-device"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    chunk = int(sys.argv[3]) if len(sys.argv) > 3 else 2_500
    bindir = bin_dir()
    if bindir is None:
        sys.exit("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    server = PgServer.make(bindir)
    server.durable = True
    server.start()
    csrs = make_csrs(n)
    result: dict[str, object] = {"n": n, "workers": workers, "chunk": chunk}
    try:
        with TemporaryDirectory() as tmp:
            t = Path(tmp)

            def init(name: str, pg: bool) -> Workspace:
                store = server.new_database() if pg else None
                return Workspace.init(
                    t / name, "nonprod", store=store,
                    store_password_file=server.password_file if pg else None,
                )  # fmt: skip

            for name, pg in (("sqlite-single", False), ("pg-single", True)):
                with init(name, pg) as ws:
                    ca = ws.ca_for_profile(PROFILE)
                    began = time.perf_counter()
                    res = ca.issue_batch(csrs, PROFILE)
                    ws.store.wait_for_checkpoint()
                    wall = time.perf_counter() - began
                assert res.issued_count == n
                result[name] = {"wall_s": round(wall, 3), "certs_per_s": round(n / wall)}
            from porthos.workflows.dask_crl import cluster_client
            from porthos.workflows.dask_issue import issue_chunks

            began = time.perf_counter()
            with cluster_client(None, workers) as client, init("pg-dask", True) as ws:
                started = time.perf_counter() - began
                # The plugin registration and first workspace open per worker: warmed
                # with one request, so the timing is the batch's.
                issue_chunks(ws, csrs[:1], PROFILE, client=client, chunk=1)
                began = time.perf_counter()
                out = issue_chunks(ws, csrs[1:], PROFILE, client=client, chunk=chunk)
                wall = time.perf_counter() - began
            issued = sum(len(c.issued) for c in out)
            assert issued == n - 1
            result["pg-dask"] = {
                "cluster_start_s": round(started, 2),
                "wall_s": round(wall, 3),
                "certs_per_s": round(issued / wall),
            }
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
