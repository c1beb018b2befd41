"""The on-disk contract between OCSP pre-signing and the responder (docs/ocsp.md):

::

    W/ocsp/<ca>/issuer.der                       the CA certificate
    W/ocsp/<ca>/config.json                      {"nonce", "hashes", "max_age_hint"}
    W/ocsp/<ca>/responses/<hash>/<SERIAL>.der    one OCSPResponse per serial and hash
    W/ocsp/<ca>/index.tsv                        one line per response file (header first)
    W/ocsp/<ca>/state.npz                        pre-signing's own state (not the contract)

``<SERIAL>`` is the serial as the store records it, upper-case hex (no leading zero
stripped or added). index.tsv columns: ``serial_hex hash status this_update next_update
produced_at sha256_hex path`` (times in Unix seconds, ``path`` relative to the CA
folder). Response files are written (temporary file, rename) before the index that
names them, and the index is renamed into place last, so a reader never sees an index
naming a missing file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from porthos import _native

__all__ = [
    "INDEX_HEADER",
    "STATUS_NAMES",
    "PresignState",
    "ca_dir",
    "read_state",
    "response_path",
    "write_config",
    "write_index",
    "write_response_files",
    "write_state",
]

INDEX_HEADER = "serial_hex\thash\tstatus\tthis_update\tnext_update\tproduced_at\tsha256_hex\tpath"
STATUS_NAMES = ("good", "revoked", "unknown")


def ca_dir(workdir: Path, ca_name: str) -> Path:
    return workdir / "ocsp" / ca_name


def response_path(hash_name: str, serial_hex: str) -> str:
    """A response file's path relative to the CA folder."""
    return f"responses/{hash_name}/{serial_hex}.der"


@dataclass
class PresignState:
    """One row per (serial, hash) response on disk: what it says and when it expires.
    Row order is free; (serial_hex, hash) is the key."""

    serial_hex: NDArray[np.str_]
    hash: NDArray[np.str_]
    status: NDArray[np.uint8]
    revocation_time: NDArray[np.int64]
    reason: NDArray[np.uint8]
    this_update: NDArray[np.int64]
    next_update: NDArray[np.int64]
    produced_at: NDArray[np.int64]
    sha256: NDArray[np.str_]
    #: SHA-256 (hex) of the responder certificate that signed every row.
    responder: str

    def __len__(self) -> int:
        return len(self.status)

    def keys(self) -> NDArray[np.str_]:
        return np.char.add(np.char.add(self.serial_hex, "/"), self.hash)

    def take(self, rows: NDArray[np.intp]) -> PresignState:
        cols = {k: getattr(self, k)[rows] for k in _COLUMNS}
        return PresignState(**cols, responder=self.responder)

    @classmethod
    def concat(cls, parts: list[PresignState], responder: str) -> PresignState:
        cols = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _COLUMNS}
        return cls(**cols, responder=responder)


_COLUMNS = (
    "serial_hex",
    "hash",
    "status",
    "revocation_time",
    "reason",
    "this_update",
    "next_update",
    "produced_at",
    "sha256",
)


def read_state(folder: Path) -> PresignState | None:
    """The state of the last run, or None (none yet, or unreadable: everything is then
    signed again, which is always safe)."""
    try:
        with np.load(folder / "state.npz", allow_pickle=False) as z:
            cols = {k: z[k] for k in _COLUMNS}
            responder = str(z["responder"])
    except (OSError, KeyError, ValueError):
        return None
    if len({len(v) for v in cols.values()}) != 1:
        return None
    return PresignState(**cols, responder=responder)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_state(folder: Path, state: PresignState) -> None:
    tmp = folder / f".state.{os.getpid()}.npz"
    with open(tmp, "wb") as f:
        np.savez(f, **{k: getattr(state, k) for k in _COLUMNS}, responder=np.str_(state.responder))
    os.replace(tmp, folder / "state.npz")


def write_response_files(
    folder: Path, hash_name: str, serial_hex: list[str], batch: _native.DerBatch
) -> list[str]:
    """Each response of ``batch`` to its file (Rust, in parallel, each renamed into place
    so a reader of the previous index never reads half a file); returns the files'
    SHA-256 in hex."""
    d = folder / "responses" / hash_name
    d.mkdir(parents=True, exist_ok=True)
    _native.write_der_files(d, [f"{s}.der" for s in serial_hex], batch)
    digests = _native.tbs_digests(batch, "sha256").tobytes().hex()
    return [digests[64 * i : 64 * i + 64] for i in range(len(serial_hex))]


def write_index(folder: Path, state: PresignState) -> None:
    """index.tsv from the state, renamed into place last (after every file it names)."""
    status = np.asarray(STATUS_NAMES)[state.status]
    paths = np.char.add(np.char.add(np.char.add("responses/", state.hash), "/"), state.serial_hex)
    cols = [
        state.serial_hex,
        state.hash,
        status,
        state.this_update.astype(str),
        state.next_update.astype(str),
        state.produced_at.astype(str),
        state.sha256,
        np.char.add(paths, ".der"),
    ]
    lines = ["\t".join(row) for row in zip(*(c.tolist() for c in cols), strict=True)]
    text = INDEX_HEADER + "\n" + "".join(line + "\n" for line in lines)
    _replace(folder / "index.tsv", text.encode())


def write_config(folder: Path, *, nonce: str, hashes: tuple[str, ...], max_age_hint: int) -> None:
    """config.json: what the responder needs to know of the CP/CPS."""
    text = json.dumps({"nonce": nonce, "hashes": list(hashes), "max_age_hint": max_age_hint})
    _replace(folder / "config.json", text.encode())
