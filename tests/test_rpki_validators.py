"""rpki-client 8.2 and FORT 1.5.4 validate ``porthos demo --cpcps rpki`` offline from
the demo's TAL (issue 18 §5): exactly the VRPs of expected-vrps.csv, no warning; a
tampered object makes both reject that publication point (RFC 9286 §6.4) and only
that one; ``rpki roa remove`` + ``publish`` makes the VRP disappear and puts the EE
serial on the CRL. tests/rpki_validators.py runs the validators over a copy of the
tree that keeps the module symlink, so both follow the atomic-publish layout."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from porthos.cli.main import main
from rpki_validators import Vrp, expected_vrps, fort, rpki_client

ROAS = 45


def _demo(root: Path, roas: int) -> Path:
    run = CliRunner().invoke(
        main, ["demo", "--cpcps", "rpki", "-w", str(root), "--roas", str(roas)]
    )
    assert run.exit_code == 0, run.output
    return root / "rpki"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for tool in ("rpki-client", "fort"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Makefile DEB_PACKAGES installs it)")
    yield _demo(tmp_path_factory.mktemp("rpki-demo") / "d", ROAS)


def test_rpki_client_finds_exactly_the_expected_vrps(demo: Path) -> None:
    expected = expected_vrps(demo / "expected-vrps.csv")
    assert len(expected) == ROAS
    vrps, stderr = rpki_client(demo)
    assert vrps == expected
    assert stderr.strip() == "", stderr


def test_fort_finds_exactly_the_expected_vrps(demo: Path) -> None:
    vrps, log = fort(demo)
    assert vrps == expected_vrps(demo / "expected-vrps.csv")
    assert log == []


def _tampered(demo: Path, tmp_path: Path) -> tuple[Path, set[Vrp]]:
    """A copy of the demo with one ROA of child-a's point flipped; the VRPs child-a's
    point gave (what a validator must drop)."""
    copy = tmp_path / "rpki"
    shutil.copytree(demo, copy, symlinks=True)
    point = (copy / "repository" / "rpki.example.net" / "repo").resolve() / "child-a"
    roa = sorted(point.glob("*.roa"))[0]
    der = bytearray(roa.read_bytes())
    der[-1] ^= 0x01
    roa.write_bytes(bytes(der))
    asns = range(65000, 65100)
    lost = {v for v in expected_vrps(demo / "expected-vrps.csv") if v[0] in asns}
    assert lost
    return copy, lost


def test_rpki_client_rejects_a_tampered_point(demo: Path, tmp_path: Path) -> None:
    copy, lost = _tampered(demo, tmp_path)
    vrps, stderr = rpki_client(copy)
    assert vrps == expected_vrps(demo / "expected-vrps.csv") - lost
    assert "child-a.mft" in stderr and "bad message digest" in stderr, stderr


def test_fort_rejects_a_tampered_point(demo: Path, tmp_path: Path) -> None:
    copy, lost = _tampered(demo, tmp_path)
    vrps, log = fort(copy)
    assert vrps == expected_vrps(demo / "expected-vrps.csv") - lost
    assert any("manifest hash" in line for line in log), log


def test_roa_remove_drops_the_vrp_and_revokes_the_ee(tmp_path: Path) -> None:
    w = tmp_path / "w"
    cli = CliRunner()

    def porthos(*args: str) -> str:
        run = cli.invoke(main, list(args))
        assert run.exit_code == 0, run.output
        return run.output

    porthos("rpki", "init", "-w", str(w), "--resources", "AS64496-64511, 192.0.2.0/24")
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64496", "--prefix", "192.0.2.0/25")
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64497", "--prefix",
            "192.0.2.128/25", "--max-length", "26")  # fmt: skip
    porthos("rpki", "publish", "-w", str(w))
    both = {(64496, "192.0.2.0/25", 25), (64497, "192.0.2.128/25", 26)}
    assert rpki_client(w / "rpki")[0] == both
    out = porthos("rpki", "roa", "remove", "-w", str(w), "--asn", "64497", "--prefix",
                  "192.0.2.128/25", "--max-length", "26")  # fmt: skip
    serial = out.split("EE serial ")[1].split()[0]
    assert "re-issued: ta" in porthos("rpki", "publish", "-w", str(w))
    assert "unchanged" in porthos("rpki", "publish", "-w", str(w))
    left = {(64496, "192.0.2.0/25", 25)}
    vrps, stderr = rpki_client(w / "rpki")
    assert vrps == left and stderr.strip() == "", stderr
    vrps, log = fort(w / "rpki")
    assert vrps == left and log == []
    crl = x509.load_der_x509_crl(
        (w / "rpki" / "repository" / "rpki.example.net" / "repo" / "ta" / "ta.crl").read_bytes()
    )
    assert [e.serial_number for e in crl] == [int(serial, 16)]


def _both_validators_give(rpki: Path, vrps: set[Vrp]) -> None:
    """rpki-client and FORT each find exactly ``vrps`` in the repository under ``rpki``,
    without a warning."""
    got, stderr = rpki_client(rpki)
    assert got == vrps and stderr.strip() == "", stderr
    got, log = fort(rpki)
    assert got == vrps and log == []


def test_publish_again_completes_a_publication_whose_swap_failed(tmp_path: Path) -> None:
    """The module symlink swap fails after the store committed version 2 (a directory
    where the swap's temporary link goes: EISDIR, for root too): exit 2 with
    ``rpki-publish-incomplete``, the validators still see version 1; ``publish`` again
    swaps version 2 in and both validators find its VRPs."""
    w = tmp_path / "w"
    cli = CliRunner()

    def porthos(*args: str, code: int = 0) -> str:
        run = cli.invoke(main, list(args))
        assert run.exit_code == code, run.output
        return run.output

    porthos("rpki", "init", "-w", str(w), "--resources", "AS64496-64511, 192.0.2.0/24")
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64496", "--prefix", "192.0.2.0/25")
    porthos("rpki", "publish", "-w", str(w))
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64497", "--prefix", "192.0.2.128/25")
    obstacle = w / "rpki" / "repository" / "rpki.example.net" / "repo.swap"
    (obstacle / "x").mkdir(parents=True)
    out = porthos("rpki", "publish", "-w", str(w), code=2)
    assert "[rpki-publish-incomplete]" in out
    assert "publication version 2 committed but not fully published" in out
    first = {(64496, "192.0.2.0/25", 25)}
    assert rpki_client(w / "rpki")[0] == first
    shutil.rmtree(obstacle)
    assert "published version 2:" in porthos("rpki", "publish", "-w", str(w))
    _both_validators_give(w / "rpki", first | {(64497, "192.0.2.128/25", 25)})


@pytest.mark.slow
def test_full_demo_validates(tmp_path: Path) -> None:
    """The demo at its full size (1,000 ROAs) through both validators."""
    rpki = _demo(tmp_path / "d", 1000)
    expected = expected_vrps(rpki / "expected-vrps.csv")
    assert len(expected) == 1000
    vrps, stderr = rpki_client(rpki)
    assert vrps == expected and stderr.strip() == "", stderr
    vrps, log = fort(rpki)
    assert vrps == expected and log == []


def _rollover_workspace(tmp_path: Path) -> tuple[Path, Callable[..., str]]:
    """A TA holding AS64496-64511 and 192.0.2.0/24, with staging 0 hours so that each
    rollover step validates at the real time (the staging rule itself is tested in
    test_rpki_ca.py with the bundled 24 hours), and a CLI runner that asserts exit 0."""
    from porthos.cpcps.rpki.policy import rpki_policy_text

    w = tmp_path / "w"
    policy = tmp_path / "rpki.toml"
    policy.write_text(rpki_policy_text().replace("staging_hours = 24", "staging_hours = 0"))
    cli = CliRunner()

    def porthos(*args: str) -> str:
        run = cli.invoke(main, list(args))
        assert run.exit_code == 0, run.output
        return run.output

    porthos("rpki", "init", "-w", str(w), "--resources", "AS64496-64511, 192.0.2.0/24",
            "--policy", str(policy))  # fmt: skip
    return w, porthos


def test_key_rollover_keeps_the_vrps(tmp_path: Path) -> None:
    """RFC 6489 for a hosted child CA, both validators at each step: the staging key
    published beside the old one changes nothing; after activation the ROAs are the new
    key's, the old CA certificate is on the parent's CRL and its files are gone."""
    w, porthos = _rollover_workspace(tmp_path)
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(w)
    key, csr = ws.hosted_csr("kid")
    old = ws.add_child(csr, "AS64500, 192.0.2.0/25", name="kid", hosted_key=key)
    ws.close()
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64500", "--prefix", "192.0.2.0/26",
            "--ca", "kid")  # fmt: skip
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64496", "--prefix", "192.0.2.128/25")
    porthos("rpki", "publish", "-w", str(w))
    vrps = {(64500, "192.0.2.0/26", 26), (64496, "192.0.2.128/25", 25)}

    _both_validators_give(w / "rpki", vrps)
    assert "kid-k2" in porthos("rpki", "rollover", "start", "-w", str(w), "--ca", "kid")
    porthos("rpki", "publish", "-w", str(w))
    repo = w / "rpki" / "repository" / "rpki.example.net" / "repo"
    assert {p.name for p in (repo / "kid").iterdir()} >= {"kid.mft", "kid-k2.mft", "kid-k2.crl"}
    assert (repo / "ta" / "kid.cer").exists() and (repo / "ta" / "kid-k2.cer").exists()
    _both_validators_give(w / "rpki", vrps)
    porthos("rpki", "rollover", "activate", "-w", str(w), "--ca", "kid")
    porthos("rpki", "publish", "-w", str(w))
    assert not (repo / "ta" / "kid.cer").exists() and not (repo / "kid" / "kid.mft").exists()
    crl = x509.load_der_x509_crl((repo / "ta" / "ta.crl").read_bytes())
    assert [e.serial_number for e in crl] == [int(old.serial_hex, 16)]
    _both_validators_give(w / "rpki", vrps)


def test_child_revoke_and_reissue_validate(tmp_path: Path) -> None:
    """``rpki child reissue`` with narrower resources keeps the child's VRPs (same key,
    its ROAs untouched); ``rpki child revoke`` makes the child's VRPs vanish from both
    validators' output, with no warning, and puts its serial on the TA's CRL."""
    w = tmp_path / "w"
    cli = CliRunner()

    def porthos(*args: str) -> str:
        run = cli.invoke(main, list(args))
        assert run.exit_code == 0, run.output
        return run.output

    porthos("rpki", "init", "-w", str(w), "--resources", "AS64496-64511, 192.0.2.0/24")
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(w)
    for name, res in (("kid", "AS64500, 192.0.2.0/26"), ("kid2", "AS64501, 192.0.2.64/26")):
        key, csr = ws.hosted_csr(name)
        ws.add_child(csr, res, name=name, hosted_key=key)
    ws.close()
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64500", "--prefix", "192.0.2.0/26",
            "--ca", "kid")  # fmt: skip
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64501", "--prefix", "192.0.2.64/27",
            "--ca", "kid2")  # fmt: skip
    porthos("rpki", "roa", "add", "-w", str(w), "--asn", "64496", "--prefix", "192.0.2.128/25")
    porthos("rpki", "publish", "-w", str(w))
    vrps = {(64500, "192.0.2.0/26", 26), (64501, "192.0.2.64/27", 27),
            (64496, "192.0.2.128/25", 25)}  # fmt: skip

    _both_validators_give(w / "rpki", vrps)
    out = porthos("rpki", "child", "reissue", "-w", str(w), "--name", "kid2", "--resources",
                  "AS64501, 192.0.2.64/27")  # fmt: skip
    reissued_from = out.split(" replaces ")[1].split(",")[0]
    porthos("rpki", "publish", "-w", str(w))
    _both_validators_give(w / "rpki", vrps)
    out = porthos("rpki", "child", "revoke", "-w", str(w), "--name", "kid")
    revoked = out.split("serial ")[1].split()[0]
    porthos("rpki", "publish", "-w", str(w))
    vrps.discard((64500, "192.0.2.0/26", 26))
    _both_validators_give(w / "rpki", vrps)
    repo = w / "rpki" / "repository" / "rpki.example.net" / "repo"
    crl = x509.load_der_x509_crl((repo / "ta" / "ta.crl").read_bytes())
    assert {e.serial_number for e in crl} == {int(reissued_from, 16), int(revoked, 16)}
    assert not (repo / "kid").exists() and not (repo / "ta" / "kid.cer").exists()


def test_key_rollover_of_a_ca_with_a_child_ca_keeps_the_vrps(tmp_path: Path) -> None:
    """RFC 6489 in the middle of TA -> kid -> gkid (a ROA at each level): both
    validators give the same VRPs, with no warning, before the rollover of kid, while
    its new key stages beside the old and after activation, when gkid's CA
    certificate is the new key's and the old kid certificate is on the TA's CRL."""
    w, porthos = _rollover_workspace(tmp_path)
    from porthos.workspace.rpki_ca import RpkiWorkspace

    ws = RpkiWorkspace.open(w)
    key, csr = ws.hosted_csr("kid")
    old = ws.add_child(csr, "AS64500-64501, 192.0.2.0/25", name="kid", hosted_key=key)
    key, csr = ws.hosted_csr("gkid")
    ws.add_child(csr, "AS64501, 192.0.2.64/26", name="gkid", parent="kid", hosted_key=key)
    ws.close()
    for asn, prefix, ca in (("64496", "192.0.2.128/25", "ta"), ("64500", "192.0.2.0/26", "kid"),
                            ("64501", "192.0.2.64/26", "gkid")):  # fmt: skip
        porthos("rpki", "roa", "add", "-w", str(w), "--asn", asn, "--prefix", prefix, "--ca", ca)
    porthos("rpki", "publish", "-w", str(w))
    vrps = {(64496, "192.0.2.128/25", 25), (64500, "192.0.2.0/26", 26),
            (64501, "192.0.2.64/26", 26)}  # fmt: skip

    _both_validators_give(w / "rpki", vrps)
    assert "kid-k2" in porthos("rpki", "rollover", "start", "-w", str(w), "--ca", "kid")
    porthos("rpki", "publish", "-w", str(w))
    repo = w / "rpki" / "repository" / "rpki.example.net" / "repo"
    assert {p.name for p in (repo / "kid").iterdir()} >= {"kid.mft", "kid-k2.mft", "gkid.cer"}
    assert (repo / "ta" / "kid.cer").exists() and (repo / "ta" / "kid-k2.cer").exists()
    before = (repo / "kid" / "gkid.cer").read_bytes()
    _both_validators_give(w / "rpki", vrps)
    porthos("rpki", "rollover", "activate", "-w", str(w), "--ca", "kid")
    porthos("rpki", "publish", "-w", str(w))
    assert not (repo / "ta" / "kid.cer").exists() and not (repo / "kid" / "kid.mft").exists()
    after = x509.load_der_x509_certificate((repo / "kid" / "gkid.cer").read_bytes())
    new_kid = x509.load_der_x509_certificate((repo / "ta" / "kid-k2.cer").read_bytes())
    aki = after.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = new_kid.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert (
        aki.key_identifier == ski.digest
        and after.public_bytes(serialization.Encoding.DER) != before
    )
    crl = x509.load_der_x509_crl((repo / "ta" / "ta.crl").read_bytes())
    assert [e.serial_number for e in crl] == [int(old.serial_hex, 16)]
    _both_validators_give(w / "rpki", vrps)
