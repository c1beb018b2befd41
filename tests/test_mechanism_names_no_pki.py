"""Mechanism never names a PKI (issue 15, ARCHITECTURE.md rule 2).

No module in issuance/, store/, hsm/ or workspace/ may name a profile or CA of a
bundled CP/CPS, or cite a section of a particular CP/CPS document ("000 §5.6"): those
live in cpcps/<pki>/ as data or named rules. The names come from the CP/CPS files
themselves, so a new PKI is checked the day its folder is added. Generic framework
citations (RFC 3647 section numbers alone, RFC 5280 §x) are allowed.
"""

from __future__ import annotations

import io
import re
import tokenize
from importlib import resources
from pathlib import Path

import pytest
from porthos.cpcps.loader import load_profile_set

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "porthos"
MECHANISM = ("issuance", "store", "hsm", "workspace")
# "000 §5.6", "001 §4.9.7": a citation of one seed CP/CPS document by its number.
DOCUMENT_CITATION = re.compile(r"\b\d{3} ?§")


def _bundled_names() -> set[str]:
    names: set[str] = set()
    for folder in resources.files("porthos.cpcps").iterdir():
        toml = folder / f"{folder.name}.toml"
        if not toml.is_file():
            continue
        for env in ("prod", "nonprod"):
            try:
                ps = load_profile_set(folder.name, env)
            except Exception:  # noqa: BLE001 - a CP/CPS may define one environment only
                continue
            names |= set(ps.profiles) | set(ps.cas) | set(ps.cross_profiles)
    return names


TEST_CPCPS = Path(__file__).resolve().parent / "cpcps"


def _test_cpcps_names() -> set[str]:
    """The profile and CA names of every CP/CPS under tests/cpcps/: test fixtures, so
    no module of porthos, at any layer, may name one (issue 15)."""
    import tomllib

    names: set[str] = set()
    for toml in sorted(TEST_CPCPS.glob("*.toml")):
        for env in tomllib.loads(toml.read_text("utf-8"))["envs"]:
            ps = load_profile_set(str(toml), env)
            names |= set(ps.profiles) | set(ps.cas) | set(ps.cross_profiles)
    return names


def _texts(path: Path) -> list[tuple[int, str, str]]:
    """(line, kind, text) of every string literal and comment of a module."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline):
        if tok.type == tokenize.STRING:
            out.append((tok.start[0], "string", tok.string))
        elif tok.type == tokenize.COMMENT:
            out.append((tok.start[0], "comment", tok.string))
    return out


def _modules() -> list[Path]:
    return sorted(p for d in MECHANISM for p in (PACKAGE / d).rglob("*.py"))


def test_the_bundled_names_are_found() -> None:
    # The check below is only as good as this list: it must see the Porthos PKI.
    names = _bundled_names()
    assert {"ha-device", "sa-device", "root-ca-1", "user-ca-1"} <= names


def _naming(modules: list[Path], names: set[str]) -> list[str]:
    """``path:line: kind names 'x'`` for every string or comment of ``modules`` that
    names one of ``names``."""
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    word = re.compile(r"(?<![A-Za-z0-9_-])(" + alternatives + r")(?![A-Za-z0-9_-])")
    found = []
    for path in modules:
        rel = path.relative_to(PACKAGE.parent)
        for line, kind, text in _texts(path):
            for m in word.finditer(text):
                # A bare word like "user" is a PKI name only as a whole string literal.
                if "-" in m.group(1) or (kind == "string" and text.strip("\"'") == m.group(1)):
                    found.append(f"{rel}:{line}: {kind} names {m.group(1)!r}")
    return found


def test_mechanism_does_not_name_a_pki() -> None:
    found = _naming(_modules(), _bundled_names())
    for path in _modules():
        rel = path.relative_to(PACKAGE.parent)
        for line, kind, text in _texts(path):
            if DOCUMENT_CITATION.search(text):
                found.append(f"{rel}:{line}: {kind} cites a CP/CPS document section")
    assert not found, "\n".join(found)


def test_the_test_cpcps_names_are_found() -> None:
    # The two-tier fixture: its CAs and its profile (a name Porthos uses too).
    assert {"tt-root-g1", "tt-issuing-g1", "tls-server"} <= _test_cpcps_names()


def test_no_module_names_a_test_cpcps() -> None:
    # Every module of the package, cli/ and cpcps/ included: the second CP/CPS runs end
    # to end (tests/test_two_tier.py) with nothing in porthos knowing its names.
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    found = _naming(modules, _test_cpcps_names())
    assert not found, "\n".join(found)


@pytest.mark.parametrize("layer", MECHANISM)
def test_each_mechanism_layer_exists(layer: str) -> None:
    assert (PACKAGE / layer / "__init__.py").is_file()
