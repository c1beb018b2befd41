"""RPKI resources as text and as sets (RFC 3779; the engine is porthos._native).

``parse_resources("AS64496-64511, 192.0.2.0/24, 2001:db8::/32")`` gives a
:class:`porthos._native.ResourceSet`: canonical interval sets of AS numbers, IPv4 and
IPv6 addresses with union, intersection, difference and subset, and the DER of the
two RFC 3779 extensions. ``format_resources`` writes a set back as text (prefixes
where an interval is exactly one, ranges otherwise), the form errors name resources
in. Errors are :class:`porthos.exceptions.ResourceError` with the offending token.
"""

from __future__ import annotations

import ipaddress
import re

from porthos._native import ResourceSet
from porthos.exceptions import ResourceError

__all__ = [
    "ResourceSet",
    "format_resources",
    "parse_resources",
    "prefix_interval",
    "require_subset",
]

# AS64496, AS64496-64511, AS64496-AS64511 (RFC 3779 §3: 32-bit AS numbers, RFC 6793).
_AS_RE = re.compile(r"AS(\d{1,10})(?:-(?:AS)?(\d{1,10}))?", re.IGNORECASE)
_AS_MAX = 2**32 - 1
_SPLIT_RE = re.compile(r"[,\s]+")


def _bad(token: str, why: str) -> ResourceError:
    return ResourceError(f"resource {token!r}: {why}", token=token)


def prefix_interval(text: str) -> tuple[int, int, int]:
    """``"192.0.2.0/24"`` -> (version, first address, last address). Host bits must be
    zero: ``192.0.2.1/24`` is refused, not silently truncated."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise _bad(text, str(e)) from None
    return net.version, int(net.network_address), int(net.broadcast_address)


def _address(text: str, token: str) -> tuple[int, int]:
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        raise _bad(token, f"{text!r} is not an IP address") from None
    return a.version, int(a)


def _token(token: str) -> tuple[str, int, int]:
    """One token -> (family, lo, hi); family in asn | ipv4 | ipv6."""
    m = _AS_RE.fullmatch(token)
    if m:
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi > _AS_MAX:
            raise _bad(token, f"AS number above {_AS_MAX}")
        if lo > hi:
            raise _bad(token, "range runs backwards")
        return "asn", lo, hi
    if "/" in token:
        version, lo, hi = prefix_interval(token)
    elif "-" in token:
        first, _, last = token.partition("-")
        v1, lo = _address(first, token)
        v2, hi = _address(last, token)
        if v1 != v2:
            raise _bad(token, "range mixes IPv4 and IPv6")
        if lo > hi:
            raise _bad(token, "range runs backwards")
        version = v1
    else:
        raise _bad(token, "expected ASn, ASn-m, an IP prefix (a/len) or an IP range (a-b)")
    return ("ipv4" if version == 4 else "ipv6"), lo, hi


def parse_resources(text: str, *, strict: bool = False) -> ResourceSet:
    """Comma- or space-separated AS numbers/ranges, IPv4/IPv6 prefixes/ranges.
    ``strict``: refuse tokens that overlap each other (a request must state each
    resource once, issue 18), naming both."""
    families: dict[str, list[tuple[int, int]]] = {"asn": [], "ipv4": [], "ipv6": []}
    owners: dict[str, list[str]] = {"asn": [], "ipv4": [], "ipv6": []}
    for token in _SPLIT_RE.split(text.strip()):
        if not token:
            continue
        fam, lo, hi = _token(token)
        families[fam].append((lo, hi))
        owners[fam].append(token)
    if strict:
        for fam, ranges in families.items():
            order = sorted(range(len(ranges)), key=lambda i: ranges[i])
            for a, b in zip(order, order[1:], strict=False):
                if ranges[b][0] <= ranges[a][1]:
                    t1, t2 = owners[fam][a], owners[fam][b]
                    raise ResourceError(
                        f"resources {t1!r} and {t2!r} overlap", token=f"{t1}, {t2}"
                    )
    return ResourceSet(**families)


def _ip_text(version: int, lo: int, hi: int) -> str:
    addr = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    nets = list(ipaddress.summarize_address_range(addr(lo), addr(hi)))
    if len(nets) == 1:
        return str(nets[0])
    return f"{addr(lo)}-{addr(hi)}"


def format_resources(resources: ResourceSet) -> str:
    """Canonical text: AS numbers, then IPv4, then IPv6, each in ascending order."""
    parts = [f"AS{lo}" if lo == hi else f"AS{lo}-{hi}" for lo, hi in resources.asn]
    parts += [_ip_text(4, lo, hi) for lo, hi in resources.ipv4]
    parts += [_ip_text(6, lo, hi) for lo, hi in resources.ipv6]
    return ", ".join(parts)


def require_subset(requested: ResourceSet, held: ResourceSet, *, what: str = "request") -> None:
    """Refuse resources beyond ``held`` (RFC 6487 §7.2), naming exactly the excess."""
    excess = requested.difference(held)
    if not excess.is_empty():
        text = format_resources(excess)
        raise ResourceError(f"the {what} claims resources not held: {text}", token=text)
