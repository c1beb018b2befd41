"""Serials reserved by the database before they are signed (issue 19 §3; schema 9,
store/serial_reservations.py), on SQLite and on the session's PostgreSQL server, and
on Dask: two issuing processes at once, a forced collision through the CSPRNG seam, a
worker killed while it holds reservations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from porthos.bench.issue import make_csrs
from porthos.exceptions import StoreError
from porthos.issuance.csr_input import der_to_pem
from porthos.issuance.serials import generate_serials
from porthos.store import audit, serial_reservations
from porthos.store.serial_reservations import ReservedSerials
from porthos.workspace.workspace import Workspace

CA = "ha-device-ca-1"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    store = pw = None
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        store, pw = request.getfixturevalue("pg_url"), server.password_file
    w = Workspace.init(tmp_path / "ws", "nonprod", store=store, store_password_file=pw)
    try:
        yield w
    finally:
        w.close()


def _states(ws: Workspace, batch: str | None = None) -> dict[str, str]:
    sql = "SELECT serial_hex, state FROM serial_reservations"
    rows = ws.store.conn.execute(sql + (" WHERE batch = ?" if batch else ""),
                                 (batch,) if batch else ()).fetchall()  # fmt: skip
    return {str(s): str(st) for s, st in rows}


def _serial_hex(der: bytes) -> str:
    return format(x509.load_der_x509_certificate(der).serial_number, "032x")


def test_reserved_batch_signs_only_its_serials_and_consumes_them(ws: Workspace) -> None:
    csrs = make_csrs(6)
    csrs[2] = csrs[2][:-5]  # refused: its serial ends void
    reserved = ReservedSerials.reserve(ws.store, CA, 6, now=1, draw=generate_serials)
    held = set(serial_reservations._texts(reserved._serials))
    # 16 octets, the first 0x01..0x7f (positive, minimal: RFC 5280 §4.1.2.2)
    assert len(held) == 6 and all(len(s) == 32 and 1 <= int(s[:2], 16) <= 0x7F for s in held)
    res = ws.ca(CA).issue_batch(csrs, "ha-device", reserved=reserved)
    issued = {_serial_hex(d) for _, d in res.issued()}
    assert len(issued) == 5 and issued <= held
    states = _states(ws, reserved.batch)
    assert {s for s, st in states.items() if st == "issued"} == issued
    assert [st for s, st in states.items() if s not in issued] == ["void"]
    assert audit.verify(ws.store).ok


def test_forced_collision_is_drawn_again_before_signing(ws: Workspace) -> None:
    """The CSPRNG seam gives a serial another batch reserved and one a certificate
    issued without reservation carries: both are drawn again; neither is signed."""
    taken = ReservedSerials.reserve(ws.store, CA, 1, now=1, draw=generate_serials)
    issued_before = ws.ca(CA).issue_batch(make_csrs(1), "ha-device")
    old_cert = _serial_hex(next(d for _, d in issued_before.issued()))
    forced = np.concatenate(
        [taken._serials, np.frombuffer(bytes.fromhex(old_cert), np.uint8).reshape(1, 16)]
    )
    calls: list[int] = []

    def draw(n: int) -> Any:
        calls.append(n)
        return forced if len(calls) == 1 else generate_serials(n)

    reserved = ReservedSerials.reserve(ws.store, CA, 2, now=1, draw=draw)
    assert calls == [2, 2]  # both candidates collided: a second draw of two
    mine = set(serial_reservations._texts(reserved._serials))
    assert not mine & {old_cert, *serial_reservations._texts(taken._serials)}
    res = ws.ca(CA).issue_batch(make_csrs(2), "ha-device", reserved=reserved)
    signed = {_serial_hex(d) for _, d in res.issued()}
    assert signed == mine
    # The other batch's reservation is untouched; each serial is in the store once.
    assert _states(ws, taken.batch) == {serial_reservations._texts(taken._serials)[0]: "reserved"}
    n = ws.store.conn.execute(
        "SELECT count(*), count(DISTINCT serial_hex) FROM certificates WHERE ca_name = ?", (CA,)
    ).fetchone()
    assert int(n[0]) == int(n[1]) == 3


def test_a_broken_source_is_refused_and_nothing_reserved(ws: Workspace) -> None:
    taken = ReservedSerials.reserve(ws.store, CA, 1, now=1, draw=generate_serials)
    with pytest.raises(StoreError) as info:
        ReservedSerials.reserve(ws.store, CA, 1, now=1, draw=lambda n: taken._serials)
    assert info.value.code == "store"
    assert len(_states(ws)) == 1


def test_a_serial_the_batch_did_not_reserve_is_not_stored(ws: Workspace) -> None:
    """The commit refuses a certificate whose serial is not one of the batch's
    reservations: nothing of the batch is stored."""
    reserved = ReservedSerials.reserve(ws.store, CA, 2, now=1, draw=generate_serials)
    other = ReservedSerials.reserve(ws.store, CA, 2, now=1, draw=generate_serials)
    reserved._serials = other._serials  # signs serials of another batch
    before = ws.store.count_certificates()
    with pytest.raises(StoreError) as info:
        ws.ca(CA).issue_batch(make_csrs(2), "ha-device", reserved=reserved)
    assert "not reserved by it" in str(info.value)
    assert ws.store.count_certificates() == before
    assert set(_states(ws, other.batch).values()) == {"reserved"}


def test_more_serials_than_reserved_is_refused(ws: Workspace) -> None:
    reserved = ReservedSerials.reserve(ws.store, CA, 1, now=1, draw=generate_serials)
    before = ws.store.count_certificates()
    with pytest.raises(StoreError):
        ws.ca(CA).issue_batch(make_csrs(2), "ha-device", reserved=reserved)
    assert ws.store.count_certificates() == before


# -- Dask on PostgreSQL ------------------------------------------------------------------

distributed = pytest.importorskip("distributed")


def _pythonpath() -> str:
    import porthos

    return str(Path(porthos.__file__).parent.parent)


@pytest.fixture
def pg_ws(pg_server: Any, pg_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    Workspace.init(path, "nonprod", store=pg_url,
                   store_password_file=pg_server.password_file).close()  # fmt: skip
    return path


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from porthos.workflows.dask_crl import cluster_client

    with cluster_client(None, 2) as c:
        yield c


@pytest.mark.postgresql
def test_two_concurrent_dask_issuers_no_duplicate(
    pg_ws: Path, client: Any, tmp_path: Path
) -> None:
    """Two `porthos issue --executor dask` processes at once on one cluster, 60 requests
    each in chunks of 10: every serial once, every reservation consumed (issued), audit
    verify passes."""
    n = 60
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    procs = []
    for k in (1, 2):
        pem = tmp_path / f"r{k}.pem"
        pem.write_text("".join(der_to_pem(d, "CERTIFICATE REQUEST") for d in make_csrs(n)))
        argv = [sys.executable, "-m", "porthos.cli.main", "issue", "-w", str(pg_ws), "-p",
                "ha-device", "--csr", str(pem), "--out", str(tmp_path / f"o{k}.pem"),
                "--executor", "dask", "--scheduler", client.scheduler.address,
                "--chunk", "10"]  # fmt: skip
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, out + err
    serials = [
        format(c.serial_number, "032x")
        for k in (1, 2)
        for c in x509.load_pem_x509_certificates((tmp_path / f"o{k}.pem").read_bytes())
    ]
    assert len(serials) == len(set(serials)) == 2 * n
    with Workspace.open(pg_ws) as ws:
        states = _states(ws)
        assert states == dict.fromkeys(serials, "issued")
        batches = ws.store.conn.execute(
            "SELECT count(DISTINCT batch) FROM serial_reservations"
        ).fetchone()
        assert int(batches[0]) == 12  # one reservation per chunk
    rc = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", "audit", "verify", "-w", str(pg_ws)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert rc.returncode == 0, rc.stdout + rc.stderr


@pytest.mark.postgresql
def test_killed_worker_leaves_burned_reservations(
    pg_ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker issuing chunk 0 is killed (SIGKILL) after it reserved its serials,
    before it signed: the reservations stay (burned, state reserved), Dask runs the
    chunk again on another worker, which reserves and issues new serials."""
    from porthos.workflows.dask_crl import cluster_client
    from porthos.workflows.dask_issue import STALL_ENV, issue_chunks

    stall = tmp_path / "stalled.pid"
    monkeypatch.setenv(STALL_ENV, f"{stall}:0:60")  # the workers inherit it
    csrs = make_csrs(20)
    results: list[Any] = []
    errors: list[BaseException] = []
    with cluster_client(None, 2) as c, Workspace.open(pg_ws) as ws:

        def run() -> None:
            try:
                results.extend(issue_chunks(ws, csrs, "ha-device", client=c, chunk=10))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        deadline = time.monotonic() + 60
        while not (stall.is_file() and stall.read_text()):
            assert time.monotonic() < deadline, "no worker stalled on chunk 0"
            time.sleep(0.05)
        os.kill(int(stall.read_text()), signal.SIGKILL)
        t.join(120)
        assert not t.is_alive() and not errors, errors
        issued = [format(x509.load_der_x509_certificate(d).serial_number, "032x")
                  for r in results for _, d in r.issued]  # fmt: skip
        assert len(issued) == len(set(issued)) == 20
        states = _states(ws)
        burned = {s for s, st in states.items() if st == "reserved"}
        assert len(burned) == 10  # the killed worker's chunk: reserved, never signed
        assert not burned & set(issued)
        assert {s for s, st in states.items() if st == "issued"} == set(issued)
        assert ws.store.count_certificates() == 20
        assert audit.verify(ws.store).ok
