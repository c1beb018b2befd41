"""``name_strings``: the DirectoryString type of each subject attribute, as data.

A table ``{ C = "printable", CN = "printable", DC = "ia5", ... }`` maps attribute short
names (or dotted OIDs) to ``printable``, ``utf8``, ``ia5`` or ``printable-else-utf8``
(PrintableString when the value fits its alphabet, else UTF8String). It may stand at
the top of a CP/CPS (the default), in a ``[cas.<ca>]`` table (that CA's own subject and
the directoryNames of its name constraints) and in a ``[profiles.<p>]`` table (the
subjects and directoryName SANs of that profile's certificates); a CA's or profile's
entries override the default's, attribute by attribute. Without any table the name
encoder keeps its defaults (rust/porthos-core/src/x509/name_encode.rs), byte for byte.

Validated at load: an unknown attribute or type, a type the attribute's syntax does
not allow (countryName is always PrintableString, domainComponent always IA5String,
IA5String is no DirectoryString choice), or a value of the CP/CPS data the chosen type
cannot hold fails with the field path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from porthos.cpcps.fields import OID_RE, SHORT_NAMES, as_table, as_text, fail, join
from porthos.exceptions import EncodeError

__all__ = ["STRING_KINDS", "check_name", "layered", "name_strings_table"]

STRING_KINDS = ("printable", "utf8", "ia5", "printable-else-utf8")


def _encode(attrs: Sequence[tuple[str, str]], strings: Mapping[str, str] | None) -> bytes:
    from porthos import _native  # read on use: this module imports without the extension

    return _native.encode_name(list(attrs), None if strings is None else dict(strings))


def name_strings_table(value: Any, path: str) -> dict[str, str]:
    """A ``name_strings`` table, each entry checked with its path."""
    out: dict[str, str] = {}
    for attr, kind in as_table(value, path).items():
        p = join(path, attr)
        if attr not in SHORT_NAMES and not OID_RE.fullmatch(attr):
            raise fail(p, f"unknown attribute {attr!r}")
        text = as_text(kind, p)
        if text not in STRING_KINDS:
            raise fail(p, f"unknown string type {text!r}; known: {', '.join(STRING_KINDS)}")
        out[attr] = text
    try:
        # The attribute/type rules live with the encoder (one table, in Rust).
        _encode([], out)
    except EncodeError as exc:
        raise fail(path, str(exc).removeprefix("name_strings: ")) from None
    return out


def layered(
    default: Mapping[str, str] | None, override: Mapping[str, str] | None
) -> dict[str, str] | None:
    """``override``'s entries over ``default``'s (None when neither is given)."""
    if default is None and override is None:
        return None
    return {**(default or {}), **(override or {})}


def check_name(
    attrs: Sequence[tuple[str, str]], strings: Mapping[str, str] | None, path: str
) -> None:
    """Every value of ``attrs`` (a name of the CP/CPS data at ``path``) fits the string
    type ``strings`` gives its attribute; else ProfileError naming ``path[i][1]``."""
    for i, (attr, value) in enumerate(attrs):
        try:
            _encode([(attr, value)], strings)
        except EncodeError as exc:
            reason = str(exc).split("cannot encode: ", 1)[-1].split(" at byte", 1)[0]
            raise fail(f"{path}[{i}][1]", f"{value!r} ({attr}): {reason}") from None
