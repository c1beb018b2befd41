"""Read a CSV revocation file on a thread while the caller does its other start-up
work (issue 20 §1: the whole ``porthos crl build`` process against pyca's).

The CSV is read with the input cap and parsed in Rust with the GIL released, so it
runs beside what a ``crl build`` process must do anyway before it can use the rows:
import NumPy and pyca (~100 ms of a ~0.6 s process), load the issuer certificate and
check the key against it. This module imports neither, so that the thread starts
before they do. ``.npz`` and ``.parquet`` files are not prefetched (their readers,
revocation_input.py, need NumPy and pyarrow first).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from porthos import _native
from porthos.exceptions import BatchArgumentError
from porthos.issuance.inputs import read_input

if TYPE_CHECKING:
    from porthos.issuance.revocation_input import Columns

__all__ = ["RevocationPrefetch", "prefetch_csv", "read_csv_columns"]


def read_csv_columns(path: Path) -> Columns:
    """A CSV revocation file → columns (revocation_input.Columns); every bad line is
    reported with its number, the file named first."""
    data = read_input(path, "revocations file")
    try:
        s, t, r, d = _native.crl_read_revocations_csv(data)
    except BatchArgumentError as exc:
        raise BatchArgumentError(f"{path}: {exc}") from None
    return s, t, r, d, None


class RevocationPrefetch:
    """A CSV revocation file read on a thread of its own from construction on;
    ``result()`` waits for it and raises what the reading raised, on the calling
    thread. Call ``result()`` or ``wait()`` before giving up on the object: the thread
    is not a daemon, so a process exits only after the read is over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._columns: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="porthos-revocations")
        self._thread.start()

    def _read(self) -> None:
        try:
            self._columns = read_csv_columns(self.path)
        except BaseException as exc:  # re-raised by result() on the calling thread
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Columns:
        self.wait()
        if self._error is not None:
            raise self._error
        columns: Columns = self._columns
        return columns


def prefetch_csv(path: str | os.PathLike[str]) -> RevocationPrefetch | None:
    """Start reading ``path`` when it is a regular CSV file (what revocation_input.
    read_revocations reads as CSV: any suffix but ``.npz`` and ``.parquet``); None
    otherwise, and the caller reads it with read_revocations when it needs the rows.

    Only a regular file: its read ends (the input cap bounds it), so a refusal the
    caller makes meanwhile waits at most for that. A FIFO, a pipe or ``/dev/stdin``
    can block for ever, and would hold back the refusal; it is also what a PIN prompt
    may read from. A path that cannot be stat'ed is left to the reader's own error."""
    p = Path(path)
    if p.suffix in (".npz", ".parquet"):
        return None
    try:
        regular = stat.S_ISREG(p.stat().st_mode)
    except OSError:
        return None
    return RevocationPrefetch(p) if regular else None
