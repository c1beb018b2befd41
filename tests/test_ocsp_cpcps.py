"""The ``[ocsp]`` table of a CP/CPS (cpcps/ocsp_table.py): what Carillon says (001
§4.9.9-10, §10.5), what the Porthos set says (nothing: no OCSP), and a bad table failing
at load with its field path."""

from __future__ import annotations

import pytest
from carillon_support import PKG
from porthos.cpcps.loader import load_profile_set, parse_profile_set
from porthos.exceptions import ProfileError

SIGNING = "carillon-signing-ca-1"
TABLE = f"[ocsp.cas.{SIGNING}]"
P = f"ocsp.cas.{SIGNING}"
DEVICE = "ocsp.cas.carillon-device-ca-1"


def test_carillon_answers_for_both_issuing_cas_and_porthos_for_none() -> None:
    ps = load_profile_set("carillon")
    assert ps.ocsp is not None and list(ps.ocsp.cas) == [SIGNING, "carillon-device-ca-1"]
    # The Device CA's own delegated responder (001 §10.1.5), issued by it.
    device = ps.ocsp.cas["carillon-device-ca-1"]
    assert device.responder_profile == "device-ocsp-responder"
    assert ps.profiles["device-ocsp-responder"].issuer == "carillon-device-ca-1"
    ca = ps.ocsp.cas[SIGNING]
    assert ca.responder_profile == "ocsp-responder" and ca.from_crl
    assert ca.hashes == ("sha1", "sha256") and ca.nonce == "echo"
    assert ca.refresh_margin == 86400 and not ca.include_expired
    assert load_profile_set("porthos").ocsp is None


def _with(old: str, new: str) -> str:
    """The Carillon data with ``old`` replaced at its first place in or after the
    Signing CA's [ocsp] table (the Device CA's table repeats most lines)."""
    text = PKG.joinpath("carillon.toml").read_text("utf-8")
    at = text.index(TABLE)
    head, tail = text[:at], text[at:]
    assert old in tail, old
    return head + tail.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('responder_profile = "ocsp-responder"', 'responder_profile = "nope"',
         f"{P}.responder_profile"),
        # A profile of this CA without id-kp-OCSPSigning.
        ('responder_profile = "ocsp-responder"', 'responder_profile = "signature"',
         f"{P}.responder_profile"),
        ('hashes = ["sha1", "sha256"]', 'hashes = ["sha1", "md5"]', f"{P}.hashes[1]"),
        ('hashes = ["sha1", "sha256"]', "hashes = []", f"{P}.hashes"),
        ('nonce = "echo"', 'nonce = "maybe"', f"{P}.nonce"),
        ("validity = { from_crl = true }", "validity = { from_crl = false }",
         f"{P}.validity.from_crl"),
        ("validity = { from_crl = true }", "validity = { weeks = 1 }", f"{P}.validity"),
        ("refresh_margin = { hours = 24 }", "refresh_margin = { hours = 0 }",
         f"{P}.refresh_margin.hours"),
        ("include_expired = false", 'include_expired = "no"', f"{P}.include_expired"),
        (TABLE, "[ocsp.cas.no-such-ca]", "ocsp.cas.no-such-ca"),
        # The responder profile is issued by the Signing CA, not by the Device CA.
        ('responder_profile = "device-ocsp-responder"', 'responder_profile = "ocsp-responder"',
         f"{DEVICE}.responder_profile"),
        # The CA itself signs (responder = "ca"), or a delegated responder: one of them.
        ('responder_profile = "ocsp-responder"', 'responder = "self"', f"{P}.responder"),
        ('responder_profile = "ocsp-responder"',
         'responder_profile = "ocsp-responder"\nresponder = "ca"', P),
        ('responder_profile = "ocsp-responder"', "", P),
    ],
)  # fmt: skip
def test_bad_tables_fail_at_load_with_their_path(old: str, new: str, path: str) -> None:
    with pytest.raises(ProfileError) as e:
        parse_profile_set(_with(old, new), "prod")
    assert str(e.value).startswith(path), str(e.value)


def test_a_duration_validity_is_seconds() -> None:
    ps = parse_profile_set(
        _with("validity = { from_crl = true }", "validity = { hours = 6 }"), "prod"
    )
    assert ps.ocsp is not None
    ca = ps.ocsp.cas[SIGNING]
    assert ca.validity_seconds == 6 * 3600 and not ca.from_crl


def test_the_ocsp_table_follows_its_ca_into_the_next_generation() -> None:
    """A rollover (RFC 3647 §5.6) renames the CAs; their [ocsp] tables follow them."""
    from porthos.workspace.generations import generation_profile_set

    ps = generation_profile_set("carillon", "prod", 2)
    assert ps.ocsp is not None
    name, device = ps.ocsp.cas
    assert name != SIGNING and name in ps.cas and device in ps.cas
    assert ps.ocsp.cas[name].responder_profile == "ocsp-responder"
    assert ps.profiles["ocsp-responder"].issuer == name


def test_secom_roots_sign_their_own_responses() -> None:
    """SECOM: the sub CAs through delegated responders, each offline root itself
    (responder = "ca", RFC 6960 §4.2.2.2) with its ARL's window."""
    ps = load_profile_set("secom")
    assert ps.ocsp is not None
    roots = {n for n, c in ps.ocsp.cas.items() if c.ca_signed}
    assert roots == {"secom-rootca2", "secom-rootca3", "secom-ecc-rootca1"}
    for name, c in ps.ocsp.cas.items():
        assert c.from_crl and c.hashes == ("sha1", "sha256")
        if name not in roots:
            assert c.responder_profile is not None
            assert ps.profiles[c.responder_profile].issuer == name
