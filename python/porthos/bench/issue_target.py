"""What ``porthos bench issue`` issues: by default the Porthos PKI's ha-device profile
(software P-256 CA); with ``--cpcps PKI --profile P`` any profile of any CP/CPS, its
CA key as that CP/CPS says (RSA-4096, RSA-2048, ...), and requests shaped by the PKI's
demo data (cpcps/demo_inputs.py: the sample subject and key type of the profile).

With a CP/CPS given, the driver initialises one workspace before any timing and every
repeat works on a copy of it: an RSA-4096 hierarchy costs seconds of key generation,
which is setup, not issuance."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from porthos.cpcps.subject_rules import UUID_RE

__all__ = ["DEFAULT_PROFILE", "Target", "make_profile_csrs", "prepare", "profile_subject"]

DEFAULT_PROFILE = "ha-device"
# Subject keys per key type: RSA key generation costs ~50-500 ms a key, and the key of
# a request is not what is measured; distinct requests still differ by their keys.
_POOL = {"rsa": 8, "ec": 64}


@dataclass(frozen=True)
class Target:
    cpcps: str | None = None
    profile: str = DEFAULT_PROFILE
    #: A workspace initialised once by the driver (cpcps mode), copied per repeat.
    template: str | None = None

    def to_arg(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_arg(cls, text: str) -> Target:
        return cls(**json.loads(text)) if text else cls()


def prepare(target: Target, directory: Path) -> Target:
    """Initialise the template workspace of a CP/CPS target (no-op by default)."""
    if target.cpcps is None:
        return target
    from porthos.workspace.workspace import Workspace

    path = directory / "template-ws"
    ws = Workspace.init(path, "prod", profile_set=target.cpcps)
    try:
        ws.profile_set.profile(target.profile)  # PolicyError now, not in a worker
    finally:
        ws.close()
    return Target(target.cpcps, target.profile, str(path))


def fresh_ca(target: Target, tmp: Path, tag: str) -> tuple[Any, Any]:
    """(workspace, CA) of a copy of the template workspace, the profile compiled."""
    from porthos.workspace.workspace import Workspace

    assert target.template is not None
    path = tmp / f"ws-{tag}"
    shutil.copytree(target.template, path)
    ws = Workspace.open(path)
    ca = ws.ca_for_profile(target.profile)
    ca.template(target.profile)  # setup: load the CA key, compile the profile
    return ws, ca


def make_profile_csrs(target: Target, n: int) -> list[bytes]:
    """N requests for the profile: the demo data's sample subject and key type, keys
    from a small pool."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from porthos.cpcps.demo_inputs import load_demo_inputs
    from porthos.cpcps.loader import load_profile_set
    from porthos.workflows.stand_in_ca import generate_key, pyca_name

    assert target.cpcps is not None
    ps = load_profile_set(target.cpcps, "prod")
    sample = load_demo_inputs(ps).samples[target.profile]
    keys = [
        generate_key(sample.key_type) for _ in range(min(n, _POOL[sample.key_type.split("-")[0]]))
    ]
    return [
        x509.CertificateSigningRequestBuilder()
        .subject_name(pyca_name(_distinct(sample.subject, i)))
        .sign(keys[i % len(keys)], hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
        for i in range(n)
    ]


def _distinct(subject: tuple[tuple[str, str], ...], i: int) -> list[tuple[str, str]]:
    """The sample subject made distinct per request (a repeated request is refused as a
    duplicate): its last attribute gets a fresh UUID, a host label, or a number, in the
    form the profile's subject rule accepts."""
    *head, (attr, value) = subject
    if UUID_RE.fullmatch(value):
        value = str(uuid.uuid4())
    elif "." in value and " " not in value:
        value = f"n{i}.{value}"
    else:
        value = f"{value} {i}"
    return [*head, (attr, value)]


def ra_data(target: Target, n: int) -> list[dict[str, Any]] | None:
    """The RA data of the profile's demo sample (docs/ra-data.md), once per request,
    or None when the sample has none (the SANs a profile requires come from there)."""
    if target.cpcps is None:
        return None
    import time

    from porthos.cpcps.demo_inputs import load_demo_inputs
    from porthos.cpcps.loader import load_profile_set

    ps = load_profile_set(target.cpcps, "prod")
    item = load_demo_inputs(ps).samples[target.profile].ra_data(int(time.time()))
    return None if item is None else [item] * n


def profile_subject(
    ws: Any, profile: str, csr_subject: Any, item: dict[str, Any] | None
) -> tuple[list[Any], list[Any] | None]:
    """(subject, SANs) porthos' rules and the RA data ``item`` give a request of
    ``profile`` (the fill+sign variant fills the template with them, untimed)."""
    from porthos.cpcps.policy import build_subject

    prof = ws.profile_set.profile(profile)
    subject = build_subject(prof, csr_subject)
    sans = list(prof.san_rule(subject)) if prof.san_rule is not None else None
    if item is not None and item.get("sans"):
        sans = (sans or []) + [(kind, value) for kind, value in item["sans"]]
    return subject, sans
