"""Helpers every interop test uses: judge porthos output with independent implementations.

Three judges, each written by someone else than porthos:
- ``openssl verify`` (OpenSSL's chain builder and RFC 5280 path validation, ``-x509_strict``),
- pkilint's RFC 5280 certificate linter (DigiCert's, in-process: same validator that its
  ``lint_pkix_cert`` command builds),
- pyca/cryptography (rust-openssl/aws-lc backed signature checks per link).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509

__all__ = [
    "assert_pkilint_clean",
    "openssl_verify",
    "pkilint_cli",
    "pkilint_findings",
    "pyca_verify_chain",
    "to_pem",
]


def to_pem(data: bytes, label: str = "CERTIFICATE") -> bytes:
    """DER to PEM (PEM input is returned unchanged)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return data
    b64 = base64.encodebytes(data).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        f"-----BEGIN {label}-----\n".encode()
        + b"\n".join(lines)
        + f"\n-----END {label}-----\n".encode()
    )


def openssl_verify(chain: Sequence[bytes], leaf: bytes, crl: bytes | None = None) -> None:
    """Run ``openssl verify`` on *leaf* against *chain* (root first, PEM or DER).

    The root is the only trust anchor (-CAfile); the rest of the chain is offered as
    untrusted intermediates, so OpenSSL must build and validate the path itself.
    ``-x509_strict`` turns on the RFC 5280 checks OpenSSL otherwise relaxes (e.g. AKI/SKI
    presence, basicConstraints criticality on CAs). Validation is at the current time: the
    certificates under test are valid now. Raises AssertionError with OpenSSL's output.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise AssertionError("openssl is not installed (make installs it: DEB_PACKAGES)")
    if not chain:
        raise ValueError("chain must contain at least the root")
    with tempfile.TemporaryDirectory(prefix="porthos-verify-") as tmp:
        d = Path(tmp)
        (d / "root.pem").write_bytes(to_pem(chain[0]))
        (d / "leaf.pem").write_bytes(to_pem(leaf))
        cmd = [openssl, "verify", "-x509_strict", "-CAfile", str(d / "root.pem")]
        if len(chain) > 1:
            (d / "untrusted.pem").write_bytes(b"".join(to_pem(c) for c in chain[1:]))
            cmd += ["-untrusted", str(d / "untrusted.pem")]
        if crl is not None:
            (d / "crl.pem").write_bytes(to_pem(crl, "X509 CRL"))
            cmd += ["-crl_check", "-CRLfile", str(d / "crl.pem")]
        cmd.append(str(d / "leaf.pem"))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        # openssl verify exits 0 and prints "<file>: OK" only when the path validated.
        if proc.returncode != 0 or not proc.stdout.rstrip().endswith(": OK"):
            raise AssertionError(
                f"openssl verify failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}\ncommand: {' '.join(cmd)}"
            )


@lru_cache(maxsize=1)
def _pkilint_validator() -> Any:
    # The same container pkilint's `lint_pkix_cert lint` builds: RFC 5280 decoding plus
    # the issuer, validity, subject, extensions and SPKI validators, with no extra ones.
    from pkilint.pkix import certificate, extension, name

    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


def pkilint_findings(der: bytes, min_severity: str = "WARNING") -> list[str]:
    """pkilint RFC 5280 findings at *min_severity* or worse, as ``SEVERITY code @path: msg``.

    A certificate pkilint cannot even decode yields one FATAL finding (not an exception),
    so callers can report everything with one assertion.
    """
    from pkilint import loader
    from pkilint.validation import ValidationFindingSeverity

    threshold = ValidationFindingSeverity[min_severity]
    try:
        doc = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    except Exception as e:  # pkilint raises ValueError or pyasn1 errors on bad DER
        return [f"FATAL decode: {type(e).__name__}: {e}"]
    out: list[str] = []
    for result in _pkilint_validator().validate(doc.root):
        for fd in result.finding_descriptions:
            # Lower numbers are worse (FATAL = 0 ... DEBUG = 5).
            if fd.finding.severity <= threshold:
                msg = f": {fd.message}" if fd.message else ""
                out.append(
                    f"{fd.finding.severity.name} {fd.finding.code} @{result.node.path}{msg}"
                )
    return out


def assert_pkilint_clean(der: bytes, what: str = "certificate") -> None:
    """No pkilint finding at WARNING or worse."""
    findings = pkilint_findings(der)
    if findings:
        raise AssertionError(f"pkilint findings for {what}:\n  " + "\n  ".join(findings))


def pyca_verify_chain(chain: Sequence[bytes], leaf: bytes | None = None) -> list[x509.Certificate]:
    """Verify every signature link with pyca/cryptography (DER or PEM input, root first).

    The root must be self-signed; each later certificate must be directly issued by the
    one before it (issuer name match + signature, ``verify_directly_issued_by``). Returns
    the parsed certificates (chain, then leaf).
    """

    def load(data: bytes) -> x509.Certificate:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)

    certs = [load(c) for c in chain]
    if leaf is not None:
        certs.append(load(leaf))
    if not certs:
        raise ValueError("empty chain")
    certs[0].verify_directly_issued_by(certs[0])
    for issuer, subject in zip(certs, certs[1:], strict=False):
        subject.verify_directly_issued_by(issuer)
    return certs


def pkilint_cli(tool: str, args: list[str], der: bytes, tmp: Path) -> list[str]:
    """The finding codes at WARNING or above of one of pkilint's command-line linters
    (``lint_cabf_serverauth_cert``, ``lint_crl``) on one DER document."""
    lint = shutil.which(tool, path=str(Path(sys.executable).parent))
    assert lint is not None, "pkilint is a test dependency"
    (tmp / "doc.der").write_bytes(der)
    # pkilint's own Python warnings (cryptography >= 46 deprecates the DSA class it still
    # imports) are not findings about the document: silenced, so that stderr holds only
    # what this check is after.
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(
        [lint, "lint", *args, "-s", "WARNING", "-f", "CSV", str(tmp / "doc.der")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    # The exit status counts the findings; a usage or decoding error goes to stderr.
    assert not r.stderr.strip(), r.stderr
    # CSV rows: node path, validator, severity, code, message; a header line first.
    rows = [line.split(",") for line in r.stdout.strip().splitlines()[1:] if line]
    return [row[3] for row in rows if len(row) > 3]
