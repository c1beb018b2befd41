"""Where a one-thread ``issue_batch`` loses time beside its signer (issues 16 §5, 21 §8).

    .venv/bin/python benches/issue_signer_gaps.py CPCPS PROFILE [N] [REPEATS]

CPCPS is a bundled CP/CPS name or a TOML path with demo.toml beside it (e.g. the RSA-2048
variant of tests/carillon_support.py). Per batch (N requests, default 10,000; REPEATS,
default 5), against bare signing of N messages with the same CA key on one thread,
prints: the wall time; the signer's calls added up (``signers.sign_filled``, what
``threads=1`` streams through); the time before its first call; the gaps between its
calls; and the time after its last call up to the return plus the WAL checkpoint wait.

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
from porthos.issuance import signers


def main(cpcps: str, profile: str, n: int, repeats: int) -> None:
    calls: list[tuple[float, float]] = []
    sign_filled = signers.sign_filled

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return sign_filled(*args, **kwargs)
        finally:
            calls.append((start, time.perf_counter()))

    signers.sign_filled = timed  # type: ignore[assignment]
    ratios = []
    with tempfile.TemporaryDirectory(prefix="porthos-gaps-") as tmp:
        d = Path(tmp)
        target = prepare(Target(cpcps, profile), d)
        csrs = make_profile_csrs(target, n)
        ra = ra_data(target, n)
        for rep in range(repeats):
            ws, ca = fresh_ca(target, d, f"r{rep}")
            bare = _native.bench_sign_key(ca.key, n, 1)
            calls.clear()
            t0 = time.perf_counter()
            result = ca.issue_batch(csrs, profile, threads=1, ra_data=ra)
            ws.store.wait_for_checkpoint()
            t1 = time.perf_counter()
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
    print(f"batch / bare: median {statistics.median(ratios):.3f} of {repeats}")


if __name__ == "__main__":
    main(
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]) if len(sys.argv) > 3 else 10_000,
        int(sys.argv[4]) if len(sys.argv) > 4 else 5,
    )
