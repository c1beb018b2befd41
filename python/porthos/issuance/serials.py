"""``porthos.generate_serials``: the native CSPRNG serials, with its arguments checked
first, so that a wrong type or an absurd count is a BatchArgumentError, not pyo3's
TypeError or OverflowError (issue 20 §3)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.exceptions import BatchArgumentError

__all__ = ["MAX_SERIALS", "generate_serials"]

#: One call's most serials: 16 GB of them would be a typo, not a batch.
MAX_SERIALS = 100_000_000


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BatchArgumentError(f"{name}: expected an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise BatchArgumentError(f"{name}: {value} is outside {low}..{high}")
    return value


def generate_serials(n: int, length: int = 16) -> NDArray[np.uint8]:
    """``n`` CSPRNG serials of ``length`` octets (first octet 0x01..0x7f: positive and
    minimal; RFC 5280 §4.1.2.2 allows at most 20; 9 or more keep 64 random bits)."""
    return _native.generate_serials(_int(n, "n", 0, MAX_SERIALS), _int(length, "length", 9, 20))
