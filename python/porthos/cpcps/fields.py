"""Field readers of a CP/CPS document: each takes a TOML value and its field path and
returns the typed value, or raises ProfileError naming the path (Boulder-style
validation at load)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from porthos.cpcps.policy import ATTRIBUTE_OIDS
from porthos.cpcps.profiles import Duration, Validity
from porthos.crl_reasons import REASONS
from porthos.exceptions import ProfileError

OID_RE = re.compile(
    r"(?:[0-1]\.(?:[0-9]|[1-3][0-9])|2\.(?:0|[1-9][0-9]*))(?:\.(?:0|[1-9][0-9]*))+"
)
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
SHORT_NAMES = frozenset(ATTRIBUTE_OIDS.values())


# --------------------------------------------------------------------------------------
# Validation helpers: each takes the value and its path, returns the typed value.
# --------------------------------------------------------------------------------------


def fail(path: str, message: str) -> ProfileError:
    return ProfileError(f"{path}: {message}")


def as_table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(path or "<document>", f"expected a table, got {type(value).__name__}")
    return value


def require_keys(
    table: Mapping[str, Any], path: str, required: set[str], optional: set[str]
) -> None:
    for key in table:
        if key not in required and key not in optional:
            raise fail(join(path, key), "unknown key")
    for key in sorted(required):
        if key not in table:
            raise fail(join(path, key), "missing")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def as_text(value: Any, path: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise fail(path, f"expected a string, got {type(value).__name__}")
    if not empty and not value:
        raise fail(path, "empty string")
    return value


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, f"expected true or false, got {value!r}")
    return value


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(path, f"expected an array, got {type(value).__name__}")
    return value


def as_oid(value: Any, path: str) -> str:
    text = as_text(value, path)
    if not OID_RE.fullmatch(text):
        raise fail(path, f"not a dotted OID: {text!r}")
    return text


def as_url(value: Any, path: str, urls: Mapping[str, str]) -> str:
    text = as_text(value, path)
    try:
        text = text.format_map(urls)
    except (KeyError, ValueError, IndexError) as exc:
        raise fail(path, f"bad placeholder in {text!r}: {exc}") from None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "ldap") or not parts.netloc:
        raise fail(path, f"not an absolute http/ldap URL: {text!r}")
    if any(ch.isspace() for ch in text) or not text.isascii():
        raise fail(path, f"URL has spaces or non-ASCII characters: {text!r}")
    return text


def as_name(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for i, item in enumerate(as_list(value, path)):
        p = f"{path}[{i}]"
        pair = as_list(item, p)
        if len(pair) != 2:
            raise fail(p, "expected [attribute, value]")
        attr = as_text(pair[0], f"{p}[0]")
        if attr not in SHORT_NAMES and not OID_RE.fullmatch(attr):
            raise fail(f"{p}[0]", f"unknown attribute {attr!r}")
        text = as_text(pair[1], f"{p}[1]")
        if text != text.strip():
            # 000 §7.1.3.3-5 print "OU= Porthos client": a stray space is a slip, never data.
            raise fail(f"{p}[1]", f"leading or trailing space in {text!r}")
        if len(text) > 64:
            raise fail(f"{p}[1]", "longer than 64 characters (RFC 5280 Appendix A)")
        out.append((attr, text))
    return tuple(out)


def as_validity(value: Any, path: str) -> Validity:
    table = as_table(value, path)
    if len(table) != 1 or next(iter(table)) not in ("years", "months", "days"):
        raise fail(path, "expected exactly one of years, months, days")
    unit, n = next(iter(table.items()))
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise fail(join(path, unit), f"expected a positive integer, got {n!r}")
    if unit == "years":
        return Validity(months=12 * n)
    if unit == "months":
        return Validity(months=n)
    return Validity(days=n)


def as_duration(value: Any, path: str, *, minimum: int = 1) -> Duration:
    units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    table = as_table(value, path)
    if len(table) != 1 or next(iter(table)) not in units:
        raise fail(path, "expected exactly one of days, hours, minutes, seconds")
    unit, n = next(iter(table.items()))
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise fail(join(path, unit), f"expected {what}, got {n!r}")
    return Duration(n * units[unit])


def as_reason(value: Any, path: str) -> int:
    """An RFC 5280 §5.3.1 CRLReason, spelled as there (e.g. keyCompromise) -> its code."""
    name = as_text(value, path)
    if name not in REASONS:
        raise fail(path, f"unknown CRL reason {name!r}; RFC 5280 names: {', '.join(REASONS)}")
    return REASONS[name]


def as_reasons(value: Any, path: str) -> dict[int, str]:
    """A table ``{reason name = "the CP/CPS circumstance or rule"}`` -> {code: text}."""
    out: dict[int, str] = {}
    for name, text in as_table(value, path).items():
        out[as_reason(name, join(path, name))] = as_text(text, join(path, name))
    return out
