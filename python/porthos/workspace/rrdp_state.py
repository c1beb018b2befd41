"""The RRDP writer's own memory: session, serial, the files the notification names and
the hash of every object published at that serial (RFC 8182 §3.3).

It is one JSON file, ``.rrdp-state.json`` inside the RRDP directory, written atomically
by :mod:`porthos.workspace.rrdp` before the notification file. The reader is strict: a
file that is not exactly what the writer writes is a :class:`RrdpStateError`, never a
silent new session (that would make every relying party drop its state and fetch the
snapshot again, RFC 8182 §3.4.1) and never a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from porthos.exceptions import RrdpStateError

__all__ = ["FileRef", "StoredState", "dump_state", "load_state"]

FORMAT = 1

# RFC 8182 §3.3.1: the session_id is a version 4 UUID (RFC 4122), written lowercase.
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")
# Relative paths the writer makes: <session>/<serial>/<random>/<name>.xml.
_REL_PATH = re.compile(r"[0-9a-f-]{36}/[1-9][0-9]*/[0-9a-f]{32}/(snapshot|delta)\.xml\Z")


@dataclass(frozen=True)
class FileRef:
    """A snapshot or delta file: its serial, path under the RRDP directory, SHA-256 (hex,
    as the notification states it, RFC 8182 §3.5.1.3) and size in octets (for the
    delta-size rule of §3.3.2)."""

    serial: int
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class StoredState:
    session_id: str
    serial: int
    snapshot: FileRef
    deltas: tuple[FileRef, ...]  # newest first, serials contiguous down from ``serial``
    objects: dict[str, str]  # rsync URI -> SHA-256 hex of the object at ``serial``
    retired: tuple[str, ...]  # files the previous notification named, kept one more round


def dump_state(state: StoredState) -> bytes:
    doc = {
        "format": FORMAT,
        "session_id": state.session_id,
        "serial": state.serial,
        "snapshot": _ref_json(state.snapshot),
        "deltas": [_ref_json(d) for d in state.deltas],
        "objects": dict(sorted(state.objects.items())),
        "retired": list(state.retired),
    }
    return json.dumps(doc, separators=(",", ":")).encode("ascii")


def _ref_json(ref: FileRef) -> dict[str, Any]:
    return {"serial": ref.serial, "path": ref.path, "sha256": ref.sha256, "size": ref.size}


def load_state(data: bytes, where: str) -> StoredState:
    """Parse a state file; any deviation from what :func:`dump_state` writes is a
    :class:`RrdpStateError` naming ``where`` and the field."""
    try:
        doc = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise RrdpStateError(f"{where}: not the RRDP state JSON ({type(e).__name__})") from None
    keys = {"format", "session_id", "serial", "snapshot", "deltas", "objects", "retired"}
    _require(isinstance(doc, dict) and set(doc) == keys, where, "top-level keys")
    _require(doc["format"] == FORMAT and type(doc["format"]) is int, where, "format")
    session = doc["session_id"]
    _require(isinstance(session, str) and bool(_UUID4.match(session)), where, "session_id")
    serial = _positive(doc["serial"], where, "serial")
    snapshot = _ref(doc["snapshot"], where, "snapshot", session)
    _require(snapshot.serial == serial, where, "snapshot.serial")
    deltas_doc = doc["deltas"]
    _require(isinstance(deltas_doc, list), where, "deltas")
    deltas = tuple(_ref(d, where, f"deltas[{i}]", session) for i, d in enumerate(deltas_doc))
    # RFC 8182 §3.5.1.3: the deltas a notification lists are contiguous up to its serial.
    for i, d in enumerate(deltas):
        _require(d.serial == serial - i, where, f"deltas[{i}].serial")
    objects = doc["objects"]
    _require(isinstance(objects, dict), where, "objects")
    for uri, digest in objects.items():
        _require(
            uri.isascii() and isinstance(digest, str) and bool(_SHA256_HEX.match(digest)),
            where,
            "objects",
        )
    retired = doc["retired"]
    _require(
        isinstance(retired, list)
        and all(isinstance(p, str) and _REL_PATH.match(p) for p in retired),
        where,
        "retired",
    )
    return StoredState(session, serial, snapshot, deltas, dict(objects), tuple(retired))


def _ref(doc: Any, where: str, field: str, session: str) -> FileRef:
    _require(
        isinstance(doc, dict) and set(doc) == {"serial", "path", "sha256", "size"}, where, field
    )
    path = doc["path"]
    _require(
        isinstance(path, str)
        and bool(_REL_PATH.match(path))
        and PurePosixPath(path).parts[0] == session,
        where,
        f"{field}.path",
    )
    digest = doc["sha256"]
    _require(isinstance(digest, str) and bool(_SHA256_HEX.match(digest)), where, f"{field}.sha256")
    return FileRef(
        _positive(doc["serial"], where, f"{field}.serial"),
        path,
        digest,
        _positive(doc["size"], where, f"{field}.size"),
    )


def _positive(value: Any, where: str, field: str) -> int:
    _require(type(value) is int and value >= 1, where, field)
    return int(value)


def _require(ok: bool, where: str, field: str) -> None:
    if not ok:
        raise RrdpStateError(f"{where}: bad or missing {field!r}; nothing was published")
