"""``porthos demo --cpcps rpki`` (issue 18 §4): a trust anchor, two hosted child CAs
(keys and PKCS#10 requests made here, certified through the same path as
``porthos rpki child add``), N ROAs spread over the three CAs, one publication.

Writes ``D/rpki/repository/<host>/<module>/…`` (the paths of the rsync URIs),
``D/rpki/<tal>.tal`` and ``D/rpki/expected-vrps.csv`` (ASN, prefix, maxLength): the
VRPs a relying party must derive, for the validator tests. The one-time EE keys come
from ``_native.RsaKeyPool`` filled once on all cores (issue 18 §6: keygen bound).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

from porthos._native import RsaKeyPool
from porthos.issuance.rpki_objects import RoaPrefix
from porthos.workspace.rpki_ca import RoaRequest, RpkiWorkspace
from porthos.workspace.rpki_publish import Publication, publish

__all__ = ["RpkiDemoResult", "run_rpki_demo"]

TA_RESOURCES = "AS64496-65535, 10.0.0.0/8, 2001:db8::/32"
#: (name, resources, IPv4 /24 space, IPv6 /48 space, AS range) of each CA's ROAs.
_CAS = (
    ("ta", None, "10.0.0.0/9", "2001:db8::/33", (64496, 64999)),
    (
        "child-a",
        "AS65000-65099, 10.128.0.0/10, 2001:db8:8000::/34",
        "10.128.0.0/10",
        "2001:db8:8000::/34",
        (65000, 65099),
    ),
    (
        "child-b",
        "AS65100-65199, 10.192.0.0/10, 2001:db8:c000::/34",
        "10.192.0.0/10",
        "2001:db8:c000::/34",
        (65100, 65199),
    ),
)


@dataclass(frozen=True)
class RpkiDemoResult:
    publication: Publication
    roas: int
    keygen_seconds: float
    seconds: float
    expected: Path


def _requests(index: int, count: int, v4: str, v6: str, asns: tuple[int, int]) -> list[RoaRequest]:
    """``count`` ROAs: mostly IPv4 /24s (some with maxLength 24-26), every fifth an
    IPv6 /48 with maxLength 56; ASNs cycle through the CA's range."""
    net4 = ipaddress.ip_network(v4)
    net6 = ipaddress.ip_network(v6)
    out = []
    for i in range(count):
        asn = asns[0] + i % (asns[1] - asns[0] + 1)
        if i % 5 == 4:
            addr = int(net6.network_address) + (i << 80)
            p = RoaPrefix(6, addr, 48, 56)
        else:
            addr = int(net4.network_address) + (i << 8)
            p = RoaPrefix(4, addr, 24, None if i % 3 == 0 else 24 + i % 3)
        out.append(RoaRequest(asn, (p,)))
    return out


def run_rpki_demo(workdir: Path, *, roas: int = 1000, now: int | None = None) -> RpkiDemoResult:
    start = time.perf_counter()
    now = int(time.time()) if now is None else now
    ws = RpkiWorkspace.init(workdir, TA_RESOURCES, now=now)
    try:
        for name, resources, *_ in _CAS[1:]:
            key, csr = ws.hosted_csr(name)
            assert resources is not None
            ws.add_child(csr, resources, name=name, hosted_key=key, now=now)
        pool = RsaKeyPool()
        keygen = pool.fill(roas)
        per = [roas // 3 + (1 if i < roas % 3 else 0) for i in range(3)]
        rows: list[tuple[int, str, int]] = []
        for (name, _, v4, v6, asns), n in zip(_CAS, per, strict=True):
            reqs = _requests(0, n, v4, v6, asns)
            if reqs:
                ws.add_roas(reqs, ca_name=name, now=now, key_pool=pool)
            for r in reqs:
                for p in r.prefixes:
                    net = ipaddress.ip_network((p.address, p.length))
                    rows.append((r.asn, str(net), p.max_length or p.length))
        pub = publish(ws, now=now)
        expected = ws.rpki_dir / "expected-vrps.csv"
        lines = ["ASN,IP Prefix,Max Length"]
        lines += [f"AS{a},{p},{m}" for a, p, m in sorted(set(rows))]
        expected.write_text("\n".join(lines) + "\n")
    finally:
        ws.close()
    return RpkiDemoResult(pub, roas, keygen, time.perf_counter() - start, expected)
