"""Where a workspace's store is: the SQLite file ``W/porthos.sqlite`` (the embedded
default), or a PostgreSQL database named in ``W/store.toml`` (issue 19).

``W/store.toml`` holds the URL without credentials and, optionally, the path of a
password file::

    url = "postgresql://porthos@db.example/porthos"
    password_file = "/etc/porthos/db-password"   # optional

The password comes from that file, from PGPASSWORD or from a PGPASSFILE (libpq reads
the last two itself), never from the command line or the URL: a URL with a password
is refused (it would sit in shell history, process lists and this file), and no
message repeats it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from porthos.exceptions import StoreError
from porthos.store.sqlite import Store

__all__ = [
    "STORE_FILE",
    "URL_FILE",
    "StoreUrl",
    "create_store",
    "initialised",
    "open_store",
    "parse_store_url",
    "read_password_file",
]

#: The SQLite store of a workspace; its presence (or URL_FILE's) means "initialised".
STORE_FILE = "porthos.sqlite"
#: A PostgreSQL store's URL (without credentials) and password file.
URL_FILE = "store.toml"

_SCHEMES = ("postgresql", "postgres")


class StoreUrl:
    """A checked ``postgresql://`` URL: no password in it (refused, never echoed)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __str__(self) -> str:
        return self.url


def parse_store_url(url: str) -> StoreUrl:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise StoreError(
            "--store takes a postgresql:// URL (the SQLite store is the default: leave "
            "--store out)"
        )
    if parts.password is not None or any(
        k.lower() in ("password", "passfile") for k, _ in parse_qsl(parts.query)
    ):
        # The message names where a password may come from, never the one given.
        raise StoreError(
            "the store URL contains a password: refused (it would be kept in the workspace "
            "and shell history); give it with --store-password-file, PGPASSWORD or PGPASSFILE"
        )
    return StoreUrl(url)


def read_password_file(path: str | os.PathLike[str]) -> str:
    """The password in a file (its first line). The message never quotes the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise StoreError(
            f"cannot read the store password file {path}: {type(exc).__name__}"
        ) from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise StoreError(f"the store password file {path} is empty")
    return password


def initialised(root: Path) -> bool:
    return (root / STORE_FILE).is_file() or (root / URL_FILE).is_file()


def _pg_config(root: Path) -> tuple[StoreUrl, str | None]:
    try:
        config = tomllib.loads((root / URL_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        raise StoreError(f"{root / URL_FILE}: unreadable ({exc})") from None
    url = config.get("url")
    if not isinstance(url, str):
        raise StoreError(f"{root / URL_FILE}: no url")
    password_file = config.get("password_file")
    if password_file is not None and not isinstance(password_file, str):
        raise StoreError(f"{root / URL_FILE}: password_file must be a path")
    return parse_store_url(url), password_file


def open_store(root: Path) -> Store:
    """The workspace's store, whichever backend holds it."""
    if (root / URL_FILE).is_file():
        from porthos.store.postgres import PostgresStore

        url, password_file = _pg_config(root)
        password = None if password_file is None else read_password_file(password_file)
        return PostgresStore.open_at(url.url, url.url, password=password)
    return Store.open(root / STORE_FILE)


def create_store(
    root: Path,
    *,
    env: str,
    profile_set: str,
    url: str | None = None,
    password_file: str | os.PathLike[str] | None = None,
) -> tuple[Store, Path | None]:
    """A new store for the workspace at ``root`` (SQLite unless ``url``); returns it and
    the file that records it (removed again if init fails)."""
    if url is None:
        if password_file is not None:
            raise StoreError("--store-password-file is for a PostgreSQL store (--store)")
        return Store.create(root / STORE_FILE, env=env, profile_set=profile_set), root / STORE_FILE
    from porthos.store.postgres import PostgresStore

    checked = parse_store_url(url)
    password = None
    if password_file is not None:
        password_file = Path(password_file).resolve()
        password = read_password_file(password_file)
    store = PostgresStore.create_at(
        checked.url, checked.url, env=env, profile_set=profile_set, password=password
    )
    lines = [f"url = {_toml_string(checked.url)}"]
    if password_file is not None:
        lines.append(f"password_file = {_toml_string(str(password_file))}")
    root.mkdir(parents=True, exist_ok=True)
    (root / URL_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return store, root / URL_FILE


def _toml_string(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a TOML basic string
