"""Assurance-level lattices: the certificatePolicies of a profile computed from the
levels it asserts, as RFC 3647 §7.1.6 of a bridge-style CP describes ("a certificate
that asserts a level also asserts every lower one, except ...").

The document declares its levels once (``[policy_levels]``) and a certificate_policies
entry names levels instead of OIDs; this module resolves such entries into the
``policies`` list the extensions reader validates, before anything else reads the
document, so the rest of the loader sees plain OIDs. TOML form (docs/cpcps.md):

    [policy_levels]
    section = "7.1.6"
    [policy_levels.levels]
    low  = { oid = "1.2.3.1", tags = ["device-only"] }
    mid  = { oid = "1.2.3.2", implies = ["low"] }
    high = { oid = "1.2.3.3", implies = ["mid"], drops = ["device-only"] }
    solo = { oid = "1.2.3.9", alone = true }

    { type = "certificate_policies", assurance = { levels = ["high"], exclude_tags = [] } }

* ``implies``: the levels directly below; a level asserts itself and, transitively,
  everything it implies (listed before it: the lattice has no cycles).
* ``tags`` label levels; ``drops`` (on a level) and ``exclude_tags`` (on a profile)
  remove every level carrying one of those tags from the set (a CP's "only in
  certificates issued to devices", "software OIDs only for encryption certificates").
* ``alone``: the level is asserted with no other (a subscriber profile naming it names
  nothing else).

The resolved OIDs are listed in the order the levels are declared, highest first
(reverse declaration order), so a certificate lists its own level before those below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porthos.cpcps.fields import (
    NAME_RE,
    as_bool,
    as_list,
    as_oid,
    as_table,
    as_text,
    fail,
    join,
    require_keys,
)

__all__ = ["Level", "PolicyLevels", "parse_levels", "resolve_document"]


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    oid: str
    implies: tuple[str, ...]
    tags: frozenset[str]
    drops: frozenset[str]
    alone: bool


@dataclass(frozen=True)
class PolicyLevels:
    """The declared levels, in declaration order."""

    levels: Mapping[str, Level]

    def closure(self, name: str) -> list[str]:
        """The levels ``name`` asserts: itself and all it implies, minus what it drops."""
        level = self.levels[name]
        out = {name}
        for lower in level.implies:
            out.update(self.closure(lower))
        return [n for n in self.levels if n in out and not (self.levels[n].tags & level.drops)]

    def resolve(self, names: list[str], exclude_tags: frozenset[str] = frozenset()) -> list[str]:
        """The OIDs a certificate asserting ``names`` carries, highest level first."""
        asserted: set[str] = set()
        for n in names:
            asserted.update(self.closure(n))
        ordered = [n for n in reversed(list(self.levels)) if n in asserted]
        return [self.levels[n].oid for n in ordered if not (self.levels[n].tags & exclude_tags)]


def _names(value: Any, path: str, known: Mapping[str, Level] | None = None) -> list[str]:
    out: list[str] = []
    for j, item in enumerate(as_list(value, path)):
        name = as_text(item, f"{path}[{j}]")
        if known is not None and name not in known:
            raise fail(f"{path}[{j}]", f"unknown level {name!r} (declare it first)")
        if name in out:
            raise fail(f"{path}[{j}]", f"{name!r} listed twice")
        out.append(name)
    return out


def parse_levels(value: Any, path: str) -> PolicyLevels:
    t = as_table(value, path)
    require_keys(t, path, {"levels"}, {"section"})
    if "section" in t:
        as_text(t["section"], join(path, "section"))
    lp = join(path, "levels")
    levels: dict[str, Level] = {}
    oids: dict[str, str] = {}
    for name, raw in as_table(t["levels"], lp).items():
        p = join(lp, name)
        if not NAME_RE.fullmatch(name):
            raise fail(p, "level names are lower-case letters, digits and '-'")
        e = as_table(raw, p)
        require_keys(e, p, {"oid"}, {"implies", "tags", "drops", "alone"})
        oid = as_oid(e["oid"], join(p, "oid"))
        if oid in oids:
            raise fail(join(p, "oid"), f"same OID as level {oids[oid]!r}")
        oids[oid] = name
        # Only levels declared earlier may be implied: no cycles, one reading order.
        implies = _names(e.get("implies", []), join(p, "implies"), levels)
        alone = as_bool(e.get("alone", False), join(p, "alone"))
        if alone and implies:
            raise fail(join(p, "implies"), "a level asserted alone implies no other")
        levels[name] = Level(
            name=name,
            oid=oid,
            implies=tuple(implies),
            tags=frozenset(_names(e.get("tags", []), join(p, "tags"))),
            drops=frozenset(_names(e.get("drops", []), join(p, "drops"))),
            alone=alone,
        )
    if not levels:
        raise fail(lp, "at least one level required")
    return PolicyLevels(levels)


def _assurance(value: Any, path: str, lattice: PolicyLevels, subscriber: bool) -> list[str]:
    t = as_table(value, path)
    require_keys(t, path, {"levels"}, {"exclude_tags"})
    names = _names(t["levels"], join(path, "levels"), lattice.levels)
    if not names:
        raise fail(join(path, "levels"), "at least one level required")
    if subscriber and len(names) > 1:
        for j, n in enumerate(names):
            if lattice.levels[n].alone:
                raise fail(f"{join(path, 'levels')}[{j}]", f"{n} is asserted alone")
    known_tags = {tag for lv in lattice.levels.values() for tag in lv.tags}
    ep = join(path, "exclude_tags")
    exclude = _names(t.get("exclude_tags", []), ep)
    for j, tag in enumerate(exclude):
        if tag not in known_tags:
            raise fail(f"{ep}[{j}]", f"no level is tagged {tag!r}")
    oids = lattice.resolve(names, frozenset(exclude))
    if not oids:
        raise fail(path, "every asserted level is excluded: no policy left")
    return oids


def resolve_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document with every ``certificate_policies`` entry that names ``assurance``
    levels rewritten to plain ``policies`` (and ``policy_levels`` removed); a document
    without ``policy_levels`` is returned as it is (an ``assurance`` then fails with its
    path). Every error names the path of the original entry."""
    doc = dict(as_table(doc, ""))
    lattice = (
        parse_levels(doc.pop("policy_levels"), "policy_levels") if "policy_levels" in doc else None
    )
    for section, subscriber in (("cas", False), ("cross_profiles", False), ("profiles", True)):
        if not isinstance(doc.get(section), dict):
            continue  # the loader reports the missing or malformed table
        out: dict[str, Any] = {}
        for name, raw in doc[section].items():
            if not isinstance(raw, dict) or not isinstance(raw.get("extensions"), list):
                out[name] = raw
                continue
            exts = []
            for i, ext in enumerate(raw["extensions"]):
                if isinstance(ext, dict) and ext.get("type") == "certificate_policies":
                    if "assurance" in ext:
                        p = f"{section}.{name}.extensions[{i}]"
                        if lattice is None:
                            raise fail(join(p, "assurance"), "no [policy_levels] in this document")
                        if "policies" in ext:
                            raise fail(p, "either policies or assurance, not both")
                        oids = _assurance(
                            ext["assurance"], join(p, "assurance"), lattice, subscriber
                        )
                        ext = {k: v for k, v in ext.items() if k != "assurance"}
                        ext["policies"] = [{"oid": o} for o in oids]
                exts.append(ext)
            out[name] = {**raw, "extensions": exts}
        doc[section] = out
    return doc
