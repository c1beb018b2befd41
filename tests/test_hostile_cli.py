"""Every door that reads a file, fed hostile files (issue 20 §3): binary garbage, an
empty file, text that is not UTF-8, a PEM bomb of BEGIN lines, a truncated DER, a
folder. Each ends with exit 2 (or 3: a per-item refusal for a batch) and one line of
porthos's own, never a traceback, and the store is unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from porthos.cli.main import main

HOSTILE = {
    "binary": bytes(range(256)) * 8,
    "empty": b"",
    "latin1": "Zoë, café\n".encode("latin-1") * 20,
    "pem-bomb": b"-----BEGIN CERTIFICATE REQUEST-----\n" * 20_000,
    "bad-base64": (
        b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n"
    ),
    "truncated-der": b"\x30\x82\x10\x00\x30\x82",
    "json-garbage": b'{"serial": [1, 2',
}

# Each door with FILE where the hostile file goes and W for the workspace.
DOORS = [
    ["verify-csrs", "FILE"],
    ["crl", "inspect", "FILE"],
    ["crl", "diff", "FILE", "FILE"],
    ["audit", "verify", "--export", "FILE"],
    ["issue", "-w", "W", "-p", "user", "--csr", "FILE", "--out", "OUT"],
    ["issue", "-w", "W", "-p", "user", "--csr", "REQ", "--out", "OUT", "--ra-data", "FILE"],
    ["issue", "-w", "W", "-p", "user", "--csr", "REQ", "--out", "OUT", "--transactions", "FILE"],
    ["ra", "issue-user", "-w", "W", "--agent", "a", "--csr", "FILE", "--out", "OUT"],
    ["ra", "issue-infra", "-w", "W", "-p", "tls-server", "--aor", "x", "--csr", "FILE",
     "--out", "OUT"],
    ["ra", "register-csr", "-w", "W", "--agent", "a", "--csr", "FILE"],
    ["ra", "issue-ha", "-w", "W", "--cms", "FILE", "--out", "OUT"],
    ["ra", "rekey", "-w", "W", "--cms", "FILE", "--out", "OUT"],
    ["ra", "allow-chips", "-w", "W", "FILE"],
]  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("hostile") / "w"
    assert CliRunner().invoke(main, ["init", "--workdir", str(w)]).exit_code == 0
    return w


def _rows(work: Path) -> tuple[int, ...]:
    with sqlite3.connect(work / "porthos.sqlite") as conn:
        return tuple(
            int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("certificates", "revocations", "transactions", "chip_allowlist")
        )


@pytest.mark.parametrize(
    "door", DOORS, ids=lambda d: " ".join(a for a in d if a.isalpha() or "-" in a)[:40]
)
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_file_one_line(
    work: Path, tmp_path: Path, door: list[str], kind: str, csr_pem: bytes
) -> None:
    hostile = tmp_path / f"hostile-{kind}"
    hostile.write_bytes(HOSTILE[kind])
    req = tmp_path / "req.pem"
    req.write_bytes(csr_pem)
    args = [
        {
            "FILE": str(hostile),
            "W": str(work),
            "OUT": str(tmp_path / "out.pem"),
            "REQ": str(req),
        }.get(a, a)
        for a in door
    ]
    before = _rows(work)
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (1, 2, 3), (r.exit_code, r.output)
    assert "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    if r.exit_code == 2 and not r.output.startswith("Usage:"):
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1, r.output
    assert _rows(work) == before


def test_a_folder_where_a_file_belongs(work: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["verify-csrs", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output


@pytest.fixture(scope="module")
def csr_pem() -> bytes:
    from conftest import CsrFactory

    return CsrFactory().pem([("CN", "Hostile Holly")]).encode()
