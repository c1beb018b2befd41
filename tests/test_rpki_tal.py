"""Trust Anchor Locators (RFC 8630): written, read back, refused when malformed."""

from __future__ import annotations

import subprocess

import pytest
from error_codes import raises_code
from porthos._native import SoftwareKey
from porthos.exceptions import EncodeError, InputError
from porthos.issuance.rpki_tal import parse_tal, tal_text

URIS = ["rsync://rpki.example.net/ta/ta.cer", "https://rpki.example.net/ta/ta.cer"]


@pytest.fixture(scope="module")
def spki() -> bytes:
    return SoftwareKey.generate("rsa-2048").public_key_der()


def test_round_trip_and_layout(spki: bytes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = tal_text(URIS, spki, comments=["porthos test TA"])
    lines = text.split("\n")
    assert lines[:4] == ["# porthos test TA", *URIS, ""]
    assert all(len(line) <= 64 for line in lines[4:])
    tal = parse_tal(text)
    assert (tal.comments, tal.uris, tal.spki_der) == (("porthos test TA",), tuple(URIS), spki)
    assert parse_tal(text.replace("\n", "\r\n")) == tal
    # openssl reads the key the TAL pins.
    der = tmp_path / "k.der"
    der.write_bytes(tal.spki_der)
    out = subprocess.run(
        ["openssl", "pkey", "-pubin", "-inform", "DER", "-in", str(der), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "2048 bit" in out


@pytest.mark.parametrize(
    "uris",
    [[], ["http://x/ta.cer"], ["rsync://x/ta.crt"], ["rsync://x/t a.cer"], ["rsync:///ta.cer"]],
)
def test_bad_uris_refused(spki: bytes, uris: list[str]) -> None:
    with raises_code(EncodeError, "encode"):
        tal_text(uris, spki)


def test_bad_tals_refused(spki: bytes) -> None:
    good = tal_text(URIS[:1], spki)
    for bad in (
        good.replace(URIS[0], "ftp://x/ta.cer"),
        "\n" + good.split("\n", 1)[1],  # no URI
        good.replace("\n\n", "\n"),  # no empty line
        good[:-20] + "!!!!\n",  # not base64
        URIS[0] + "\n\nAAAA\n",  # not a key
    ):
        with raises_code(InputError, "input"):
            parse_tal(bad)
    with raises_code(EncodeError, "encode"):
        tal_text(URIS, b"\x30\x00")
