"""Where the time of one-thread issuance goes for a CP/CPS profile (issue 16 §5):
issue_batch(threads=1) against bare signing with the same CA key, parse+verify alone,
then a cProfile of one issue_batch.

    .venv/bin/python benches/issue_profile.py CPCPS PROFILE [N]

CPCPS is a bundled CP/CPS name or a TOML path with demo.toml beside it (e.g. the RSA-2048
variant of tests/carillon_support.py)."""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from porthos import _native
from porthos.bench.issue_target import Target, fresh_ca, make_profile_csrs, prepare, ra_data


def main(cpcps: str, profile: str, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="porthos-profile-") as tmp:
        d = Path(tmp)
        target = prepare(Target(cpcps, profile), d)
        csrs = make_profile_csrs(target, n)
        ra = ra_data(target, n)  # the SANs the profile requires come from the RA
        for rep in range(3):
            ws, ca = fresh_ca(target, d, f"r{rep}")
            bare = _native.bench_sign_key(ca.key, n)
            t0 = time.perf_counter()
            result = ca.issue_batch(csrs, profile, threads=1, ra_data=ra)
            ws.store.wait_for_checkpoint()
            issue = time.perf_counter() - t0
            t0 = time.perf_counter()
            _native.parse_csrs(csrs, threads=1)
            parse = time.perf_counter() - t0
            assert result.issued_count == n, result.reasons[:3]
            print(f"issue {issue:.3f} s, bare {bare:.3f} s: {issue / bare:.3f}x; "
                  f"parse+verify {parse:.3f} s")  # fmt: skip
            ws.close()
        ws, ca = fresh_ca(target, d, "profile")
        prof = cProfile.Profile()
        prof.enable()
        ca.issue_batch(csrs, profile, threads=1, ra_data=ra)
        prof.disable()
        ws.close()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
