"""What a batch issuance (issuance/batch.py) asks of its caller, and hands it back.

Hooks: ``ScreenHook`` (sees the parsed batch once, refuses items by index),
``NamingRule`` (a request -> the certificate's subject, or a refusal; per item, so per
piece of a streamed batch), ``SerialSource`` (N serials), ``Commit`` (stores each signed
piece, in one transaction). Each is a plain callable or a small protocol, so an
embedding CA writes its own without subclassing anything of porthos.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.status import IssueStatus

__all__ = [
    "Commit",
    "ItemColumns",
    "Naming",
    "NamingRule",
    "NoCommit",
    "Refusals",
    "ScreenHook",
    "Sans",
    "SerialSource",
    "ShardedTemplates",
    "SignedPiece",
    "Subject",
    "csr_subjects",
    "serial_texts",
]

Subject = list[tuple[str, str]]
#: Refused items by index in the parsed batch: (IssueStatus code, reason).
Refusals = Mapping[int, tuple[int, str]]
#: Sees the whole parsed batch once (after proof of possession, before serials) and
#: returns the items it refuses. An item refused already (bad signature, an earlier
#: hook) keeps its first refusal.
ScreenHook = Callable[[_native.CsrBatch], Refusals]
#: N -> N serials, one row of octets each (as ``_native.generate_serials``): RFC 5280
#: §4.1.2.2, positive, at most 20 octets, unique per issuer.
SerialSource = Callable[[int], NDArray[np.uint8]]


#: A certificate's subject alternative names: (kind, value), kind in
#: dns|email|uri|ip|upn|dirname (issuance/item_data.SAN_KINDS; a dirname's value is a
#: list of (attribute, value)): the per-item ``sans`` of ``_native.Template.issue``/``fill``.
Sans = list[tuple[str, Any]]
#: What a naming rule answers: statuses, reasons, subjects, and optionally the SANs
#: (one per item, None for an item without; the whole fourth list None: no SANs).
Naming = (
    tuple[Sequence[int], Sequence[str], Sequence[Subject | None]]
    | tuple[Sequence[int], Sequence[str], Sequence[Subject | None], Sequence[Sans | None] | None]
)


class NamingRule(Protocol):
    """The subject rule: for the items ``ok`` (indices into ``parsed``, each passed proof
    of possession and every screen), one (IssueStatus code, reason, certificate subject
    or None) each, as three lists in the order of ``ok``, and optionally a fourth: the
    SAN entries of each item (None: none), or None for the whole piece when the
    template has no SAN to fill. Called once per piece."""

    def __call__(self, parsed: _native.CsrBatch, ok: NDArray[np.intp]) -> Naming: ...


def csr_subjects(
    parsed: _native.CsrBatch, ok: NDArray[np.intp]
) -> tuple[list[int], list[str], list[Subject]]:
    """The default naming rule: every item is issued with its request's own subject."""
    subjects = parsed.subjects()
    picked = [subjects[j] for j in ok.tolist()]
    return [int(IssueStatus.ISSUED)] * len(picked), [""] * len(picked), picked


@dataclass(frozen=True, slots=True)
class ItemColumns:
    """Per-request values decided before the batch runs (the RA's data judged by the
    CP/CPS, cpcps/item_rules.py), each by request index (one slot per request):

    * ``sans``: SAN entries added after the naming rule's (None: none for any item);
    * ``not_after``: each request's notAfter (None: the batch's for every item);
    * ``refused``: requests refused already, (IssueStatus, reason) each; they are
      parsed, but get no serial."""

    sans: Sequence[Sans | None] | None = None
    not_after: Sequence[int] | None = None
    refused: Mapping[int, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ShardedTemplates:
    """A template per CRL shard: the serial decides the shard (``_native.crl_shard_of``)
    and each shard's template names its own CRL distribution point."""

    count: int
    template_for: Callable[[int], _native.Template]


@dataclass(slots=True)
class SignedPiece:
    """What a commit stores of one piece: input index, subject, SPKI SHA-256, serial
    (lower-case hex) and certificate (None where an external signer failed the item) of
    each accepted request, in request order."""

    at: list[int]
    subjects: list[Subject]
    spki_hashes: list[bytes]
    serials: list[str]
    certificates: list[bytes | None]
    issued_at: int
    #: Each item's notAfter where the items have their own (None: the batch's).
    not_after: list[int] | None = None


class Commit(Protocol):
    """Stores a batch as it is signed. ``transaction`` holds the whole batch: nothing
    leaves ``BatchIssuer.issue`` before it committed, and an exception rolls it back."""

    def transaction(self) -> AbstractContextManager[object]: ...

    def serials_allocated(self, serials: list[str]) -> None:
        """Every serial of the batch, in request order, once known: the streamed form
        calls this while the last pieces still sign (a record listing them can be
        encoded then)."""

    def store_piece(self, piece: SignedPiece) -> None:
        """One signed piece, inside ``transaction``; pieces come in request order."""

    def finish(self) -> None:
        """After the last piece, inside ``transaction``."""


def serial_texts(serials: NDArray[np.uint8]) -> list[str]:
    """Rows of serial octets -> lower-case hex text, one string each."""
    text, width = serials.tobytes().hex(), 2 * serials.shape[1]
    return [text[r * width : (r + 1) * width] for r in range(serials.shape[0])]


class NoCommit:
    """The commit of an issuer that stores nothing (an embedding CA keeps the result)."""

    def transaction(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def serials_allocated(self, serials: list[str]) -> None:
        pass

    def store_piece(self, piece: SignedPiece) -> None:
        pass

    def finish(self) -> None:
        pass
