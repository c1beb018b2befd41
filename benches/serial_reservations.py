"""What reserving serials in the store first costs a one-process batch (issue 19 §3).

    PYTHONPATH=python .venv/bin/python benches/serial_reservations.py [N] [REPEATS] [PG]

``issue_batch`` of N ha-device CSRs (made once) on a new SQLite workspace each time,
drawn as today (CSPRNG serials, the UNIQUE constraint at the commit) against reserved
first (store/serial_reservations.py: one committed transaction of N reservations,
then the batch, whose commit turns them into certificates), timed from before the
reservation to the batch's return. Repeats interleaved (plain k, reserved k, plain
k+1, ...); prints the medians and every run. With PG (any third argument) the same on
a private PostgreSQL (tests/pg_server.py), a new database each time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from porthos.bench.issue import make_csrs  # noqa: E402
from porthos.issuance.serials import generate_serials  # noqa: E402
from porthos.store.serial_reservations import ReservedSerials  # noqa: E402
from porthos.workspace.workspace import Workspace  # noqa: E402

CA = "ha-device-ca-1"


def once(
    path: Path, csrs: list[bytes], reserve: bool, store: str | None, pw: Path | None
) -> float:
    ws = Workspace.init(path, "nonprod", store=store, store_password_file=pw)
    try:
        ca = ws.ca(CA)
        ca.issue_batch(csrs[:10], "ha-device")  # warm: templates, key, first statements
        began = time.perf_counter()
        reserved = (
            ReservedSerials.reserve(ws.store, CA, len(csrs), now=int(time.time()),
                                    draw=generate_serials)
            if reserve else None
        )  # fmt: skip
        res = ca.issue_batch(csrs, "ha-device", reserved=reserved)
        ws.store.wait_for_checkpoint()
        took = time.perf_counter() - began
        assert sum(1 for _ in res.issued()) == len(csrs)
        return took
    finally:
        ws.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    pg = len(sys.argv) > 3
    csrs = make_csrs(n)
    times: dict[bool, list[float]] = {False: [], True: []}
    with TemporaryDirectory() as tmp:
        server = None
        if pg:
            from pg_server import PgServer, bin_dir

            bindir = bin_dir()
            assert bindir is not None, "PostgreSQL binaries absent"
            server = PgServer.make(bindir)
            server.start()
        try:
            for k in range(repeats):
                for reserve in (False, True):
                    store = None if server is None else server.new_database()
                    pw = None if server is None else server.password_file
                    path = Path(tmp) / f"ws-{k}-{int(reserve)}"
                    times[reserve].append(once(path, csrs, reserve, store, pw))
        finally:
            if server is not None:
                import shutil

                server.stop()
                shutil.rmtree(server.root, ignore_errors=True)
    backend = "postgresql" if pg else "sqlite"
    for reserve, label in ((False, "drawn (today)"), (True, "reserved first")):
        t = times[reserve]
        med = statistics.median(t)
        print(f"{backend} {label:15s} N={n}: median {med:.3f} s ({n / med:,.0f}/s);"
              f" runs {' '.join(f'{x:.3f}' for x in t)}")  # fmt: skip
    a, b = statistics.median(times[False]), statistics.median(times[True])
    print(f"overhead of reserving: {100 * (b - a) / a:+.1f} %")


if __name__ == "__main__":
    main()
