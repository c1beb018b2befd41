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
from collections.abc import Callable, Mapping, Sequence
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

__all__ = [
    "TRANSFER_METHOD",
    "Export",
    "ExportedKey",
    "HsmSource",
    "held_keys",
    "import_software_keys",
    "spki_sha256",
    "transfer_hsm_keys",
]

#: What every CA key in the successor token is (both export paths), for the audit.
SUCCESSOR_ATTRIBUTES = "CKA_TOKEN CKA_PRIVATE CKA_SENSITIVE !CKA_EXTRACTABLE CKA_SIGN only"

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


def _private_base(token: str, label: str) -> dict[Any, Any]:
    """The attributes of every CA private key in a successor token: those of a key
    porthos.hsm.generate_key makes, labelled with the CA's name."""
    from pkcs11 import Attribute, ObjectClass

    return {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.LABEL: label,
        **hsm.ca_private_template(hsm.ca_key_id(token, label)),
    }


def _public_template(public_key: Any, token: str, label: str) -> dict[Any, Any]:
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
        curve = _CURVES.get(public_key.curve.name)
        if curve is None:
            raise LifecycleError(f"CA key {label}: curve {public_key.curve.name} not supported")
        point = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        # PKCS#11 v2.40 §2.3.3: CKA_EC_POINT is the DER encoding of an OCTET STRING.
        return public | {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: encode_named_curve_parameters(curve),
            Attribute.EC_POINT: _octet_string(point),
        }
    if isinstance(public_key, rsa.RSAPublicKey):
        pub = public_key.public_numbers()
        return public | {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: _big(pub.n),
            Attribute.PUBLIC_EXPONENT: _big(pub.e),
        }
    raise LifecycleError(f"CA key {label}: {type(public_key).__name__} not supported")


def _big(v: int) -> bytes:
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


def _templates(private_key: Any, token: str, label: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(private, public) C_CreateObject templates of a cryptography private key."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    public = _public_template(private_key.public_key(), token, label)
    private = _private_base(token, label)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        size = (private_key.curve.key_size + 7) // 8
        private |= {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[private_key.curve.name]),
            Attribute.VALUE: private_key.private_numbers().private_value.to_bytes(size, "big"),
        }
    elif isinstance(private_key, rsa.RSAPrivateKey):
        n = private_key.private_numbers()
        private |= {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: _big(n.public_numbers.n),
            Attribute.PUBLIC_EXPONENT: _big(n.public_numbers.e),
            Attribute.PRIVATE_EXPONENT: _big(n.d),
            Attribute.PRIME_1: _big(n.p),
            Attribute.PRIME_2: _big(n.q),
            Attribute.EXPONENT_1: _big(n.dmp1),
            Attribute.EXPONENT_2: _big(n.dmq1),
            Attribute.COEFFICIENT: _big(n.iqmp),
        }
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
    with hsm._user_session(module, token, pin) as session:
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


# --------------------------------------------------------------------------------------
# HSM to HSM: encrypted transfer under multi-person control (000 §6.2.6)
# --------------------------------------------------------------------------------------

#: The ca.key-exported ``method`` of a transfer between tokens.
TRANSFER_METHOD = (
    "C_WrapKey CKM_AES_KEY_WRAP_PAD under a trusted AES-256 transport key (made by the "
    "source token's Security Officer), itself wrapped CKM_RSA_PKCS_OAEP under the "
    "successor's RSA-3072 unwrap-only key; C_UnwrapKey in the successor"
)


def _oaep() -> tuple[Any, Any, None]:
    """RSA-OAEP with SHA-1 and MGF1-SHA-1 (RFC 8017 §7.1): SoftHSM2 2.6.1 answers
    CKR_ARGUMENTS_BAD to OAEP with SHA-256 (tried); SHA-1's collision weakness does
    not touch OAEP, whose security needs the hash as a mask generator, not collision
    resistance."""
    from pkcs11 import MGF, Mechanism

    return (Mechanism.SHA_1, MGF.SHA1, None)


@dataclass(frozen=True)
class HsmSource:
    """A source token: the user PIN that reaches its CA keys (for the root token: the
    two officers' halves joined, 000 §6.2.2) and its Security Officer's PIN."""

    token: str
    pin: hsm.Secret
    so_pin: hsm.Secret


def _template_only_mapper() -> Any:
    """python-pkcs11's attribute mapper without default capabilities: its unwrap_key
    adds CKA_ENCRYPT, CKA_VERIFY, CKA_WRAP (true or false) to every template, which
    SoftHSM2 rejects on a private key (CKR_ATTRIBUTE_TYPE_INVALID). With this mapper
    the template passed is the whole template."""
    from pkcs11.attributes import AttributeMapper

    class TemplateOnly(AttributeMapper):
        def generic_key_template(
            self,
            base_template: dict[Any, Any],
            *,
            capabilities: Any,
            id_: bytes | None,
            label: str | None,
            store: bool,
        ) -> dict[Any, Any]:
            return dict(base_template)

    return TemplateOnly()


def _rsa_spki(modulus: bytes, exponent: bytes) -> bytes:
    return (
        rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big"))
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )


def check_so_pin(module: str, token: str, so_pin: hsm.Secret) -> None:
    """Log the Security Officer in and out again: HsmPinError before anything changes."""
    with hsm._so_session(module, token, so_pin):
        pass


def _wrap_out(
    module: str,
    source: HsmSource,
    labels: Sequence[str],
    successor_rsa: tuple[bytes, bytes],
    suffix: str,
    note: Callable[..., None],
    purpose: str,
) -> tuple[bytes, list[bytes]]:
    """In one source token: the SO makes the trusted transport keys, the user wraps
    each CA key under the AES key and the AES key under the successor's RSA key; the
    transport keys are destroyed before this returns or raises. Returns (wrapped AES
    key, wrapped CA keys in ``labels`` order): ciphertext only."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    rsa_label, aes_label = f"porthos-transport-rsa-{suffix}", f"porthos-transport-aes-{suffix}"
    modulus, exponent = successor_rsa
    step = f"the Security Officer's transport keys in token '{source.token}'"
    try:
        with hsm._so_session(module, source.token, source.so_pin) as so:
            # 000 §5.4.1, §6.2.6: the SO's part of the multi-person control, recorded
            # with the fingerprint of the key the SO trusts (never the PIN).
            note(
                role="security-officer",
                token=source.token,
                purpose=f"trusted transport keys {purpose}",
                trusted_key_spki_sha256=spki_sha256(_rsa_spki(modulus, exponent)),
            )
            # PKCS#11 v2.40 §4.8: only the SO can set CKA_TRUSTED; an SO session sees
            # public objects only, so both are CKA_PRIVATE=false (for seconds).
            so.create_object(
                {
                    Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                    Attribute.KEY_TYPE: KeyType.RSA,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.MODULUS: modulus,
                    Attribute.PUBLIC_EXPONENT: exponent,
                    Attribute.WRAP: True,
                    Attribute.TRUSTED: True,
                    Attribute.ENCRYPT: False,
                    Attribute.VERIFY: False,
                    Attribute.LABEL: rsa_label,
                }
            )
            # The AES key is itself wrap-with-trusted: it leaves the token only under
            # the trusted RSA key, i.e. only towards the successor.
            so.generate_key(
                KeyType.AES,
                256,
                store=True,
                label=aes_label,
                template={
                    Attribute.PRIVATE: False,
                    Attribute.TRUSTED: True,
                    Attribute.WRAP: True,
                    Attribute.UNWRAP: False,
                    Attribute.ENCRYPT: False,
                    Attribute.DECRYPT: False,
                    Attribute.SIGN: False,
                    Attribute.VERIFY: False,
                    Attribute.DERIVE: False,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: True,
                    Attribute.WRAP_WITH_TRUSTED: True,
                },
            )
        note(role="security-officer", token=source.token, deactivated=True)
        with hsm._user_session(module, source.token, source.pin) as user:
            # The key holders' part (for a root token: the two officers, 000 §6.2.2).
            note(
                role="user",
                token=source.token,
                purpose=f"wrapping {', '.join(labels)} {purpose}",
            )
            aes = user.get_key(label=aes_label, object_class=ObjectClass.SECRET_KEY)
            wrapped = []
            for label in labels:
                step = f"wrapping the key '{label}' in token '{source.token}'"
                key = user.get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)
                wrapped.append(aes.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD))
            step = f"wrapping the transport key of token '{source.token}'"
            trusted = user.get_key(label=rsa_label, object_class=ObjectClass.PUBLIC_KEY)
            wrapped_aes = trusted.wrap_key(
                aes, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=_oaep()
            )
        note(role="user", token=source.token, deactivated=True)
        return wrapped_aes, wrapped
    except pkcs11.PKCS11Error as exc:
        raise HsmError(f"key transfer failed at {step}: {type(exc).__name__}") from None
    finally:
        _remove_transport(module, source, (rsa_label, aes_label))


def _remove_transport(module: str, source: HsmSource, labels: Sequence[str]) -> None:
    """Destroy the transport objects (public token objects: the user may remove them)."""
    from pkcs11 import Attribute

    try:
        with hsm._user_session(module, source.token, source.pin, rw=True) as session:
            for label in labels:
                for obj in list(session.get_objects({Attribute.LABEL: label})):
                    obj.destroy()
    except Exception as exc:  # noqa: BLE001 - reported with what is left behind
        raise HsmError(
            f"could not remove the transport keys {', '.join(labels)} from token "
            f"'{source.token}' ({type(exc).__name__}); remove them by hand"
        ) from None


def transfer_hsm_keys(
    module: str,
    keys: Sequence[tuple[str, str, str, bytes]],
    sources: Mapping[str, HsmSource],
    successor_module: str,
    successor: str,
    successor_pin: hsm.Secret,
    note: Callable[..., None] = lambda **_: None,
) -> Export:
    """Transfer CA keys ``(CA name, source token, source label, CA certificate DER)``
    from tokens of ``module`` into token ``successor`` of ``successor_module`` in
    encrypted form (000 §6.2.6), all or nothing:

    1. refuse before anything changes: the successor must exist, take its PIN and
       hold no object labelled like a CA; each source SO PIN must be right;
    2. the successor makes an RSA-3072 session key pair whose private half is
       sensitive and can only unwrap;
    3. per source token (:func:`_wrap_out`): the SO imports that public key as a
       trusted wrapping key and makes a trusted AES transport key; the user wraps;
    4. the successor unwraps the AES key (a session object) and with it each CA key,
       stored sensitive, NOT extractable, sign-only, labelled with the CA name, with
       its public key beside it; each signs a test digest that the CA certificate's
       public key verifies (:func:`check_signs`).

    No key appears in the clear outside a token. The transport keys are destroyed
    either way (source: at the end of step 3; successor: session objects, destroyed
    and gone with the session). On failure the CA keys created in the successor are
    removed again (:meth:`Export.rollback`). ``note(role=..., token=..., ...)`` is
    told of each source-token login (role "security-officer" or "user") and logout
    (``deactivated=True``), to be audited. The source keys are not touched."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    if successor in sources and successor_module == module:
        raise LifecycleError(
            f"the successor token '{successor}' is a source token of this workspace; "
            "nothing was changed"
        )
    open_successor(successor_module, successor, successor_pin, [k[0] for k in keys])
    for source in sources.values():
        check_so_pin(module, source.token, source.so_pin)
    by_token: dict[str, list[tuple[str, str, bytes]]] = {}
    for name, token, label, certificate in keys:
        if token not in sources:
            raise LifecycleError(f"CA {name}: no PINs for its token '{token}'")
        by_token.setdefault(token, []).append((name, label, certificate))

    export = Export(successor_module, successor, successor_pin, method=TRANSFER_METHOD)
    suffix = os.urandom(8).hex()
    purpose = f"for the transfer to token '{successor}' (000 §6.2.6)"
    step = f"the transport key pair in the successor token '{successor}'"
    try:
        with hsm._user_session(
            successor_module,
            successor,
            successor_pin,
            rw=True,
            attribute_mapper=_template_only_mapper(),
        ) as dest:
            try:
                public, private = dest.generate_keypair(
                    KeyType.RSA,
                    3072,
                    store=False,
                    label=f"porthos-transport-{suffix}",
                    public_template={
                        Attribute.WRAP: True,
                        Attribute.ENCRYPT: False,
                        Attribute.VERIFY: False,
                    },
                    private_template={
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.UNWRAP: True,
                        Attribute.DECRYPT: False,
                        Attribute.SIGN: False,
                        Attribute.DERIVE: False,
                    },
                )
            except pkcs11.PKCS11Error as exc:
                raise HsmError(f"key transfer failed at {step}: {type(exc).__name__}") from None
            try:
                rsa_public = (
                    bytes(public[Attribute.MODULUS]),
                    bytes(public[Attribute.PUBLIC_EXPONENT]),
                )
                for token, items in by_token.items():
                    wrapped_aes, wrapped = _wrap_out(
                        module,
                        sources[token],
                        [label for _, label, _ in items],
                        rsa_public,
                        suffix,
                        note,
                        purpose,
                    )
                    step = f"unwrapping the transport key of token '{token}' in '{successor}'"
                    aes = private.unwrap_key(
                        ObjectClass.SECRET_KEY,
                        KeyType.AES,
                        wrapped_aes,
                        mechanism=Mechanism.RSA_PKCS_OAEP,
                        mechanism_param=_oaep(),
                        template={
                            Attribute.CLASS: ObjectClass.SECRET_KEY,
                            Attribute.KEY_TYPE: KeyType.AES,
                            Attribute.TOKEN: False,
                            Attribute.PRIVATE: True,
                            Attribute.SENSITIVE: True,
                            Attribute.EXTRACTABLE: False,
                            Attribute.UNWRAP: True,
                            Attribute.WRAP: False,
                            Attribute.ENCRYPT: False,
                            Attribute.DECRYPT: False,
                        },
                    )
                    try:
                        for (name, label, certificate), blob in zip(items, wrapped, strict=True):
                            step = f"unwrapping the key of CA {name} in '{successor}'"
                            cert_public = x509.load_der_x509_certificate(certificate).public_key()
                            spki = cert_public.public_bytes(
                                Encoding.DER, PublicFormat.SubjectPublicKeyInfo
                            )
                            public_t = _public_template(cert_public, successor, name)
                            key_type = public_t[Attribute.KEY_TYPE]
                            # Recorded before the call: a failure half-way is cleaned up.
                            export.keys.append(
                                ExportedKey(
                                    name,
                                    name,
                                    spki_sha256(spki),
                                    "ec" if key_type == KeyType.EC else "rsa",
                                    hsm.HsmKeyRef(token, label).uri(),
                                )
                            )
                            dest.create_object(public_t)
                            private_t = _private_base(successor, name) | {
                                Attribute.KEY_TYPE: key_type
                            }
                            aes.unwrap_key(
                                ObjectClass.PRIVATE_KEY,
                                key_type,
                                blob,
                                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                                template=private_t,
                            )
                            check_signs(dest, name, certificate)
                    finally:
                        aes.destroy()
            except pkcs11.PKCS11Error as exc:
                raise HsmError(f"key transfer failed at {step}: {type(exc).__name__}") from None
            finally:
                # Session objects go with the session anyway; destroyed explicitly so
                # that nothing of the transport outlives the transfer even in-process.
                for obj in (private, public):
                    try:
                        obj.destroy()
                    except pkcs11.PKCS11Error:
                        pass
    except BaseException:
        export.rollback()
        raise
    return export
