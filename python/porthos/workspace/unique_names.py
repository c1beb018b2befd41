"""Unique subject names, when the CP/CPS data says so
(``[ra] unique_names``): a subject that a valid certificate already holds with another
key is refused (its holder re-keys instead), and so is a second key for one subject in
a batch. The one implementation for every issuing path: ``porthos issue`` through
``issue_batch(unique_names=True)`` and the RA's procedures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from porthos import _native
from porthos.cpcps import policy
from porthos.cpcps.profiles import Profile
from porthos.issuance.names import subject_text
from porthos.status import CsrStatus, IssueStatus
from porthos.store import registry
from porthos.store.sqlite import Store

__all__ = ["unique_name_refusals", "unique_names_screen"]

#: Refusals by batch index, as the issue_batch screen hook returns them.
Refusals = dict[int, tuple[IssueStatus, str]]


def unique_name_refusals(
    store: Store,
    prof: Profile,
    batch: _native.CsrBatch,
    live: Sequence[int],
    now: int,
    at: Sequence[int] | None = None,
    section: str = "3.1",
) -> Refusals:
    """Refusals by batch index among ``live``. ``at`` maps a batch index to the input
    index named in messages (default: the same)."""
    refusals: Refusals = {}
    claimed: dict[str, tuple[bytes, int]] = {}
    conn = store.conn
    for k in live:
        try:
            subject = subject_text(policy.build_subject(prof, batch.subject(k)))
        except policy.SubjectInvalid:
            continue  # issue_batch refuses it with the subject rule's reason
        key = hashlib.sha256(batch.spki(k)).digest()
        holder = next(
            (h for h in registry.valid_holders(conn, subject, now) if h.spki_sha256 != key),
            None,
        )
        if holder is not None:
            refusals[k] = (
                IssueStatus.REFUSED,
                f"subject {subject!r} is held by valid certificate {holder.serial_hex} of "
                f"{holder.ca_name} with another key; names are unique (§{section}), the "
                "holder re-keys",
            )
            continue
        first = claimed.get(subject)
        if first is not None and first[0] != key:
            refusals[k] = (
                IssueStatus.REFUSED,
                f"subject {subject!r} is requested by item {first[1]} of this batch "
                f"with another key (§{section})",
            )
        elif first is None:
            claimed[subject] = (key, k if at is None else at[k])
    return refusals


def unique_names_screen(
    store: Store, prof: Profile, now: int, section: str
) -> Callable[[_native.CsrBatch], Refusals]:
    """The issue_batch screen hook of the check, over every request that passed proof
    of possession."""

    def screen(batch: _native.CsrBatch) -> Refusals:
        live = np.flatnonzero(batch.status == CsrStatus.OK).tolist()
        return unique_name_refusals(store, prof, batch, live, now, section=section)

    return screen
