"""A damaged store is refused with one line, and nothing is issued or published from it
(issue 20 §3): a dropped table, a stored CA certificate that no longer verifies, pages
overwritten with garbage; ``audit verify`` names the bad record whatever the damage."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CsrFactory
from porthos.cli.main import main


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("integrity") / "w"
    assert CliRunner().invoke(main, ["init", "--workdir", str(w)]).exit_code == 0
    return w


@pytest.fixture
def work(pristine: Path, tmp_path: Path) -> Path:
    w = tmp_path / "w"
    shutil.copytree(pristine, w)
    return w


def _sql(work: Path, *statements: str) -> None:
    conn = sqlite3.connect(work / "porthos.sqlite")
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def _one_line_exit_2(args: list[str], *needles: str) -> str:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    for n in needles:
        assert n in r.output, r.output
    return r.output


def test_dropped_table(work: Path) -> None:
    _sql(work, "DROP TABLE revocations")
    _one_line_exit_2(["show", "-w", str(work)], "revocations", "missing", "store-integrity")


def test_flipped_ca_certificate_refused_before_issuing(
    work: Path, csr_factory: CsrFactory, tmp_path: Path
) -> None:
    conn = sqlite3.connect(work / "porthos.sqlite")
    der = bytearray(
        conn.execute("SELECT certificate FROM cas WHERE name='user-ca-1'").fetchone()[0]
    )
    conn.close()
    der[-3] ^= 0x40  # inside the signature: still parses, no longer verifies
    _sql(work, f"UPDATE cas SET certificate = x'{der.hex()}' WHERE name = 'user-ca-1'")
    csr = tmp_path / "r.der"
    csr.write_bytes(csr_factory.make([("CN", "Flip")]))
    out = tmp_path / "o.pem"
    _one_line_exit_2(
        ["issue", "-w", str(work), "-p", "user", "--csr", str(csr), "--out", str(out)],
        "user-ca-1",
        "does not verify",
    )
    assert not out.exists()


def test_garbage_pages(work: Path) -> None:
    db = work / "porthos.sqlite"
    for side in ("-wal", "-shm"):
        Path(str(db) + side).unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    page = 4096
    for at in range(page, len(data), page * 3):  # every third page after the header's
        data[at : at + 64] = b"\xa5" * 64
    db.write_bytes(bytes(data))
    _one_line_exit_2(["crl", "publish", "-w", str(work)], "damaged")


def test_not_a_store(work: Path) -> None:
    (work / "porthos.sqlite").write_bytes(b"\x00" * 4096)
    _one_line_exit_2(["show", "-w", str(work)], "not a porthos store")


def _tamper_audit(work: Path, statement: str) -> None:
    _sql(
        work,
        "DROP TRIGGER audit_no_update",
        "DROP TRIGGER audit_no_delete",
        statement,
    )


@pytest.mark.parametrize(
    ("statement", "needle"),
    [
        ("UPDATE audit SET details = CAST(x'fffe41' AS TEXT) WHERE seq = 2", "not valid UTF-8"),
        ("UPDATE audit SET details = 42 WHERE seq = 2", "do not match"),
        ("UPDATE audit SET time = 'noon' WHERE seq = 2", "record 2"),
    ],
)
def test_audit_verify_names_the_bad_record(work: Path, statement: str, needle: str) -> None:
    _tamper_audit(work, statement)
    r = CliRunner().invoke(main, ["audit", "verify", "-w", str(work)])
    assert r.exit_code == 1, r.output
    assert "first bad record: 2" in r.output and needle in r.output
    assert "Traceback" not in r.output
    # show still lists the trail, the damaged record as it is
    shown = CliRunner().invoke(main, ["audit", "show", "-w", str(work)])
    assert shown.exit_code == 0, shown.output


@pytest.mark.parametrize(
    "content", [b"\xff\x00garbage\n", b"[1, 2]\n", b'{"seq": "x"}\n', b"{not json\n"]
)
def test_audit_verify_of_a_garbage_export(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "export.jsonl"
    f.write_bytes(content)
    _one_line_exit_2(["audit", "verify", "--export", str(f)], "line 1", "not an audit record")


def test_user_text_cannot_drive_the_terminal(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An actor with ESC sequences, a forged line and rich markup is printed inert."""
    actor = "mallory\x1b[2J\x1b]0;pwned\x07\nseq 99 | forged\u202e[red]x"
    monkeypatch.setenv("PORTHOS_ACTOR", actor)
    r = CliRunner().invoke(main, ["crl", "publish", "-w", str(work)])
    assert r.exit_code == 0, r.output
    shown = CliRunner().invoke(main, ["audit", "show", "-w", str(work)], terminal_width=400)
    assert shown.exit_code == 0
    assert "\x1b" not in shown.output and "\x07" not in shown.output
    assert "\u202e" not in shown.output
    assert "\\x1b[2J" in shown.output and "[red]x" in shown.output
    assert not any(line.startswith("seq 99") for line in shown.output.splitlines())


def test_revocation_time_checked_against_not_before_and_last_crl(work: Path) -> None:
    """Issue 20 §3: a revocationDate before the certificate's notBefore, or before the
    CA's last CRL (which said the certificate was good then), is refused."""
    from porthos.exceptions import LifecycleError
    from porthos.workflows import crl_publication, revocation
    from porthos.workspace.workspace import Workspace

    with Workspace.open(work) as ws:
        ca = ws.ca("infrastructure-ca-1")
        nb = ca.not_before
        with pytest.raises(LifecycleError, match="before the certificate's notBefore") as info:
            revocation.revoke(ws, [ca.serial_hex], "cACompromise", requester="t", when=nb - 10)
        assert info.value.code == "lifecycle"
        t = nb + 1000
        crl_publication.publish(ws, ["root-ca-1"], now=t)
        with pytest.raises(LifecycleError, match="last CRL"):
            revocation.revoke(
                ws, [ca.serial_hex], "cACompromise", requester="t", when=t - 5, now=t + 10
            )
        revocation.revoke(ws, [ca.serial_hex], "cACompromise", requester="t", when=t, now=t + 10)
