"""Per-request data an RA gives with a batch (docs/ra-data.md): each request's subject
alternative names and its own notAfter (a smart card's expiry), one entry per request,
in request order.

This module only reads the format: JSON-like values -> ``ItemData``, refusing a value
of the wrong shape with one BatchArgumentError that names the item. Whether a profile
accepts what an item gives is the CP/CPS's decision (cpcps/item_rules.py); whether a
value can be encoded is the encoder's (``_native.Template.item_errors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from porthos.exceptions import BatchArgumentError

__all__ = ["SAN_KINDS", "ItemData", "SanEntry", "item_data_list", "parse_ra_data_json"]

#: The GeneralName kinds an RA may give (RFC 5280 §4.2.1.6): dNSName, rfc822Name,
#: URI, iPAddress, directoryName ([[attribute, value], ...]) and the Microsoft UPN
#: otherName (1.3.6.1.4.1.311.20.2.3).
SAN_KINDS = ("dns", "email", "uri", "ip", "dirname", "upn")

#: (kind, value): value is text, or for a dirname a list of (attribute, value).
SanEntry = tuple[str, str | list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class ItemData:
    """What the RA says about one request: its SAN entries (None: it gave none) and its
    notAfter in Unix seconds (None: the profile's)."""

    sans: tuple[SanEntry, ...] | None = None
    not_after: int | None = None


def _bad(path: str, message: str) -> BatchArgumentError:
    return BatchArgumentError(f"{path}: {message}")


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _bad(path, f"expected a string, got {type(value).__name__}")
    return value


def _pairs(value: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(value, list | tuple) or not value:
        raise _bad(path, "a dirname is a non-empty list of [attribute, value] pairs")
    out = []
    for j, pair in enumerate(value):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise _bad(f"{path}[{j}]", "expected [attribute, value]")
        out.append((_text(pair[0], f"{path}[{j}][0]"), _text(pair[1], f"{path}[{j}][1]")))
    return out


def _sans(value: Any, path: str) -> tuple[SanEntry, ...]:
    if not isinstance(value, list | tuple):
        raise _bad(path, f"expected a list of [kind, value], got {type(value).__name__}")
    out: list[SanEntry] = []
    for j, entry in enumerate(value):
        p = f"{path}[{j}]"
        if not isinstance(entry, list | tuple) or len(entry) != 2:
            raise _bad(p, "expected [kind, value]")
        kind = _text(entry[0], f"{p}[0]")
        if kind not in SAN_KINDS:
            raise _bad(f"{p}[0]", f"unknown SAN kind {kind!r}; known: {', '.join(SAN_KINDS)}")
        if kind == "dirname":
            out.append((kind, _pairs(entry[1], f"{p}[1]")))
        else:
            out.append((kind, _text(entry[1], f"{p}[1]")))
    return tuple(out)


def _instant(value: Any, path: str) -> int:
    """RFC 3339 date-time with an offset (``2027-03-01T00:00:00Z``) -> Unix seconds."""
    text = _text(value, path)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(path, f"not an RFC 3339 date-time: {text!r}") from None
    if "T" not in text or t.tzinfo is None:
        raise _bad(path, f"expected a date-time with its UTC offset (…Z), got {text!r}")
    return int(t.timestamp())


def item_data_list(
    value: Any, count: int | None = None, *, name: str = "ra_data"
) -> list[ItemData]:
    """A list of per-request objects ``{"sans": [...], "not_after": "..."}`` (both keys
    optional) -> ItemData, one per request; ``count``: the number of requests."""
    if not isinstance(value, list | tuple):
        raise _bad(
            name, f"expected a list with one object per request, got {type(value).__name__}"
        )
    if count is not None and len(value) != count:
        raise _bad(
            name, f"{len(value)} entries for {count} requests; they pair one to one, in order"
        )
    out = []
    for i, item in enumerate(value):
        if isinstance(item, ItemData):
            out.append(item)
            continue
        fast = _well_formed(item)
        out.append(fast if fast is not None else _checked(item, f"{name}[{i}]"))
    return out


def _checked(item: Any, p: str) -> ItemData:
    """One RA object -> ItemData, or the BatchArgumentError naming what is wrong."""
    if not isinstance(item, dict):
        raise _bad(p, f"expected an object, got {type(item).__name__}")
    for key in item:
        if key not in ("sans", "not_after"):
            raise _bad(f"{p}.{key}", "unknown key (known: sans, not_after)")
    sans = _sans(item["sans"], f"{p}.sans") if item.get("sans") is not None else None
    not_after = (
        _instant(item["not_after"], f"{p}.not_after")
        if item.get("not_after") is not None
        else None
    )
    return ItemData(sans, not_after)


def _well_formed(item: Any) -> ItemData | None:
    """``_checked(item)`` for the common well-formed object without building the error
    paths (a dozen f-strings a request: ~2 µs of the ~3 µs, serial work ahead of an
    issuance batch, issue 16 §5); None for anything else, which ``_checked`` then
    judges, so every error stays the same (tests/test_item_data_fast.py)."""
    if type(item) is not dict or len(item) != ("sans" in item) + ("not_after" in item):
        return None
    sans_value, end_value = item.get("sans"), item.get("not_after")
    sans: tuple[SanEntry, ...] | None = None
    if sans_value is not None:
        if type(sans_value) is not list and type(sans_value) is not tuple:
            return None
        entries: list[SanEntry] = []
        for entry in sans_value:
            if (type(entry) is not list and type(entry) is not tuple) or len(entry) != 2:
                return None
            kind, text = entry
            if type(kind) is not str or type(text) is not str or kind == "dirname":
                return None
            if kind not in SAN_KINDS:
                return None
            entries.append((kind, text))
        sans = tuple(entries)
    not_after = None
    if end_value is not None:
        try:
            not_after = _instant(end_value, "")
        except BatchArgumentError:
            return None
    return ItemData(sans, not_after)


def parse_ra_data_json(data: bytes, source: str = "ra_data") -> list[Any]:
    """The bytes of an RA data file -> its JSON value (UTF-8 JSON; errors name ``source``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchArgumentError(f"{source}: not UTF-8: {exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchArgumentError(f"{source}: not JSON: {exc}") from None
    if not isinstance(value, list):
        raise BatchArgumentError(
            f"{source}: expected a JSON list with one object per request, "
            f"got {type(value).__name__}"
        )
    return value
