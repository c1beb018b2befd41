"""Carillon CP §7.1.6 (seeds/001): the policy OIDs a certificate asserts, computed from
the [policy_levels] lattice of cpcps/carillon/carillon.toml, equal the §7.1.6 table row
for row. The table below is the extract's verbatim table (reference/seed-carillon.md
§2.3), typed in by hand from it, not derived from the TOML."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest
from porthos.cpcps.loader import load_profile_set, parse_profile_set
from porthos.cpcps.policy_levels import parse_levels
from porthos.exceptions import ProfileError

# §1.2: OID names -> the last arc under id-commercial-pki 1.3.6.1.4.1.25054.3.1.
ARC = "1.3.6.1.4.1.25054.3.1."
OID_NAMES = {
    "CISINFRASTRUCTURE": 1, "CISINFRASTRUCTURE-256": 2, "basicSoftware": 3,
    "basicHardware": 4, "mediumSoftwareCBP": 5, "mediumHardwareCBP": 6,
    "mediumSoftware": 7, "mediumHardware": 8, "basicSoftware-256": 9,
    "basicHardware-256": 10, "mediumSoftware-256": 11, "mediumHardware-256": 12,
    "IceCAPHardware": 20, "IceCAPCardAuth": 21, "IceCAPContentSigning": 22,
    "mediumSoftwareCBP-256": 30, "mediumHardwareCBP-256": 31,
}  # fmt: skip
# §7.1.6 example table: level -> OIDs asserted (the first is the level's own).
TABLE = {
    "cis-infrastructure": "CISINFRASTRUCTURE",
    "cis-infrastructure-256": "CISINFRASTRUCTURE-256, CISINFRASTRUCTURE",
    "basic-software": "basicSoftware, CISINFRASTRUCTURE",
    "basic-software-256": "basicSoftware-256, basicSoftware, CISINFRASTRUCTURE-256, "
    "CISINFRASTRUCTURE",
    "basic-hardware": "basicHardware, basicSoftware, CISINFRASTRUCTURE",
    "basic-hardware-256": "basicHardware-256, basicHardware, basicSoftware-256, basicSoftware, "
    "CISINFRASTRUCTURE-256, CISINFRASTRUCTURE",
    "medium-software-cbp": "mediumSoftwareCBP",
    "medium-software-cbp-256": "mediumSoftwareCBP-256, mediumSoftwareCBP",
    "medium-software": "mediumSoftware, mediumSoftwareCBP, basicSoftware, CISINFRASTRUCTURE",
    "medium-software-256": "mediumSoftware-256, mediumSoftware, mediumSoftwareCBP-256, "
    "mediumSoftwareCBP, basicSoftware-256, basicSoftware, CISINFRASTRUCTURE-256, "
    "CISINFRASTRUCTURE",
    "medium-hardware-cbp": "mediumHardwareCBP, mediumSoftwareCBP",
    "medium-hardware-cbp-256": "mediumHardwareCBP-256, mediumHardwareCBP, "
    "mediumSoftwareCBP-256, mediumSoftwareCBP",
    "medium-hardware": "mediumHardware, mediumHardwareCBP, mediumSoftware, mediumSoftwareCBP, "
    "basicHardware, basicSoftware, CISINFRASTRUCTURE",
    "medium-hardware-256": "mediumHardware-256, mediumHardware, mediumHardwareCBP-256, "
    "mediumHardwareCBP, mediumSoftware-256, mediumSoftware, mediumSoftwareCBP-256, "
    "mediumSoftwareCBP, basicHardware-256, basicHardware, basicSoftware-256, basicSoftware, "
    "CISINFRASTRUCTURE-256, CISINFRASTRUCTURE",
    "icecap-hardware": "IceCAPHardware, mediumHardware-256, mediumHardware, "
    "mediumHardwareCBP-256, mediumHardwareCBP, mediumSoftware-256, mediumSoftware, "
    "mediumSoftwareCBP-256, mediumSoftwareCBP, basicHardware-256, basicHardware, "
    "basicSoftware-256, basicSoftware",
    "icecap-card-auth": "IceCAPCardAuth",
    "icecap-content-signing": "IceCAPContentSigning",
}
TOML_TEXT = resources.files("porthos.cpcps.carillon").joinpath("carillon.toml").read_text("utf-8")
DOC = tomllib.loads(TOML_TEXT)
LATTICE = parse_levels(DOC["policy_levels"], "policy_levels")


def oids(row: str) -> list[str]:
    return [ARC + str(OID_NAMES[name.strip()]) for name in row.split(",")]


@pytest.mark.parametrize("level", sorted(TABLE))
def test_level_asserts_its_table_row(level: str) -> None:
    want = oids(TABLE[level])
    got = LATTICE.resolve([level])
    assert sorted(got) == sorted(want)
    assert got[0] == want[0]  # the level's own OID first


def test_every_level_is_in_the_table() -> None:
    assert set(LATTICE.levels) == set(TABLE)
    assert {lv.oid for lv in LATTICE.levels.values()} == {ARC + str(n) for n in OID_NAMES.values()}


def _policies(ps: object, name: str) -> set[str]:
    prof = ps.profiles.get(name) or ps.cas[name]  # type: ignore[attr-defined]
    ext = next(e for e in prof.extensions if e["type"] == "certificate_policies")
    return {p["oid"] for p in ext["policies"]}


def test_profile_restrictions_of_7_1_6() -> None:
    ps = load_profile_set("carillon")
    cis = set(oids("CISINFRASTRUCTURE-256, CISINFRASTRUCTURE"))
    hardware = set(oids("basicHardware, basicHardware-256, mediumHardware, mediumHardware-256, "
                        "mediumHardwareCBP, mediumHardwareCBP-256, IceCAPHardware"))  # fmt: skip
    # fn 10: CIS-INFRASTRUCTURE only for devices.
    for human in ("piv-i-identity", "signature", "encryption", "code-signing", "role-identity"):
        assert not _policies(ps, human) & cis, human
    assert cis <= _policies(ps, "device-identity")
    # fn 12-15: encryption certificates assert software OIDs only.
    for enc in ("encryption", "device-encryption"):
        assert not _policies(ps, enc) & hardware, enc
        assert _policies(ps, enc)
    assert _policies(ps, "encryption") == set(oids(TABLE["icecap-hardware"])) - hardware
    # IceCAP-cardAuth and IceCAP-contentSigning stand alone.
    assert _policies(ps, "icecap-card-auth") == set(oids("IceCAPCardAuth"))
    assert _policies(ps, "icecap-content-signer") == set(oids("IceCAPContentSigning"))
    # A CA certificate holds every policy it issues under (§7.1.6), so that RFC 5280
    # policy processing keeps each subscriber's policies.
    for prof in ps.profiles.values():
        assert _policies(ps, prof.name) <= _policies(ps, prof.issuer), prof.name
    assert not any(
        e["type"] == "certificate_policies" for e in ps.cas["carillon-root-ca"].extensions
    )


def _with(old: str, new: str) -> str:
    assert old in TOML_TEXT
    return TOML_TEXT.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (
            'assurance = { levels = ["icecap-card-auth"] }',
            'assurance = { levels = ["icecap-card-auth", "basic-software"] }',
            "profiles.icecap-card-auth.extensions[4].assurance.levels[0]: icecap-card-auth is "
            "asserted alone",
        ),
        (
            'assurance = { levels = ["icecap-content-signing"] }',
            'assurance = { levels = ["icecap-contentsigning"] }',
            "profiles.icecap-content-signer.extensions[4].assurance.levels[0]: unknown level",
        ),
        (
            'assurance = { levels = ["icecap-hardware"], exclude_tags = ["hardware"] }',
            'assurance = { levels = ["icecap-hardware"], exclude_tags = ["hardwire"] }',
            "profiles.encryption.extensions[4].assurance.exclude_tags[0]: no level is tagged",
        ),
        (
            'medium-software-cbp = { oid = "1.3.6.1.4.1.25054.3.1.5" }',
            'medium-software-cbp = { oid = "1.3.6.1.4.1.25054.3.1.5", '
            'implies = ["medium-hardware"] }',
            "policy_levels.levels.medium-software-cbp.implies[0]: unknown level",
        ),
    ],
)
def test_bad_assurance_fails_at_load_with_its_path(old: str, new: str, path: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile_set(_with(old, new), "prod")
    assert path in str(info.value)
