"""revocation_arrays (store to CRL columns without a Python object per row, issue 20
§1) equals revocation_rows, the per-row reading it replaced, on any stored rows."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos.exceptions import StoreIntegrityError
from porthos.store.revocations import revocation_rows
from porthos.workspace.publication import revocation_arrays

NO_REASON, NO_INV = 255, int(np.iinfo(np.int64).min)  # the writer's sentinels


def _conn(rows: list[tuple[str, str, int, int | None, int | None]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE revocations (ca_name TEXT NOT NULL, serial_hex TEXT NOT NULL,"
        " revoked_at INTEGER NOT NULL, reason INTEGER, invalidity_date INTEGER,"
        " UNIQUE (ca_name, serial_hex))"
    )
    conn.executemany("INSERT INTO revocations VALUES (?, ?, ?, ?, ?)", rows)
    return conn


ROW = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(1, (1 << 159) - 1).map(lambda v: format(v, "x")),
    st.integers(0, 1 << 40),
    st.none() | st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 10]),
    st.none() | st.integers(-(1 << 40), 1 << 40),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(ROW, max_size=40, unique_by=lambda r: (r[0], r[1])), st.none() | st.integers(0, 50)
)
def test_equals_the_rows(rows: list, upto: int | None) -> None:
    conn = _conn(rows)
    for ca in ("a", "b"):
        want = revocation_rows(conn, ca, upto)
        serials, times, reasons, inv = revocation_arrays(conn, ca, upto)
        assert [int.from_bytes(s.tobytes(), "big") for s in serials] == [
            int(r.serial_hex, 16) for r in want
        ]
        assert times.tolist() == [r.revoked_at for r in want]
        assert reasons.tolist() == [NO_REASON if r.reason is None else r.reason for r in want]
        assert inv.tolist() == [
            NO_INV if r.invalidity_date is None else r.invalidity_date for r in want
        ]


@pytest.mark.parametrize(
    "row",
    [("a", "zz", 1, None, None), ("a", "1" * 41, 1, None, None), ("a", "0a", "noon", None, None)],
)
def test_damaged_rows_are_store_integrity_errors(row: tuple) -> None:
    with pytest.raises(StoreIntegrityError) as info:
        revocation_arrays(_conn([row]), "a", None)
    assert info.value.code == "store-integrity"
