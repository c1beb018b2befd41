"""RRDP (RFC 8182): the notification, snapshot and delta files of one repository.

:func:`write_rrdp` is given the complete set of objects published now (rsync URI ->
bytes) and brings the RRDP directory to it:

1. read the state of the previous run (:mod:`.rrdp_state`); none: a new session,
   serial 1 (RFC 8182 §3.3.1); the same set as last time: no new serial (the serial
   counts changes, §3.3.2), only the notification is written again;
2. write the snapshot (the whole set, §3.5.2) and the delta against the previous
   serial (§3.5.3: ``publish`` for new objects, ``publish hash=`` for replaced ones,
   ``withdraw hash=`` for removed ones) under a new unguessable directory
   ``<session>/<serial>/<128 random bits>/`` (§3.3.2 asks for new URIs per serial so
   that caches never serve an old file under a current name; random so that nobody
   fetches a file before the notification names it);
3. write the state file, then the notification (§3.5.1) LAST, each by temporary file,
   fsync and rename: a crash at any point leaves the previous notification, and every
   file it names, in place and valid; files written for a serial that never reached
   the notification are never named by anyone and are removed by a later run;
4. remove files that neither this notification nor the previous one names (a relying
   party that read the previous notification a moment ago still finds its files).

The notification lists at most ``max_deltas`` deltas, newest first, and drops older
ones as soon as the deltas' total size would exceed the snapshot's (§3.3.2: a relying
party must never download more through deltas than through the snapshot).

Callers serialise writers (the repository lock); this module does not lock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from porthos.durable_files import fsync_dir, write_atomically
from porthos.exceptions import InputError, RrdpStateError
from porthos.workspace.rrdp_state import FileRef, StoredState, dump_state, load_state

__all__ = ["NOTIFICATION", "RRDP_NS", "STATE_FILE", "RrdpState", "write_rrdp"]

RRDP_NS = "http://www.ripe.net/rpki/rrdp"  # RFC 8182 §3.5
NOTIFICATION = "notification.xml"
STATE_FILE = ".rrdp-state.json"
DEFAULT_MAX_DELTAS = 64


@dataclass(frozen=True)
class RrdpState:
    """What the notification now says."""

    session_id: str
    serial: int
    notification: Path
    snapshot_uri: str
    delta_uris: tuple[tuple[int, str], ...]  # (serial, https URI), newest first
    changed: bool  # False: the set was already published, nothing was written


def write_rrdp(
    rrdp_dir: Path,
    objects: Mapping[str, bytes],
    *,
    base_uri: str,
    max_deltas: int = DEFAULT_MAX_DELTAS,
) -> RrdpState:
    """Publish ``objects`` (the complete current set, rsync URI -> object bytes) as RRDP
    files in ``rrdp_dir``, served at ``base_uri`` (https, RFC 8182 §3.1)."""
    if not base_uri.startswith("https://") or not _plain_uri(base_uri):
        raise InputError(f"RRDP base URI {base_uri!r} is not an https URI (RFC 8182 §3.1)")
    if max_deltas < 0:
        raise InputError(f"max_deltas {max_deltas} is negative")
    base = base_uri.rstrip("/") + "/"
    for uri, body in objects.items():
        if not (uri.startswith("rsync://") and _plain_uri(uri)) or not isinstance(body, bytes):
            raise InputError(f"RRDP object {uri!r}: not an rsync URI with bytes (RFC 8182 §3.5.2)")
    rrdp_dir.mkdir(parents=True, exist_ok=True)
    state_path = rrdp_dir / STATE_FILE
    old = _read_state(state_path)
    _remove_temporaries(rrdp_dir)
    hashes = {uri: hashlib.sha256(body).hexdigest() for uri, body in objects.items()}
    if old is not None and old.objects == hashes:
        # Written again, the same bytes: a crash between the state file and the
        # notification left the notification one serial behind the files it should name.
        _write_atomically(rrdp_dir / NOTIFICATION, _notification(old, base))
        return _public(rrdp_dir, base, old, changed=False)

    session = old.session_id if old is not None else str(uuid.uuid4())
    serial = old.serial + 1 if old is not None else 1
    folder = f"{session}/{serial}/{secrets.token_hex(16)}"

    snapshot_xml = _snapshot(session, serial, objects)
    delta_xml = _delta(session, serial, objects, hashes, old.objects) if old is not None else b""
    # A delta larger than the snapshot would never be listed (RFC 8182 §3.3.2): not written.
    write_delta = old is not None and max_deltas > 0 and len(delta_xml) <= len(snapshot_xml)
    snapshot = _write_file(rrdp_dir, f"{folder}/snapshot.xml", serial, snapshot_xml)
    deltas: list[FileRef] = []
    if write_delta:
        deltas.append(_write_file(rrdp_dir, f"{folder}/delta.xml", serial, delta_xml))
        deltas.extend(old.deltas if old is not None else ())
    deltas = _keep_deltas(deltas, snapshot.size, max_deltas)

    retired = _named(old) if old is not None else ()
    new = StoredState(session, serial, snapshot, tuple(deltas), hashes, retired)
    _write_atomically(state_path, dump_state(new))
    # The notification last: until this rename, readers see the previous serial whole.
    _write_atomically(rrdp_dir / NOTIFICATION, _notification(new, base))
    _remove_unnamed(rrdp_dir, set(_named(new)) | set(retired))
    return _public(rrdp_dir, base, new, changed=True)


def _plain_uri(uri: str) -> bool:
    # Printable ASCII without spaces: the XML files are US-ASCII text (RFC 8182 §3.5)
    # and a URI never needs more (RFC 3986 §2).
    return uri.isascii() and uri.isprintable() and " " not in uri


def _read_state(path: Path) -> StoredState | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RrdpStateError(f"{path}: cannot be read ({e.strerror})") from None
    return load_state(data, str(path))


def _snapshot(session: str, serial: int, objects: Mapping[str, bytes]) -> bytes:
    # RFC 8182 §3.5.2.3: one publish element per object, content in base64 (RFC 4648 §4).
    parts = [_open("snapshot", session, serial)]
    for uri in sorted(objects):
        b64 = base64.b64encode(objects[uri]).decode("ascii")
        parts.append(f"  <publish uri={quoteattr(uri)}>{b64}</publish>\n")
    parts.append("</snapshot>\n")
    return "".join(parts).encode("ascii")


def _delta(
    session: str,
    serial: int,
    objects: Mapping[str, bytes],
    hashes: Mapping[str, str],
    previous: Mapping[str, str],
) -> bytes:
    # RFC 8182 §3.5.3.3: publish without hash = new object; publish with hash = replace
    # the object with that hash; withdraw with hash = remove it.
    parts = [_open("delta", session, serial)]
    for uri in sorted(previous.keys() - hashes.keys()):
        parts.append(f"  <withdraw uri={quoteattr(uri)} hash={quoteattr(previous[uri])}/>\n")
    for uri in sorted(hashes):
        old = previous.get(uri)
        if old == hashes[uri]:
            continue
        b64 = base64.b64encode(objects[uri]).decode("ascii")
        attr = "" if old is None else f" hash={quoteattr(old)}"
        parts.append(f"  <publish uri={quoteattr(uri)}{attr}>{b64}</publish>\n")
    parts.append("</delta>\n")
    return "".join(parts).encode("ascii")


def _notification(state: StoredState, base: str) -> bytes:
    # RFC 8182 §3.5.1.3: the snapshot and deltas, each with its URI and SHA-256 in hex.
    parts = [_open("notification", state.session_id, state.serial)]
    snap = state.snapshot
    parts.append(
        f"  <snapshot uri={quoteattr(base + snap.path)} hash={quoteattr(snap.sha256)}/>\n"
    )
    for d in state.deltas:
        parts.append(
            f'  <delta serial="{d.serial}" uri={quoteattr(base + d.path)}'
            f" hash={quoteattr(d.sha256)}/>\n"
        )
    parts.append("</notification>\n")
    return "".join(parts).encode("ascii")


def _open(element: str, session: str, serial: int) -> str:
    return f'<{element} xmlns="{RRDP_NS}" version="1" session_id="{session}" serial="{serial}">\n'


def _keep_deltas(deltas: list[FileRef], snapshot_size: int, max_deltas: int) -> list[FileRef]:
    # RFC 8182 §3.3.2: drop every delta that, with all newer ones, would exceed the size
    # of the snapshot; the rest is a contiguous run down from the current serial.
    kept: list[FileRef] = []
    total = 0
    for d in deltas[:max_deltas]:
        total += d.size
        if total > snapshot_size:
            break
        kept.append(d)
    return kept


def _named(state: StoredState) -> tuple[str, ...]:
    return (state.snapshot.path, *(d.path for d in state.deltas))


def _write_file(rrdp_dir: Path, rel: str, serial: int, data: bytes) -> FileRef:
    _write_atomically(rrdp_dir / rel, data)
    return FileRef(serial, rel, hashlib.sha256(data).hexdigest(), len(data))


def _write_atomically(path: Path, data: bytes) -> None:
    if write_atomically(path, data):
        fsync_dir(path.parent)  # the rename is durable only once the directory is


def _remove_temporaries(rrdp_dir: Path) -> None:
    # A crashed writer's temporary files beside the notification and the state (those in
    # snapshot/delta folders go with their folder). Writers are serialised by the
    # caller, so none of these is in use.
    for name in (NOTIFICATION, STATE_FILE):
        for tmp in rrdp_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _remove_unnamed(rrdp_dir: Path, keep: set[str]) -> None:
    # Only the writer's own layout is touched: files in <uuid>/<serial>/<random>/ folders
    # that no kept notification names (a crashed run's files among them), then the
    # folders left empty.
    for session_dir in rrdp_dir.iterdir():
        if not session_dir.is_dir() or len(session_dir.name) != 36:
            continue
        for leaf in session_dir.glob("*/*"):
            if not leaf.is_dir():
                continue
            for f in leaf.iterdir():
                if f.relative_to(rrdp_dir).as_posix() not in keep:
                    f.unlink(missing_ok=True)
        for d in sorted(session_dir.glob("*/*"), reverse=True) + sorted(session_dir.glob("*")):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        if not any(session_dir.iterdir()):
            session_dir.rmdir()


def _public(rrdp_dir: Path, base: str, state: StoredState, *, changed: bool) -> RrdpState:
    return RrdpState(
        session_id=state.session_id,
        serial=state.serial,
        notification=rrdp_dir / NOTIFICATION,
        snapshot_uri=base + state.snapshot.path,
        delta_uris=tuple((d.serial, base + d.path) for d in state.deltas),
        changed=changed,
    )
