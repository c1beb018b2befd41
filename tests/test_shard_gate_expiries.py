"""The shard gate (workspace/shard_publication.py) reads the expiries of the serials a
new shard CRL drops with one query per chunk of serials
(store/revocations.py ``certificate_expiries``), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography import x509
from porthos.bench.issue import make_csrs
from porthos.store import revocations
from porthos.workspace.workspace import Workspace

CA = "ha-device-ca-1"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def test_certificate_expiries_reads_in_chunks(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """More serials than one chunk (SQLite bounds the parameters of a query): every
    stored spelling found with its notAfter, absent ones left out, duplicates once."""
    pg = backend == "postgresql"
    store = request.getfixturevalue("pg_server").workspace_store() if pg else {}
    ws = Workspace.init(tmp_path / "ws", "nonprod", **store)
    with ws:
        issued = list(ws.ca(CA).issue_batch(make_csrs(3), "ha-device").issued())
        stored = {
            str(h): int(na)
            for h, na in ws.store.conn.execute(
                "SELECT serial_hex, not_after FROM certificates WHERE ca_name = ?", (CA,)
            ).fetchall()
        }
        assert len(stored) == len(issued) == 3
        absent = [format(i, "x") for i in range(1, 2 * revocations.IN_CHUNK + 7)]
        asked = [*absent[:600], *stored, *absent[600:], *stored]
        assert revocations.certificate_expiries(ws.store.conn, CA, asked) == stored
        assert revocations.certificate_expiries(ws.store.conn, "root-ca-1", list(stored)) == {}
        assert revocations.certificate_expiries(ws.store.conn, CA, []) == {}


def test_shard_gate_reads_expiries_in_one_query_per_chunk(tmp_path: Path) -> None:
    """The gate refuses a shard CRL dropping unexpired serials and lets expired ones go
    (RFC 5280 §3.3), reading the expiries of 30 dropped serials in one query."""
    import numpy as np
    from porthos.exceptions import CrlGateError
    from porthos.issuance import crl as C
    from porthos.workspace.shard_publication import ShardJob, gate

    with Workspace.init(tmp_path / "ws", "nonprod") as ws:
        ca = ws.ca(CA)
        certs = [
            x509.load_der_x509_certificate(d)
            for _, d in ca.issue_batch(make_csrs(30), "ha-device").issued()
        ]
        serials = [c.serial_number for c in certs]
        last = max(int(c.not_valid_after_utc.timestamp()) for c in certs)
        n = len(serials)
        listed = C.RevocationColumns(
            C.serials_from_ints(serials),
            np.full(n, int(time.time()), np.int64),
            np.full(n, 1, np.uint8),
            np.full(n, C.INVALIDITY_NONE, np.int64),
        )
        empty = C.RevocationColumns(
            C.serials_from_ints([]),
            np.zeros(0, np.int64),
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
        )
        now = int(time.time())
        previous = tmp_path / "previous.crl"
        previous.write_bytes(
            bytes(C.build_crl(ca.certificate, ca.signer, listed, crl_number=1,
                              this_update=now, next_update=now + 86400))
        )  # fmt: skip
        new = bytes(
            C.build_crl(ca.certificate, ca.signer, empty, crl_number=2,
                        this_update=now, next_update=now + 86400)
        )  # fmt: skip
        queries: list[str] = []
        ws.store.conn.set_trace_callback(queries.append)

        def job(this_update: int) -> ShardJob:
            return ShardJob(CA, 2, this_update, this_update + 86400, 0, 0, 1, "u{shard}")

        with pytest.raises(CrlGateError, match="would drop 30 unexpired"):
            gate(ws, ca, job(now + 1), previous, new)
        assert len([q for q in queries if "FROM certificates" in q]) == 1
        gate(ws, ca, job(last + 1), previous, new)  # every one expired by then: no refusal
        with pytest.raises(CrlGateError, match="would drop 30 unexpired"):
            gate(ws, ca, job(last), previous, new)  # expiring at thisUpdate: not expired by it
        ws.store.conn.set_trace_callback(None)
