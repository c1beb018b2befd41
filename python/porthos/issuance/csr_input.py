"""Certificate requests as they arrive: DER, a PEM bundle (RFC 7468), or a sequence of
either, cut into one DER request per item before the one Rust parse of the batch.

A request that cannot be cut out (broken base64, a block with no END line) becomes an
item with no DER and a reason: a per-item MALFORMED status later, never an exception,
because one broken request must not stop a batch.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from porthos.exceptions import BatchArgumentError

__all__ = [
    "CsrInput",
    "PemItem",
    "der_to_pem",
    "is_der_list",
    "looks_pem",
    "normalise_csr_input",
    "split_csr_input",
    "split_csr_pem",
]

#: What issuance accepts as requests: DER bytes, PEM text or bytes (a bundle), or a
#: sequence of DER/PEM items.
CsrInput = str | bytes | bytearray | memoryview | Iterable[str | bytes]

# RFC 7468 §7: "CERTIFICATE REQUEST"; "NEW CERTIFICATE REQUEST" is what older tools
# (Netscape, MS certreq) write and RFC 7468 §7 tells parsers to accept.
_PEM_BEGIN = re.compile(rb"-----BEGIN ((?:NEW )?CERTIFICATE REQUEST)-----")
_PEM_END = b"-----END %s-----"


@dataclass(frozen=True, slots=True)
class PemItem:
    """One CSR block: der is None when the block is unusable, and error says why."""

    der: bytes | None
    error: str = ""


def split_csr_pem(text: str | bytes) -> list[PemItem]:
    """Every CSR block of a PEM bundle, in order. Blocks of other labels are skipped.

    A block whose base64 is malformed, or that is never terminated, becomes an item with
    der=None (a per-item MALFORMED status later), never an exception: one broken request
    must not stop a batch."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    items: list[PemItem] = []
    pos = 0
    # The END line found last, per label: BEGIN lines before it need no new search.
    # Searching again for each BEGIN made 40,000 BEGIN lines and one END (1.4 MB) take
    # 20 s (issue 20 §3); with the cache every byte is scanned a bounded number of times.
    ends: dict[bytes, int] = {}
    while True:
        m = _PEM_BEGIN.search(data, pos)
        if m is None:
            break
        label = m.group(1)
        end_marker = _PEM_END % label
        end = ends.get(label, -2)
        if end == -2 or (end >= 0 and end < m.end()):
            end = data.find(end_marker, m.end())
            ends[label] = end
        if end < 0:
            items.append(PemItem(None, f"PEM block '{label.decode()}' has no END line"))
            break
        next_begin = _PEM_BEGIN.search(data, m.end(), end)
        if next_begin is not None:
            # BEGIN, BEGIN, END: the first block lost its END line.
            items.append(PemItem(None, f"PEM block '{label.decode()}' has no END line"))
            pos = next_begin.start()
            continue
        body = b"".join(data[m.end() : end].split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            items.append(PemItem(None, f"PEM base64 is malformed: {exc}"))
        else:
            if der:
                items.append(PemItem(der))
            else:
                items.append(PemItem(None, "PEM block is empty"))
        pos = end + len(end_marker)
    return items


def looks_pem(data: bytes) -> bool:
    # DER starts with a SEQUENCE tag (0x30), which PEM text (RFC 7468 allows any
    # explanatory text before the BEGIN line) never does.
    return data[:1] != b"\x30" and b"-----BEGIN " in data


def is_der_list(csrs: CsrInput) -> TypeGuard[list[bytes]]:
    """The common engine input, a list of DER requests: no PEM to look for. (A request
    starting 0x30 is never PEM, see looks_pem.)"""
    return isinstance(csrs, list) and all(
        type(e) is bytes and e[:1] == b"\x30"
        for e in csrs  # noqa: E721 - exact type
    )


def split_csr_input(
    csrs: CsrInput,
) -> tuple[list[bytes], Sequence[int], list[tuple[int, str]]]:
    """The requests of ``csrs`` as (DER of each decodable item, its input index, (index,
    error) of each item that is not). A list of DER requests passes through as it is:
    one PemItem per request cost ~0.5 µs, on the one-core start of every batch."""
    if is_der_list(csrs):
        return csrs, range(len(csrs)), []
    items = normalise_csr_input(csrs)
    ders = [item.der for item in items if item.der is not None]
    at = [i for i, item in enumerate(items) if item.der is not None]
    bad = [(i, item.error) for i, item in enumerate(items) if item.der is None]
    return ders, at, bad


def normalise_csr_input(csrs: CsrInput) -> list[PemItem]:
    """DER bytes, PEM text/bytes (a bundle), or a sequence of DER/PEM items -> items.
    Anything else is a BatchArgumentError naming what was given, never a TypeError, and
    never ``bytes(n)`` of an int item (``[2_000_000_000]`` allocated 2 GB)."""
    if isinstance(csrs, str):
        blocks = split_csr_pem(csrs)
        if not blocks:
            raise BatchArgumentError(
                "csrs: a str must be PEM text with CERTIFICATE REQUEST blocks; this one has "
                "none (a file name? pass the file's bytes)"
            )
        return blocks
    if isinstance(csrs, (bytes, bytearray, memoryview)):
        data = bytes(csrs)
        return split_csr_pem(data) if looks_pem(data) else [PemItem(data)]
    if is_der_list(csrs):
        return [PemItem(e) for e in csrs]
    if not isinstance(csrs, Iterable):
        raise BatchArgumentError(
            f"csrs: expected DER bytes, PEM text or a sequence of them, got {type(csrs).__name__}"
        )
    items: list[PemItem] = []
    for index, element in enumerate(csrs):
        if not isinstance(element, (str, bytes, bytearray, memoryview)):
            raise BatchArgumentError(
                f"csrs[{index}]: expected bytes or str, got {type(element).__name__}"
            )
        if isinstance(element, str) or looks_pem(bytes(element)):
            blocks = split_csr_pem(element)
            if len(blocks) == 1:
                items.append(blocks[0])
            else:
                items.append(PemItem(None, f"expected one CSR PEM block, found {len(blocks)}"))
        else:
            items.append(PemItem(bytes(element)))
    return items


def der_to_pem(der: bytes, label: str = "CERTIFICATE") -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
