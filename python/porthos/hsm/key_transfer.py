"""CA keys from token to token in encrypted form under multi-person control (RFC 3647
§6.2.6 private key transfer, §6.2.2 multi-person control), for keys generated with
CKA_WRAP_WITH_TRUSTED (``init --hsm --transferable-keys``): the tokens' Security
Officer trusts a transport key of the successor, the key holders wrap, the successor
unwraps; no CA key appears in the clear outside a token. The termination workflow that
drives it is porthos.workflows.key_export.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import hsm
from porthos.exceptions import HsmError, LifecycleError
from porthos.hsm.key_objects import (
    Export,
    ExportedKey,
    check_signs,
    open_successor,
    private_key_base,
    public_key_template,
    spki_sha256,
)

__all__ = ["TRANSFER_METHOD", "HsmSource", "check_so_pin", "transfer_hsm_keys"]

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
    two officers' halves joined, RFC 3647 §6.2.2) and its Security Officer's PIN."""

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
    with hsm.so_session(module, token, so_pin):
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
        with hsm.so_session(module, source.token, source.so_pin) as so:
            # RFC 3647 §5.4.1, §6.2.6: the SO's part of the multi-person control, recorded
            # with the fingerprint of the key the SO trusts (never the PIN).
            note(
                role="CKU_SO",
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
        note(role="CKU_SO", token=source.token, deactivated=True)
        with hsm.user_session(module, source.token, source.pin) as user:
            # The key holders' part (for a root token: the two officers, RFC 3647 §6.2.2).
            note(
                role="CKU_USER",
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
        note(role="CKU_USER", token=source.token, deactivated=True)
        return wrapped_aes, wrapped
    except pkcs11.PKCS11Error as exc:
        raise HsmError(f"key transfer failed at {step}: {type(exc).__name__}") from None
    finally:
        _remove_transport(module, source, (rsa_label, aes_label))


def _remove_transport(module: str, source: HsmSource, labels: Sequence[str]) -> None:
    """Destroy the transport objects (public token objects: the user may remove them)."""
    from pkcs11 import Attribute

    try:
        with hsm.user_session(module, source.token, source.pin, rw=True) as session:
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
    encrypted form (RFC 3647 §6.2.6), all or nothing:

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
    told of each source-token login (role "CKU_SO" or "CKU_USER", the PKCS#11 user
    types) and logout
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
    purpose = f"for the transfer to token '{successor}' (RFC 3647 §6.2.6)"
    step = f"the transport key pair in the successor token '{successor}'"
    try:
        with hsm.user_session(
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
                            public_t = public_key_template(cert_public, successor, name)
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
                            private_t = private_key_base(successor, name) | {
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
