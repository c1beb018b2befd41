"""The durable file primitives (porthos/durable_files.py) every layer writes with:
``write_atomically`` with a mode and a check, and ``fsync_dir``, the one directory
fsync its writers share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from porthos.durable_files import fsync_dir, write_atomically
from porthos.exceptions import CrlSignatureError


def test_mode_is_set_before_the_file_appears(tmp_path: Path) -> None:
    """A public file (a TAL) is 0644 even under a umask of 077, and no temporary file
    is left behind."""
    old = os.umask(0o077)
    try:
        assert write_atomically(tmp_path / "a.tal", b"one", mode=0o644)
        assert write_atomically(tmp_path / "b", b"two")
    finally:
        os.umask(old)
    assert (tmp_path / "a.tal").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tal", "b"]


def test_same_bytes_are_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert write_atomically(path, b"x", mode=0o644)
    before = path.stat().st_ino
    assert not write_atomically(path, b"x", mode=0o644)
    assert path.stat().st_ino == before
    assert write_atomically(path, b"y", mode=0o644)
    assert path.read_bytes() == b"y" and path.stat().st_ino != before


def test_fsync_dir_takes_directories_only(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "f")
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")


def test_a_failed_check_keeps_the_file_away_and_runs_on_identical_bytes_too(
    tmp_path: Path,
) -> None:
    """``check`` runs while the bytes are written; when it fails nothing is renamed into
    place and no temporary file is left; when the file already holds the bytes, the
    check still runs (a wrong artefact is reported, never a silent exit 0)."""
    calls = []

    def bad() -> None:
        calls.append(1)
        raise CrlSignatureError("does not verify")

    path = tmp_path / "x.crl"
    with pytest.raises(CrlSignatureError):
        write_atomically(path, b"crl", check=bad)
    assert list(tmp_path.iterdir()) == []
    assert write_atomically(path, b"crl", check=lambda: calls.append(2))
    with pytest.raises(CrlSignatureError):
        write_atomically(path, b"crl", check=bad)
    assert calls == [1, 2, 1] and path.read_bytes() == b"crl"
