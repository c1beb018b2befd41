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


def test_a_batch_whose_sample_does_not_verify_is_not_stored(
    tmp_path: Path, csr_factory: CsrFactory
) -> None:
    """A signer that goes wrong after its key was checked (an HSM fault) signs a batch
    that does not verify: the first certificate is checked before anything is stored."""
    from porthos import _native
    from porthos.exceptions import SigningError
    from porthos.workspace.workspace import Workspace

    work = tmp_path / "w"
    assert CliRunner().invoke(main, ["init", "--workdir", str(work)]).exit_code == 0
    before = _count(work, "SELECT count(*) FROM certificates")
    with Workspace.open(work) as ws:
        ca = ws.ca("user-ca-1")
        ca._key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")  # not its key
        with pytest.raises(SigningError, match="does not verify") as info:
            ca.issue_batch([csr_factory.make([("CN", "Sample")])], "user")
        assert info.value.code == "signing"
    assert _count(work, "SELECT count(*) FROM certificates") == before
