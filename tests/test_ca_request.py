"""issuance/ca_request.py: what a CA request asks for, against what the caller allows
(RFC 5280 §4.2.1.9 pathLenConstraint, §4.2.1.10 name subtrees), one rule per case."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from error_codes import raises_code
from porthos.exceptions import PolicyError
from porthos.issuance.ca_request import CaRequest, check_name_space, check_path_len

C, O_, CN = "2.5.4.6", "2.5.4.10", "2.5.4.3"


def request(permitted: list[tuple[str, Any]] | None = None, path_len: int | None = None,
            ca: bool = True) -> CaRequest:  # fmt: skip
    return CaRequest(b"", [], b"", 0, 0, None, True, ca, path_len, permitted)


ALLOWED: list[tuple[str, Any]] = [
    ("directory_name", ((C, "US"), (O_, "Partner"))),
    ("dns", "partner.example"),
    ("rfc822", ".partner.example"),
    ("uri", "partner.example"),
    ("ip", "10.0.0.0/8"),
]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("directory_name", ((C, "US"), (O_, "Partner"))),
        ("directory_name", ((C, "us"), (O_, "partner "), (CN, "Sub"))),  # RFC 5280 §7.1
        ("dns", "partner.example"),
        ("dns", "a.b.PARTNER.example"),
        ("rfc822", "mail.partner.example"),
        ("rfc822", "someone@mail.partner.example"),
        ("uri", "PARTNER.example"),
        ("ip", ipaddress.ip_network("10.1.0.0/16")),
    ],
)
def test_narrower_or_equal_subtrees_are_accepted(kind: str, value: Any) -> None:
    asked = [(k, v) for k, v in ALLOWED if k != kind] + [(kind, value)]
    check_name_space(request(asked), ALLOWED, "test")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("directory_name", ((C, "US"),)),
        ("directory_name", ((C, "US"), (O_, "Other"))),
        ("dns", "example"),
        ("dns", "evilpartner.example"),
        ("rfc822", "partner.example"),  # the host itself is not below ".partner.example"
        ("rfc822", "someone@other.example"),
        ("uri", "sub.partner.example"),  # a host constraint names that host only
        ("ip", ipaddress.ip_network("10.0.0.0/7")),
        ("ip", ipaddress.ip_network("fd00::/8")),
    ],
)
def test_wider_subtrees_are_refused(kind: str, value: Any) -> None:
    asked = [(k, v) for k, v in ALLOWED if k != kind] + [(kind, value)]
    with raises_code(PolicyError, "policy"):
        check_name_space(request(asked), ALLOWED, "test")


def test_a_missing_form_is_refused_and_no_request_asks_nothing() -> None:
    with raises_code(PolicyError, "policy", match="no permitted ip subtree"):
        check_name_space(request([(k, v) for k, v in ALLOWED if k != "ip"]), ALLOWED, "t")
    check_name_space(request(None), ALLOWED, "test")  # no nameConstraints requested
    check_name_space(request([("dns", "anything.example")]), [], "test")  # none allowed


@pytest.mark.parametrize(
    ("asked", "limit", "ok"),
    [(None, 0, True), (0, 0, True), (1, 0, False), (5, None, True), (2, 2, True), (3, 2, False)],
)
def test_path_len(asked: int | None, limit: int | None, ok: bool) -> None:
    if ok:
        check_path_len(request(path_len=asked), limit, "test")
    else:
        with raises_code(PolicyError, "policy"):
            check_path_len(request(path_len=asked), limit, "test")


def test_a_request_for_a_non_ca_certificate_is_refused() -> None:
    with raises_code(PolicyError, "policy"):
        check_path_len(request(ca=False), None, "test")
