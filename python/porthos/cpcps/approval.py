"""Multi-person approval before issuance (RFC 3647 §5.2.2 "number of persons required
per task"): the ``approval`` key of a profile, its validation at load, and the check
that a set of approvals satisfies it.

Grammar (a profile key)::

    approval = { persons = 2, roles = ["ra"], exclude = ["audit-administrator"],
                 section = "5.2.2" }

* ``persons``: how many distinct persons must approve (2..10);
* ``roles``: roles that must be among them, one distinct approver per entry (a role may
  be listed twice to ask for two approvers holding it); ``"any"`` fills a slot with
  anyone and may be left out (``["ra"]`` = ``["ra", "any"]`` for two persons). At most
  ``persons`` entries;
* ``exclude`` (optional): roles whose holders never count towards the rule (a CP/CPS
  may say that multi-party control is not achieved by an audit administrator);
* ``section``: the CP/CPS section that sets the rule.

"Two persons, one of them a Registration Authority" is ``persons = 2, roles = ["ra"]``.
Roles are names (lower-case letters, digits, '-'); who holds which role is what the
approver declares and the audit trail records, as with every operator name.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from porthos.cpcps.fields import NAME_RE, as_list, as_table, as_text, fail, join, require_keys

__all__ = ["ANY_ROLE", "MAX_PERSONS", "ApprovalRule", "approval_rule"]

ANY_ROLE = "any"
MAX_PERSONS = 10


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """``persons`` distinct approvers, among whom one per entry of ``roles`` holds that
    role; holders of an ``exclude``-d role do not count."""

    persons: int
    roles: tuple[str, ...]
    exclude: tuple[str, ...]
    section: str

    def describe(self) -> str:
        """The rule in words, for messages: "2 persons, at least one ra (§5.2.2)"."""
        needed = [r for r in self.roles if r != ANY_ROLE]
        text = f"{self.persons} distinct persons"
        if needed:
            text += ", among them " + ", ".join(f"one {r}" for r in needed)
        if self.exclude:
            text += f" (never {', '.join(self.exclude)})"
        return f"{text} (§{self.section})"

    def unmet(self, approvals: Sequence[tuple[str, str]]) -> str | None:
        """Why the (operator, role) approvals do not satisfy the rule, or None. An
        operator counts once (names compared case-insensitively, spaces trimmed); an
        excluded role does not count."""
        by_person: dict[str, str] = {}
        for operator, role in approvals:
            key = " ".join(operator.split()).casefold()
            if role not in self.exclude:
                by_person.setdefault(key, role)
        people = list(by_person.values())
        if len(people) < self.persons:
            return f"{len(people)} of the {self.persons} distinct persons have approved"
        needed = [r for r in self.roles if r != ANY_ROLE]
        # Few persons (<= MAX_PERSONS): try every assignment of approvers to the roles.
        for chosen in itertools.permutations(people, len(needed)):
            if all(have == want for have, want in zip(chosen, needed, strict=True)):
                return None
        return f"no approvals from distinct persons in the roles {', '.join(needed)}"


def approval_rule(value: Any, path: str) -> ApprovalRule:
    """Validate a profile's ``approval`` table (module docstring)."""
    t = as_table(value, path)
    require_keys(t, path, {"persons", "roles", "section"}, {"exclude"})
    persons = t["persons"]
    pp = join(path, "persons")
    if isinstance(persons, bool) or not isinstance(persons, int):
        raise fail(pp, f"expected an integer, got {persons!r}")
    if not 2 <= persons <= MAX_PERSONS:
        raise fail(pp, f"an approval rule names 2..{MAX_PERSONS} persons, got {persons}")
    lists: dict[str, list[str]] = {}
    for key in ("roles", "exclude"):
        kp = join(path, key)
        out = []
        for j, item in enumerate(as_list(t.get(key, []), kp)):
            role = as_text(item, f"{kp}[{j}]")
            if not NAME_RE.fullmatch(role):
                raise fail(f"{kp}[{j}]", "role names are lower-case letters, digits and '-'")
            out.append(role)
        lists[key] = out
    roles, exclude = lists["roles"], lists["exclude"]
    if len(roles) > persons:
        raise fail(join(path, "roles"), f"{len(roles)} roles for {persons} persons")
    for j, role in enumerate(exclude):
        if role == ANY_ROLE or role in roles:
            raise fail(f"{join(path, 'exclude')}[{j}]", f"{role!r} is also a required role")
    return ApprovalRule(
        persons=persons,
        roles=tuple(roles),
        exclude=tuple(dict.fromkeys(exclude)),
        section=as_text(t["section"], join(path, "section")),
    )
