"""The batch issuance pipeline as an object (ARCHITECTURE.md, "Data flow of a batch
issuance"): requests -> one Rust parse + proof-of-possession check -> screen hooks ->
the naming rule -> serials -> fill + sign -> certificates, with a commit hook that
stores each signed piece.

It knows no workspace, no store and no PKI: a CA that embeds porthos gives a
``BatchIssuer`` its own key or signer (``_native.SoftwareKey`` or a
``signers.DigestSigner``), its template (``BatchIssuer.from_spec``: template spec JSON +
issuer certificate) and its serial source, and optionally these hooks (their
contracts: issuance/batch_hooks.py):

* ``screens``: hooks that see the whole parsed batch once (``ScreenHook``) and refuse
  items by index with a status and a reason: registration checks, uniqueness, ...;
* ``naming``: the per-item rule that turns a request into the certificate subject, or
  refuses it (``NamingRule``; default: the request's own subject), and may give each
  item's subject alternative names for the template's SAN hole. It is called per
  piece of a streamed batch, so it must judge each item on its own;
* ``commit``: what stores each signed piece, inside one transaction (``Commit``).

Per-item problems are statuses and reasons in the result, never exceptions.

A large batch signed by a software key on more than one core is streamed: pieces of
``PIPELINE_PIECE`` requests go parse -> naming -> sign -> commit, the Rust stages (GIL
released, every core) on the helper thread of ``pipeline.StageWorker`` and the Python
stages (naming rule, store rows, inserts) on the calling thread, so each overlaps the
other's work on the neighbouring pieces. Done one after the other, the serial Python +
SQLite part (~15 µs a request) left the cores idle for about a third of the batch. Same
verdicts and the same order either way; screen hooks, which see the whole batch, turn
streaming off.

A batch signed on one thread (``threads=1``) is streamed too, from 128 requests on, in
pieces that grow from ``PIPELINE_FIRST_1T``, with the parse + proof-of-possession check
on a verifier thread of its own that runs ahead of the signer (``StageWorker(split=True)``):
the signing stays on one thread, and the ~40 µs a request of work that is not signing
(issue 16 §5: verify ~13-19 µs, naming rule + RA data ~13 µs, store rows ~10 µs) runs
beside it instead of between its signatures.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.exceptions import BatchArgumentError
from porthos.issuance import signers
from porthos.issuance.batch_hooks import (
    Commit,
    ItemColumns,
    NamingRule,
    NoCommit,
    Refusals,
    Sans,
    ScreenHook,
    SerialSource,
    ShardedTemplates,
    SignedPiece,
    Subject,
    csr_subjects,
    serial_texts,
)
from porthos.issuance.csr_input import CsrInput, der_to_pem, split_csr_input
from porthos.issuance.pipeline import StageWorker, piece_cuts
from porthos.issuance.threads import check_threads
from porthos.status import CsrStatus, IssueStatus
from porthos.timestamps import iso_utc

__all__ = ["PIPELINE_LAST", "PIPELINE_PIECE", "BatchIssuer", "BatchResult"]

# Requests per piece of a streamed batch: small enough that the first parse is short,
# large enough that each Rust call is still a real batch. At N = 10,000 on 2 cores,
# 2,048 and 3,072 were within noise of each other and ~3 % ahead of 1,024 (medians of
# 7, issue 2 notes). The last pieces shrink to PIPELINE_LAST (pipeline.piece_cuts): the
# commit of the last piece has nothing left to overlap with. Read at each batch, so a
# test may shrink them.
PIPELINE_PIECE = 2048
PIPELINE_LAST = 256
# The same for a batch signed on one thread (issue 16 §5): each Rust call needs no size
# to spread over cores, so the parts that overlap nothing (the first piece's parse +
# screen, the last piece's store) are kept short: pieces grow from PIPELINE_FIRST_1T to
# PIPELINE_PIECE_1T (pipeline.piece_cuts), then shrink to PIPELINE_LAST_1T. Fewer, larger
# pieces in between cost less CPU per request than pieces of 128 throughout (each call
# starts its own one-thread pool, and the signer takes the GIL at each piece).
PIPELINE_PIECE_1T = 512
PIPELINE_FIRST_1T = 64
PIPELINE_LAST_1T = 32


@dataclass
class BatchResult:
    """One slot per input request: certificate DER (None if refused), status, reason."""

    certificates: list[bytes | None]
    status: NDArray[np.uint8]
    reasons: list[str]

    def __len__(self) -> int:
        return len(self.certificates)

    @property
    def issued_count(self) -> int:
        return int(np.count_nonzero(self.status == IssueStatus.ISSUED))

    @property
    def rejected_count(self) -> int:
        return len(self.certificates) - self.issued_count

    def issued(self) -> Iterator[tuple[int, bytes]]:
        """(input index, certificate DER) of each issued item."""
        for i, der in enumerate(self.certificates):
            if der is not None:
                yield i, der

    def rejected(self) -> Iterator[tuple[int, IssueStatus, str]]:
        """(input index, IssueStatus, reason) of each refused item."""
        for i in np.flatnonzero(self.status != IssueStatus.ISSUED).tolist():
            yield i, IssueStatus(int(self.status[i])), self.reasons[i]

    def pem(self) -> str:
        return "".join(der_to_pem(der) for _, der in self.issued())


@dataclass
class BatchIssuer:
    """Issues batches under one template (or one per CRL shard) with one signer.

    ``issuer_not_after``: the issuer certificate's notAfter; a batch whose notAfter
    would pass it is refused item by item, since such a certificate would be
    unverifiable for its tail (RFC 5280 §6.1.3 (a)(2)). ``issuer_label`` names the
    issuer in that reason."""

    template: _native.Template | ShardedTemplates
    signer: signers.Signer
    serials: SerialSource = _native.generate_serials
    naming: NamingRule = csr_subjects
    screens: Sequence[ScreenHook] = ()
    issuer_not_after: int | None = None
    issuer_label: str = "the issuer"

    @classmethod
    def from_spec(
        cls, spec_json: str, issuer_certificate: bytes, signer: signers.Signer, **hooks: Any
    ) -> BatchIssuer:
        """The template spec (docs/template-spec.md) compiled against the issuer
        certificate for ``signer``'s algorithm; ``hooks``: the other fields."""
        template = _native.Template.for_issuer(
            spec_json, issuer_certificate, signer.signature_algorithm
        )
        return cls(template, signer, **hooks)

    def issue(
        self,
        csrs: CsrInput,
        *,
        not_before: int,
        not_after: int,
        threads: int | None = None,
        parsed: _native.CsrBatch | None = None,
        screens: Sequence[ScreenHook] = (),
        commit: Commit | None = None,
        items: ItemColumns | None = None,
    ) -> BatchResult:
        """One certificate per acceptable request, valid ``not_before``..``not_after``
        (Unix seconds); one slot per input in the result.

        ``parsed``: the requests' ``_native.parse_csrs(..., verify=True)`` batch when
        the caller has it already: they are not parsed again, and its statuses are the
        proof-of-possession verdicts (not checked again); one item per decodable
        request of ``csrs``. ``screens`` run after this issuer's own. ``commit``: stores the signed
        pieces, in one transaction that ends before this returns. ``items``: values decided
        per request before the batch (SANs, notAfter, refusals), one slot per request.

        A subject or SAN the template cannot encode (a value outside the PrintableString
        its ``name_strings`` asks for, a malformed address) refuses that item
        (SUBJECT_INVALID, the encoder's reason), not the batch."""
        return _Batch(self, csrs, not_before, not_after, threads, parsed,
                      [*self.screens, *screens], commit, items).run()  # fmt: skip


def _name_the_attribute(reason: str, subject: Subject) -> str:
    """The encoder's "subject[i]: why" with the attribute and value of subject[i]."""
    m = _SUBJECT_AT(reason)
    if m is None or int(m[1]) >= len(subject):
        return reason
    attr, value = subject[int(m[1])]
    return f"{reason} ({attr}={value!r})"


_SUBJECT_AT = re.compile(r"subject\[(\d+)\]:").match


def _checked_items(items: ItemColumns | None, n: int) -> ItemColumns | None:
    """``items`` when each of its columns has one slot per request (else the batch
    argument is malformed); None when it says nothing."""
    if items is None:
        return None
    for name, column in (("sans", items.sans), ("not_after", items.not_after)):
        if column is not None and len(column) != n:
            raise BatchArgumentError(f"items.{name} has {len(column)} entries for {n} requests")
    for i in items.refused:
        if not 0 <= i < n:
            raise BatchArgumentError(f"items.refused names request {i} of {n}")
    if items.sans is None and items.not_after is None and not items.refused:
        return None
    return items


@dataclass(slots=True)
class _Screened:
    """The requests of one piece that passed every check, in request order: input
    index, the subject to issue, the SPKI DER and its SHA-256."""

    at: list[int] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    spkis: list[bytes] = field(default_factory=list)
    spki_hashes: list[bytes] = field(default_factory=list)
    #: Each item's SAN entries, or None when the naming rule gave no SANs.
    sans: list[Sans | None] | None = None
    #: Each item's notAfter, or None when every item has the batch's.
    not_after: list[int] | None = None

    def keep(self, rows: list[int]) -> None:
        """Keep only the items at ``rows`` (positions in this piece, in order)."""
        self.at = [self.at[r] for r in rows]
        self.subjects = [self.subjects[r] for r in rows]
        self.spkis = [self.spkis[r] for r in rows]
        self.spki_hashes = [self.spki_hashes[r] for r in rows]
        if self.sans is not None:
            self.sans = [self.sans[r] for r in rows]
        if self.not_after is not None:
            self.not_after = [self.not_after[r] for r in rows]


class _Batch:
    """One run of ``BatchIssuer.issue``: the per-item verdicts as they are decided."""

    def __init__(
        self,
        issuer: BatchIssuer,
        csrs: CsrInput,
        not_before: int,
        not_after: int,
        threads: int | None,
        parsed: _native.CsrBatch | None,
        screens: list[ScreenHook],
        commit: Commit | None,
        items: ItemColumns | None = None,
    ) -> None:
        self.issuer = issuer
        self.not_before, self.not_after = int(not_before), int(not_after)
        self.threads = check_threads(threads)
        self.screens = screens
        self.commit: Commit = NoCommit() if commit is None else commit
        self.ders, self.parsed_at, malformed = split_csr_input(csrs)
        if parsed is not None and len(parsed) != len(self.ders):
            raise BatchArgumentError(
                f"parsed holds {len(parsed)} requests, the input {len(self.ders)} decodable ones"
            )
        self.parsed = parsed
        n = len(self.ders) + len(malformed)
        self.status = np.zeros(n, dtype=np.uint8)
        self.reasons = [""] * n
        self.certificates: list[bytes | None] = [None] * n
        for i, error in malformed:
            self.status[i] = IssueStatus.MALFORMED
            self.reasons[i] = error
        self.items = _checked_items(items, n)
        self.refusal = self._outlives(self.not_after)
        self.first_seen: dict[bytes, int] = {}

    def _outlives(self, not_after: int) -> str:
        """Why a certificate ending at ``not_after`` is refused ('' when it is not)."""
        limit = self.issuer.issuer_not_after
        if limit is not None and not_after > limit:
            return (
                f"notAfter {iso_utc(not_after)} would be later than "
                f"{self.issuer.issuer_label}'s notAfter {iso_utc(limit)} (RFC 5280 §6.1.3)"
            )
        return ""

    def _item_end_refusal(self, not_after: int) -> str:
        """Why an item's own notAfter is refused ('' when it is not)."""
        if not_after <= self.not_before:
            return (
                f"notAfter {iso_utc(not_after)} is not after notBefore {iso_utc(self.not_before)}"
            )
        return self._outlives(not_after)

    def run(self) -> BatchResult:
        issuer = self.issuer
        one_thread = self.threads == 1
        piece = PIPELINE_PIECE_1T if one_thread else PIPELINE_PIECE
        first = min(PIPELINE_FIRST_1T, piece) if one_thread else piece
        streamed = (
            self.parsed is None
            and not self.screens  # they see the whole batch at once
            and isinstance(issuer.template, _native.Template)
            and isinstance(issuer.signer, _native.SoftwareKey)  # external signers: one call
            and not self.refusal
            and len(self.parsed_at) >= 2 * first
        )
        if streamed:
            last = PIPELINE_LAST_1T if one_thread else PIPELINE_LAST
            self._issue_streamed(piece, last, first, split=one_thread)
        elif self.parsed_at:
            parsed = self.parsed
            if parsed is None:
                parsed = _native.parse_csrs(self.ders, verify=True, threads=self.threads)
            self._issue_whole(self.screen(0, parsed))
        return BatchResult(self.certificates, self.status, self.reasons)

    # -- screening ----------------------------------------------------------------------

    def screen(self, lo: int, parsed: _native.CsrBatch) -> _Screened:
        """Verdicts for requests ders[lo:lo + len(parsed)], parsed and verified as
        ``parsed``: refused ones get their status and reason; the accepted ones are
        returned, in request order."""
        status, reasons, parsed_at = self.status, self.reasons, self.parsed_at
        piece = _Screened()
        csr_status = parsed.status
        for j in np.flatnonzero(csr_status != CsrStatus.OK).tolist():
            code = int(csr_status[j])
            i = parsed_at[lo + j]
            # IssueStatus 1-4 mirror CsrStatus 1-4 (status.py).
            status[i] = code if 1 <= code <= 4 else IssueStatus.REFUSED
            reasons[i] = parsed.detail(j) or f"CSR status {code}"
        accepted = csr_status == CsrStatus.OK
        for hook in self.screens:
            self._apply_refusals(lo, parsed, accepted, hook(parsed))
        # Whole-batch columns and one naming call: per-item calls into Rust and into the
        # rule were most of the serial (one-core) part of issuance.
        ok = np.flatnonzero(accepted)
        named = self.issuer.naming(parsed, ok)
        decided, why, decided_subjects = named[0], named[1], named[2]
        decided_sans = named[3] if len(named) == 4 else None
        items = self.items
        extra_sans = None if items is None else items.sans
        ends = None if items is None else items.not_after
        refused_before = {} if items is None else items.refused
        if decided_sans is not None or extra_sans is not None:
            piece.sans = []
        if ends is not None:
            piece.not_after = []
        all_spkis = parsed.spkis()
        all_hashes = parsed.spki_sha256()
        ders, first_seen, refusal = self.ders, self.first_seen, self.refusal
        # Without a SAN rule the SAN column is repeat(None): no per-item index to keep.
        if decided_sans is not None and len(decided_sans) != len(decided):
            raise BatchArgumentError(
                f"naming gave {len(decided_sans)} SAN lists for {len(decided)} items"
            )
        if len(decided) != len(ok) or len(why) != len(ok) or len(decided_subjects) != len(ok):
            raise BatchArgumentError(f"naming gave verdicts for other than {len(ok)} items")
        item_sans = repeat(None) if decided_sans is None else decided_sans
        for j, code, reason, subject, sans in zip(  # lengths checked above (repeat is endless)
            ok.tolist(), decided, why, decided_subjects, item_sans, strict=False
        ):
            i = parsed_at[lo + j]
            if code != IssueStatus.ISSUED:
                status[i] = code
                reasons[i] = reason
                continue
            if i in refused_before:
                status[i], reasons[i] = refused_before[i]
                continue
            request = ders[lo + j]
            if request in first_seen:
                status[i] = IssueStatus.DUPLICATE_IN_BATCH
                reasons[i] = f"same request as item {first_seen[request]} of this batch"
                continue
            first_seen[request] = i
            why = refusal if ends is None else self._item_end_refusal(ends[i])
            if why:
                status[i] = IssueStatus.REFUSED
                reasons[i] = why
                continue
            assert subject is not None
            piece.at.append(i)
            piece.subjects.append(subject)
            piece.spkis.append(all_spkis[j])
            piece.spki_hashes.append(all_hashes[j])
            if piece.sans is not None:
                more = None if extra_sans is None else extra_sans[i]
                piece.sans.append([*(sans or ()), *more] if more else sans)
            if piece.not_after is not None:
                assert ends is not None
                piece.not_after.append(ends[i])
        self._refuse_unencodable(piece)
        return piece

    def _refuse_unencodable(self, piece: _Screened) -> None:
        """Refuse, one by one, the items whose subject or SANs the template cannot
        encode (the encoder's own check, ``Template.item_errors``), so that the fill
        never fails a whole batch. Templates without string types or SANs skip it: their
        subjects come from rules that only give encodable values."""
        template = self.issuer.template
        if not piece.at:
            return
        if not isinstance(template, _native.Template):
            template = template.template_for(0)  # shards differ only in their CDP
        if not template.has_name_strings and piece.sans is None:
            return
        errors = template.item_errors(subjects=piece.subjects, sans=piece.sans)
        bad = [r for r, e in enumerate(errors) if e]
        if not bad:
            return
        for r in bad:
            i = piece.at[r]
            self.status[i] = IssueStatus.SUBJECT_INVALID
            self.reasons[i] = _name_the_attribute(errors[r], piece.subjects[r])
        piece.keep([r for r, e in enumerate(errors) if not e])

    def _apply_refusals(
        self, lo: int, parsed: _native.CsrBatch, accepted: NDArray[np.bool_], refusals: Refusals
    ) -> None:
        for j, (code, reason) in refusals.items():
            if not 0 <= j < len(parsed):
                raise BatchArgumentError(f"screen hook refused item {j} of {len(parsed)}")
            if int(code) == IssueStatus.ISSUED:
                raise BatchArgumentError(f"screen hook refused item {j} with status ISSUED")
            if accepted[j]:  # the first refusal of an item stands
                accepted[j] = False
                i = self.parsed_at[lo + j]
                self.status[i] = int(code)
                self.reasons[i] = reason

    # -- signing ------------------------------------------------------------------------

    def _allocate(self, k: int) -> NDArray[np.uint8]:
        serials = self.issuer.serials(k)
        if serials.ndim != 2 or serials.shape[0] != k:
            raise BatchArgumentError(
                f"the serial source gave {serials.shape[0] if serials.ndim else 0} serials for {k}"
            )
        return serials

    def _columns(self, piece: _Screened, idx: list[int] | None, serials: Any) -> dict[str, Any]:
        """Template.issue/fill arguments for items ``idx`` of a piece (None: all of them,
        without a per-item copy)."""
        k = len(piece.at) if idx is None else len(idx)
        ends = piece.not_after
        columns = dict(
            serials=serials,
            not_before=np.full(k, self.not_before, dtype=np.int64),
            not_after=np.full(k, self.not_after, dtype=np.int64)
            if ends is None
            else np.asarray(ends if idx is None else [ends[j] for j in idx], dtype=np.int64),
            subjects=piece.subjects if idx is None else [piece.subjects[j] for j in idx],
            spkis=piece.spkis if idx is None else [piece.spkis[j] for j in idx],
        )
        sans = piece.sans
        if sans is not None:  # the template's SAN hole, one entry list per item
            columns["sans"] = sans if idx is None else [sans[j] for j in idx]
        return columns

    def _sign(
        self, piece: _Screened, serials: NDArray[np.uint8]
    ) -> tuple[list[bytes | None], dict[int, str]]:
        """The piece's certificates, in its order, and a reason for each item an external
        signer failed (None in the list; a PKCS#11 signer fails items alone)."""
        k = len(piece.at)
        template, signer = self.issuer.template, self.issuer.signer
        groups: list[tuple[_native.Template, NDArray[np.intp] | None]]
        if isinstance(template, _native.Template):
            groups = [(template, None)]
        else:
            # Sharded CDP: one compiled template per shard (its CDP names the shard URL);
            # the serial decides the shard, so items are grouped by it. A per-item CDP
            # hole would save the compiles, but the templates are cached by the caller
            # and the groups still sign in parallel.
            of = _native.crl_shard_of(serials, template.count)
            groups = [
                (template.template_for(int(s)), np.flatnonzero(of == s)) for s in np.unique(of)
            ]
        signed: list[bytes | None] = [None] * k
        failed: dict[int, str] = {}
        for group_template, idx in groups:
            at = list(range(k)) if idx is None else idx.tolist()
            args = self._columns(piece, None if idx is None else at,
                                 serials if idx is None else serials[idx])  # fmt: skip
            if isinstance(signer, signers.Pkcs11Signer):
                # One item the HSM cannot sign fails alone; the batch goes on (issue 5).
                part, part_status, part_reasons = signers.issue_certificates_partial(
                    group_template, signer, **args
                )
                for r, j in enumerate(at):
                    if part[r] is None:
                        failed[j] = f"{part_reasons[r]} (status {part_status[r]})"
            else:
                part = list(
                    signers.issue_certificates(
                        group_template, signer, threads=self.threads, **args
                    ).to_list()
                )
            for j, der in zip(at, part, strict=True):
                signed[j] = der
        return signed, failed

    def _issue_whole(self, piece: _Screened) -> None:
        """The sequential form: one sign of every accepted request, then one commit."""
        k = len(piece.at)
        if not k:
            return
        serials = self._allocate(k)
        texts = serial_texts(serials)
        signed, failed = self._sign(piece, serials)
        # Committed before any certificate leaves this call (ARCHITECTURE "Store").
        commit = self.commit
        with commit.transaction():
            commit.serials_allocated(texts)
            commit.store_piece(SignedPiece(piece.at, piece.subjects, piece.spki_hashes, texts,
                                     signed, int(time.time()), piece.not_after))  # fmt: skip
            commit.finish()
        for r, i in enumerate(piece.at):
            if r in failed:
                self.status[i] = IssueStatus.SIGNING_FAILED
                self.reasons[i] = f"HSM signing failed: {failed[r]}"
            else:
                self.certificates[i] = signed[r]

    def _issue_streamed(self, piece_size: int, last: int, first: int, *, split: bool) -> None:
        """The streamed form (module docstring): each piece's certificates go into
        ``certificates`` (returned only after the commit). Each piece's inputs are
        dropped once it is stored, so freeing them overlaps the signing instead of
        following the commit (~3 ms of the one-core tail at N = 10,000). ``split``: the
        parses run on a verifier thread of their own (pipeline.StageWorker)."""
        ders, threads = self.ders, self.threads
        cuts = piece_cuts(len(ders), piece_size, last, first)
        issued_at = int(time.time())
        commit, certificates = self.commit, self.certificates
        template, signer = self.issuer.template, self.issuer.signer
        assert isinstance(template, _native.Template)

        def parse(p: int) -> Any:
            return _native.parse_csrs(ders[cuts[p] : cuts[p + 1]], verify=True, threads=threads)

        def sign(piece: _Screened, serials: NDArray[np.uint8]) -> _native.DerBatch:
            args = self._columns(piece, None, serials)
            return signers.issue_certificates(template, signer, threads=threads, **args)

        def sign_filled(tbs: _native.DerBatch) -> _native.DerBatch:
            return signers.sign_filled(template, signer, tbs, threads=threads)

        def signing_job(piece: _Screened, serials: NDArray[np.uint8]) -> Callable[[], Any]:
            if not split:
                return functools.partial(sign, piece, serials)
            # One signing thread: this thread fills the piece (~3 µs a certificate,
            # with the GIL for its arguments) and the signer's thread only signs, so
            # filling overlaps the signing of the piece before instead of delaying it
            # (issues 16 §5 and 21 §8). With threads=1 the fill runs on this thread,
            # the parse on the verifier's and the sign on the signer's, each without a
            # rayon worker beside it (threads.rs `Place`). A fill error of piece p now
            # surfaces before piece p-1 is stored; the transaction rolls back either
            # way, same error classes.
            tbs = template.fill(threads=threads, **self._columns(piece, None, serials))
            return functools.partial(sign_filled, tbs)

        def store_piece(signing: tuple[Future[_native.DerBatch], _Screened, list[str]]) -> None:
            future, piece, texts = signing
            # Made into bytes objects here, not on the signer's thread (it needs the GIL).
            signed: list[bytes | None] = list(future.result().to_list())
            commit.store_piece(SignedPiece(piece.at, piece.subjects, piece.spki_hashes, texts,
                                     signed, issued_at, piece.not_after))  # fmt: skip
            for i, der in zip(piece.at, signed, strict=True):
                certificates[i] = der

        # The Rust stages run on one helper thread (pipeline.py): it parses pieces ahead
        # on its own and signs each piece as soon as this thread has screened it, while
        # this thread screens piece p and stores piece p-1. The commit learns every
        # serial once the last piece is screened, while the worker signs the last pieces
        # (a record listing 10,000 serials is ~4 ms of JSON).
        all_serials: list[str] = []
        pieces = len(cuts) - 1
        with StageWorker[Any, _native.DerBatch](parse, pieces, split=split) as stages:
            with commit.transaction():
                signing = None
                for p, lo in enumerate(cuts[:-1]):
                    piece = self.screen(lo, stages.parsed(p))
                    serials = self._allocate(len(piece.at))
                    texts = serial_texts(serials)
                    all_serials += texts
                    queued = (stages.sign(signing_job(piece, serials)), piece, texts)
                    if p == pieces - 1:
                        commit.serials_allocated(all_serials)
                    if signing is not None:
                        store_piece(signing)
                    signing = queued
                if signing is not None:
                    store_piece(signing)
                commit.finish()
