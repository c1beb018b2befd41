"""Atheris target of the one PEM splitter (issue 20 §4):
``porthos.issuance.csr_input.split_csr_pem`` on arbitrary bytes and text never
raises, every item is either DER or says why not, and there are never more items than
BEGIN lines. Its stable twin is tests/test_pem_split_property.py (hypothesis).

    pip install atheris        # a binary wheel; nothing to compile
    PYTHONPATH=python python fuzz/python/pem_split.py fuzz/corpus/pem_split -runs=10000000
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from porthos.issuance.csr_input import split_csr_pem


def test_one_input(data: bytes) -> None:
    for value in (data, data.decode("latin-1")):
        items = split_csr_pem(value)
        for item in items:
            if (item.der is None) == (item.error == ""):
                raise AssertionError(f"item with der={item.der!r} error={item.error!r}")
        if len(items) > data.count(b"-----BEGIN "):
            raise AssertionError(f"{len(items)} items from fewer BEGIN lines")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
