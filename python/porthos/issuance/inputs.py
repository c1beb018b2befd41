"""Reading the files users hand to porthos, with a size cap (issue 20 §3).

``read_input`` reads at most the cap plus one byte, so ``/dev/zero``, a FIFO that
never ends or a 50 GB file by mistake costs the cap in memory, then one clear
InputError, never an exhausted machine. The cap is 1 GiB (a million PEM requests is
about 1 GB; a 1M-entry CRL 50 MB) and is set with ``PORTHOS_MAX_INPUT_BYTES``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from porthos.exceptions import InputError

__all__ = ["DEFAULT_MAX_INPUT_BYTES", "max_input_bytes", "read_input"]

DEFAULT_MAX_INPUT_BYTES = 1 << 30
_CHUNK = 1 << 20


def max_input_bytes() -> int:
    """The cap: ``$PORTHOS_MAX_INPUT_BYTES`` (a positive integer) or 1 GiB."""
    text = os.environ.get("PORTHOS_MAX_INPUT_BYTES")
    if text is None:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f"PORTHOS_MAX_INPUT_BYTES={text!r}: expected a positive integer")
    return value


def read_input(path: str | os.PathLike[str], what: str = "input") -> bytes:
    """The bytes of ``path``, or InputError when it is larger than the cap, a folder, or
    unreadable. ``what`` names the option in messages (``--csr``)."""
    p = Path(path)
    cap = max_input_bytes()
    try:
        with open(p, "rb") as f:
            st = os.fstat(f.fileno())
            chunks: list[bytes] = []
            size = 0
            if stat.S_ISREG(st.st_mode) and st.st_size <= cap:
                # A regular file within the cap: one read (chunks cost a 50 MB copy).
                data = f.read(st.st_size)
                chunks.append(data)
                size = len(data)
            while size <= cap:
                chunk = f.read(min(_CHUNK, cap + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except IsADirectoryError:
        raise InputError(f"{what} {p}: is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot read: {exc.strerror or exc}") from None
    if size > cap:
        raise InputError(
            f"{what} {p}: larger than {cap:,} bytes, the input cap "
            "(set PORTHOS_MAX_INPUT_BYTES to raise it)"
        )
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
