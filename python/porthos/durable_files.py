"""Files that are either wholly there or not at all, and survive a crash once written:
a temporary file beside the target, fsynced, renamed into place. The one
implementation for every layer: the issuance library writes CRLs with it
(``Crl.write``), the workspace its repository, keys and RPKI publication points.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_dir", "write_atomically"]


def fsync_dir(path: Path) -> None:
    """fsync(2) a directory: a rename, link, unlink or new file in it is durable only
    once the directory itself is (the file's own fsync does not cover its name)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: Path,
    data: bytes | memoryview,
    *,
    mode: int | None = None,
    check: Callable[[], None] | None = None,
) -> bool:
    """Write ``data`` to ``path`` atomically; False when the file already holds it.

    The temporary name is unique per writer (pid and random), so two writers of one
    path (two processes publishing at once, a writer outside the repository lock)
    never write into, or rename away, each other's file. ``mode``: the file's
    permissions, set before the rename, so that the file never appears under its name
    with the umask's. ``check`` (a CRL's signature check, issue 20 §2) runs on the
    calling thread while the temporary file is written on a second one (each takes
    ~0.1 s for a 1M-entry CRL and releases the GIL), and the rename happens only if it
    passes: what fails it never reaches ``path``; it runs also when the file already
    holds ``data``."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        if check is not None:
            check()
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    failure: list[BaseException] = []

    def write_tmp() -> None:
        try:
            with open(tmp, "wb") as f:
                if mode is not None:
                    os.fchmod(f.fileno(), mode)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException as exc:  # re-raised on the calling thread
            failure.append(exc)

    try:
        if check is None:
            write_tmp()
        else:
            writer = threading.Thread(target=write_tmp, name="porthos-file-write")
            writer.start()
            try:
                check()
            finally:
                writer.join()
        if failure:
            raise failure[0]
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True
