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
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from porthos.durable_files import write_atomically
from porthos.exceptions import LifecycleError

if TYPE_CHECKING:
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "crl_file_name",
    "crl_urls",
    "publication_map",
    "repository_lock",
    "repository_path",
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


class _Rooted(Protocol):
    """A workspace of any kind: what the lock needs is its directory."""

    @property
    def path(self) -> Path: ...


@contextmanager
def repository_lock(ws: _Rooted) -> Iterator[None]:
    """One publisher at a time writes the repository (an advisory lock on
    W/repository/.lock), so two concurrent publishers cannot leave an older CRL in
    place of a newer one. An RPKI workspace's publish takes the same lock (its tree is
    under W/rpki/, but one workspace has one set of repository writers)."""
    lock = ws.path / "repository" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


_CRL_NUMBER_OID = bytes.fromhex("0603551d14")  # 2.5.29.20 (RFC 5280 §5.2.3), as a TLV


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end) of the DER TLV at ``pos``; IndexError past the end."""
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        return tag, pos + count, pos + count + int.from_bytes(der[pos : pos + count], "big")
    return tag, pos, pos + first


def crl_head(der: bytes) -> tuple[bytes, int | None] | None:
    """(issuer Name TLV, cRLNumber) of a CRL, read without walking its entries (they are
    skipped by length: a 1M-entry CRL's full parse cost 0.1 s per file, twice per
    path); None when the bytes are not a CRL this reader understands."""
    try:
        _, body, _ = _tlv(der, 0)
        _, pos, tbs_end = _tlv(der, body)
        tag, start, end = _tlv(der, pos)
        if tag == 0x02:  # version
            tag, start, end = _tlv(der, end)
        issuer_at = end  # after the signature AlgorithmIdentifier
        _, _, issuer_end = _tlv(der, issuer_at)
        issuer = der[issuer_at:issuer_end]
        pos = issuer_end
        while pos < tbs_end:
            tag, start, end = _tlv(der, pos)
            if tag == 0xA0:  # crlExtensions [0] EXPLICIT Extensions
                _, ext, ext_end = _tlv(der, start)
                while ext < ext_end:
                    _, e_start, e_end = _tlv(der, ext)
                    if der[e_start : e_start + 5] == _CRL_NUMBER_OID:
                        # OCTET STRING (maybe after a critical BOOLEAN) holding INTEGER
                        tag, v_start, v_end = _tlv(der, e_start + 5)
                        if tag == 0x01:
                            tag, v_start, v_end = _tlv(der, v_end)
                        _, n_start, n_end = _tlv(der, v_start)
                        return issuer, int.from_bytes(der[n_start:n_end], "big", signed=True)
                    ext = e_end
            pos = end
        return issuer, None
    except IndexError:
        return None


def write_crl_file(path: Path, der: bytes, number: int, *, same_as: Path | None = None) -> bool:
    """Write a CRL unless the file already holds a newer one of the same issuer (a
    slower concurrent publisher must not replace it: RFC 5280 §5.2.3 numbers only grow,
    and relying parties keep the newest). Call under :func:`repository_lock`.
    ``same_as``: a file just written with these bytes, hard-linked instead of writing
    the bytes again (a 50 MB CRL goes to its URL path and its flat copy)."""
    if path.is_file():
        old = crl_head(path.read_bytes())
        new = crl_head(der)
        if (
            old is not None
            and new is not None
            and old[1] is not None
            and old[1] > number
            and old[0] == new[0]
        ):
            return False
    if same_as is not None and same_as.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            os.link(same_as, tmp)
            os.replace(tmp, path)
            return True
        except OSError:
            tmp.unlink(missing_ok=True)  # another file system: write the bytes
    return write_atomically(path, der)
