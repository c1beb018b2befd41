"""The revocation CSV loader as porthos had it before the Rust reader (issue 20 §1),
kept only as the oracle of the differential test (test_crl_input.py): a Python loop
per row over the csv module, ``int(hex)`` and ``datetime.fromisoformat``."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from porthos.exceptions import BatchArgumentError, EncodeError
from porthos.issuance.crl import INVALIDITY_NONE, reason_code


def _parse_iso(text: str, line: int, what: str) -> int:
    t = text.strip()
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise BatchArgumentError(f"line {line}: {what} {text!r} is not ISO-8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def load_revocations_reference(p: Path) -> list[tuple[int, int, int, int]]:
    """(serial, time, reason, invalidity) per accepted row, or BatchArgumentError."""
    rows: list[tuple[int, int, int, int]] = []
    errors: list[str] = []
    with open(p, newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or (line == 1 and row[0].strip().lower().startswith("serial")):
                continue
            try:
                if len(row) not in (3, 4):
                    raise BatchArgumentError(f"line {line}: {len(row)} fields, expected 3 or 4")
                text = row[0].strip().lower().removeprefix("0x")
                try:
                    s = int(text, 16)
                except ValueError:
                    raise BatchArgumentError(
                        f"line {line}: serial {row[0]!r} is not hex"
                    ) from None
                if s <= 0 or s.bit_length() > 159:
                    raise BatchArgumentError(
                        f"line {line}: serial {row[0]!r} must be positive and at most 20 "
                        "octets (RFC 5280 §4.1.2.2)"
                    )
                t = _parse_iso(row[1], line, "revocation_time")
                try:
                    r = reason_code(row[2])
                except EncodeError as exc:
                    raise BatchArgumentError(f"line {line}: {exc}") from None
                d = (
                    _parse_iso(row[3], line, "invalidity_date")
                    if len(row) == 4 and row[3].strip()
                    else INVALIDITY_NONE
                )
            except BatchArgumentError as exc:
                errors.append(str(exc))
                continue
            rows.append((s, t, r, d))
    if errors:
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        raise BatchArgumentError(f"{p}: " + "; ".join(errors[:20]) + more)
    return rows
