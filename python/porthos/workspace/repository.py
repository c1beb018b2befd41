"""The repository on disk (RFC 3647 §2.1, §2.2): where each published file goes, the
lock its writers share, and the one way a file is written into it.

Files live at ``W/repository/<host>/<path>`` of the CDP / AIA URL naming them, so a
web server serving ``W/repository`` with name-based virtual hosts answers each URL
with the published file. A CA's full CRL is also kept at the flat
``W/repository/<ca>.crl`` that tools read (:func:`crl_file_name`).
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from porthos.exceptions import LifecycleError, PorthosError
from porthos.issuance.crl import parse_crl

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "crl_file_name",
    "crl_urls",
    "publication_map",
    "repository_lock",
    "repository_path",
    "write_atomically",
    "write_crl_file",
]


def crl_file_name(ca: CertificateAuthority) -> str:
    """The flat file of a CA's full CRL, as its CP/CPS data names it (the CA name, as
    the CDP URLs' last segment spells it)."""
    return ca.spec.crl.file_name


def repository_path(ws: Workspace, url: str) -> Path:
    """The file a repository URL names: ``W/repository/<host>/<path>``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = PurePosixPath(parts.path).parts[1:] if parts.path.startswith("/") else ()
    if (
        parts.scheme not in ("http", "https")
        or not host
        or not segments
        or any(s in ("", ".", "..") or "\\" in s for s in segments)
        or host.startswith(".")
    ):
        raise LifecycleError(f"repository URL {url!r} does not name a file under a host")
    return ws.path / "repository" / host / Path(*segments)


def publication_map(ws: Workspace) -> dict[str, tuple[str, str]]:
    """Each CDP and AIA URL of the profile sets (CA, subscriber and cross profiles) -> ("crl" or
    "crt", the CA whose CRL or certificate it names: the issuer of the certificates
    carrying it). Sharded CDP URLs are left to the shard publication. Every generation
    counts: a retired CA keeps publishing its CRLs (RFC 3647 §5.6) at the URLs its
    certificates carry."""
    out: dict[str, tuple[str, str]] = {}
    specs: list[Any] = []
    for _, ps in sorted(ws.profile_sets.items()):
        specs += [*ps.cas.values(), *ps.profiles.values(), *ps.cross_profiles.values()]
    for spec in specs:
        for ext in spec.extensions:
            if ext["type"] == "crl_distribution_points" and "shards" not in ext:
                for u in ext.get("uris", ()):
                    out[u] = ("crl", spec.issuer)
            elif ext["type"] == "authority_info_access":
                for u in ext.get("ca_issuers", ()):
                    out[u] = ("crt", spec.issuer)
    return out


def crl_urls(ws: Workspace, ca_name: str) -> list[str]:
    """The CDP URLs that name CA ``ca_name``'s full CRL."""
    urls = publication_map(ws)
    return sorted(u for u, (kind, n) in urls.items() if kind == "crl" and n == ca_name)


@contextmanager
def repository_lock(ws: Workspace) -> Iterator[None]:
    """One publisher at a time writes the repository (an advisory lock on
    W/repository/.lock), so two concurrent publishers cannot leave an older CRL in
    place of a newer one."""
    lock = ws.path / "repository" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def write_atomically(path: Path, data: bytes) -> bool:
    """Write a file atomically (a temporary file, fsynced, renamed into place); False
    when it already holds ``data``. The temporary name is unique per writer, so a
    writer outside the lock (CA certificates) never renames away another's file."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def write_crl_file(path: Path, der: bytes, number: int) -> bool:
    """Write a CRL unless the file already holds a newer one of the same issuer (a
    slower concurrent publisher must not replace it: RFC 5280 §5.2.3 numbers only grow,
    and relying parties keep the newest). Call under :func:`repository_lock`."""
    if path.is_file():
        try:
            old = parse_crl(path.read_bytes())
        except PorthosError:
            old = None
        if (
            old is not None
            and old.crl_number is not None
            and old.crl_number > number
            and old.issuer_der == parse_crl(der).issuer_der
        ):
            return False
    return write_atomically(path, der)
