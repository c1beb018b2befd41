"""PINs as :class:`Secret` objects: their ``repr``/``str`` never show the value, they
are read from files or prompts (never from argv), and the root PIN is joined from two
officers' halves (dual control, RFC 3647 §6.2.2)."""

from __future__ import annotations

import getpass
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from porthos.exceptions import KeyMaterialError


class Secret:
    """A PIN (or a half of one). Never printed: repr/str/format show ``<secret>``."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not value:
            raise KeyMaterialError("empty PIN")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def reveal_text(self) -> str:
        return self._value.decode("utf-8")

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "<secret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        # Pickling would put the PIN into a byte stream nobody audits.
        raise TypeError("a Secret cannot be pickled")


class PinFileWarning(UserWarning):
    """A PIN file that group or others may read."""


def read_pin(path: str | os.PathLike[str] | None, prompt: str, *, confirm: bool = False) -> Secret:
    """A PIN from a file (first line, trailing newline dropped) or an interactive
    prompt without echo. Never from a command-line argument."""
    if path is not None:
        try:
            data = Path(path).read_bytes()
            mode = Path(path).stat().st_mode
        except OSError as exc:
            raise KeyMaterialError(f"cannot read the PIN file {path}: {exc.strerror}") from None
        if mode & 0o077:
            # Activation data is protected (RFC 3647 §6.4.2): a PIN file others can read
            # is said out loud, once per use, on stderr (never the PIN itself).
            warnings.warn(
                f"the PIN file {path} can be read by group or others (mode "
                f"{mode & 0o777:o}); chmod 600 it",
                PinFileWarning,
                stacklevel=2,
            )
        line = data.splitlines()[0] if data.strip() else b""
        if not line:
            raise KeyMaterialError(f"the PIN file {path} is empty")
        return Secret(line)
    try:
        value = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != value:
            raise KeyMaterialError("the two PIN entries differ")
    except EOFError:
        # No terminal and nothing (more) on standard input: say so, not "a porthos bug".
        raise KeyMaterialError(
            f"{prompt}: no PIN given (end of input); give it with --pin-file"
        ) from None
    if not value:
        raise KeyMaterialError("empty PIN")
    return Secret(value.encode("utf-8"))


def dual_control_pin(halves: Sequence[tuple[str, Secret]]) -> tuple[Secret, list[str]]:
    """The root key's PIN from two HSM Security Officers (RFC 3647 §6.2.2 two-person
    control, §6.4.1 activation data): officer 1's half followed by officer 2's.
    Returns the PIN and the officer identities to record in the audit log."""
    if len(halves) != 2:
        raise KeyMaterialError(
            f"the root PIN needs exactly two halves from two officers, got {len(halves)} "
            "(RFC 3647 §6.2.2)"
        )
    (o1, h1), (o2, h2) = halves
    if not o1.strip() or not o2.strip():
        raise KeyMaterialError("each root PIN half needs an officer identity (RFC 3647 §6.2.2)")
    if o1.strip() == o2.strip():
        raise KeyMaterialError(
            f"both root PIN halves come from officer {o1.strip()!r}; two distinct "
            "officers are required (RFC 3647 §6.2.2)"
        )
    return Secret(h1.reveal() + h2.reveal()), [o1.strip(), o2.strip()]
