"""SQLite against PostgreSQL as the store (issue 19 §4): whole ``porthos`` processes.

    .venv/bin/python benches/store_backends.py [N_ISSUE] [N_REVOKED] [REPEATS]

Defaults: 10,000 CSRs, 100,000 revocations, 3 repeats. Starts a private PostgreSQL
(tests/pg_server.py: Unix socket, no TCP; durability settings left at PostgreSQL's
defaults here, fsync on, unlike the tests' server) and, per backend:

Repeats are interleaved (repeat k of both backends, then k+1).

* ``porthos issue`` of N_ISSUE ha-device CSRs (one PEM file made once), each repeat on
  a new workspace (SQLite: a new file; PostgreSQL: a new database), timed from fork to
  exit (interpreter start, imports, store open, issuance, COMMIT, PEM output);
* ``porthos crl publish --ca user-ca-1`` of a CA with N_REVOKED revocations (written
  once through the store's own insert, COPY on PostgreSQL), REPEATS publications on
  that workspace, each timed from fork to exit.

Prints the medians (and every run) per backend.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg_server import PgServer, bin_dir  # noqa: E402
from porthos.bench.issue import make_csrs  # noqa: E402
from porthos.issuance.csr_input import der_to_pem  # noqa: E402
from porthos.store import revocations  # noqa: E402
from porthos.workspace.workspace import Workspace  # noqa: E402

CA = "user-ca-1"


def _timed(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - began


def _init(path: Path, server: PgServer | None) -> Workspace:
    if server is None:
        return Workspace.init(path, "nonprod")
    return Workspace.init(
        path, "nonprod", store=server.new_database(), store_password_file=server.password_file
    )


def _fill(ws: Workspace, n: int) -> str:
    start = ws.ca(CA).not_before + 60
    rows = [
        revocations.NewRevocation(
            CA,
            os.urandom(16).hex(),
            start + i % 3600,
            1 if i % 3 else None,
            start - 86400 if i % 5 == 0 else None,
            "bench",
        )  # fmt: skip
        for i in range(n)
    ]
    with ws.store.transaction() as conn:
        revocations.insert_revocations(conn, rows)
    return f"@{start + 7200}"


def main() -> None:
    n_issue = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_revoked = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    porthos = str(Path(sys.executable).with_name("porthos"))
    bindir = bin_dir()
    if bindir is None:
        sys.exit("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    server = PgServer.make(bindir)
    server.durable = True
    server.start()
    try:
        with TemporaryDirectory() as tmp:
            t = Path(tmp)
            pem = t / "requests.pem"
            pem.write_text(
                "".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in make_csrs(n_issue))
            )
            backends = (("sqlite", None), ("postgresql", server))
            issue: dict[str, list[float]] = {name: [] for name, _ in backends}
            publish: dict[str, list[float]] = {name: [] for name, _ in backends}
            now = {}
            for name, srv in backends:
                with _init(t / f"{name}-crl", srv) as ws:
                    now[name] = _fill(ws, n_revoked)
            # Repeat k of every backend runs before repeat k+1 of any: a slow stretch of a
            # shared machine falls on both alike.
            for k in range(repeats):
                for name, srv in backends:
                    _init(t / f"{name}-i{k}", srv).close()
                    issue[name].append(_timed([
                        porthos, "issue", "-w", str(t / f"{name}-i{k}"), "-p", "ha-device",
                        "--csr", str(pem), "--out", str(t / f"{name}-o{k}.pem"),
                    ]))  # fmt: skip
                for name, _ in backends:
                    publish[name].append(_timed([
                        porthos, "crl", "publish", "-w", str(t / f"{name}-crl"),
                        "--ca", CA, "--now", now[name],
                    ]))  # fmt: skip
            for name, _ in backends:
                print(
                    f"{name}: issue {n_issue:,} median {statistics.median(issue[name]):.3f} s "
                    f"({', '.join(f'{x:.3f}' for x in issue[name])}); crl publish "
                    f"{n_revoked:,} median {statistics.median(publish[name]):.3f} s "
                    f"({', '.join(f'{x:.3f}' for x in publish[name])})",
                    flush=True,
                )
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


if __name__ == "__main__":
    main()
