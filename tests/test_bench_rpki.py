"""porthos bench rpki: the report's shape for both goals (issue 18 §6), small sizes,
through the CLI as a user runs it. Nothing here is timed against a threshold."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from porthos.cli.main import main


def _run(tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "rpki.json"
    result = CliRunner().invoke(main, ["bench", "rpki", *args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(out.read_text())
    assert json.loads(result.output) == report
    return report


def test_publish_report(tmp_path: Path) -> None:
    r = _run(tmp_path, "--n", "4", "--repeats", "2", "--threads", "1")
    assert (r["n"], r["raw_n"], r["repeats"], r["threads"]) == (4, 4, 2, 1)
    med = r["median_s"]
    assert isinstance(med, dict)
    # Publishing includes the pool fill and the signing; raw, keygen and signing.
    assert med["publish_s"] >= med["fill_s"] > 0 and med["raw_s"] >= med["raw_keygen_s"] > 0
    assert r["ratio_to_raw"] == med["raw_s"] / med["publish_s"]
    assert r["command"] == "porthos bench rpki --n 4 --repeats 2 --threads 1"
    assert r["rpkimancer"] is None and int(r["peak_rss_kib"]) > 0  # type: ignore[call-overload]


def test_publish_report_with_a_raw_sample(tmp_path: Path) -> None:
    """--raw-n: the yardstick measured on fewer objects and scaled to --n (a 100,000-ROA
    run), said in the report and in the command that repeats it."""
    r = _run(tmp_path, "--n", "6", "--raw-n", "2", "--repeats", "1", "--threads", "1")
    assert (r["n"], r["raw_n"]) == (6, 2)
    med = r["median_s"]
    assert isinstance(med, dict) and med["raw_s"] >= med["raw_keygen_s"] > 0
    assert r["ratio_to_raw"] == med["raw_s"] / med["publish_s"]
    assert r["command"] == "porthos bench rpki --n 6 --repeats 1 --threads 1 --raw-n 2"


def test_reissue_report(tmp_path: Path) -> None:
    r = _run(tmp_path, "--reissue", "--objects", "300", "--revoked", "5", "--repeats", "3")
    assert (r["objects"], r["crl_entries"], r["goal_ms"]) == (300, 8, 50)
    runs = r["incremental_ms_runs"]
    assert isinstance(runs, list) and len(runs) == 3 and all(x > 0 for x in runs)
    # 300 entries of ~45 octets each are in the manifest, and the CRL has 8 entries.
    assert int(r["manifest_bytes"]) > 300 * 45 and int(r["crl_bytes"]) > 8 * 20  # type: ignore[call-overload]
    assert r["command"] == "porthos bench rpki --reissue --objects 300 --revoked 5 --repeats 3"
