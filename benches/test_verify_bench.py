"""pytest-benchmark suite for batch verification (issue 3; not collected by
``make test``: testpaths = tests).

Run:  .venv/bin/pytest benches/test_verify_bench.py --benchmark-enable
N defaults to 5,000 (BENCH_N to change). The headline ratios against openssl speed
and pyca come from ``porthos bench verify --n 100000 --json OUT`` (docs/verify.md).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import porthos
import pytest
from porthos.bench import verify as bench

N = int(os.environ.get("BENCH_N", "5000"))


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    csrs = bench.make_csrs(N)
    spkis, infos, sigs = bench.triples(csrs)
    return {"csrs": csrs, "spkis": spkis, "infos": infos, "sigs": sigs}


def _packed(items: list[bytes]) -> tuple[bytes, Any]:
    return b"".join(items), np.cumsum([0] + [len(x) for x in items], dtype=np.int64)


@pytest.mark.parametrize("threads", [1, None], ids=["1-thread", "all-cores"])
def test_verify_signatures(benchmark: Any, data: dict[str, Any], threads: int | None) -> None:
    out = benchmark(
        porthos.verify_signatures,
        "ecdsa-sha256",
        data["spkis"],
        data["infos"],
        data["sigs"],
        threads=threads,
    )
    assert out.all()


@pytest.mark.parametrize("threads", [1, None], ids=["1-thread", "all-cores"])
def test_verify_csrs(benchmark: Any, data: dict[str, Any], threads: int | None) -> None:
    status, _ = benchmark(porthos.verify_csrs, data["csrs"], threads=threads)
    assert not status.any()


def test_verify_csrs_packed(benchmark: Any, data: dict[str, Any]) -> None:
    packed = _packed(data["csrs"])
    status, _ = benchmark(porthos.verify_csrs, packed, threads=1)
    assert not status.any()


def test_pyca_load_and_verify(benchmark: Any, data: dict[str, Any]) -> None:
    from cryptography import x509

    def run() -> int:
        return sum(x509.load_der_x509_csr(d).is_signature_valid for d in data["csrs"])

    assert benchmark(run) == N
