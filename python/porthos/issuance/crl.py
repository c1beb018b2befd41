"""CRLs: columns in, DER out (and back), for lists of millions of entries.

Columns (one NumPy array per field, no per-entry Python object):

* ``serials``: N x 20 ``uint8``, each row the serial as an unsigned big-endian
  magnitude, left zero-padded (``S20`` arrays are viewed as such, zero-copy). With
  ``serial_lengths`` (``uint8``, one per row) ``row[:len]`` are instead the INTEGER
  content octets (two's complement) exactly as DER carries them, which is how
  negative or over-long serials are expressed and refused.
* ``revocation_times``: ``int64`` Unix seconds.
* ``reasons``: ``uint8`` RFC 5280 §5.3.1 codes; :data:`REASON_NONE` (255) means "no
  reasonCode extension". Code 0 (unspecified) is refused by the writer: §5.3.1 says the
  extension SHOULD be absent rather than say unspecified, so pass 255 (the CSV loader
  maps "unspecified" to 255).
* ``invalidity_dates``: optional ``int64``; :data:`INVALIDITY_NONE` (int64 min) means
  "no invalidityDate extension" (§5.3.2).

The writer (Rust) validates every row (errors name the row index and, for
duplicates, the serial in hex), sorts by serial through an index array, computes
exact lengths, then writes one buffer while hashing it; the GIL is released.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.crl_reasons import REASONS
from porthos.durable_files import write_atomically
from porthos.exceptions import EncodeError, SigningError
from porthos.issuance.revocation_input import read_revocations
from porthos.issuance.threads import check_threads

if TYPE_CHECKING:
    from porthos.issuance.signers import Signer

__all__ = [
    "INVALIDITY_NONE",
    "REASONS",
    "REASON_NONE",
    "Crl",
    "ParsedCrl",
    "RevocationColumns",
    "build_crl",
    "build_shards",
    "check_delta",
    "delta_columns",
    "load_revocations",
    "merge_delta",
    "parse_crl",
    "shard_of",
]

REASON_NONE = 255
INVALIDITY_NONE = int(np.iinfo(np.int64).min)


Progress = Callable[[int, int], object]

# Built once: building it per call cost 9.4 s over a million rows (issue 20 §1).
_REASONS_LOWER = {k.lower(): v for k, v in REASONS.items()}


def reason_code(value: str | int | None) -> int:
    """A reason given by name (RFC 5280 spelling, case-insensitive) or number -> code;
    None/"" and "unspecified" -> REASON_NONE (the extension is then omitted)."""
    if value is None or value == "":
        return REASON_NONE
    if isinstance(value, int):
        code = value
    else:
        text = value.strip()
        if text.isdigit():
            code = int(text)
        else:
            if text.lower() not in _REASONS_LOWER:
                raise EncodeError(f"unknown revocation reason {value!r} (RFC 5280 §5.3.1 names)")
            code = _REASONS_LOWER[text.lower()]
    if code == 0:
        return REASON_NONE
    if code != REASON_NONE and (code > 10 or code == 7 or code < 0):
        raise EncodeError(f"reason code {code} is not a CRLReason (RFC 5280 §5.3.1)")
    return code


def serials_from_ints(values: Iterable[int]) -> NDArray[np.uint8]:
    """N x 20 uint8 magnitudes from Python ints (must be 0 <= v < 2**160)."""
    vals = list(values)
    buf = bytearray(20 * len(vals))
    for i, v in enumerate(vals):
        if v < 0 or v >= 1 << 160:
            raise EncodeError(f"serial {v:#x} at row {i}: not a 0..2^160 magnitude")
        buf[20 * i : 20 * i + 20] = v.to_bytes(20, "big")
    return np.frombuffer(bytes(buf), dtype=np.uint8).reshape(len(vals), 20).copy()


def serials_from_hex(values: Sequence[str]) -> NDArray[np.uint8]:
    return serials_from_ints(int(h, 16) for h in values)


def serial_ints(serials: NDArray[np.uint8]) -> list[int]:
    return [int.from_bytes(row.tobytes(), "big") for row in serials]


@dataclass
class RevocationColumns:
    """Revocation entries as columns (see the module docstring)."""

    serials: NDArray[np.uint8]
    revocation_times: NDArray[np.int64]
    reasons: NDArray[np.uint8]
    invalidity_dates: NDArray[np.int64] | None = None
    serial_lengths: NDArray[np.uint8] | None = None

    def __post_init__(self) -> None:
        s = self.serials
        if s.dtype.kind == "S":
            # S20: zero-copy view as N x 20 uint8 (bytes left zero-padded).
            width = s.dtype.itemsize
            self.serials = np.ascontiguousarray(s).view(np.uint8).reshape(len(s), width)
        self.revocation_times = np.ascontiguousarray(self.revocation_times, dtype=np.int64)
        self.reasons = np.ascontiguousarray(self.reasons, dtype=np.uint8)
        if self.invalidity_dates is not None:
            self.invalidity_dates = np.ascontiguousarray(self.invalidity_dates, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.revocation_times)

    @classmethod
    def empty(cls) -> RevocationColumns:
        return cls(
            np.zeros((0, 20), np.uint8),
            np.zeros(0, np.int64),
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
        )

    def canonical(self) -> tuple[Any, Any, Any, Any]:
        """(serials N x 20, times, reasons, invalidity) with the "none" fill."""
        inv = self.invalidity_dates
        if inv is None:
            inv = np.full(len(self), INVALIDITY_NONE, dtype=np.int64)
        return (np.ascontiguousarray(self.serials), self.revocation_times, self.reasons, inv)

    def equals(self, other: RevocationColumns) -> bool:
        a, b = self.canonical(), other.canonical()
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    def nbytes(self) -> int:
        n = self.serials.nbytes + self.revocation_times.nbytes + self.reasons.nbytes
        n += 0 if self.invalidity_dates is None else self.invalidity_dates.nbytes
        n += 0 if self.serial_lengths is None else self.serial_lengths.nbytes
        return int(n)


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------


class Crl:
    """One built CRL: a zero-copy view into the Rust buffer (DerBatch item)."""

    def __init__(self, batch: _native.DerBatch, index: int = 0) -> None:
        self._batch = batch
        self._index = index

    @property
    def der(self) -> memoryview:
        o = self._batch.offsets
        return self._batch.data[int(o[self._index]) : int(o[self._index + 1])].data

    def __bytes__(self) -> bytes:
        return bytes(self.der)

    def __len__(self) -> int:
        o = self._batch.offsets
        return int(o[self._index + 1] - o[self._index])

    def write(
        self, path: str | os.PathLike[str], *, check: Callable[[], None] | None = None
    ) -> None:
        """Write atomically (durable_files.write_atomically: a temporary file unique to
        this writer, fsynced, renamed into place). ``check`` (the signature check,
        issue 20 §2) runs while the temporary file is written, and the rename happens
        only if it passes: a CRL that fails it never reaches ``path``."""
        write_atomically(Path(path), self.der, check=check)


def _number_bytes(n: int, what: str) -> bytes:
    if n < 0 or n.bit_length() > 159:
        raise EncodeError(f"{what} {n}: CRL numbers are 0..2^159-1 (RFC 5280 §5.2.3)")
    return n.to_bytes(20, "big")


def _finish(drafts: _native.CrlDrafts, signer: Signer) -> _native.DerBatch:
    if isinstance(signer, _native.SoftwareKey):
        return drafts.sign(signer)
    # External signer (HSM): one digest per CRL out, one signature per CRL back.
    signatures = list(signer.sign_digests(drafts.digests))
    if len(signatures) != len(drafts):
        raise SigningError(f"external signer returned {len(signatures)} signatures")
    return drafts.finish(signatures)


def build_crl(
    issuer_cert: bytes,
    signer: Signer,
    columns: RevocationColumns,
    *,
    crl_number: int,
    this_update: int,
    next_update: int | None,
    idp_urls: Sequence[str] | None = None,
    only_user_certs: bool = False,
    only_ca_certs: bool = False,
    delta_base: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    hold_instruction: str | None = None,
) -> Crl:
    """Build and sign one CRL (a delta CRL when ``delta_base`` is given).
    ``hold_instruction`` ("reject", "callissuer" or "none"): the holdInstructionCode
    every certificateHold entry carries (RFC 3280 §5.3.2); None: no such extension."""
    drafts = _native.crl_drafts(
        issuer_cert,
        columns.serials,
        columns.revocation_times,
        columns.reasons,
        serial_lengths=columns.serial_lengths,
        invalidity_dates=columns.invalidity_dates,
        crl_numbers=[_number_bytes(crl_number, "crl_number")],
        this_update=int(this_update),
        next_update=None if next_update is None else int(next_update),
        signature_algorithm=signer.signature_algorithm,
        idp_urls=list(idp_urls) if idp_urls else None,
        only_user_certs=only_user_certs,
        only_ca_certs=only_ca_certs,
        delta_base=None if delta_base is None else _number_bytes(delta_base, "delta_base"),
        hold_instruction=hold_instruction,
        threads=check_threads(threads),
        progress=progress,
    )
    return Crl(_finish(drafts, signer))


def build_shards(
    issuer_cert: bytes,
    signer: Signer,
    columns: RevocationColumns,
    *,
    crl_numbers: Sequence[int],
    url_template: str,
    this_update: int,
    next_update: int | None,
    only_user_certs: bool = False,
    only_ca_certs: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
    hold_instruction: str | None = None,
) -> list[Crl]:
    """One CRL per shard (``len(crl_numbers)`` shards), built in parallel; shard s
    holds the serials with ``serial % N == s`` and its IDP is ``url_template`` with
    ``{shard}`` replaced by s."""
    drafts = _native.crl_drafts(
        issuer_cert,
        columns.serials,
        columns.revocation_times,
        columns.reasons,
        serial_lengths=columns.serial_lengths,
        invalidity_dates=columns.invalidity_dates,
        crl_numbers=[_number_bytes(n, "crl_number") for n in crl_numbers],
        this_update=int(this_update),
        next_update=None if next_update is None else int(next_update),
        signature_algorithm=signer.signature_algorithm,
        url_template=url_template,
        only_user_certs=only_user_certs,
        only_ca_certs=only_ca_certs,
        hold_instruction=hold_instruction,
        threads=check_threads(threads),
        progress=progress,
    )
    batch = _finish(drafts, signer)
    return [Crl(batch, i) for i in range(len(batch))]


def shard_of(serial: int, shards: int) -> int:
    """The shard of a serial: serial mod N (the Rust writer uses the same function)."""
    return serial % shards


# --------------------------------------------------------------------------------------
# parsing, deltas
# --------------------------------------------------------------------------------------


def _as_int(b: bytes | None) -> int | None:
    return None if b is None else int.from_bytes(b, "big")


class ParsedCrl:
    """A parsed CRL: metadata, columns in serial order, and serial lookups."""

    def __init__(self, info: _native.CrlInfo) -> None:
        self._info = info
        self.issuer_der: bytes = info.issuer_der
        self.this_update: int = info.this_update
        self.next_update: int | None = info.next_update
        self.crl_number: int | None = _as_int(info.crl_number)
        self.delta_base: int | None = _as_int(info.delta_base)
        self.authority_key_id: bytes | None = info.authority_key_id
        self.idp_urls: list[str] | None = info.idp_urls
        self.only_user_certs: bool = info.only_user_certs
        self.only_ca_certs: bool = info.only_ca_certs
        self.signature_algorithm: str = info.signature_algorithm
        self.signature_checked: bool = info.signature_checked
        self.columns = RevocationColumns(
            info.serials, info.revocation_times, info.reasons, info.invalidity_dates
        )

    def __len__(self) -> int:
        return len(self.columns)

    def index_of(self, serial: int | bytes) -> int:
        key = serial.to_bytes(20, "big") if isinstance(serial, int) else bytes(serial)
        return int(self._info.index_of(key))

    def is_revoked(self, serial: int | bytes) -> bool:
        return self.index_of(serial) >= 0

    def lookup(self, serials: NDArray[np.uint8]) -> NDArray[np.int64]:
        """Row of each serial (N x W uint8 magnitudes) in this CRL, -1 if absent."""
        return self._info.lookup(np.ascontiguousarray(serials, dtype=np.uint8))


def parse_crl(der: bytes | memoryview, issuer_cert: bytes | None = None) -> ParsedCrl:
    data: Any = der if isinstance(der, bytes) else np.frombuffer(der, dtype=np.uint8)
    return ParsedCrl(_native.parse_crl(data, issuer_cert))


def _cols(t: tuple[Any, Any, Any, Any]) -> RevocationColumns:
    return RevocationColumns(t[0], t[1], t[2], t[3])


def delta_columns(base: RevocationColumns, current: RevocationColumns) -> RevocationColumns:
    """What a delta CRL over ``base`` lists to reach ``current`` (RFC 5280 §5.2.4)."""
    return _cols(_native.crl_delta_columns(base.canonical(), current.canonical()))


def merge_delta(base: RevocationColumns, delta: RevocationColumns) -> RevocationColumns:
    return _cols(_native.crl_merge_columns(base.canonical(), delta.canonical()))


def check_delta(base: ParsedCrl, delta: ParsedCrl, full: ParsedCrl) -> bool:
    """base + delta == full rebuild, and the delta names the base it applies to."""
    if delta.delta_base is None or base.crl_number is None:
        return False
    if delta.delta_base != base.crl_number:
        return False
    return merge_delta(base.columns, delta.columns).equals(full.columns)


# --------------------------------------------------------------------------------------
# input files
# --------------------------------------------------------------------------------------


def load_revocations(path: str | os.PathLike[str]) -> RevocationColumns:
    """CSV ``serial_hex,revocation_time,reason[,invalidity_date]`` (ISO-8601 times,
    RFC 5280 reason names; a header line starting with ``serial`` is skipped), a
    ``.parquet`` file (the ``parquet`` extra) or an ``.npz`` with arrays serials,
    revocation_times, reasons[, invalidity_dates, serial_lengths]; see
    docs/crl-input.md. Every bad row is reported with its line (row) number."""
    return RevocationColumns(*read_revocations(path))
