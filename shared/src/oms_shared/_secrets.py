"""Secrets at rest: columns a service stores encrypted (AES-256-GCM), and their keys.

A column declared ``EncryptedString(n)`` (``n``: the longest plaintext it takes) holds
``v1:<key id>:<base64 of nonce + ciphertext + tag>``: a random 96-bit nonce per value,
the header (``v1:<key id>``) authenticated with it. The key id names the key of the
keyring (``secrets.keys``) that sealed the value, so keys can rotate: a new key becomes
``secrets.current``, values sealed under older keys stay readable while their key is in
the keyring, and ``flask --app <svc>_service.app secrets-rotate`` seals every value
under the current key again (in chunks), after which the old key can go.

Who holds the keyring: each engine a service's :class:`~oms_shared.Database` makes has
the service's keyring attached (:func:`attach`); the column type finds it through the
dialect it is bound or read with, so the ORM, Core ``executemany`` inserts, keyset
reads of the CSV and migrations all seal and open values without being told.

A value without the ``v1:`` prefix is a plaintext written before encryption (or by a
replica still running older code during an upgrade): it is read as it is, and
``secrets-rotate`` (and the migrations that introduced encryption) seal it. Secrets
that may be stored are made of ``[A-Za-z0-9_-]``, so no plaintext can start with
``v1:``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.types import TypeDecorator

__all__ = ["KEY_ID", "EncryptedString", "Keyring", "KeyringError", "RotationReport", "attach",
           "decode_key", "encrypted_columns", "keyring_for", "keyring_of", "rotate",
           "unseal"]

VERSION = "v1"
#: What a key id may be: it is written into every value the key seals.
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
TAG_BYTES = 16
#: Outside production with no keyring configured: a key derived from ``jwt.secret``
#: under this id, so a development platform works without one more secret.
DERIVED_KEY_ID = "jwt"
_SEALED = VERSION + ":"  # what every sealed value starts with, and no secret can


class KeyringError(RuntimeError):
    """A value cannot be sealed or opened: no keyring, an unknown key id, a value that
    is not what this keyring sealed (tampered, or another key under the same id)."""


def decode_key(text: str) -> bytes:
    """A key as configured: 32 bytes in base64 (standard or URL-safe, padded or not)."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must be {KEY_BYTES} bytes (base64 of 32 random bytes), "
                         f"not {len(raw)}")
    return raw


def derived_key(jwt_secret: str) -> bytes:
    """The development key: HMAC-SHA256 of a fixed label under ``jwt.secret``."""
    return hmac.new(jwt_secret.encode(), b"oms secrets at rest v1", hashlib.sha256).digest()


class Keyring:
    """Keys by id, and the one new values are sealed with."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise KeyringError(f"the current key {current!r} is not in the keyring")
        for kid, key in keys.items():
            if not KEY_ID.fullmatch(kid) or len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r}: an id of [A-Za-z0-9_-]{{1,32}} and "
                                   f"{KEY_BYTES} bytes")
        self.current = current
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._headers = {kid: f"{VERSION}:{kid}".encode() for kid in keys}
        self._header = self._headers[current]
        self._prefix = f"{VERSION}:{current}:"

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, plaintext.encode(), self._header)
        return self._prefix + binascii.b2a_base64(nonce + sealed, newline=False).decode()

    def open(self, stored: str) -> str:
        """The plaintext of a stored value; a value without the prefix is a legacy
        plaintext and comes back as it is."""
        if not stored.startswith(_SEALED):
            return stored
        parts = stored.split(":", 2)
        kid = parts[1] if len(parts) == 3 else ""
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise KeyringError(f"a value is sealed under key {kid!r}, which the keyring "
                               "does not hold (secrets.keys)")
        try:
            raw = binascii.a2b_base64(parts[2], strict_mode=True)
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._headers[kid])
        except (binascii.Error, ValueError, InvalidTag):
            raise KeyringError(f"a value sealed under key {kid!r} does not open: "
                               "tampered, or another key under that id") from None
        return plain.decode()

    def is_current(self, stored: str) -> bool:
        """Sealed under the current key (nothing for ``secrets-rotate`` to do)."""
        return stored.startswith(self._prefix)


def stored_length(plaintext_length: int) -> int:
    """Characters a value of ``plaintext_length`` ASCII characters takes when sealed."""
    body = NONCE_BYTES + plaintext_length + TAG_BYTES
    return len(VERSION) + 1 + 32 + 1 + 4 * -(-body // 3)


# ---- the keyring of an engine --------------------------------------------------------------

_ATTRIBUTE = "oms_keyring"


def attach(engine: Engine, keyring: Keyring) -> None:
    """Give ``engine`` the keyring its encrypted columns use (each engine has a dialect
    of its own, which every statement of the engine is bound and read with)."""
    setattr(engine.dialect, _ATTRIBUTE, keyring)


def keyring_of(dialect: Dialect) -> Keyring:
    keyring = getattr(dialect, _ATTRIBUTE, None)
    if keyring is None:
        raise KeyringError("this engine has no keyring: encrypted columns are read and "
                           "written through a service's Database (secrets.keys)")
    return keyring


class EncryptedString(TypeDecorator[str]):
    """A string column stored sealed (AES-256-GCM) under the engine's keyring.

    ``EncryptedString(64)`` takes plaintexts of up to 64 characters; the column is as
    wide as their sealed form. Values are compared by their plaintext nowhere in SQL
    (each is sealed with a nonce of its own): never filter or index on such a column.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        self.plaintext_length = length
        super().__init__(stored_length(length))

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).open(value)

    def __repr__(self) -> str:  # what autogenerated migrations write
        return f"EncryptedString({self.plaintext_length})"


# ---- rotation --------------------------------------------------------------------------------


def encrypted_columns(metadata: MetaData) -> Iterator[tuple[Table, Column]]:
    """Every encrypted column of a service's tables."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                yield table, column


@dataclass
class RotationReport:
    table: str
    column: str
    resealed: int = 0  # values sealed under an older key, now under the current one
    plaintext: int = 0  # legacy plaintext values, now sealed
    unchanged: int = 0  # already under the current key
    skipped: int = 0  # changed by a writer between the read and the rewrite (sealed anew)


def rotate(connection: Connection, table: Table, column: Column, *, chunk: int = 1000,
           commit: bool = True) -> RotationReport:
    """Seal every value of ``table.column`` that is not under the current key (an older
    key's, or a legacy plaintext) under the current key, ``chunk`` rows at a time along
    the primary key.

    With ``commit`` each chunk is a transaction of its own: a long rotation holds no
    lock for long, and what is done stays done if it stops. Without, the caller's
    transaction (a migration's) holds it all. Each row is rewritten only if its stored
    value is still the one read (compare and set), so a secret changed by a request
    meanwhile is never overwritten with the old one. Idempotent."""
    keyring = keyring_of(connection.dialect)
    report = RotationReport(table=table.name, column=column.name)

    def reseal(stored: str) -> str | None:
        if keyring.is_current(stored):
            report.unchanged += 1
            return None
        if stored.startswith(_SEALED):
            report.resealed += 1
        else:
            report.plaintext += 1
        return keyring.seal(keyring.open(stored))

    report.skipped = _rewrite(connection, table, column, reseal, chunk=chunk, commit=commit)
    return report


def unseal(connection: Connection, table: Table, column: Column, *, chunk: int = 1000,
           commit: bool = True) -> int:
    """Write every value of ``table.column`` back as plaintext (a migration's downgrade);
    the number of values changed."""
    keyring = keyring_of(connection.dialect)
    changed = 0

    def opened(stored: str) -> str | None:
        nonlocal changed
        if not stored.startswith(_SEALED):
            return None
        changed += 1
        return keyring.open(stored)

    _rewrite(connection, table, column, opened, chunk=chunk, commit=commit)
    return changed


def _rewrite(connection: Connection, table: Table, column: Column, change: Any, *,
             chunk: int, commit: bool) -> int:
    """``change(stored) -> new stored value | None`` over every row, ``chunk`` rows at a
    time by primary key, each row compare-and-set on its stored value; the number of
    rows a concurrent writer changed first (left as that writer left them)."""
    key = list(table.primary_key.columns)
    if len(key) != 1:
        raise KeyringError(f"{table.name}: rewriting walks a single-column primary key")
    pk = key[0]
    raw = type_coerce(column, String)  # the stored text, not opened
    rewrite = (update(table)
               .where(pk == bindparam("ident"), raw == bindparam("was", type_=String()))
               .values({column.name: bindparam("now", type_=String())}))
    skipped = 0
    after: Any = None
    while True:
        query = select(pk, raw).order_by(pk).limit(chunk)
        if after is not None:
            query = query.where(pk > after)
        rows = connection.execute(query).all()
        changes = []
        for ident, stored in rows:
            new = change(stored) if stored is not None else None
            if new is not None:
                changes.append({"ident": ident, "was": stored, "now": new})
        if changes:
            done = connection.execute(rewrite, changes).rowcount
            skipped += max(0, len(changes) - done) if done >= 0 else 0
        if commit:
            connection.commit()
        if len(rows) < chunk:
            return skipped
        after = rows[-1][0]


def keyring_for(settings: Any) -> Keyring:
    """The keyring the settings describe (``secrets.keys``, ``secrets.current``); outside
    production with none configured, the key derived from ``jwt.secret`` (id ``jwt``)."""
    configured = settings.secrets
    if configured.keys:
        return Keyring({kid: decode_key(key.get_secret_value())
                        for kid, key in configured.keys.items()}, configured.current)
    if settings.environment == "production":  # the settings refuse this already
        raise KeyringError("secrets.keys must be set in production")
    return Keyring({DERIVED_KEY_ID: derived_key(settings.jwt.secret.get_secret_value())},
                   DERIVED_KEY_ID)
