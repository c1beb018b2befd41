"""Output files of the issuing commands, checked before anything is committed (issue
20 §2): certificates stored and then lost to an unwritable ``--out`` are live
certificates nobody holds. What cannot be checked ahead (a full disk) ends in a message
naming the batch, which ``porthos export --batch`` re-delivers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from porthos.exceptions import InputError

__all__ = ["check_outputs"]


def check_outputs(outputs: Sequence[tuple[str, Path | None]], inputs: Sequence[Path]) -> None:
    """Each (option, path) of ``outputs`` must be a file path in an existing writable
    folder, distinct from the others and from every input file; else InputError."""
    seen: dict[Path, str] = {p.resolve(): "input" for p in inputs}
    for option, path in outputs:
        if path is None:
            continue
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"{option} {path} is also the {seen[resolved]} file; refused")
        seen[resolved] = option
        if path.is_dir():
            raise InputError(f"{option} {path} is a folder")
        folder = path.parent
        if not folder.is_dir():
            raise InputError(f"{option} {path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise InputError(f"{option} {path}: not writable")
