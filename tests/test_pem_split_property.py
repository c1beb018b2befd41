"""Property twin of PEM fuzzing (issue 20 §4): ``split_csr_pem``, the one PEM splitter
of every command, never raises, finds every well-formed request block among junk and
blocks of other labels, and costs linear time on hostile marker patterns."""

from __future__ import annotations

import base64
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from porthos.issuance.csr_input import split_csr_pem

_LABELS = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]
# Text between blocks: anything that cannot form a marker (no '-').
_junk = st.text(alphabet=st.sampled_from(list("abcXYZ0123 \t\r\n=+/é")), max_size=40).map(
    lambda s: s.encode()
)


def _block(label: str, der: bytes, width: int) -> bytes:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + width] for i in range(0, len(b64), width)] or [""]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


@st.composite
def bundles(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    parts: list[bytes] = []
    wanted: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        parts.append(draw(_junk))
        der = draw(st.binary(min_size=1, max_size=120))
        width = draw(st.sampled_from([64, 76, 16, 1000]))
        if draw(st.integers(0, 3)) == 0:
            # Another label (a certificate, a key) is skipped, not reported.
            parts.append(
                _block(draw(st.sampled_from(["CERTIFICATE", "PRIVATE KEY"])), der, width).encode()
            )
        else:
            parts.append(_block(draw(st.sampled_from(_LABELS)), der, width).encode())
            wanted.append(der)
    parts.append(draw(_junk))
    return b"".join(parts), wanted


@settings(max_examples=300, deadline=None)
@given(bundle=bundles(), as_text=st.booleans())
def test_every_well_formed_block_is_found_in_order(
    bundle: tuple[bytes, list[bytes]], as_text: bool
) -> None:
    data, wanted = bundle
    items = split_csr_pem(data.decode() if as_text else data)
    assert [i.der for i in items] == wanted
    assert all(i.error == "" for i in items)


_fragments = st.sampled_from(
    [
        b"-----BEGIN CERTIFICATE REQUEST-----\n",
        b"-----BEGIN NEW CERTIFICATE REQUEST-----\n",
        b"-----END CERTIFICATE REQUEST-----\n",
        b"-----END NEW CERTIFICATE REQUEST-----\n",
        b"-----BEGIN CERTIFICATE-----\n",
        b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n",
        b"!!!!\n",
        b"-----",
        b"\x00\xff",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.one_of(_fragments, st.binary(max_size=20)), max_size=40),
    as_text=st.booleans(),
)
def test_never_raises_and_every_item_says_why(parts: list[bytes], as_text: bool) -> None:
    data = b"".join(parts)
    items = split_csr_pem(data.decode("latin-1") if as_text else data)
    for item in items:
        assert (item.der is None) == (item.error != "")
    assert len(items) <= data.count(b"-----BEGIN ")


def _seconds(data: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        split_csr_pem(data)
        best = min(best, time.perf_counter() - t0)
    return best


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=st.lists(_fragments, min_size=1, max_size=6))
def test_cost_is_linear_in_hostile_marker_patterns(pattern: list[bytes]) -> None:
    # The pattern repeated to ~48 KB and to 8x that: a quadratic splitter (the one
    # issue 20 §3 found took 20 s on 1.4 MB) costs 64x more on the larger, a linear
    # one 8x; 24x plus 20 ms of noise separates them.
    unit = b"".join(pattern)
    small = unit * max(1, 48_000 // len(unit))
    large = small * 8
    t_small, t_large = _seconds(small), _seconds(large)
    assert t_large < 24 * t_small + 0.02, (pattern, t_small, t_large)
