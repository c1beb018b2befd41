"""PKCS#11 modules, tokens, sessions and CA keys inside a token (RFC 3647 §6.1.1,
§6.2): see the package docstring for who loads what, and the OS-locking hazard."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porthos.exceptions import HsmError, HsmNotFoundError, KeyMaterialError
from porthos.hsm.pins import Secret

#: Where Debian, Fedora and Homebrew put SoftHSM2's module.
SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

#: Key types ``porthos hsm keygen`` creates, and the signature algorithm each signs with.
KEY_TYPES = {
    "ec-p256": "ecdsa-sha256",
    "ec-p384": "ecdsa-sha384",
    "rsa-2048": "rsa-pkcs1-sha256",
    "rsa-3072": "rsa-pkcs1-sha256",
    "rsa-4096": "rsa-pkcs1-sha384",
}


# --------------------------------------------------------------------------------------
# Module loading
# --------------------------------------------------------------------------------------

_loaded: dict[str, Any] = {}
_conf_in_use: str | None = None


def find_module(path: str | os.PathLike[str] | None = None) -> Path:
    """The PKCS#11 module to use: ``path``, else $PORTHOS_PKCS11_MODULE, else SoftHSM2
    at its usual places. HsmNotFoundError names what was looked for."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise HsmNotFoundError(f"PKCS#11 module {p} does not exist")
        return p
    env = os.environ.get("PORTHOS_PKCS11_MODULE")
    if env:
        return find_module(env)
    for candidate in SOFTHSM_MODULES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise HsmNotFoundError(
        "no PKCS#11 module: SoftHSM2 is not installed (Debian package softhsm2; looked in "
        + ", ".join(SOFTHSM_MODULES)
        + ") and neither --module nor $PORTHOS_PKCS11_MODULE names one"
    )


def softhsm_conf(directory: str | os.PathLike[str]) -> Path:
    """Write ``<directory>/softhsm2.conf`` with its token store in ``<directory>/tokens``
    (created 0700) unless it exists; return its path. Nothing touches the system store."""
    d = Path(directory).resolve()
    tokens = d / "tokens"
    tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = d / "softhsm2.conf"
    if not conf.exists():
        conf.write_text(
            "# porthos: SoftHSM2 configuration of this workspace (token store inside it)\n"
            f"directories.tokendir = {tokens}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
    return conf


def use_softhsm_conf(conf: str | os.PathLike[str]) -> None:
    """Point SoftHSM2 at ``conf`` for this process (before the module is loaded)."""
    global _conf_in_use
    path = str(Path(conf).resolve())
    if _loaded and _conf_in_use not in (None, path):
        raise HsmError(
            f"the PKCS#11 module is already initialised in this process with SOFTHSM2_CONF "
            f"{_conf_in_use}; one process uses one SoftHSM2 configuration"
        )
    os.environ["SOFTHSM2_CONF"] = path
    _conf_in_use = path


def load_module(module: str | os.PathLike[str]) -> Any:
    """python-pkcs11's ``lib`` for ``module``, with the module re-initialised with
    CKF_OS_LOCKING_OK (see the module docstring). Once per process and path."""
    global _conf_in_use
    path = str(find_module(module))
    lib = _loaded.get(path)
    if lib is not None:
        return lib
    import pkcs11

    from porthos import _native

    try:
        lib = pkcs11.lib(path)
    except pkcs11.PKCS11Error as exc:
        raise HsmNotFoundError(f"PKCS#11 module {path} cannot be loaded: {exc}") from None
    # Before any session exists: C_Finalize + C_Initialize(CKF_OS_LOCKING_OK).
    _native.pkcs11_load_module(path)
    _loaded[path] = lib
    if _conf_in_use is None:
        _conf_in_use = os.environ.get("SOFTHSM2_CONF")
    return lib


def open_token(module: str | os.PathLike[str], label: str) -> Any:
    import pkcs11

    lib = load_module(module)
    try:
        return lib.get_token(token_label=label)
    except pkcs11.NoSuchToken:
        present = [t.label for t in lib.get_tokens()]
        raise HsmNotFoundError(
            f"no token labelled '{label}' in PKCS#11 module {find_module(module)} "
            f"(tokens present: {', '.join(present) or 'none'})"
        ) from None


def init_token(
    module: str | os.PathLike[str], label: str, so_pin: Secret, user_pin: Secret
) -> None:
    """Initialise a fresh token labelled ``label`` and set its user PIN."""
    from porthos import _native

    load_module(module)
    _native.pkcs11_init_token(str(find_module(module)), label, so_pin.reveal(), user_pin.reveal())


@contextmanager
def user_session(
    module: str | os.PathLike[str],
    token: str,
    pin: Secret,
    rw: bool = False,
    attribute_mapper: Any = None,
) -> Iterator[Any]:
    import pkcs11

    tok = open_token(module, token)
    try:
        session = tok.open(rw=rw, user_pin=pin.reveal_text(), attribute_mapper=attribute_mapper)
    except pkcs11.PinIncorrect:
        from porthos.exceptions import HsmPinError

        raise HsmPinError(
            f"PIN incorrect for token '{token}' (CKR_PIN_INCORRECT); not retried"
        ) from None
    try:
        yield session
    finally:
        session.close()


@contextmanager
def so_session(module: str | os.PathLike[str], token: str, so_pin: Secret) -> Iterator[Any]:
    """A read-write session of the token's Security Officer (PKCS#11 v2.40 §5.6: an
    SO session is always read-write and sees public objects only)."""
    import pkcs11

    from porthos.exceptions import HsmPinError

    tok = open_token(module, token)
    try:
        session = tok.open(rw=True, so_pin=so_pin.reveal_text())
    except pkcs11.PinIncorrect:
        raise HsmPinError(
            f"Security Officer PIN incorrect for token '{token}' (CKR_PIN_INCORRECT); not retried"
        ) from None
    except pkcs11.PKCS11Error as exc:
        # CKR_USER_ANOTHER_ALREADY_LOGGED_IN / CKR_SESSION_READ_ONLY_EXISTS: PKCS#11
        # logs a whole token in as one role, so no user session may be open on it.
        raise HsmError(
            f"the Security Officer cannot log in to token '{token}' "
            f"({type(exc).__name__}): close every session on that token first"
        ) from None
    try:
        yield session
    finally:
        session.close()


def ca_key_id(token: str, label: str) -> bytes:
    """The CKA_ID of a CA key pair porthos generates or imports: derived from token and
    label, so the private and public halves (and a successor's copy) pair up."""
    return hashlib.sha256(f"{token}/{label}".encode()).digest()[:16]


def ca_private_template(key_id: bytes) -> dict[Any, Any]:
    """The attributes of every CA private key porthos makes in a token (RFC 3647 §6.1.1,
    issue 5): private, sensitive, never extractable, and able to sign only (no decrypt,
    unwrap or derive: a CA key has one purpose, RFC 3647 §6.1.7)."""
    from pkcs11 import Attribute

    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.ID: key_id,
    }


def generate_key(
    module: str | os.PathLike[str],
    token: str,
    pin: Secret,
    label: str,
    key_type: str,
    *,
    transferable: bool = False,
) -> bytes:
    """Generate a key pair inside the token (RFC 3647 §6.1.1): the private key is private,
    sensitive and never extractable; the public key is readable. Returns its SPKI DER.

    ``transferable`` (opt-in, RFC 3647 §6.2.6 "transferred in encrypted form into the new
    HSM using multi-person control"): the private key stays CKA_SENSITIVE but is
    CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED, so it can leave the token only wrapped
    under a key marked CKA_TRUSTED, which only the token's Security Officer can set
    (PKCS#11 v2.40 §4.8; SoftHSM2 enforces both: CKR_KEY_NOT_WRAPPABLE,
    CKR_ATTRIBUTE_READ_ONLY). Both attributes are sticky: they cannot be undone."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    if key_type not in KEY_TYPES:
        raise KeyMaterialError(f"key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")
    key_id = ca_key_id(token, label)
    private = ca_private_template(key_id)
    if transferable:
        private |= {Attribute.EXTRACTABLE: True, Attribute.WRAP_WITH_TRUSTED: True}
    public = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.ID: key_id,
    }
    with user_session(module, token, pin, rw=True) as session:
        try:
            session.get_key(label=label, object_class=pkcs11.ObjectClass.PRIVATE_KEY)
        except pkcs11.NoSuchKey:
            pass
        except pkcs11.MultipleObjectsReturned:
            raise KeyMaterialError(
                f"token '{token}' already holds keys labelled '{label}'"
            ) from None
        else:
            raise KeyMaterialError(f"token '{token}' already holds a key labelled '{label}'")
        if key_type.startswith("ec-"):
            curve = "secp256r1" if key_type == "ec-p256" else "secp384r1"
            params = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)},
                local=True,
            )
            params.generate_keypair(
                store=True, label=label, public_template=public, private_template=private
            )
        else:
            session.generate_keypair(
                KeyType.RSA,
                int(key_type[4:]),
                store=True,
                label=label,
                public_template=public,
                private_template=private,
            )
    return public_key_der(module, token, label)


def public_key_der(module: str | os.PathLike[str], token: str, label: str) -> bytes:
    """SubjectPublicKeyInfo DER of the public key labelled ``label`` (a public object:
    no login needed)."""
    import pkcs11
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key

    tok = open_token(module, token)
    with tok.open() as session:
        try:
            key = session.get_key(label=label, object_class=pkcs11.ObjectClass.PUBLIC_KEY)
        except pkcs11.NoSuchKey:
            raise HsmNotFoundError(
                f"no public key labelled '{label}' in token '{token}'"
            ) from None
        if key.key_type == KeyType.EC:
            return bytes(encode_ec_public_key(key))
        n = int.from_bytes(key[Attribute.MODULUS], "big")
        e = int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big")
        return (
            rsa.RSAPublicNumbers(e, n)
            .public_key()
            .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )


# --------------------------------------------------------------------------------------
# Key references
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HsmKeyRef:
    """Where a CA key lives: an RFC 7512 PKCS#11 URI in the store's key_ref column."""

    token: str
    label: str

    def uri(self) -> str:
        from urllib.parse import quote

        token, label = quote(self.token, safe=""), quote(self.label, safe="")
        return f"pkcs11:token={token};object={label};type=private"

    @classmethod
    def parse(cls, uri: str) -> HsmKeyRef | None:
        """None when ``uri`` is not a PKCS#11 URI (a software key path)."""
        from urllib.parse import unquote

        if not uri.startswith("pkcs11:"):
            return None
        attrs = dict(
            part.split("=", 1) for part in uri[len("pkcs11:") :].split(";") if "=" in part
        )
        if "token" not in attrs or "object" not in attrs:
            raise KeyMaterialError(f"PKCS#11 URI without token or object: {uri}")
        return cls(unquote(attrs["token"]), unquote(attrs["object"]))
