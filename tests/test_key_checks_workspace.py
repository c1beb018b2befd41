"""A workspace CA whose key file is not its certificate's key signs nothing (issue 20 §2):
``issue`` and ``crl publish`` exit 2 with one line, and nothing is stored or written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CsrFactory
from porthos.cli.main import main


@pytest.fixture
def swapped(tmp_path: Path) -> Path:
    """A workspace whose user CA key file holds the infrastructure CA's key (a restore
    from the wrong backup)."""
    work = tmp_path / "w"
    r = CliRunner().invoke(main, ["init", "--workdir", str(work)])
    assert r.exit_code == 0, r.output
    keys = work / "keys"
    (keys / "user-ca-1.p8").write_bytes((keys / "infrastructure-ca-1.p8").read_bytes())
    return work


def _count(work: Path, sql: str) -> int:
    with sqlite3.connect(work / "porthos.sqlite") as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_issue_refused(swapped: Path, csr_factory: CsrFactory, tmp_path: Path) -> None:
    (tmp_path / "one.der").write_bytes(csr_factory.make([("CN", "Anna")]))
    before = _count(swapped, "SELECT count(*) FROM certificates")
    r = CliRunner().invoke(
        main,
        ["issue", "-w", str(swapped), "-p", "user", "--csr", str(tmp_path / "one.der"),
         "--out", str(tmp_path / "out.pem")],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "user-ca-1" in r.output and "is not the key of its certificate" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert _count(swapped, "SELECT count(*) FROM certificates") == before
    assert not (tmp_path / "out.pem").exists()


def test_crl_publish_refused(swapped: Path) -> None:
    crls = "SELECT count(*) FROM crls WHERE ca_name = 'user-ca-1'"
    before = _count(swapped, crls)
    r = CliRunner().invoke(main, ["crl", "publish", "-w", str(swapped), "--ca", "user-ca-1"])
    assert r.exit_code == 2, r.output
    assert "is not the key of its certificate" in r.output
    assert _count(swapped, crls) == before
    assert not list((swapped / "repository").rglob("user-ca-1*.crl"))


def test_other_cas_still_work(swapped: Path, csr_factory: CsrFactory, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["crl", "publish", "-w", str(swapped), "--ca", "infrastructure-ca-1"]
    )
    assert r.exit_code == 0, r.output
