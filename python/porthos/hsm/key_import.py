"""Software CA keys into a PKCS#11 token (RFC 3647 §5.8 CA termination, §6.2.6 private
key transfer): each PKCS#8 key is imported with C_CreateObject as a token object that is
private, sensitive, NOT extractable and sign-only, labelled with the CA's name (the
label of a porthos HSM workspace: ``pkcs11:token=...;object=<ca>``), with its public
half beside it. Every imported key is checked by signing a fresh test digest inside the
token and verifying that signature with the public key of the CA certificate; only when
every key is imported and checked may the caller destroy the files. On any failure the
objects created so far are destroyed again (:meth:`Export.rollback`), so the caller
keeps its keys and the successor token is as before.

The private key is in this process's memory while it is imported (it was already: the
software signer reads the same file); Python cannot zero an immutable ``bytes``, so the
scalars are dropped as soon as C_CreateObject returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import hsm
from porthos.exceptions import LifecycleError
from porthos.hsm.key_objects import (
    CURVES,
    Export,
    ExportedKey,
    check_signs,
    open_successor,
    private_key_base,
    public_key_template,
    spki_sha256,
    unsigned_bytes,
)

__all__ = ["import_software_keys"]


def _templates(private_key: Any, token: str, label: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(private, public) C_CreateObject templates of a cryptography private key."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    public = public_key_template(private_key.public_key(), token, label)
    private = private_key_base(token, label)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        size = (private_key.curve.key_size + 7) // 8
        private |= {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: encode_named_curve_parameters(CURVES[private_key.curve.name]),
            Attribute.VALUE: private_key.private_numbers().private_value.to_bytes(size, "big"),
        }
    elif isinstance(private_key, rsa.RSAPrivateKey):
        n = private_key.private_numbers()
        private |= {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: unsigned_bytes(n.public_numbers.n),
            Attribute.PUBLIC_EXPONENT: unsigned_bytes(n.public_numbers.e),
            Attribute.PRIVATE_EXPONENT: unsigned_bytes(n.d),
            Attribute.PRIME_1: unsigned_bytes(n.p),
            Attribute.PRIME_2: unsigned_bytes(n.q),
            Attribute.EXPONENT_1: unsigned_bytes(n.dmp1),
            Attribute.EXPONENT_2: unsigned_bytes(n.dmq1),
            Attribute.COEFFICIENT: unsigned_bytes(n.iqmp),
        }
    return private, public


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
        with hsm.user_session(module, token, pin, rw=True) as session:
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


def _key_type(template: dict[Any, Any]) -> str:
    from pkcs11 import Attribute, KeyType

    if template[Attribute.KEY_TYPE] == KeyType.EC:
        return "ec"
    return "rsa"
