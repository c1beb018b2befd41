"""Export of the CA keys to a successor token at termination (000 §5.8 "export of
the keys to a successor").

Software workspaces (``W/keys/<ca>.p8``): each PKCS#8 key is imported into the
successor token with C_CreateObject as a token object that is private, sensitive,
NOT extractable and sign-only, labelled with the CA's name (the label of a porthos
HSM workspace: ``pkcs11:token=...;object=<ca>``), with its public half beside it.
Every imported key is checked by signing a fresh test digest inside the token and
verifying that signature with the public key of the CA certificate; only when every
key is imported and checked may the caller destroy the files. On any failure the
objects created so far are destroyed again (:meth:`Export.rollback`), so the
workspace keeps its keys and the successor token is as before.

The private key is in this process's memory while it is imported (it was already:
the software signer reads the same file); Python cannot zero an immutable ``bytes``,
so the scalars are dropped as soon as C_CreateObject returned.

PINs are :class:`porthos.hsm.Secret`; no message or audit record carries them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import hsm
from porthos.exceptions import HsmError, LifecycleError

__all__ = ["Export", "ExportedKey", "import_software_keys", "spki_sha256"]

#: The named curves porthos CA keys use (porthos.hsm.KEY_TYPES), by cryptography name.
_CURVES = {"secp256r1": "secp256r1", "secp384r1": "secp384r1"}


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


@dataclass
class Export:
    """The keys imported into one successor token; ``rollback`` removes them."""

    module: str
    token: str
    pin: hsm.Secret
    keys: list[ExportedKey] = field(default_factory=list)

    def rollback(self) -> list[str]:
        """Destroy every object this export created (private and public halves, by
        label); returns the labels removed. Errors while removing are re-raised as
        HsmError naming the labels left behind: an operator must then remove them."""
        from pkcs11 import Attribute

        removed, left = [], []
        try:
            with hsm._user_session(self.module, self.token, self.pin, rw=True) as session:
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


def _key_id(token: str, label: str) -> bytes:
    # The CKA_ID porthos.hsm.generate_key gives a key: the same derivation, so a
    # successor token looks like one porthos generated.
    return hashlib.sha256(f"{token}/{label}".encode()).digest()[:16]


def _templates(private_key: Any, token: str, label: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(private, public) C_CreateObject templates of a cryptography private key."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    key_id = _key_id(token, label)
    # 000 §6.1.1 / issue 5: private, sensitive, never extractable, and able to sign
    # only (no decrypt, unwrap or derive: a CA key has one purpose, 000 §6.1.7).
    private: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    public: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        curve = _CURVES.get(private_key.curve.name)
        if curve is None:
            raise LifecycleError(f"CA key {label}: curve {private_key.curve.name} not supported")
        params = encode_named_curve_parameters(curve)
        size = (private_key.curve.key_size + 7) // 8
        point = private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        private |= {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.VALUE: private_key.private_numbers().private_value.to_bytes(size, "big"),
        }
        # PKCS#11 v2.40 §2.3.3: CKA_EC_POINT is the DER encoding of an OCTET STRING.
        public |= {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.EC_POINT: _octet_string(point),
        }
    elif isinstance(private_key, rsa.RSAPrivateKey):
        n = private_key.private_numbers()
        pub = n.public_numbers

        def big(v: int) -> bytes:
            return v.to_bytes((v.bit_length() + 7) // 8, "big")

        private |= {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: big(pub.n),
            Attribute.PUBLIC_EXPONENT: big(pub.e),
            Attribute.PRIVATE_EXPONENT: big(n.d),
            Attribute.PRIME_1: big(n.p),
            Attribute.PRIME_2: big(n.q),
            Attribute.EXPONENT_1: big(n.dmp1),
            Attribute.EXPONENT_2: big(n.dmq1),
            Attribute.COEFFICIENT: big(n.iqmp),
        }
        public |= {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: big(pub.n),
            Attribute.PUBLIC_EXPONENT: big(pub.e),
        }
    else:
        raise LifecycleError(f"CA key {label}: {type(private_key).__name__} not supported")
    return private, public


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


def open_successor(module: str, token: str, pin: hsm.Secret, labels: list[str]) -> None:
    """Refuse before anything changes: the token must exist (HsmNotFoundError lists
    the tokens present), take the PIN (HsmPinError), and hold no object labelled like
    a CA key to export (a successor already holding a CA of that name is ambiguous)."""
    from pkcs11 import Attribute

    with hsm._user_session(module, token, pin) as session:
        taken = sorted(
            {label for label in labels if list(session.get_objects({Attribute.LABEL: label}))}
        )
    if taken:
        raise LifecycleError(
            f"the successor token '{token}' already holds objects labelled "
            f"{', '.join(taken)}; refusing to export over them. Nothing was changed"
        )


def import_software_keys(
    module: str,
    token: str,
    pin: hsm.Secret,
    keys: list[tuple[str, Path, bytes]],
) -> Export:
    """Import ``(CA name, PKCS#8 file, CA certificate DER)`` keys into ``token`` and
    check each; all or nothing (see the module docstring). The files are not touched."""
    open_successor(module, token, pin, [name for name, _, _ in keys])
    export = Export(module, token, pin)
    try:
        with hsm._user_session(module, token, pin, rw=True) as session:
            for name, path, certificate in keys:
                private_key = serialization.load_der_private_key(path.read_bytes(), password=None)
                cert_spki = (
                    x509.load_der_x509_certificate(certificate)
                    .public_key()
                    .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
                )
                spki = private_key.public_key().public_bytes(
                    Encoding.DER, PublicFormat.SubjectPublicKeyInfo
                )
                if spki != cert_spki:
                    raise LifecycleError(
                        f"the key file {path.name} does not belong to the certificate of "
                        f"CA {name}; nothing was exported"
                    )
                private_t, public_t = _templates(private_key, token, name)
                del private_key
                # Recorded before the call: a failure half-way still gets cleaned up.
                export.keys.append(
                    ExportedKey(name, name, spki_sha256(spki), _key_type(private_t))
                )
                session.create_object(public_t)
                session.create_object(private_t)
                private_t.clear()
                check_signs(session, name, certificate)
    except BaseException:
        export.rollback()
        raise
    return export


def _octet_string(value: bytes) -> bytes:
    """DER OCTET STRING (X.690 §8.7, definite length §8.1.3)."""
    n = len(value)
    if n < 0x80:
        return bytes([0x04, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(size)]) + size + value


def _key_type(template: dict[Any, Any]) -> str:
    from pkcs11 import Attribute, KeyType

    if template[Attribute.KEY_TYPE] == KeyType.EC:
        return "ec"
    return "rsa"
