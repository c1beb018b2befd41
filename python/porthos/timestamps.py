"""Time stamps as text: the one ISO 8601 form porthos writes into reports, the audit
trail and error messages (UTC, seconds, a trailing Z, as RFC 5280 times read)."""

from __future__ import annotations

import time


def iso_utc(ts: int) -> str:
    """``2026-12-04T16:06:27Z`` for the Unix time ``ts``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
