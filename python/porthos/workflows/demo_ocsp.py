"""The OCSP step of ``porthos demo --cpcps`` (docs/ocsp.md): every CA the CP/CPS's
``[ocsp]`` names gets its responses pre-signed into D/ocsp/<CA>/ — a CA with a delegated
responder gets one (``rotate_responder``) and ``presign``; an offline root
(``responder = "ca"``) signs its own in a ceremony under the demo officers' dual
control — then ``openssl ocsp -respin`` reads and verifies a response of each CA:
good for a live sample (or, for a root, its sub CA) and revoked with its reason for
the revoked sample.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from rich.console import Console
from rich.table import Table

from porthos.issuance.csr_input import der_to_pem
from porthos.workflows import ocsp_ceremony, ocsp_files, ocsp_presign
from porthos.workflows.ocsp_responder import rotate_responder

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.workspace.workspace import Workspace

__all__ = ["new_generation", "openssl_status", "response_file", "run"]


def response_file(workdir: Path, ca_name: str, serial: int, hash_name: str = "sha1") -> Path:
    """The pre-signed response of ``serial`` (through the index, as a responder reads)."""
    folder = ocsp_files.ca_dir(workdir, ca_name)
    lines = (folder / "index.tsv").read_text().splitlines()[1:]
    for line in lines:
        cols = line.split("\t")
        if int(cols[0], 16) == serial and cols[1] == hash_name:
            return folder / cols[-1]
    raise LookupError(f"no {hash_name} response for serial {serial:x} of {ca_name}")


def openssl_status(response: Path, issuer: bytes, trusted: Sequence[bytes]) -> str:
    """``openssl ocsp -respin -issuer -CAfile -resp_text``: "good", or "revoked
    (<reason>)"; raises when openssl does not say "Response verify OK"."""
    openssl = shutil.which("openssl")
    assert openssl is not None
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "issuer.pem").write_text(der_to_pem(issuer, "CERTIFICATE"))
        (t / "ca.pem").write_text("".join(der_to_pem(c, "CERTIFICATE") for c in trusted))
        argv = [openssl, "ocsp", "-respin", str(response), "-issuer", str(t / "issuer.pem")]
        argv += ["-CAfile", str(t / "ca.pem"), "-resp_text"]
        p = subprocess.run(argv, capture_output=True, text=True, check=False)
    said = p.stdout + p.stderr
    if p.returncode != 0 or "Response verify OK" not in said:
        raise RuntimeError(f"openssl ocsp refused {response}: {said.strip()[-400:]}")
    status = next(x.split(":", 1)[1].strip() for x in said.splitlines() if "Cert Status:" in x)
    if status == "revoked":
        reason = [x.split(":", 1)[1].strip() for x in said.splitlines() if "Reason:" in x]
        return f"revoked ({reason[0] if reason else 'no reason'})"
    return status


def run(
    ws: Workspace,
    console: Console,
    workdir: Path,
    samples: dict[str, Path],
    revoked: tuple[str, Path] | None,
    chain: Callable[[str], list[bytes]],
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
    expect: Callable[[bool, str], None],
) -> None:
    """Pre-sign every OCSP CA of the data, then check one response of each with
    openssl. ``chain(ca)``: the CA certificates from the root down to ``ca``."""
    cas = ocsp_presign.ocsp_cas(ws)
    if not cas:
        return
    table = Table(title="OCSP: pre-signed responses (D/ocsp/<CA>/)")
    for col in ("CA", "signed by", "responses", "openssl ocsp -respin"):
        table.add_column(col)
    checks: list[tuple[str, int, str]] = []  # (CA, serial, expected status prefix)
    for name, path in samples.items():
        issuer = ws.profile_set.profiles[name].issuer
        checks.append(
            (issuer, x509.load_der_x509_certificate(path.read_bytes()).serial_number, "good")
        )
    if revoked is not None:
        profile, path = revoked
        serial = x509.load_der_x509_certificate(path.read_bytes()).serial_number
        checks.append((ws.profile_set.profiles[profile].issuer, serial, "revoked ("))
    for spec in cas:
        if spec.ca_signed:
            r = ocsp_ceremony.ceremony(ws, spec.ca, root_halves=root_halves)
            by = f"{spec.ca} itself (ceremony)"
            # A root's answer is about the CAs it certified.
            for sub in ws.cas:
                if sub.spec.issuer == spec.ca and sub.name != spec.ca:
                    checks.append((spec.ca, int(sub.serial_hex, 16), "good"))
        else:
            rotate_responder(ws, spec)
            (r,) = ocsp_presign.presign(ws, spec.ca)
            by = f"delegated responder {r.responder_serial}"
        said = []
        if shutil.which("openssl") is not None:
            ca_chain = chain(spec.ca)
            for ca_name, serial, want in checks:
                if ca_name != spec.ca:
                    continue
                got = openssl_status(
                    response_file(workdir, spec.ca, serial), ca_chain[-1], ca_chain
                )
                expect(
                    got.startswith(want), f"openssl ocsp {spec.ca} {serial:x}: {got}, not {want}"
                )
                said.append(f"{serial:x}: {got}")
        table.add_row(spec.ca, by, str(r.responses), "\n".join(said) or "-")
    console.print(table)


def new_generation(
    ws: Workspace, console: Console, root_halves: Sequence[tuple[str, hsm.Secret]] | None
) -> None:
    """After a changeover: each new root's ceremony (its sub CA and the link
    certificates it signed), and each new sub CA's responder and responses; the old
    generation's responses stay until their nextUpdate."""
    for spec in ocsp_presign.ocsp_cas(ws):
        if ws.ca(spec.ca).generation != ws.generation:
            continue  # the retired generation's responders were made by run()
        if spec.ca_signed:
            r = ocsp_ceremony.ceremony(ws, spec.ca, root_halves=root_halves)
            how = "ceremony"
        else:
            rotate_responder(ws, spec)
            (r,) = ocsp_presign.presign(ws, spec.ca)
            how = "delegated responder"
        console.print(f"OCSP of {spec.ca} ({how}): {r.responses} responses pre-signed")
