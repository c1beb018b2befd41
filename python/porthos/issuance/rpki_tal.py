"""Trust Anchor Locators (RFC 8630 §2.2): how a relying party finds and pins a trust
anchor certificate, written and read strictly.

```text
# optional comment lines
rsync://host/path/ta.cer        <- one or more TA URIs (rsync or https), in order
https://host/path/ta.cer
                                <- one empty line
MIIBIjANBgkqhkiG9w0BAQEFAAOC... <- the TA's SubjectPublicKeyInfo, base64, wrapped
```
"""

from __future__ import annotations

import base64
import binascii
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import load_der_public_key

from porthos.exceptions import EncodeError, InputError

__all__ = ["Tal", "parse_tal", "tal_text"]

# RFC 8630 §2.2: rsync (RFC 5781) or https (RFC 7230) URIs.
_SCHEMES = ("rsync", "https")
_WRAP = 64


@dataclass(frozen=True)
class Tal:
    comments: tuple[str, ...]
    uris: tuple[str, ...]
    spki_der: bytes


def _check_uri(uri: str) -> str | None:
    """Why ``uri`` cannot be a TA URI, or None."""
    parts = urlsplit(uri)
    if parts.scheme not in _SCHEMES or not parts.netloc or not parts.path:
        return "a TA URI is an absolute rsync or https URI with a path (RFC 8630 §2.2)"
    if not uri.isascii() or any(c.isspace() for c in uri):
        return "a TA URI has no spaces and only ASCII characters"
    if not parts.path.endswith(".cer"):
        return "a TA URI names the TA certificate, a .cer file (RFC 6481 §2.1)"
    return None


def _check_spki(der: bytes) -> str | None:
    try:
        load_der_public_key(der)
    except (ValueError, TypeError):
        return "not a DER SubjectPublicKeyInfo"
    return None


def tal_text(uris: Sequence[str], spki_der: bytes, comments: Sequence[str] = ()) -> str:
    """The TAL for a TA reachable at ``uris`` (in preference order) whose key is
    ``spki_der``. Lines end in LF; the base64 is wrapped at 64 characters."""
    if not uris:
        raise EncodeError("a TAL needs at least one TA URI (RFC 8630 §2.2)")
    for u in uris:
        why = _check_uri(u)
        if why:
            raise EncodeError(f"TAL URI {u!r}: {why}")
    for c in comments:
        if "\n" in c or "\r" in c:
            raise EncodeError("a TAL comment is one line")
    why = _check_spki(spki_der)
    if why:
        raise EncodeError(f"TAL key: {why}")
    b64 = base64.b64encode(spki_der).decode("ascii")
    lines = [f"# {c}" if c else "#" for c in comments] + list(uris) + [""]
    lines += textwrap.wrap(b64, _WRAP)
    return "\n".join(lines) + "\n"


def parse_tal(text: str) -> Tal:
    """Parse a TAL strictly; errors are InputError naming the line."""
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    comments: list[str] = []
    while i < len(lines) and lines[i].startswith("#"):
        comments.append(lines[i][1:].strip())
        i += 1
    uris: list[str] = []
    while i < len(lines) and lines[i] != "":
        why = _check_uri(lines[i])
        if why:
            raise InputError(f"TAL line {i + 1}: {why}")
        uris.append(lines[i])
        i += 1
    if not uris:
        raise InputError(f"TAL line {i + 1}: expected a TA URI")
    if i >= len(lines):
        raise InputError("TAL: no empty line before the key")
    body = "".join(line.strip() for line in lines[i + 1 :])
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"TAL line {i + 2}: the key is not base64") from None
    why = _check_spki(der)
    if why:
        raise InputError(f"TAL line {i + 2}: {why}")
    return Tal(tuple(comments), tuple(uris), der)
