"""Where a one-thread ``issue_batch`` loses time beside its signer (issues 16 §5, 21 §8).

    .venv/bin/python benches/issue_signer_gaps.py CPCPS PROFILE [N] [REPEATS] [--bare-after]

CPCPS is a bundled CP/CPS name or a TOML path with demo.toml beside it (e.g. the RSA-2048
variant of tests/carillon_support.py). Per batch (N requests, default 10,000; REPEATS,
default 5), against bare signing of N messages with the same CA key on one thread,
prints: the wall time; the signer's calls added up (``signers.sign_filled``, what
``threads=1`` streams through); the time before its first call; the gaps between its
calls; and the time after its last call up to the return plus the WAL checkpoint wait.

On Linux it also prints, from each thread's /proc schedstat, the CPU time and the
run-queue wait (runnable, but another thread had the core) of the signer's thread, the
verifier's and the caller's: the signer's CPU against bare signing is the extra work of
signing certificates (a longer TBS hashed, the certificate assembled), its run-queue
wait what the other threads cost it. With threads=1 each stage runs on its own thread
(threads.rs ``Place``), so these are the whole stages.

Bare signing runs just before each batch, as ``porthos bench issue`` runs its variants
one after the other, so each batch starts with the caches the signing left it.
``--bare-after`` signs after the batch instead: each batch then follows the previous
one, with its code and data warm, and the time before the first call shows what the
cold start costs.

The calls are timed by wrapping the module function, a few µs each; use ``porthos bench
issue`` for the ratios to quote and this script to see where the rest goes.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from porthos import _native
from porthos.bench.issue_target import Target, fresh_ca, make_profile_csrs, prepare, ra_data
from porthos.issuance import pipeline, signers

_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _cpu_and_wait() -> tuple[float, float]:
    """(CPU, run-queue wait) seconds of the calling thread so far; zeros where the kernel
    does not say."""
    try:
        cpu, wait, _ = _SCHEDSTAT.read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(cpu) / 1e9, int(wait) / 1e9


def _measure_stage_threads(seen: dict[str, tuple[float, float]]) -> None:
    """Record each StageWorker thread's CPU and run-queue wait (its whole life: one
    batch) in ``seen``, under "signer" or "verifier"."""
    run = pipeline.StageWorker._run

    def measured(self: Any, signs: bool, parses: bool) -> None:
        cpu0, wait0 = _cpu_and_wait()
        try:
            run(self, signs, parses)
        finally:
            cpu1, wait1 = _cpu_and_wait()
            seen["signer" if signs else "verifier"] = (cpu1 - cpu0, wait1 - wait0)

    pipeline.StageWorker._run = measured  # type: ignore[method-assign]


def main(cpcps: str, profile: str, n: int, repeats: int, bare_after: bool = False) -> None:
    calls: list[tuple[float, float]] = []
    sign_filled = signers.sign_filled

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return sign_filled(*args, **kwargs)
        finally:
            calls.append((start, time.perf_counter()))

    signers.sign_filled = timed  # type: ignore[assignment]
    threads: dict[str, tuple[float, float]] = {}
    _measure_stage_threads(threads)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="porthos-gaps-") as tmp:
        d = Path(tmp)
        target = prepare(Target(cpcps, profile), d)
        csrs = make_profile_csrs(target, n)
        ra = ra_data(target, n)
        for rep in range(repeats):
            ws, ca = fresh_ca(target, d, f"r{rep}")
            bare = 0.0 if bare_after else _native.bench_sign_key(ca.key, n, 1)
            calls.clear()
            threads.clear()
            main0 = _cpu_and_wait()
            t0 = time.perf_counter()
            result = ca.issue_batch(csrs, profile, threads=1, ra_data=ra)
            ws.store.wait_for_checkpoint()
            t1 = time.perf_counter()
            main1 = _cpu_and_wait()
            if bare_after:
                bare = _native.bench_sign_key(ca.key, n, 1)
            ws.close()
            assert result.issued_count == n, result.reasons[:3]
            signing = sum(b - a for a, b in calls)
            gaps = sum(calls[i + 1][0] - calls[i][1] for i in range(len(calls) - 1))
            ratios.append((t1 - t0) / bare)
            print(
                f"batch {1e3 * (t1 - t0):7.1f} ms  bare {1e3 * bare:7.1f} ms  "
                f"signer's calls {1e3 * signing:7.1f} ms ({signing / bare:.3f}x bare)  "
                f"before the first {1e3 * (calls[0][0] - t0):5.1f} ms  "
                f"gaps {1e3 * gaps:5.1f} ms  after the last {1e3 * (t1 - calls[-1][1]):5.1f} ms"
            )
            if "signer" in threads:
                (scpu, swait), (vcpu, vwait) = threads["signer"], threads.get("verifier", (0, 0))
                print(
                    f"    signer's thread CPU {1e3 * scpu:7.1f} ms ({scpu / bare:.3f}x bare), "
                    f"run-queue wait {1e3 * swait:5.1f} ms; verifier CPU {1e3 * vcpu:6.1f} ms, "
                    f"wait {1e3 * vwait:5.1f} ms; caller CPU {1e3 * (main1[0] - main0[0]):6.1f} "
                    f"ms, wait {1e3 * (main1[1] - main0[1]):5.1f} ms"
                )
    print(f"batch / bare: median {statistics.median(ratios):.3f} of {repeats}")


if __name__ == "__main__":
    main(
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]) if len(sys.argv) > 3 else 10_000,
        int(sys.argv[4]) if len(sys.argv) > 4 else 5,
        "--bare-after" in sys.argv[5:],
    )
