"""Issuing commands check their outputs before committing, and a batch can be delivered
again by its id (issue 20 §2)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CsrFactory
from cryptography import x509
from porthos.cli.main import main


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("outputs") / "w"
    assert CliRunner().invoke(main, ["init", "--workdir", str(w)]).exit_code == 0
    return w


def _certs(work: Path) -> int:
    with sqlite3.connect(work / "porthos.sqlite") as conn:
        return int(conn.execute("SELECT count(*) FROM certificates").fetchone()[0])


def _issue(work: Path, csr: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(
        main,
        ["issue", "-w", str(work), "-p", "user", "--csr", str(csr), "--out", str(out), *extra],
    )


@pytest.mark.parametrize(
    "case", ["out-is-csr", "out-is-report", "missing-folder", "out-is-folder"]
)
def test_bad_outputs_refused_before_anything_is_stored(
    work: Path, csr_factory: CsrFactory, tmp_path: Path, case: str
) -> None:
    csr = tmp_path / "r.pem"
    csr.write_text(csr_factory.pem([("CN", "Out Check")]))
    out, extra = tmp_path / "out.pem", []
    if case == "out-is-csr":
        out = csr
    elif case == "out-is-report":
        extra = ["--report", str(out)]
    elif case == "missing-folder":
        out = tmp_path / "nowhere" / "out.pem"
    else:
        out = tmp_path
    before = _certs(work)
    r = _issue(work, csr, out, *extra)
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    # One line of porthos's own, or click's usage error for a folder given as a file.
    lines = r.output.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 or (case == "out-is-folder" and "is a directory" in lines[-1])
    assert _certs(work) == before
    assert csr.read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")


def test_batch_id_and_export(work: Path, csr_factory: CsrFactory, tmp_path: Path) -> None:
    csr = tmp_path / "r.pem"
    csr.write_text(
        csr_factory.pem([("CN", "Export A")]) + csr_factory.pem([("CN", "Export B")], slot=1)
    )
    r = _issue(work, csr, tmp_path / "out.pem")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    batch = re.search(r"batch (\d+)", r.output)  # type: ignore[attr-defined]
    assert batch is not None
    again = tmp_path / "again.pem"
    r = CliRunner().invoke(
        main, ["export", "-w", str(work), "--batch", batch.group(1), "--out", str(again)]
    )
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == (tmp_path / "out.pem").read_bytes()
    assert len(x509.load_pem_x509_certificates(again.read_bytes())) == 2


def test_export_of_no_batch_refused(work: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["export", "-w", str(work), "--batch", "1", "--out", str(tmp_path / "x.pem")]
    )
    assert r.exit_code == 2 and "no issued batch 1" in r.output
    assert not (tmp_path / "x.pem").exists()


def test_porthos_issue_enforces_unique_names_from_the_data(
    work: Path, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    """porthos.toml says names are unique (000 §3.1): porthos issue refuses a second key
    for a subject a valid certificate holds (it did not, while docs/ra.md said so)."""
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    first.write_text(csr_factory.pem([("CN", "Unique Uma")]))
    second.write_text(csr_factory.pem([("CN", "Unique Uma")], slot=3))
    assert _issue(work, first, tmp_path / "o1.pem").exit_code == 0  # type: ignore[attr-defined]
    before = _certs(work)
    r = _issue(work, second, tmp_path / "o2.pem")
    assert r.exit_code == 3, r.output  # type: ignore[attr-defined]
    assert "names are unique (§3.1)" in r.output  # type: ignore[attr-defined]
    assert _certs(work) == before
    # The same key again is not a second holder.
    again = tmp_path / "c.pem"
    again.write_text(csr_factory.pem([("CN", "Unique Uma")]))
    assert _issue(work, again, tmp_path / "o3.pem").exit_code == 0  # type: ignore[attr-defined]


def test_unique_names_is_data(tmp_path: Path) -> None:
    from porthos.cpcps.loader import load_profile_set, parse_profile_set, profile_set_text

    assert load_profile_set().ra.unique_names == "3.1"
    text, _ = profile_set_text("porthos")
    off = text.replace('unique_names = { section = "3.1" }\n', "")
    assert parse_profile_set(off, "prod").ra.unique_names is None
