"""The rpkimancer peer of `porthos bench rpki` (issue 18 §6): N ROAs made with
rpkimancer (PyPI, pure Python on pyca/cryptography), each with its own fresh RSA-2048
EE key as rpkimancer always does, in one process. Run with an interpreter that has
rpkimancer installed (it pins cryptography < 38, so not porthos' own venv):

    /tmp/rpkimancer-venv/bin/python benches/rpki_rpkimancer.py --n 64

`porthos bench rpki --rpkimancer PYTHON` runs it as one process per thread in the same
run and reports the combined rate. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--first", type=int, default=0)
    a = ap.parse_args()
    from rpkimancer.cert import CertificateAuthority, TACertificateAuthority
    from rpkimancer.sigobj import RouteOriginAttestation

    ta = TACertificateAuthority(
        as_resources=[(64496, 64511)], ip_resources=[ipaddress.ip_network("10.0.0.0/8")]
    )
    ca = CertificateAuthority(
        issuer=ta, as_resources=[(64496, 64511)], ip_resources=[ipaddress.ip_network("10.0.0.0/8")]
    )
    t0 = time.perf_counter()
    for i in range(a.first, a.first + a.n):
        net = ipaddress.ip_network(f"10.{(i >> 8) % 256}.{i % 256}.0/24")
        RouteOriginAttestation(
            issuer=ca, as_id=64496 + i % 16, ip_address_blocks=[(net, 24 + i % 9)]
        )
    elapsed = time.perf_counter() - t0
    print(json.dumps({"n": a.n, "seconds": elapsed}))


if __name__ == "__main__":
    main()
