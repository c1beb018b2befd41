"""porthos bench issue: the report's shape, interleaved repeats, worker failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from porthos.bench import issue as bench


def test_bench_issue_smoke(tmp_path: Path) -> None:
    out = tmp_path / "issue.json"
    report = bench.run(n=40, repeats=2, threads=None, json_out=str(out))
    assert json.loads(out.read_text())["n"] == 40
    for name in (*bench.VARIANTS, "bare_sign"):
        v = report["variants"][name]
        assert len(v["repeats_s"]) == 2 and all(s > 0 for s in v["repeats_s"]), name
        # Each variant ran in its own process: its own peak, at least its setup RSS.
        assert v["peak_rss_kib"] >= v["rss_after_setup_kib"] > 0, name
        # CPU time of the same timed window beside the wall time (issue 16 §5).
        assert len(v["cpu_repeats_s"]) == 2 and all(c > 0 for c in v["cpu_repeats_s"]), name
    assert set(report["ratios"]) == {
        "porthos_1t_over_peer_speedup",
        "porthos_all_over_peer_speedup",
        "fill_sign_over_bare",
        "porthos_1t_cpu_over_bare_sign_cpu",
    }
    assert report["ratios"]["porthos_1t_cpu_over_bare_sign_cpu"] > 0
    assert len(report["load_average_per_round"]) == 2
    assert "interleaved" in report["notes"]


def test_bench_worker_failure_names_the_variant(tmp_path: Path) -> None:
    csrs = tmp_path / "csrs.bin"
    bench._write_csrs(csrs, bench.make_csrs(2))
    worker = bench._Worker("no-such-variant", csrs, None, tmp_path / "w.log")
    try:
        # No .code (RuntimeError): naming the failed variant is what this test checks.
        with pytest.raises(
            RuntimeError, match="(?s)bench worker no-such-variant failed.*unknown variant"
        ):
            worker.run()
    finally:
        worker.kill()
