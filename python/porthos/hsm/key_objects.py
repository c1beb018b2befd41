"""CA key objects in a PKCS#11 token: the attributes a CA key has there, the check that
a token holds THE key of a CA (a test signature its certificate verifies), the record
of keys put into a successor token, and the removal of key objects (RFC 3647 §5.8 CA
termination, §6.2.6 private key transfer, §6.2.10 destruction).

The import of software keys is porthos.hsm.key_import, the encrypted transfer between
tokens porthos.hsm.key_transfer; the termination workflow that drives both is
porthos.workflows.key_export. PINs are :class:`porthos.hsm.Secret`; no message or
returned value carries them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import hsm
from porthos.exceptions import HsmError, LifecycleError

__all__ = [
    "CURVES",
    "SUCCESSOR_ATTRIBUTES",
    "Export",
    "ExportedKey",
    "KeyFlags",
    "check_signs",
    "destroy_key",
    "held_keys",
    "open_successor",
    "private_key_base",
    "private_key_flags",
    "public_key_template",
    "spki_sha256",
    "unsigned_bytes",
]

#: What every CA key in the successor token is (both export paths), for the audit.
SUCCESSOR_ATTRIBUTES = "CKA_TOKEN CKA_PRIVATE CKA_SENSITIVE !CKA_EXTRACTABLE CKA_SIGN only"

#: The named curves porthos CA keys use (porthos.hsm.KEY_TYPES), by cryptography name.
CURVES = {"secp256r1": "secp256r1", "secp384r1": "secp384r1"}


def spki_sha256(spki_der: bytes) -> str:
    """Hex SHA-256 of a SubjectPublicKeyInfo: what the audit records name a key by."""
    return hashlib.sha256(spki_der).hexdigest()


@dataclass(frozen=True)
class ExportedKey:
    """One CA key now in the successor token, checked."""

    ca: str
    label: str
    spki_sha256: str
    key_type: str
    #: Where the key came from: the workspace file, or the source token's key URI.
    source: str | None = None


@dataclass
class Export:
    """The keys imported into one successor token; ``rollback`` removes them."""

    module: str
    token: str
    pin: hsm.Secret
    keys: list[ExportedKey] = field(default_factory=list)
    #: How the keys got there, for the ca.key-exported records.
    method: str = "C_CreateObject"
    attributes: str = SUCCESSOR_ATTRIBUTES

    def rollback(self) -> list[str]:
        """Destroy every object this export created (private and public halves, by
        label); returns the labels removed. Errors while removing are re-raised as
        HsmError naming the labels left behind: an operator must then remove them."""
        from pkcs11 import Attribute

        removed, left = [], []
        try:
            with hsm.user_session(self.module, self.token, self.pin, rw=True) as session:
                for key in self.keys:
                    try:
                        for obj in list(session.get_objects({Attribute.LABEL: key.label})):
                            obj.destroy()
                        removed.append(key.label)
                    except Exception:  # noqa: BLE001 - collected and reported below
                        left.append(key.label)
        except Exception as exc:  # noqa: BLE001 - the token itself is unreachable
            raise HsmError(
                f"could not remove the keys imported into token '{self.token}' "
                f"({', '.join(k.label for k in self.keys)}): {type(exc).__name__}"
            ) from None
        self.keys = [k for k in self.keys if k.label in left]
        if left:
            raise HsmError(
                f"could not remove the keys imported into token '{self.token}': "
                f"{', '.join(left)}; remove them by hand before retrying"
            )
        return removed


def private_key_base(token: str, label: str) -> dict[Any, Any]:
    """The attributes of every CA private key in a successor token: those of a key
    porthos.hsm.generate_key makes, labelled with the CA's name."""
    from pkcs11 import Attribute, ObjectClass

    return {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.LABEL: label,
        **hsm.ca_private_template(hsm.ca_key_id(token, label)),
    }


def public_key_template(public_key: Any, token: str, label: str) -> dict[Any, Any]:
    """C_CreateObject template of a CA's public key (verify only), beside its private
    half as porthos.hsm.generate_key leaves it."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    public: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.LABEL: label,
        Attribute.ID: hsm.ca_key_id(token, label),
    }
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = CURVES.get(public_key.curve.name)
        if curve is None:
            raise LifecycleError(f"CA key {label}: curve {public_key.curve.name} not supported")
        point = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        # PKCS#11 v2.40 §2.3.3: CKA_EC_POINT is the DER encoding of an OCTET STRING.
        return public | {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: encode_named_curve_parameters(curve),
            Attribute.EC_POINT: octet_string(point),
        }
    if isinstance(public_key, rsa.RSAPublicKey):
        pub = public_key.public_numbers()
        return public | {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: unsigned_bytes(pub.n),
            Attribute.PUBLIC_EXPONENT: unsigned_bytes(pub.e),
        }
    raise LifecycleError(f"CA key {label}: {type(public_key).__name__} not supported")


def unsigned_bytes(v: int) -> bytes:
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


def octet_string(value: bytes) -> bytes:
    """DER OCTET STRING (ITU-T X.690 clause 8.7, definite length: clause 8.1.3)."""
    n = len(value)
    if n < 0x80:
        return bytes([0x04, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(size)]) + size + value


def check_signs(session: Any, label: str, certificate: bytes) -> None:
    """Sign a fresh test digest with the private key ``label`` inside the token and
    verify it with the public key of ``certificate`` (DER): the token holds THE key of
    that CA, usable for signing. LifecycleError when not."""
    import pkcs11
    from pkcs11 import Mechanism
    from pkcs11.util.ec import encode_ecdsa_signature

    public = x509.load_der_x509_certificate(certificate).public_key()
    digest = hashlib.sha256(b"porthos key export check " + os.urandom(32)).digest()
    try:
        key = session.get_key(label=label, object_class=pkcs11.ObjectClass.PRIVATE_KEY)
        if isinstance(public, ec.EllipticCurvePublicKey):
            raw = key.sign(digest, mechanism=Mechanism.ECDSA)
            public.verify(
                encode_ecdsa_signature(raw), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))
            )
        elif isinstance(public, rsa.RSAPublicKey):
            sig = key.sign(digest, mechanism=Mechanism.SHA256_RSA_PKCS)
            public.verify(sig, digest, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise LifecycleError(f"{label}: {type(public).__name__} certificates not supported")
    except InvalidSignature:
        raise LifecycleError(
            f"the key imported as '{label}' does not sign for the CA certificate's "
            "public key; the export is undone"
        ) from None
    except pkcs11.PKCS11Error as exc:
        raise LifecycleError(
            f"the key imported as '{label}' cannot sign in the successor token "
            f"({type(exc).__name__}); the export is undone"
        ) from None


def held_keys(
    module: str, token: str, pin: hsm.Secret, cas: Sequence[tuple[str, bytes]]
) -> list[ExportedKey]:
    """The keys of ``cas`` (CA name, CA certificate DER) that token ``token`` already
    holds from an earlier export that a crash interrupted: a private key labelled with
    the CA name, sensitive, not extractable, able to sign, that signs a fresh test
    digest verified with the CA certificate's public key (:func:`check_signs`). A CA
    with no such label is left out; a label that holds anything else is a
    LifecycleError, raised before anything changes."""
    import pkcs11
    from pkcs11 import Attribute

    held = []
    with hsm.user_session(module, token, pin) as session:
        for name, certificate in cas:
            try:
                key = session.get_key(label=name, object_class=pkcs11.ObjectClass.PRIVATE_KEY)
            except pkcs11.NoSuchKey:
                continue
            except pkcs11.MultipleObjectsReturned:
                raise LifecycleError(
                    f"the successor token '{token}' holds several private keys labelled "
                    f"{name}; nothing was changed"
                ) from None
            if (
                not key[Attribute.SENSITIVE]
                or key[Attribute.EXTRACTABLE]
                or not key[Attribute.SIGN]
            ):
                raise LifecycleError(
                    f"the successor token '{token}' holds a key labelled {name} that is "
                    f"not {SUCCESSOR_ATTRIBUTES}; porthos did not put it there. Nothing "
                    "was changed"
                )
            try:
                check_signs(session, name, certificate)
            except LifecycleError:
                raise LifecycleError(
                    f"the successor token '{token}' holds a key labelled {name} that does "
                    f"not sign for the certificate of CA {name}; nothing was changed"
                ) from None
            cert_public = x509.load_der_x509_certificate(certificate).public_key()
            spki = cert_public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            kind = "ec" if isinstance(cert_public, ec.EllipticCurvePublicKey) else "rsa"
            held.append(ExportedKey(name, name, spki_sha256(spki), kind))
    return held


def open_successor(module: str, token: str, pin: hsm.Secret, labels: list[str]) -> None:
    """Refuse before anything changes: the token must exist (HsmNotFoundError lists
    the tokens present), take the PIN (HsmPinError), and hold no object labelled like
    a CA key to export (a successor already holding a CA of that name is ambiguous)."""
    from pkcs11 import Attribute

    with hsm.user_session(module, token, pin) as session:
        taken = sorted(
            {label for label in labels if list(session.get_objects({Attribute.LABEL: label}))}
        )
    if taken:
        raise LifecycleError(
            f"the successor token '{token}' already holds objects labelled "
            f"{', '.join(taken)}; refusing to export over them. Nothing was changed"
        )


class KeyFlags(NamedTuple):
    """The attributes of a private key that decide whether it may leave its token."""

    extractable: bool
    sensitive: bool
    wrap_with_trusted: bool


def private_key_flags(module: str, token: str, pin: hsm.Secret, label: str) -> KeyFlags | None:
    """CKA_EXTRACTABLE / CKA_SENSITIVE / CKA_WRAP_WITH_TRUSTED of the private key
    labelled ``label``, or None when it is absent."""
    import pkcs11
    from pkcs11 import Attribute

    with hsm.user_session(module, token, pin) as session:
        try:
            key = session.get_key(label=label, object_class=pkcs11.ObjectClass.PRIVATE_KEY)
        except pkcs11.NoSuchKey:
            return None
        return KeyFlags(
            extractable=bool(key[Attribute.EXTRACTABLE]),
            sensitive=bool(key[Attribute.SENSITIVE]),
            wrap_with_trusted=bool(key[Attribute.WRAP_WITH_TRUSTED]),
        )


def destroy_key(module: str, token: str, pin: hsm.Secret, label: str) -> bool:
    """C_DestroyObject on the private key (and its public half) labelled ``label``;
    False when there was nothing to destroy."""
    from pkcs11 import Attribute

    found = False
    with hsm.user_session(module, token, pin, rw=True) as session:
        for obj in list(session.get_objects({Attribute.LABEL: label})):
            obj.destroy()
            found = True
    return found
