"""The smaller Carillon PKI the tests run (tests/test_carillon_*.py)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PKG = resources.files("porthos.cpcps.carillon")


def variant(tmp: Path) -> Path:
    """carillon.toml with RSA-2048 signing CAs (10 years): the same profiles, fewer
    slow RSA-4096 keys. The root and the stand-in Bridge (§10.1.1) stay RSA-4096."""
    text = PKG.joinpath("carillon.toml").read_text("utf-8")
    sub = 'key_type = "rsa-4096"\nsignature_algorithm = "rsa-pkcs1-sha256"\n'
    sub += "validity = { years = 13 }"
    assert text.count(sub) == 2
    text = text.replace(sub, sub.replace("4096", "2048").replace("13", "10"))
    # The TSA (§10.1.8 "up to 10 years") must end before a 10-year CA does.
    tsa = 'key_types = ["rsa-4096"]\nvalidity = { years = 10 }'
    assert text.count(tsa) == 1
    text = text.replace(tsa, tsa.replace("10", "9"))
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "carillon.toml").write_text(text)
    (tmp / "demo.toml").write_text(PKG.joinpath("demo.toml").read_text("utf-8"))
    return tmp / "carillon.toml"
