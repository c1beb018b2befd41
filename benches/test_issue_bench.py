"""pytest-benchmark suite for issuance (not collected by `make test`: testpaths = tests).

Run:  .venv/bin/pytest benches --benchmark-enable [--benchmark-json bench-results/pytest.json]
N defaults to 2,000 here (BENCH_N to change); the headline numbers with the peer and the
ratios come from `make bench` (porthos bench issue), see benches/README.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from porthos.bench import issue as bench

N = int(os.environ.get("BENCH_N", "2000"))


@pytest.fixture(scope="module")
def csrs() -> list[bytes]:
    return bench.make_csrs(N)


@pytest.fixture
def ca(tmp_path: Path) -> Iterator[Any]:
    ws, ca = bench._fresh_ca(tmp_path, "pytest")
    yield ca
    ws.close()


@pytest.mark.parametrize("threads", [1, None], ids=["1-thread", "all-cores"])
def test_issue_batch(benchmark: Any, ca: Any, csrs: list[bytes], threads: int | None) -> None:
    # Every round issues the same N requests again: new serials, so the store accepts them.
    result = benchmark.pedantic(
        ca.issue_batch,
        args=(csrs,),
        kwargs={"profile": bench.PROFILE, "threads": threads},
        rounds=3,
        iterations=1,
    )
    assert result.issued_count == N


def test_peer_pyca(benchmark: Any, tmp_path: Path, csrs: list[bytes]) -> None:
    # Includes the peer's untimed setup (a workspace init, ~tens of ms); for the exact
    # figure use `porthos bench issue`, which times the peer's loop alone.
    rounds = iter(range(100))
    seconds = benchmark.pedantic(
        lambda: bench._peer(csrs, tmp_path, next(rounds)), rounds=3, iterations=1
    )
    assert seconds > 0


def test_fill_sign(benchmark: Any, ca: Any, csrs: list[bytes]) -> None:
    # Template.issue alone (fill + sign, one thread); inputs are prepared untimed.
    tpl, key, kwargs = bench.fill_sign_inputs(csrs, ca)
    out = benchmark.pedantic(tpl.issue, args=(key,), kwargs=kwargs, rounds=3, iterations=1)
    assert len(out) == N
