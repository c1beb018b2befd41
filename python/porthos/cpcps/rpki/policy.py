"""The RPKI CP/CPS (rpki.toml) loaded and checked at load: every field typed and in
range, or a ProfileError naming its path. The URIs of the repository (RFC 6481 §2)
and the named rules the CA mechanism asks (``as0_allowed``, ``ee_spec``,
``needs_reissue``) live here, next to the RFC sections they implement.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from porthos.exceptions import ProfileError
from porthos.issuance.rpki_certs import RPKI_NAME_STRINGS, RPKI_POLICY_OID

__all__ = ["RpkiPolicy", "load_rpki_policy", "rpki_policy_text"]

# RFC 9286 §4.2.2 file names; a CA's directory name follows the same characters.
_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
HOUR = 3600
# RFC 7935 §2, §3: the one signature algorithm and key type of the RPKI.
RPKI_SIGNATURE_ALGORITHM = "rsa-pkcs1-sha256"
RPKI_KEY_TYPE = "rsa-2048"
DAY = 86400


@dataclass(frozen=True)
class RpkiPolicy:
    name: str
    host: str
    module: str
    ta_directory: str
    ta_certificate: str
    tal_name: str
    rrdp_base_uri: str
    ta_common_name: str
    ta_key_type: str
    child_key_type: str
    signature_algorithm: str
    ta_validity: int
    child_validity: int
    roa_validity: int
    crl_next_update: int
    manifest_next_update: int
    reissue_margin: int
    allow_as0: bool
    rollover_staging: int

    # -- repository URIs (RFC 6481 §2, RFC 7382 §2.1) -------------------------------

    @property
    def module_uri(self) -> str:
        return f"rsync://{self.host}/{self.module}/"

    @property
    def ta_uri(self) -> str:
        """Where the TAL points (RFC 8630 §2.2)."""
        return self.module_uri + self.ta_certificate

    @property
    def notification_uri(self) -> str:
        """RFC 8182 §3.5.1: the notification file, named by rpkiNotify (RFC 8182 §3.2)."""
        return self.rrdp_base_uri.rstrip("/") + "/notification.xml"

    def directory_uri(self, directory: str) -> str:
        """A CA's publication point (caRepository, RFC 6487 §4.8.8.1)."""
        return f"{self.module_uri}{directory}/"

    def check_name(self, name: str, what: str) -> str:
        if not _NAME.fullmatch(name) or len(name) > 64:
            raise ProfileError(f"{what} {name!r}: letters, digits, '_' and '-' only")
        return name

    # -- named rules ---------------------------------------------------------------

    def as0_allowed(self) -> bool:
        """RFC 9582 §4.3.1 / RFC 6483 §4: AS 0 ROAs only where the CP/CPS allows."""
        return self.allow_as0

    def needs_reissue(self, next_update: int | None, now: int) -> bool:
        """RFC 9286 §5.1: issue a new manifest and CRL before the current ones'
        nextUpdate; ``reissue_margin`` ahead of it."""
        return next_update is None or now + self.reissue_margin >= next_update

    def ee_spec(self, *, crl_uri: str, ca_certificate_uri: str) -> dict[str, Any]:
        """RFC 6487 §4 EE profile of one signed object: digitalSignature only, CDP and
        AIA rsync, the RPKI policy critical, SIA signedObject and resources as holes."""
        return {
            "extensions": [
                {"type": "subject_key_identifier"},
                {"type": "authority_key_identifier"},
                {"type": "key_usage", "usages": ["digital_signature"]},
                {"type": "crl_distribution_points", "uris": [crl_uri]},
                {"type": "authority_info_access", "ca_issuers": [ca_certificate_uri]},
                {
                    "type": "certificate_policies",
                    "critical": True,
                    "policies": [{"oid": RPKI_POLICY_OID}],
                },
                {"type": "subject_info_access"},
                {"type": "ip_addr_blocks"},
                {"type": "as_identifiers"},
            ],
            # RFC 6487 §4.5: the subject's CommonName a PrintableString.
            "name_strings": RPKI_NAME_STRINGS,
        }


def _get(doc: dict[str, Any], path: str, kind: type, *, minimum: int | None = None) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ProfileError(f"{path}: missing")
        node = node[part]
    if kind is int and (isinstance(node, bool) or not isinstance(node, int)):
        raise ProfileError(f"{path}: an integer, not {node!r}")
    if not isinstance(node, kind):
        raise ProfileError(f"{path}: a {kind.__name__}, not {node!r}")
    if minimum is not None and isinstance(node, int) and node < minimum:
        raise ProfileError(f"{path}: at least {minimum}, not {node}")
    return node


def build_rpki_policy(doc: dict[str, Any]) -> RpkiPolicy:
    host = _get(doc, "repository.host", str)
    if not _HOST.fullmatch(host):
        raise ProfileError(f"repository.host: {host!r} is not a host name")
    for key in ("trust_anchor.key_type", "child_ca.key_type", "ee.key_type"):
        # RFC 7935 §3: RSA-2048 is the one key type of the RPKI.
        if _get(doc, key, str) != RPKI_KEY_TYPE:
            raise ProfileError(f"{key}: the RPKI uses {RPKI_KEY_TYPE} only (RFC 7935 §3)")
    # Absent in the policy copies of workspaces made before the field existed: RFC 7935
    # leaves one value, so those mean it.
    signature_algorithm = (
        _get(doc, "algorithms.signature_algorithm", str)
        if "algorithms" in doc
        else RPKI_SIGNATURE_ALGORITHM
    )
    if signature_algorithm != RPKI_SIGNATURE_ALGORITHM:
        raise ProfileError(
            f"algorithms.signature_algorithm: the RPKI signs with {RPKI_SIGNATURE_ALGORITHM}"
            f" (sha256WithRSAEncryption) only (RFC 7935 §2), not {signature_algorithm!r}"
        )
    if _get(doc, "crl.entry_extensions", bool):
        raise ProfileError("crl.entry_extensions: RFC 6487 §5 forbids CRL entry extensions")
    crl_next = _get(doc, "crl.next_update_hours", int, minimum=1) * HOUR
    mft_next = _get(doc, "manifest.next_update_hours", int, minimum=1) * HOUR
    margin = _get(doc, "manifest.reissue_margin_hours", int, minimum=0) * HOUR
    if margin >= mft_next:
        raise ProfileError("manifest.reissue_margin_hours: must be below next_update_hours")
    policy = RpkiPolicy(
        name=_get(doc, "name", str),
        host=host,
        module=_get(doc, "repository.module", str),
        ta_directory=_get(doc, "repository.ta_directory", str),
        ta_certificate=_get(doc, "repository.ta_certificate", str),
        tal_name=_get(doc, "repository.tal_name", str),
        rrdp_base_uri=_get(doc, "repository.rrdp_base_uri", str),
        ta_common_name=_get(doc, "trust_anchor.common_name", str),
        ta_key_type=_get(doc, "trust_anchor.key_type", str),
        child_key_type=_get(doc, "child_ca.key_type", str),
        signature_algorithm=signature_algorithm,
        ta_validity=_get(doc, "trust_anchor.validity_days", int, minimum=1) * DAY,
        child_validity=_get(doc, "child_ca.validity_days", int, minimum=1) * DAY,
        roa_validity=_get(doc, "ee.roa_validity_days", int, minimum=1) * DAY,
        crl_next_update=crl_next,
        manifest_next_update=mft_next,
        reissue_margin=margin,
        allow_as0=_get(doc, "roa.allow_as0", bool),
        rollover_staging=_get(doc, "rollover.staging_hours", int, minimum=0) * HOUR,
    )
    if not policy.rrdp_base_uri.startswith("https://"):
        raise ProfileError("repository.rrdp_base_uri: an https URI (RFC 8182 §3.1)")
    for field in ("module", "ta_directory", "tal_name"):
        policy.check_name(getattr(policy, field), f"repository.{field}")
    if not re.fullmatch(r"[a-zA-Z0-9_-]+\.cer", policy.ta_certificate):
        raise ProfileError("repository.ta_certificate: a NAME.cer file name (RFC 6481 §2.1)")
    return policy


def rpki_policy_text(source: str | Path = "rpki") -> str:
    """The TOML of the bundled policy (``"rpki"``) or of a file."""
    if isinstance(source, Path) or source != "rpki":
        try:
            return Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise ProfileError(f"{source}: unreadable ({exc})") from None
    return resources.files("porthos.cpcps.rpki").joinpath("rpki.toml").read_text("utf-8")


def load_rpki_policy(source: str | Path = "rpki", *, text: str | None = None) -> RpkiPolicy:
    """The bundled policy (``"rpki"``), a TOML file's, or ``text``'s."""
    if text is None:
        text = rpki_policy_text(source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    return build_rpki_policy(doc)
