"""``porthos demo``: a workspace (created if needed), COUNT requests across every profile
plus one deliberately bad request per rejection kind, a table of results, then the rest
of the CP/CPS on the same workspace (workflows/demo.py: RA, revocation, CRLs, audit)."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from porthos.cli.common import ca_table, errors_exit_2, get_console
from porthos.cli.hsm_options import demo_hsm_setup, demo_pin
from porthos.cli.options import WORKDIR

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    from porthos.workspace.authority import IssueResult

__all__ = ["demo"]


class _CsrMaker:
    """CSRs from pyca/cryptography: a small pool of keys per key kind (key generation
    dominates otherwise), every CSR distinct through its subject."""

    def __init__(self, pool: int = 8) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self._ec = [ec.generate_private_key(ec.SECP256R1()) for _ in range(pool)]
        self._ec384 = ec.generate_private_key(ec.SECP384R1())
        # RSA-2048 generation costs ~50 ms a key: two are enough for the AWS profiles.
        self._rsa = [rsa.generate_private_key(65537, 2048) for _ in range(2)]
        self._n = 0

    def make(self, attributes: list[tuple[str, str]], kind: str = "ec-p256") -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        oids = {
            "CN": NameOID.COMMON_NAME,
            "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "serialNumber": NameOID.SERIAL_NUMBER,
            "C": NameOID.COUNTRY_NAME,
        }
        self._n += 1
        key: CertificateIssuerPrivateKeyTypes
        if kind == "rsa-2048":
            key = self._rsa[self._n % len(self._rsa)]
        elif kind == "ec-p384":
            key = self._ec384
        else:
            key = self._ec[self._n % len(self._ec)]
        name = x509.Name([x509.NameAttribute(oids[a], v) for a, v in attributes])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.DER)


def _demo_subject(rule: str, i: int) -> tuple[list[tuple[str, str]], str]:
    """A subject (and key type) the profile's subject rule accepts, by rule name."""
    if rule == "uuid":
        return [("CN", str(uuid.uuid4()))], "ec-p256"
    if rule == "sa-device":
        attrs = [("O", "ignored by policy"), ("CN", str(uuid.uuid4()))]
        if i % 2:
            attrs.insert(1, ("OU", f"realm-{i % 5}"))
            attrs.append(("serialNumber", f"SN{i:08d}"))
        return attrs, "ec-p256"
    if rule == "fqdn-application":
        return [("CN", f"host{i}.porthos.example:agent")], "ec-p256"
    if rule == "fqdn":
        return [("CN", f"host{i}.svc.porthos.example")], "ec-p256"
    if rule == "user-name":
        return [("CN", f"user{i:06d}")], "ec-p256"
    return [("CN", secrets.token_hex(32))], "rsa-2048"


def _flip_signature(der: bytes) -> bytes:
    # The last octet is part of the signature value; flipping one bit keeps the DER
    # well-formed and breaks proof of possession (000 §3.2.1).
    return der[:-1] + bytes([der[-1] ^ 0x01])


@click.command()
@WORKDIR
@click.option("--env", type=click.Choice(["prod", "nonprod"]), default="prod", show_default=True)
@click.option(
    "--count",
    type=click.IntRange(min=28),
    default=3000,
    show_default=True,
    help="Requests across the 7 profiles (at least 4 each: the demo revokes 3 and keeps 1).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option(
    "--hsm",
    "hsm_kind",
    type=click.Choice(["softhsm", "none"]),
    default="none",
    show_default=True,
    help="softhsm: CA keys in SoftHSM2 tokens inside the workspace (demo PINs in "
    "<workdir>/hsm/demo-pins/, mode 0600).",
)
@click.option(
    "--cpcps",
    default=None,
    help="Run this PKI end to end from its demo data (a bundled CP/CPS name, or a TOML "
    "path with demo.toml beside it): samples, revocation, cross-certification, CRLs, "
    "openssl checks. Without it: the Porthos PKI batch demo.",
)
@click.option("--roas", type=click.IntRange(min=0), default=1000, hidden=True)
@errors_exit_2
def demo(
    workdir: Path,
    env: str,
    count: int,
    threads: int | None,
    hsm_kind: str,
    cpcps: str | None,
    roas: int,
) -> None:
    """Init (if needed), issue COUNT certificates across all profiles, show rejections."""
    if cpcps == "rpki":
        _rpki_demo(workdir, roas)
        return
    if cpcps is not None:
        _pki_demo(workdir, env, cpcps, hsm_kind)
        return
    from cryptography import x509

    from porthos.store.location import initialised
    from porthos.workspace.workspace import Workspace

    console = get_console()
    if initialised(workdir):
        ws = Workspace.open(workdir)
        console.print(f"using the existing workspace {workdir} ({ws.env})")
    elif hsm_kind == "softhsm":
        setup = demo_hsm_setup(workdir)
        ws = Workspace.init(workdir, env, hsm_setup=setup)
        console.print(
            "[green]CA keys generated in SoftHSM2[/] (tokens in "
            f"{workdir / 'hsm' / 'tokens'}; root under two demo officers' PIN halves)."
        )
        console.print(ca_table(ws))
    else:
        ws = Workspace.init(workdir, env)
        console.print("[yellow]CA keys are software keys[/] (use --hsm softhsm for the HSM).")
        console.print(ca_table(ws))
    if ws.hsm is not None:
        ws.activate(demo_pin(workdir, "issuing"))
    with ws:
        profiles = list(ws.profile_set.profiles)
        with console.status("generating CSRs with pyca/cryptography ..."):
            maker = _CsrMaker()
            batches: dict[str, list[bytes]] = {}
            for k, name in enumerate(profiles):
                share = count // len(profiles) + (1 if k < count % len(profiles) else 0)
                rule = ws.profile_set.profiles[name].subject_rule
                batches[name] = [maker.make(*_demo_subject(rule, i)) for i in range(share)]
            # Deliberately bad requests, one per rejection kind.
            batches["ha-device"].append(maker.make([("CN", str(uuid.uuid4()))], "ec-p384"))
            batches["ha-device"].append(maker.make([("CN", "not-a-uuid")]))
            fqdn = next(n for n in profiles if ws.profile_set.profiles[n].subject_rule == "fqdn")
            batches[fqdn].append(
                _flip_signature(maker.make([("CN", "forged.svc.porthos.example")]))
            )
            batches["user"].append(b"\x30\x03\x02\x01")  # truncated DER
            batches["aws-verification-ha"].append(maker.make([("CN", "ABC123")], "ec-p256"))

        root = x509.load_der_x509_certificate(ws.cas[0].certificate)
        table = Table(title=f"demo: {count} requests + 5 bad ones ({ws.env})")
        for col in ("profile", "CA", "issued", "rejected", "seconds", "certs/s", "chain"):
            table.add_column(col, justify="left" if col in ("profile", "CA", "chain") else "right")
        rejections: list[tuple[str, int, str, str]] = []
        results: dict[str, IssueResult] = {}
        total_issued = 0
        total_seconds = 0.0
        for name in profiles:
            ca = ws.ca_for_profile(name)
            started = time.perf_counter()
            result = ca.issue_batch(batches[name], name, threads=threads)
            seconds = time.perf_counter() - started
            results[name] = result
            total_issued += result.issued_count
            total_seconds += seconds
            rejections += [(name, i, s.name, r) for i, s, r in result.rejected()]
            chain = "-"
            first = next(result.issued(), None)
            if first is not None:
                cert = x509.load_der_x509_certificate(first[1])
                issuer = x509.load_der_x509_certificate(ca.certificate)
                cert.verify_directly_issued_by(issuer)
                issuer.verify_directly_issued_by(root)
                chain = "verified"
            table.add_row(
                name,
                ca.name,
                str(result.issued_count),
                str(result.rejected_count),
                f"{seconds:.3f}",
                f"{result.issued_count / seconds:,.0f}" if seconds > 0 else "-",
                chain,
            )
        table.add_row(
            "[bold]total[/]",
            "",
            f"[bold]{total_issued}[/]",
            str(len(rejections)),
            f"{total_seconds:.3f}",
            f"{total_issued / total_seconds:,.0f}" if total_seconds > 0 else "-",
            "",
        )
        console.print(table)
        bad = Table(title="Rejected requests (deliberate)")
        for col in ("profile", "index", "status", "reason"):
            bad.add_column(col)
        for name, i, status, reason in rejections:
            bad.add_row(name, str(i), status, reason)
        console.print(bad)
        console.print(
            "chain: one certificate per profile verified against its issuing CA and the "
            "root with pyca/cryptography (Certificate.verify_directly_issued_by)."
        )
        if ws.hsm is not None:
            console.print(
                "(HSM: a CA's first batch includes starting its signing workers, one process "
                "per PKCS#11 session; see docs/hsm.md.)"
            )
        # The rest of the CP/CPS on the same workspace: RA, revocation, CRLs, audit.
        from porthos.workflows import demo as demo_lifecycle

        halves = None
        if ws.hsm is not None:
            halves = [
                (f"demo-officer-{k}", demo_pin(workdir, f"root-officer-{k}")) for k in (1, 2)
            ]
        demo_lifecycle.run(ws, console, maker.make, results, halves)


def _rpki_demo(workdir: Path, roas: int) -> None:
    """``demo --cpcps rpki``: workflows/rpki_demo.py (issue 18 §4); ``--roas`` (hidden)
    sizes it for tests."""
    from porthos.workflows.rpki_demo import run_rpki_demo

    result = run_rpki_demo(workdir, roas=roas)
    pub = result.publication
    get_console().print(
        f"RPKI demo: trust anchor + 2 child CAs, {result.roas} ROAs, {pub.files} files"
        f" published at {pub.path} (version {pub.version}); TAL and expected-vrps.csv in"
        f" {workdir / 'rpki'}; {result.seconds:.1f} s ({result.keygen_seconds:.1f} s of"
        " one-time key generation)"
    )


def _pki_demo(workdir: Path, env: str, cpcps: str, hsm_kind: str) -> None:
    """``demo --cpcps``: a new workspace of that CP/CPS, then workflows/pki_demo.py."""
    from porthos.cpcps.demo_inputs import load_demo_inputs
    from porthos.cpcps.loader import load_profile_set
    from porthos.exceptions import WorkspaceError
    from porthos.store.location import initialised
    from porthos.workflows import pki_demo
    from porthos.workspace.workspace import Workspace

    console = get_console()
    if initialised(workdir):
        raise WorkspaceError(f"{workdir} is already a workspace; the PKI demo starts a new one")
    # The CP/CPS and its demo data are validated before anything is written.
    load_demo_inputs(load_profile_set(cpcps, env))
    setup = demo_hsm_setup(workdir) if hsm_kind == "softhsm" else None
    ws = Workspace.init(workdir, env, profile_set=cpcps, hsm_setup=setup)
    with ws:
        console.print(ca_table(ws))
        halves = None
        if ws.hsm is not None:
            ws.activate(demo_pin(workdir, "issuing"))
            halves = [
                (f"demo-officer-{k}", demo_pin(workdir, f"root-officer-{k}")) for k in (1, 2)
            ]
        pki_demo.run(ws, console, workdir, halves)
