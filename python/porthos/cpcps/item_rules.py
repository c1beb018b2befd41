"""What a profile accepts of the RA's per-request data (docs/ra-data.md): the SAN
kinds its ``subject_alt_name`` names in ``from`` / ``required``, and an item's own
notAfter under its ``item_not_after`` rule. A rule never raises for a bad item: it
answers a refusal (IssueStatus, reason) for that request, so one item never stops a
batch; the batch (issuance/batch.py) applies the verdicts, by request index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from porthos.status import IssueStatus
from porthos.timestamps import iso_utc

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile
    from porthos.issuance.batch_hooks import ItemColumns, Sans
    from porthos.issuance.item_data import ItemData

__all__ = ["ITEM_NOT_AFTER_RULES", "judge_items"]

#: ``item_not_after``: what happens to an item's notAfter later than the profile's
#: validity end or the CA's notAfter: "clamp" (cut to the earlier of the two) or
#: "refuse" (the item is refused). A profile without the key takes no per-item notAfter.
ITEM_NOT_AFTER_RULES = ("clamp", "refuse")


def _sans_verdict(prof: Profile, sans: Sequence[tuple[str, object]] | None) -> str:
    """'' when ``prof`` accepts the RA's SAN entries of one item, else why not."""
    kinds = [kind for kind, _ in sans or ()]
    if kinds and not prof.san_from:
        return (
            f"SANs that the RA data does not support: profile {prof.name} takes no SAN "
            f"from the RA data (given: {', '.join(kinds)})"
        )
    extra = sorted({k for k in kinds if k not in prof.san_from})
    if extra:
        return (
            f"SANs that the RA data does not support: {', '.join(extra)} "
            f"(profile {prof.name} takes {', '.join(prof.san_from)})"
        )
    missing = [k for k in prof.san_required if k not in kinds]
    if missing:
        return (
            f"the RA data gives no {', '.join(missing)} SAN, which profile {prof.name} "
            f"requires (§{prof.section})"
        )
    return ""


def _not_after_verdict(
    prof: Profile, wanted: int, not_before: int, profile_end: int, ca_end: int, ca_label: str
) -> tuple[int | None, str]:
    """(notAfter, '') for an item that asks for ``wanted``, or (None, why not)."""
    if prof.item_not_after is None:
        return None, f"profile {prof.name} takes no per-item notAfter (item_not_after unset)"
    if wanted <= not_before:
        return None, (
            f"card expiry in the past: notAfter {iso_utc(wanted)} is not after "
            f"notBefore {iso_utc(not_before)}"
        )
    limit, what = (
        (profile_end, f"profile {prof.name}'s validity ({prof.validity})")
        if profile_end <= ca_end
        else (ca_end, f"{ca_label}'s notAfter")
    )
    if wanted <= limit:
        return wanted, ""
    if prof.item_not_after == "clamp":
        return limit, ""
    return None, f"notAfter {iso_utc(wanted)} is later than {what}, {iso_utc(limit)}"


def judge_items(
    prof: Profile,
    items: Sequence[ItemData],
    *,
    not_before: int,
    not_after: int,
    ca_not_after: int,
    ca_label: str = "the CA",
) -> ItemColumns:
    """The batch columns for the RA data of each request (``items``, request order):
    the SAN entries to add, each item's notAfter (``not_after``, the profile's end,
    where it gives none) and the refusals."""
    # Read on use: the loader imports this module without the extension.
    from porthos.issuance.batch_hooks import ItemColumns

    refused: dict[int, tuple[int, str]] = {}
    sans: list[Sans | None] = []
    ends: list[int] = []
    any_sans = any_end = False
    for i, item in enumerate(items):
        end = not_after
        why = _sans_verdict(prof, item.sans)
        if why:
            refused[i] = (int(IssueStatus.SUBJECT_INVALID), why)
        elif item.not_after is not None:
            decided, why = _not_after_verdict(
                prof, item.not_after, not_before, not_after, ca_not_after, ca_label
            )
            if decided is None:
                refused[i] = (int(IssueStatus.REFUSED), why)
            else:
                end, any_end = decided, True
        entries = list(item.sans) if item.sans else None
        any_sans = any_sans or entries is not None
        sans.append(entries)
        ends.append(end)
    return ItemColumns(
        sans=sans if any_sans else None, not_after=ends if any_end else None, refused=refused
    )
