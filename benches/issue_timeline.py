"""Where the time of one streamed ``issue_batch`` goes, stage by stage and thread by thread.

    .venv/bin/python benches/issue_timeline.py [N] [REPEATS]

Issues N (default 10,000) ha-device CSRs into a fresh workspace REPEATS times (default
5) with every core, and prints:

- per run: wall time, process CPU time and the share of the cores kept busy
  (CPU ÷ wall ÷ cores);
- for the last run: when each stage started and ended on which thread (the Rust
  parse+verify and fill+sign calls on the pipeline's worker thread; policy, store
  inserts, the audit record and the waits on the main thread).

The stages are timed by wrapping the module functions that ``CertificateAuthority``
calls, so the figures carry a few µs of wrapper cost per call; use ``porthos bench
issue`` for the numbers to quote and this script to see why they are what they are.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from porthos import _native
from porthos.bench import issue as issue_bench
from porthos.cpcps import policy
from porthos.issuance import signers
from porthos.store import sqlite as store_module
from porthos.workspace import authority as ca_module
from porthos.workspace.workspace import Workspace

Event = tuple[str, str, float, float]


def _traced(events: list[Event], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def traced(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            thread = "main" if threading.current_thread() is threading.main_thread() else "worker"
            events.append((thread, name, start, time.perf_counter()))

    return traced


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    csrs = issue_bench.make_csrs(n)
    events: list[Event] = []
    for owner, attr, name in [
        (_native, "parse_csrs", "parse+verify"),
        (signers, "issue_certificates", "fill+sign"),
        (policy, "decide_batch", "policy"),
        (store_module.Store, "insert_certificates", "store insert"),
        (ca_module.StoreCommit, "finish", "audit record"),
        (Future, "result", "wait"),
    ]:
        setattr(owner, attr, _traced(events, name, getattr(owner, attr)))

    cores = os.cpu_count() or 1
    busy = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            ws = Workspace.init(Path(tmp) / f"ws{rep}", "prod")
            ca = ws.ca(issue_bench.CA_NAME)
            ca.template(issue_bench.PROFILE)
            events.clear()
            cpu0, t0 = time.process_time(), time.perf_counter()
            result = ca.issue_batch(csrs, profile=issue_bench.PROFILE)
            ws.store.wait_for_checkpoint()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            ws.close()
            assert result.issued_count == n
            busy.append(cpu / wall / cores)
            print(f"run {rep}: wall {wall * 1e3:6.1f} ms  cpu {cpu * 1e3:6.1f} ms  "
                  f"cores busy {cpu / wall / cores:4.0%}")  # fmt: skip
    print(f"median cores busy: {statistics.median(busy):.0%} of {cores}")
    print(f"\nlast run, ms from the start of issue_batch (total {wall * 1e3:.1f}):")
    for thread, name, start, end in sorted(events, key=lambda e: e[2]):
        print(f"  {thread:6s} {name:13s} {1e3 * (start - t0):7.1f} -> {1e3 * (end - t0):7.1f}"
              f"  ({1e3 * (end - start):5.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
