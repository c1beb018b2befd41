"""A profile's validated extensions -> the template spec JSON of docs/template-spec.md.

What the TOML says in CP/CPS terms is turned into the spec's plain forms here, once per
template compile: a SAN's ``rule``/``from``/``required`` (policy: where the values come
from) are dropped, and the name_constraints subtrees become ``[kind, value]`` pairs, with each
directoryName encoded to DER (``dirname_hex``) and ``permitted_subject_rdns`` resolved
against the certified CA's subject."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["spec_json"]

# The TOML subtree kinds (ca_constraints.SUBTREE_KINDS) -> the spec's GeneralName kinds.
_SPEC_KIND = {"dns": "dns", "rfc822": "email", "uri": "uri", "ip": "ip"}


def _dirname_hex(name: Sequence[Sequence[str]], name_strings: Mapping[str, str] | None) -> str:
    from porthos import _native  # read on use: this module imports without the extension

    pairs = [(str(a), str(v)) for a, v in name]
    strings = None if name_strings is None else dict(name_strings)
    return _native.encode_name(pairs, strings).hex()


def _subtrees(
    items: Sequence[Mapping[str, Any]], name_strings: Mapping[str, str] | None
) -> list[list[str]]:
    out = []
    for item in items:
        ((kind, value),) = item.items()
        if kind == "directory_name":
            out.append(["dirname_hex", _dirname_hex(value, name_strings)])
        else:
            out.append([_SPEC_KIND[kind], value])
    return out


def _entry(
    e: Mapping[str, Any],
    subject: Sequence[tuple[str, str]] | None,
    name_strings: Mapping[str, str] | None,
) -> dict[str, Any]:
    if e["type"] == "subject_alt_name":
        return {k: v for k, v in e.items() if k not in ("rule", "from", "required")}
    if e["type"] != "name_constraints":
        return dict(e)
    permitted = _subtrees(e.get("permitted", []), name_strings)
    n = e.get("permitted_subject_rdns")
    if n is not None:
        # CP-style "PERMITTED: DIRNAME equal to the last N RDN values of the Subject DN"
        # (as printed, most specific first) = the first N RDNs in DER order.
        if subject is None or len(subject) < n:
            from porthos.exceptions import ProfileError

            have = 0 if subject is None else len(subject)
            raise ProfileError(
                f"name_constraints.permitted_subject_rdns = {n}, the subject has {have} RDNs"
            )
        permitted.append(["dirname_hex", _dirname_hex(subject[:n], name_strings)])
    out: dict[str, Any] = {"type": "name_constraints", "permitted": permitted,
                           "excluded": _subtrees(e.get("excluded", []), name_strings)}  # fmt: skip
    if "critical" in e:
        out["critical"] = e["critical"]
    return out


def spec_json(
    extensions: Sequence[Mapping[str, Any]],
    *,
    subject: Sequence[tuple[str, str]] | None = None,
    name_strings: Mapping[str, str] | None = None,
) -> str:
    """The spec JSON of ``extensions`` (validated entries, cpcps/extensions.py).
    ``subject``: the certified CA's subject (for ``permitted_subject_rdns``);
    ``name_strings``: the DirectoryString choice per attribute (docs/cpcps.md)."""
    exts = [_entry(e, subject, name_strings) for e in extensions]
    doc: dict[str, Any] = {"extensions": exts}
    if name_strings is not None:
        doc["name_strings"] = dict(name_strings)
    return json.dumps(doc, separators=(",", ":"))
