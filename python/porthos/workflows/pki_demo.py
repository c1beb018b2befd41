"""``porthos demo --cpcps <pki>``: any bundled PKI end to end, driven by its demo data
(cpcps/demo_inputs.py), through the same API an operator's tooling uses:

* one sample certificate per profile (``D/samples/<profile>.crt``, DER), through the
  multi-person approval where the profile asks for one (one approval short is refused
  first); one more of the demo's revocation profile, revoked
  (``<profile>-revoked-<reason>.crt``); one more of its suspension profile, held (the
  CRL lists it, openssl refuses it) and released (``<profile>-suspended-released.crt``,
  accepted again);
* the stand-in external CA (``D/external/``): its key, self-signed certificate, the
  request it sends, our CA's cross-certificate to it (the CP/CPS's cross profile,
  ``porthos cross-certify``'s workflow) and the cross-certificate it issues to our CA in
  return, imported (``cross-import``: stored, published, in our CA's .p7c);
* every due CRL and CA certificate where the CDP / AIA URLs point (``D/repository/``);
* ``openssl verify -crl_check_all`` of every sample against its chain and CRLs (the
  revoked one refused as revoked), and, where the demo data names one, RFC 5280 policy
  processing from the external CA as trust anchor through the cross-certificate;
* the audit chain verified.

Mechanism only: which PKI, profiles, subjects and OIDs is the demo data's to say.
Any step that does not behave as it should raises DemoFailure.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from rich.console import Console
from rich.table import Table

from porthos.cpcps.demo_inputs import DemoInputs, Sample, load_demo_inputs
from porthos.exceptions import DemoFailure
from porthos.issuance.csr_input import der_to_pem
from porthos.store import audit
from porthos.workflows import crl_publication, revocation, suspension
from porthos.workflows.stand_in_ca import StandIn, generate_key, pyca_name
from porthos.workspace.repository import crl_file_name

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["DemoFailure", "DemoResult", "load_inputs", "run"]

REQUESTER = "demo RA operator"
SAMPLES_DIR = "samples"
EXTERNAL_DIR = "external"


@dataclass
class DemoResult:
    samples: dict[str, Path] = field(default_factory=dict)
    revoked: Path | None = None
    released: Path | None = None
    external: dict[str, Path] = field(default_factory=dict)
    crls: list[Path] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    #: After a key changeover (the demo data's ``[changeover]``): the certificate the
    #: new generation issued, and the link certificates.
    changeover: Path | None = None
    links: list[Path] = field(default_factory=list)


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(what)


def load_inputs(ws: Workspace) -> DemoInputs:
    return load_demo_inputs(ws.profile_set)


def _csr(subject: Sequence[tuple[str, str]], key_type: str, keys: dict[str, object]) -> bytes:
    # One key per key type: key generation (RSA-4096 above all) is not the demo's point.
    key = keys.get(key_type)
    if key is None:
        key = keys[key_type] = generate_key(key_type)
    b = x509.CertificateSigningRequestBuilder().subject_name(pyca_name(list(subject)))
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def _issue(ws: Workspace, sample: Sample, csr: bytes) -> bytes:
    profile = sample.profile
    ra_data = sample.ra_data(int(time.time()))
    if ws.profile_set.profile(profile).approval is not None:
        return _issue_approved(ws, profile, csr, ra_data)
    items = None if ra_data is None else [ra_data]
    result = ws.ca_for_profile(profile).issue_batch([csr], profile, ra_data=items)
    der = result.certificates[0]
    _expect(der is not None, f"{profile}: the sample request was refused: {result.reasons[0]}")
    assert der is not None
    return der


def _issue_approved(
    ws: Workspace, profile: str, csr: bytes, ra_data: dict[str, Any] | None
) -> bytes:
    """RFC 3647 §5.2.2: the request waits for its approvers, one per role the rule
    names (then anyone), never an excluded role; one approval short is refused."""
    from porthos.exceptions import ApprovalError
    from porthos.workflows.ra import RegistrationAuthority

    rule = ws.profile_set.profile(profile).approval
    assert rule is not None
    ra = RegistrationAuthority(ws)
    request = ra.request_approval(csr, profile, ra_data=ra_data)
    roles = [r for r in rule.roles if r != "any"]
    roles += ["operator"] * (rule.persons - len(roles))
    for k, role in enumerate(roles):
        if k == len(roles) - 1:
            try:
                ra.issue_approved(request)
            except ApprovalError:
                pass
            else:
                raise DemoFailure(f"{profile}: issued with {k} of {rule.persons} approvals")
        ra.approve(request, f"demo {role} {k + 1}", role)
    result = ra.issue_approved(request)
    der = result.certificates[0]
    _expect(der is not None, f"{profile}: the approved request was refused: {result.reasons}")
    assert der is not None
    return der


def run(
    ws: Workspace,
    console: Console,
    workdir: Path,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
) -> DemoResult:
    inputs = load_inputs(ws)
    out = DemoResult()
    keys: dict[str, object] = {}
    samples = workdir / SAMPLES_DIR
    samples.mkdir(parents=True, exist_ok=True)

    table = Table(title=f"{ws.profile_set.name}: one sample per profile")
    for col in ("profile", "CP §", "CA", "file"):
        table.add_column(col)
    for name, sample in inputs.samples.items():
        der = _issue(ws, sample, _csr(sample.subject, sample.key_type, keys))
        path = samples / f"{name}.crt"
        path.write_bytes(der)
        out.samples[name] = path
        prof = ws.profile_set.profiles[name]
        table.add_row(name, prof.section, prof.issuer, str(path.relative_to(workdir)))
    console.print(table)

    # One more certificate of the revocation profile, revoked; its file name says so.
    sample = inputs.samples[inputs.revoke_profile]
    der = _issue(ws, sample, _csr(sample.subject, sample.key_type, keys))
    serial = x509.load_der_x509_certificate(der).serial_number
    (done,) = revocation.revoke(ws, [serial], inputs.revoke_reason, requester=REQUESTER)
    out.revoked = samples / f"{inputs.revoke_profile}-revoked-{inputs.revoke_reason}.crt"
    out.revoked.write_bytes(der)
    console.print(f"revoked {done.serial_hex} ({done.reason}): {out.revoked.relative_to(workdir)}")

    if inputs.external is not None:
        out.external = _external(ws, inputs, workdir, console, out, root_halves)
    held = None
    if inputs.suspend_profile is not None and ws.profile_set.revocation.suspension:
        sample = inputs.samples[inputs.suspend_profile]
        held = _issue(ws, sample, _csr(sample.subject, sample.key_type, keys))
        hold = suspension.suspend(ws, x509.load_der_x509_certificate(held).serial_number,
                                  requester=REQUESTER)  # fmt: skip
        deadline = time.strftime("%Y-%m-%d", time.gmtime(hold.deadline))
        console.print(f"suspended {hold.serial_hex} (certificateHold), escalated {deadline}")
    elif inputs.suspend_profile is not None:
        out.pending.append(f"suspension: {ws.profile_set.name} offers none")
    published = crl_publication.publish(ws, everything=True, root_halves=root_halves)
    if held is not None and inputs.suspend_profile is not None:
        # The hold is on the CRL: a relying party refuses the certificate; released,
        # the next CRL omits it and the certificate is good again (§4.9.13-16).
        path = samples / f"{inputs.suspend_profile}-suspended-released.crt"
        path.write_bytes(held)
        if shutil.which("openssl") is not None:
            ok, said = _verify_one(ws, inputs.suspend_profile, path)
            _expect(not ok and any("revoked" in s for s in said), f"held: {said}")
            refused = next(s for s in said if "revoked" in s)
            console.print(f"held certificate refused by openssl: {refused}")
        suspension.release(ws, x509.load_der_x509_certificate(held).serial_number,
                           requester=REQUESTER)  # fmt: skip
        published = crl_publication.publish(ws, everything=True, root_halves=root_halves)
        out.released = path
    out.crls = [p.paths[0] for p in published if p.kind == "crl"]
    _openssl_checks(ws, console, inputs, out)
    # OCSP before the changeover: the retired generation's keys sign only CRLs after it.
    from porthos.workflows import demo_ocsp

    revoked = None if out.revoked is None else (inputs.revoke_profile, out.revoked)
    demo_ocsp.run(
        ws,
        console,
        workdir,
        out.samples,
        revoked,
        lambda name: [c.certificate for c in _chain(ws, ws.ca(name))],
        root_halves,
        _expect,
    )
    if inputs.changeover_profile is not None:
        from porthos.workflows import demo_changeover

        def issue(profile: str) -> bytes:
            sample = inputs.samples[profile]
            return _issue(ws, sample, _csr(sample.subject, sample.key_type, keys))

        profile = inputs.changeover_profile
        path = samples / f"{profile}-generation-{ws.generation + 1}.crt"
        try:
            out.changeover, out.links = demo_changeover.run(
                ws, console, profile, issue, path, root_halves
            )
        except RuntimeError as exc:
            raise DemoFailure(str(exc)) from None
        # The new roots' own responses: their sub CAs and the link certificates.
        demo_ocsp.new_generation(ws, console, root_halves)
    _audit(ws, console)
    for item in out.pending:
        console.print(f"[yellow]not shown yet[/]: {item}")
    return out


def _external(
    ws: Workspace,
    inputs: DemoInputs,
    workdir: Path,
    console: Console,
    out: DemoResult,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
) -> dict[str, Path]:
    data = inputs.external
    assert data is not None
    d = workdir / EXTERNAL_DIR
    d.mkdir(parents=True, exist_ok=True)
    stand_in = StandIn(data, int(time.time()))
    ours = ws.ca(data.cross_to)
    files = {
        "certificate": d / f"{data.name}.crt",
        "key": d / f"{data.name}.key.pem",
        "csr": d / f"{data.name}.csr",
        "cross_to_us": d / f"{data.name}-to-{ours.name}.crt",
    }
    files["certificate"].write_bytes(stand_in.der())
    files["key"].touch(mode=0o600)
    files["key"].write_bytes(stand_in.key_pem())
    files["csr"].write_bytes(stand_in.csr())
    cross = stand_in.cross_certify(ours.certificate)
    files["cross_to_us"].write_bytes(cross)
    if data.cross_profile is None:
        out.pending.append(f"no cross profile certifies {files['csr'].relative_to(workdir)}")
    else:
        from porthos.workflows import cross_certification

        # Our CA certifies the stand-in's request (RFC 3647 §3.2 cross-certification)...
        issued = cross_certification.cross_certify(
            ws, ours.name, data.cross_profile, files["csr"].read_bytes(),
            root_halves=root_halves,
        )  # fmt: skip
        files["cross_from_us"] = d / f"{ours.name}-to-{data.name}.crt"
        files["cross_from_us"].write_bytes(issued.der)
        # ... and imports the one the stand-in issued to it: stored, published, and in
        # the .p7c at our CA's caIssuers URL.
        cross_certification.import_cross_certificate(ws, ours.name, cross, stand_in.der())
    console.print(
        f"stand-in {data.name}: {', '.join(str(p.relative_to(workdir)) for p in files.values())}"
    )
    return files


def _chain(ws: Workspace, ca: CertificateAuthority) -> list[CertificateAuthority]:
    chain = [ca]
    while not chain[-1].spec.self_signed:
        chain.append(ws.ca(chain[-1].spec.issuer))
    return chain[::-1]  # root first


def _openssl(args: list[str]) -> tuple[bool, list[str]]:
    r = subprocess.run(args, capture_output=True, text=True, check=False)
    return r.returncode == 0, (r.stdout + r.stderr).strip().splitlines()


def _verify_one(ws: Workspace, profile: str, leaf: Path) -> tuple[bool, list[str]]:
    """``openssl verify -x509_strict -crl_check_all`` of one certificate of ``profile``
    against its chain and the published CRLs ((True, []) without openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return True, []
    repo = ws.path / "repository"
    chain = _chain(ws, ws.ca_for_profile(profile))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "root.pem").write_text(der_to_pem(chain[0].certificate, "CERTIFICATE"))
        argv = [openssl, "verify", "-x509_strict", "-crl_check_all"]
        argv += ["-CAfile", str(t / "root.pem")]
        if len(chain) > 1:
            (t / "untrusted.pem").write_text(
                "".join(der_to_pem(c.certificate, "CERTIFICATE") for c in chain[1:])
            )
            argv += ["-untrusted", str(t / "untrusted.pem")]
        for c in chain:
            crl = t / f"{c.name}.crl.pem"
            crl.write_text(der_to_pem((repo / crl_file_name(c)).read_bytes(), "X509 CRL"))
            argv += ["-CRLfile", str(crl)]
        (t / "leaf.pem").write_text(der_to_pem(leaf.read_bytes(), "CERTIFICATE"))
        return _openssl([*argv, str(t / "leaf.pem")])


def _openssl_checks(ws: Workspace, console: Console, inputs: DemoInputs, out: DemoResult) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        console.print("[yellow]openssl not found: path checks skipped[/]")
        return
    table = Table(title="openssl verify -x509_strict -crl_check_all (chain + every CRL)")
    for col in ("certificate", "openssl says"):
        table.add_column(col)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)

        def pem(name: str, der: bytes, label: str = "CERTIFICATE") -> str:
            (t / name).write_text(der_to_pem(der, label))
            return str(t / name)

        checks = [(p, name, True) for name, p in out.samples.items()]
        if out.revoked is not None:
            checks.append((out.revoked, inputs.revoke_profile, False))
        if out.released is not None and inputs.suspend_profile is not None:
            checks.append((out.released, inputs.suspend_profile, True))
        for path, profile, want_ok in checks:
            ok, said = _verify_one(ws, profile, path)
            _expect(ok == want_ok, f"openssl verify {path.name}: {said}")
            _expect(want_ok or any("revoked" in s for s in said), f"openssl: {said}")
            table.add_row(path.name, "OK" if want_ok else next(s for s in said if "revoked" in s))
        console.print(table)
        if inputs.policy_check is not None and "cross_to_us" in out.external:
            profile, policy = inputs.policy_check
            chain = _chain(ws, ws.ca_for_profile(profile))
            cross = out.external["cross_to_us"].read_bytes()
            (t / "untrusted.pem").write_text(
                der_to_pem(cross, "CERTIFICATE")
                + "".join(der_to_pem(c.certificate, "CERTIFICATE") for c in chain[1:])
            )
            argv = [openssl, "verify", "-x509_strict", "-policy_check", "-explicit_policy"]
            argv += ["-policy", policy, "-policy_print"]
            argv += ["-CAfile", pem("anchor.pem", out.external["certificate"].read_bytes())]
            argv += ["-untrusted", str(t / "untrusted.pem")]
            ok, said = _openssl([*argv, pem("leaf.pem", out.samples[profile].read_bytes())])
            _expect(ok, f"policy processing from the external anchor failed: {said}")
            console.print(
                f"[green]policy check[/]: {profile} accepted under {policy} from the "
                f"external anchor through the cross-certificate:\n  " + "\n  ".join(said)
            )


def _audit(ws: Workspace, console: Console) -> None:
    result = audit.verify(ws.store)
    _expect(result.ok, f"audit chain broken at record {result.first_bad}: {result.problem}")
    console.print(f"audit trail: {result.records} records, chain verified")
