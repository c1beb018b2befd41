"""raises_code: ``pytest.raises`` that also pins the stable ``.code`` of a porthos error.

Tests check the class and the code, not the message text, so rewording a message breaks
nothing. Where the text itself is the behaviour under test (it must name a CP/CPS section,
a field path or a row, or must not contain a PIN), pass ``match=`` and say why in a
comment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from porthos.exceptions import PorthosError

E = TypeVar("E", bound=PorthosError)


@contextmanager
def raises_code(
    exc_type: type[E], code: str, *, match: str | None = None
) -> Iterator[pytest.ExceptionInfo[E]]:
    """The body must raise ``exc_type`` (or a subclass) whose ``.code`` is ``code``."""
    with pytest.raises(exc_type, match=match) as info:
        yield info
    assert info.value.code == code, f"{info.value.code!r} != {code!r}: {info.value!r}"
