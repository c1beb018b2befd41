"""Revocation input files → the CRL writer's columns, with no Python loop per row
(issue 20 §1: a million CSV rows cost 4.5 s in the old per-row loop).

* ``.csv`` (any other suffix too): read with the input cap (``read_input``), parsed in
  Rust (``_native.crl_read_revocations_csv``, GIL released);
* ``.parquet``: pyarrow (the ``parquet`` extra), converted with vectorised
  pyarrow/NumPy operations;
* ``.npz``: the arrays as they are.

Formats, errors and limits: docs/crl-input.md. Every bad row is reported (CSV by line
number, Parquet by row number, the first 20 and a count) as one BatchArgumentError,
and nothing is returned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.crl_reasons import REASONS
from porthos.exceptions import BatchArgumentError, InputError, MissingExtraError
from porthos.issuance.revocation_prefetch import read_csv_columns

__all__ = ["Columns", "read_revocations"]

#: (serials N x 20, revocation_times, reasons, invalidity_dates or None, lengths or None)
Columns = tuple[
    NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8], Any, NDArray[np.uint8] | None
]

REASON_NONE = 255
INVALIDITY_NONE = int(np.iinfo(np.int64).min)
_MAX_REPORTED = 20


def read_revocations(path: str | os.PathLike[str]) -> Columns:
    p = Path(path)
    if p.suffix == ".npz":
        with np.load(p) as z:
            return (
                z["serials"],
                z["revocation_times"],
                z["reasons"],
                z["invalidity_dates"] if "invalidity_dates" in z else None,
                z["serial_lengths"] if "serial_lengths" in z else None,
            )
    if p.suffix == ".parquet":
        return _read_parquet(p)
    return read_csv_columns(p)


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


class _Problems:
    """Bad rows by problem: (row numbers, message) groups, reported as the CSV reader
    reports lines: the first 20 rows in row order, and a count."""

    def __init__(self) -> None:
        self.rows: list[NDArray[np.int64]] = []
        self.messages: list[str] = []

    def add(self, bad: NDArray[np.bool_], message: str) -> None:
        idx = np.flatnonzero(bad)
        if len(idx):
            self.rows.append(idx)
            self.messages.append(message)

    def raise_if_any(self, path: Path) -> None:
        if not self.rows:
            return
        rows = np.concatenate(self.rows)
        which = np.concatenate([np.full(len(r), k) for k, r in enumerate(self.rows)])
        order = np.lexsort((which, rows))
        rows, which = rows[order], which[order]
        # One report per row (its first problem), as the CSV reader does.
        first = np.ones(len(rows), bool)
        first[1:] = rows[1:] != rows[:-1]
        rows, which = rows[first], which[first]
        shown = [
            f"row {int(r) + 1}: {self.messages[int(k)]}"
            for r, k in zip(rows[:_MAX_REPORTED], which[:_MAX_REPORTED], strict=True)
        ]
        more = f" (and {len(rows) - _MAX_REPORTED} more)" if len(rows) > _MAX_REPORTED else ""
        raise BatchArgumentError(f"{path}: " + "; ".join(shown) + more)


def _np(a: Any) -> Any:
    """An Arrow array as NumPy (copying booleans and nullable arrays, as needed)."""
    return a.to_numpy(zero_copy_only=False)


def _pyarrow() -> tuple[Any, Any, Any]:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.compute as pc  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError(
            "Parquet revocation input needs pyarrow: pip install 'porthos[parquet]'"
        ) from None
    return pa, pc, pq


def _read_parquet(path: Path) -> Columns:
    pa, pc, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"revocations file {path}: not a readable Parquet file: {exc}") from None
    names = set(table.column_names)
    missing = [c for c in ("serial", "revocation_time", "reason") if c not in names]
    if missing:
        raise BatchArgumentError(
            f"{path}: missing column(s) {', '.join(missing)} "
            "(expected serial, revocation_time, reason[, invalidity_date])"
        )
    problems = _Problems()

    def col(name: str) -> Any:
        return table.column(name).combine_chunks()

    serials = _serials(col("serial"), problems, pa, pc)
    times = _times(col("revocation_time"), "revocation_time", problems, pa, pc, required=True)
    reasons = _reasons(col("reason"), problems, pa, pc)
    inv = (
        _times(col("invalidity_date"), "invalidity_date", problems, pa, pc, required=False)
        if "invalidity_date" in names
        else np.full(len(table), INVALIDITY_NONE, np.int64)
    )
    problems.raise_if_any(path)
    return serials, times, reasons, inv, None


def _serials(arr: Any, problems: _Problems, pa: Any, pc: Any) -> NDArray[np.uint8]:
    n = len(arr)
    out = np.zeros((n, 20), np.uint8)
    null = np.asarray(_np(arr.is_null()), bool)
    problems.add(null, "serial is missing")
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        # The CSV reader's hex grammar, in Rust over the Arrow buffers (regular
        # expressions and padding in pyarrow cost a second per million rows).
        arr = arr.fill_null("")
        wide = pa.types.is_large_string(arr.type)
        raw = np.frombuffer(arr.buffers()[1], np.int64 if wide else np.int32)
        offsets = np.ascontiguousarray(raw[arr.offset : arr.offset + n + 1], np.int64)
        data = np.frombuffer(arr.buffers()[2] or b"", np.uint8)
        out, status = _native.crl_hex_serials(data, offsets)
        problems.add(~null & (status == 1), "serial is not hex")
        bad = ~null & (status == 2)
    elif pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        arr = arr.fill_null(b"")
        lengths = np.asarray(_np(pc.binary_length(arr)), np.int64)
        offsets = np.frombuffer(
            arr.buffers()[1], np.int64 if pa.types.is_large_binary(arr.type) else np.int32
        )[arr.offset : arr.offset + n + 1].astype(np.int64)
        data = np.frombuffer(arr.buffers()[2] or b"", np.uint8)
        fits = lengths <= 20
        rows = np.repeat(np.arange(n)[fits], lengths[fits])
        starts = np.repeat(offsets[:-1][fits], lengths[fits])
        within = np.arange(len(rows)) - np.repeat(
            np.cumsum(lengths[fits]) - lengths[fits], lengths[fits]
        )
        out[rows, 20 - np.repeat(lengths[fits], lengths[fits]) + within] = data[starts + within]
        bad = ~null & ~fits
    else:
        raise BatchArgumentError(f"serial: a {arr.type} column, expected string (hex) or binary")
    zero = ~out.any(axis=1)
    problems.add(
        ~null & (bad | zero | (out[:, 0] >= 0x80)),
        "serial must be positive and at most 20 octets (RFC 5280 §4.1.2.2)",
    )
    return np.ascontiguousarray(out)


def _times(
    arr: Any, name: str, problems: _Problems, pa: Any, pc: Any, *, required: bool
) -> NDArray[np.int64]:
    n = len(arr)
    null = np.asarray(_np(arr.is_null()), bool)
    if pa.types.is_timestamp(arr.type):
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[arr.type.unit]
        raw = np.asarray(_np(arr.cast(pa.int64()).fill_null(0)), np.int64)
        # Toward zero, as the CSV reader (and Python's int(timestamp)) truncates.
        values = np.where(raw < 0, -((-raw) // per_second), raw // per_second)
    elif pa.types.is_date(arr.type):
        days = _np(arr.cast(pa.date32()).cast(pa.int32()).fill_null(0))
        values = days.astype(np.int64) * 86400
    elif pa.types.is_integer(arr.type):
        values = np.asarray(_np(arr.cast(pa.int64()).fill_null(0)), np.int64)
    else:
        raise BatchArgumentError(
            f"{name}: a {arr.type} column, expected timestamp, date or int64 seconds"
        )
    if required:
        problems.add(null, f"{name} is missing")
    else:
        values = np.where(null, INVALIDITY_NONE, values)
    assert len(values) == n
    return np.ascontiguousarray(values, np.int64)


_NAMES = sorted(REASONS, key=str.lower)


def _reasons(arr: Any, problems: _Problems, pa: Any, pc: Any) -> NDArray[np.uint8]:
    """Names (any case) or numbers as reason_code takes them; null, empty,
    ``unspecified``/0 and 255 → no reasonCode."""
    null = np.asarray(_np(arr.is_null()), bool)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        text = arr.fill_null("")
        empty = np.asarray(_np(pc.equal(text, "")), bool)
        text = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        digits = np.asarray(_np(pc.ascii_is_decimal(text)), bool)
        width = np.asarray(_np(pc.binary_length(text)), np.int64)
        numeric = digits & (width <= 3)
        long_number = digits & (width > 3)
        lowered = pa.array([k.lower() for k in _NAMES])
        codes_by_name = np.array([REASONS[k] for k in _NAMES], np.int64)
        at = _np(pc.index_in(text, value_set=lowered).fill_null(-1))
        named = at >= 0
        numbers = _np(pc.if_else(pa.array(numeric), text, "0").cast(pa.int64()))
        code = np.where(named, codes_by_name[np.maximum(at, 0)], numbers)
        code = np.where(long_number, 1000, code)
        problems.add(
            ~null & ~empty & ~named & ~numeric & ~long_number,
            "unknown revocation reason (RFC 5280 §5.3.1 names)",
        )
        none = null | empty
    elif pa.types.is_integer(arr.type):
        code = np.asarray(_np(arr.cast(pa.int64()).fill_null(REASON_NONE)), np.int64)
        none = null
    else:
        raise BatchArgumentError(f"reason: a {arr.type} column, expected string or integer")
    valid = ((code >= 1) & (code <= 10) & (code != 7)) | (code == 0) | (code == REASON_NONE)
    problems.add(~none & ~valid, "reason code is not a CRLReason (RFC 5280 §5.3.1)")
    out = np.where(none | (code == 0) | ~valid, REASON_NONE, code)
    return np.ascontiguousarray(out, np.uint8)
