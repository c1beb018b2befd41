"""What a streamed ``issue_batch`` does after its last signature: the one-core tail.

    .venv/bin/python benches/issue_tail.py [N] [REPEATS]

Issues N (default 10,000) ha-device CSRs into a fresh workspace REPEATS times (default
9) with every core, and prints medians of: the whole batch; the time from the end of
the last fill+sign call to the return; and its parts: the wait before the last insert,
the last insert, the certificates.issued audit record, the COMMIT with the WAL's
fsync, what follows it up to the return, and the wait for the WAL checkpoint, which
runs on a thread of its own after the return (store/checkpointer.py) and is counted
here as part of the batch. Nothing overlaps these with signing, so each millisecond
here is a millisecond of the batch.

The parts are timed by wrapping the functions issuance calls (a few µs each); use
``porthos bench issue`` for the numbers to quote as throughput.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from porthos.bench import issue as issue_bench
from porthos.issuance import signers
from porthos.store import audit
from porthos.store import sqlite as store_module

Spans = dict[str, list[tuple[float, float]]]


def _timed(spans: Spans, owner: Any, attr: str, name: str) -> None:
    fn: Callable[..., Any] = getattr(owner, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.setdefault(name, []).append((start, time.perf_counter()))

    setattr(owner, attr, timed)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    spans: Spans = {}
    _timed(spans, store_module.Store, "insert_certificate_params", "insert")
    _timed(spans, audit, "record", "audit")
    _timed(spans, signers, "issue_certificates", "sign")
    outer = store_module.Store.transaction

    @contextlib.contextmanager
    def transaction(self: store_module.Store) -> Iterator[Any]:
        top = self._depth == 0
        with outer(self) as conn:
            yield conn
            if top:
                spans["body"] = [(time.perf_counter(),) * 2]
        if top:
            spans["committed"] = [(time.perf_counter(),) * 2]

    store_module.Store.transaction = transaction  # type: ignore[method-assign]
    csrs = issue_bench.make_csrs(n)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for rep in range(repeats):
            ws, ca = issue_bench._fresh_ca(Path(d), str(rep))
            spans.clear()
            t0 = time.perf_counter()
            ca.issue_batch(csrs, profile=issue_bench.PROFILE)
            returned = time.perf_counter()
            ws.store.wait_for_checkpoint()
            t1 = time.perf_counter()
            ws.close()
            signed = spans["sign"][-1][1]
            insert, record = spans["insert"][-1], spans["audit"][-1]
            body, committed = spans["body"][0][0], spans["committed"][0][0]
            rows.append(
                {
                    "batch": t1 - t0,
                    "after the last signature": t1 - signed,
                    "  wait before the last insert": insert[0] - signed,
                    "  last insert": insert[1] - insert[0],
                    "  audit record": record[1] - record[0],
                    "  COMMIT and WAL fsync": committed - body,
                    "  after the COMMIT, to the return": returned - committed,
                    "  the WAL checkpoint, waited for": t1 - returned,
                }
            )
    print(f"N = {n}, medians of {repeats} batches:")
    for key in rows[0]:
        print(f"{key:32s} {statistics.median(r[key] for r in rows) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
