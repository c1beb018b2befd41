"""The key-changeover step of ``porthos demo --cpcps`` (RFC 3647 §5.6), where the demo
data asks for one (``[changeover]``): every root of the workspace gets its successor
and a pair of link certificates (workflows/rollover.py); one certificate of the named
profile is issued by the new generation; every CRL is published again (the old roots
still sign their ARLs, covering the certificates they issued); and ``openssl verify
-crl_check_all`` accepts that certificate with only the *old* root as trust anchor,
through the new-with-old link certificate. Mechanism only: which profile is the demo
data's to say."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from porthos.issuance.csr_input import der_to_pem
from porthos.workflows import crl_publication, rollover
from porthos.workspace.repository import crl_file_name

if TYPE_CHECKING:
    from rich.console import Console

    from porthos import hsm
    from porthos.workspace.workspace import Workspace

__all__ = ["run"]


def run(
    ws: Workspace,
    console: Console,
    profile: str,
    issue: Callable[[str], bytes],
    out: Path,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
) -> tuple[Path, list[Path]]:
    """Roll every root over, issue one ``profile`` certificate (``issue(profile)``) to
    ``out``; returns it and the link certificates. RuntimeError when openssl refuses."""
    done = rollover.rollover(ws, root_pin_halves=root_halves)
    der = issue(profile)
    out.write_bytes(der)
    crl_publication.publish(ws, everything=True, root_halves=root_halves)
    for kind, issuer, path in done.links:
        console.print(f"link certificate ({kind}, signed by {issuer}): {path.name}")
    ca = ws.ca_for_profile(profile)
    new_root = ws.ca(ca.spec.issuer)
    # The new-with-old link of that root: the new root's key, signed by the old one.
    old_name, link = next(
        (issuer, p)
        for kind, issuer, p in done.links
        if kind == "new-with-old" and p.name.startswith(f"{new_root.name}-by-")
    )
    old_root = ws.ca(old_name)
    openssl = shutil.which("openssl")
    if openssl is not None:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "anchor.pem").write_text(der_to_pem(old_root.certificate, "CERTIFICATE"))
            (t / "untrusted.pem").write_text(
                der_to_pem(link.read_bytes(), "CERTIFICATE")
                + der_to_pem(ca.certificate, "CERTIFICATE")
            )
            (t / "leaf.pem").write_text(der_to_pem(der, "CERTIFICATE"))
            argv = [openssl, "verify", "-x509_strict", "-crl_check_all"]
            argv += ["-CAfile", str(t / "anchor.pem"), "-untrusted", str(t / "untrusted.pem")]
            for c in (old_root, new_root, ca):
                crl = t / f"{c.name}.crl.pem"
                data = (ws.path / "repository" / crl_file_name(c)).read_bytes()
                crl.write_text(der_to_pem(data, "X509 CRL"))
                argv += ["-CRLfile", str(crl)]
            r = subprocess.run([*argv, str(t / "leaf.pem")], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"openssl refused the new generation: {r.stdout}{r.stderr}")
        console.print(
            f"[green]changeover[/]: {out.name} (generation {done.generation}) accepted by "
            f"openssl from the old {old_root.name} through {link.name}"
        )
    return out, [p for _kind, _issuer, p in done.links]
