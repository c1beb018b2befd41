"""Seed corpora of the RPKI parser fuzz targets (issue 18): RFC 3779 extnValues made
by `openssl` (an independent encoder; it canonicalises RFC 3779 itself) and by
porthos, ROA and manifest eContents made by porthos.

    PYTHONPATH=python python fuzz/make_rpki_seeds.py
        # rewrites fuzz/corpus/{rfc3779_parse,roa_parse,manifest_parse}

The stable twins (rust/porthos-core/tests/fuzz_parsers.rs) read the seeds.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from porthos import _native
from porthos.issuance.rpki_objects import manifest_content, roa_content
from porthos.issuance.rpki_resources import parse_resources

CORPUS = Path(__file__).resolve().parent / "corpus"
IP = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")
AS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.8")
T0 = 1_767_225_600  # 2026-01-01


def _openssl_ext(ip: str, asn: str) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "c.der"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(Path(d) / "k.pem"), "-subj", "/CN=seed", "-outform", "DER",
             "-out", str(out), "-addext", f"sbgp-ipAddrBlock=critical,{ip}",
             "-addext", f"sbgp-autonomousSysNum=critical,{asn}"],
            check=True, capture_output=True,
        )  # fmt: skip
        cert = x509.load_der_x509_certificate(out.read_bytes())
    ext = cert.extensions
    return (
        ext.get_extension_for_oid(IP).value.value,  # type: ignore[attr-defined]
        ext.get_extension_for_oid(AS).value.value,  # type: ignore[attr-defined]
    )


def main() -> None:
    rfc = CORPUS / "rfc3779_parse"
    roa = CORPUS / "roa_parse"
    mft = CORPUS / "manifest_parse"
    for d in (rfc, roa, mft):
        d.mkdir(parents=True, exist_ok=True)
    ip, asn = _openssl_ext(
        "IPv4:10.0.32.0/20,IPv4:10.2.48.0-10.2.64.255,IPv6:2001:db8::/32",
        "AS:135,AS:3000-3999,AS:5001",
    )
    (rfc / "openssl-ip.der").write_bytes(ip)
    (rfc / "openssl-as.der").write_bytes(asn)
    ip, asn = _openssl_ext("IPv4:inherit,IPv6:inherit", "AS:inherit")
    (rfc / "openssl-inherit-ip.der").write_bytes(ip)
    (rfc / "openssl-inherit-as.der").write_bytes(asn)
    rs = parse_resources("AS0-4294967295, 0.0.0.0/0, 0.0.0.1-10.255.255.255, ::/0")
    (rfc / "porthos-edges-ip.der").write_bytes(rs.ip_addr_blocks_der() or b"")
    (rfc / "porthos-edges-as.der").write_bytes(rs.as_identifiers_der() or b"")
    (rfc / "porthos-sia.der").write_bytes(
        _native.rpki_sia(
            [
                ("ca_repository", "rsync://h/r/"),
                ("rpki_manifest", "rsync://h/r/m.mft"),
                ("rpki_notify", "https://h/n.xml"),
            ]
        )  # fmt: skip
    )
    (roa / "v4.der").write_bytes(roa_content(64496, ["192.0.2.0/24-26", "198.51.100.0/25"]))
    (roa / "v4v6.der").write_bytes(roa_content(0, ["10.0.0.0/8", "2001:db8::/32-48", "::/0"]))
    (roa / "big-as.der").write_bytes(roa_content(4294967295, ["0.0.0.0/0-32"]))
    (mft / "empty.der").write_bytes(manifest_content(0, T0, T0 + 86400, []))
    (mft / "three.der").write_bytes(
        manifest_content(
            2**150, T0, T0 + 86400, [("a.roa", b"a"), ("B-1_x.cer", b"b"), ("c.crl", b"")]
        )
    )
    (mft / "y2050.der").write_bytes(manifest_content(1, 2524608000, 2524608001, [("a.roa", b"")]))


if __name__ == "__main__":
    main()
