"""Encryption at rest for shared token stores: AES-256-GCM records carrying a key id.

MCP authorization 2026-07-28 "Refresh Tokens" (C-46: tokens are stored securely), threat A16
(no token in a log line, an exception message or a ``repr``), NIST SP 800-38D (GCM: a 96-bit
random nonce per message, never reused with one key; at 2^32 messages per key the collision
bound is still far below 2^-32 for the record counts a token store holds).

A ``Keyring`` holds one *active* key (every write) and older keys (reads only), each under a
short key id written in front of the ciphertext, so keys rotate without a flag day: add the
new key first, rewrite (any refresh rewrites its record), then drop the old one. The
associated data binds a ciphertext to the storage key it was written under: a record copied
to another key does not decrypt.

Configuration (``Keyring.parse``): ``"id1:KEY1,id2:KEY2"`` (active first; each key 32 bytes,
base64url or hex), a mapping ``{id: key}`` (first = active), or the ``ZEROAUTH_REDIS_KEYS``
environment variable. ``Keyring.generate()`` prints a fresh configuration line.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zeroauth.core.errors import StoreKeyError

__all__ = ["ENV_KEYS", "Keyring"]

ENV_KEYS = "ZEROAUTH_REDIS_KEYS"
_PREFIX = "za1"  # format version of a sealed record
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_HINT = (
    f"pass keys='id:KEY' or set {ENV_KEYS}='id:KEY' (KEY: 32 random bytes, base64url); "
    "`python -c 'from zeroauth.client import Keyring; print(Keyring.generate())'` makes one"
)


def _key_bytes(kid: str, value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip()
        try:
            raw = (
                bytes.fromhex(text)
                if re.fullmatch(r"[0-9a-fA-F]{64}", text)
                else (base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            )
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != 32:
        raise StoreKeyError(
            "an encryption key is not 32 bytes",
            where=f"key id {kid}",  # the id only: never the key
            expected="32 bytes, base64url or hex",
            found=f"{len(raw)} bytes",
            hint=_HINT,
        )
    return raw


class Keyring:
    """AES-256-GCM keys by id; ``repr`` shows the ids only."""

    def __init__(self, keys: Mapping[str, str | bytes]) -> None:
        if not keys:
            raise StoreKeyError("no encryption key configured for the shared token store",
                                requirement="A16", hint=_HINT)  # fmt: skip
        self._aead: dict[str, AESGCM] = {}
        for kid, value in keys.items():
            if not _KID.fullmatch(kid):
                raise StoreKeyError("a key id must be 1-32 letters, digits, '_' or '-'",
                                    found=kid[:40], hint=_HINT)  # fmt: skip
            self._aead[kid] = AESGCM(_key_bytes(kid, value))
        self.active = next(iter(keys))

    @classmethod
    def parse(cls, spec: str | Mapping[str, str | bytes] | Keyring | None) -> Keyring:
        """From configuration: a ``Keyring``, a mapping, ``"id:KEY,..."`` or ``None`` (env)."""
        if isinstance(spec, Keyring):
            return spec
        if spec is None:
            spec = os.environ.get(ENV_KEYS, "")
        if isinstance(spec, str):
            pairs: dict[str, str | bytes] = {}
            for item in filter(None, (part.strip() for part in spec.split(","))):
                kid, sep, value = item.partition(":")
                if not sep:
                    raise StoreKeyError("a key entry is not 'id:KEY'", hint=_HINT)
                pairs[kid.strip()] = value
            spec = pairs
        return cls(spec)

    @staticmethod
    def generate(kid: str | None = None) -> str:
        """A new ``id:KEY`` entry (put it first to make it the active key)."""
        kid = kid or f"k{secrets.token_hex(3)}"
        return f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._aead)

    def __repr__(self) -> str:
        return f"Keyring(active={self.active!r}, ids={list(self._aead)!r})"

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        """``za1.<kid>.<nonce + ciphertext + tag, base64url>`` under the active key."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead[self.active].encrypt(nonce, plaintext, associated)
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=")
        return f"{_PREFIX}.{self.active}.".encode() + body

    def open(self, blob: bytes, associated: bytes, *, where: str) -> bytes:
        """The plaintext of a sealed record; ``StoreKeyError`` names the key id that failed."""
        version, _, rest = blob.partition(b".")
        kid_raw, _, body = rest.partition(b".")
        kid = kid_raw.decode("ascii", "replace")
        if version != _PREFIX.encode() or not _KID.fullmatch(kid):
            raise StoreKeyError("a stored record is not a sealed zeroauth record", where=where,
                                hint="another program wrote under this key prefix")  # fmt: skip
        aead = self._aead.get(kid)
        if aead is None:
            raise StoreKeyError(
                "a stored record is encrypted with a key id that is not configured",
                requirement="A16", where=where, expected=f"one of {list(self._aead)}",
                found=kid, hint="add that key (as an older key, after the active one) to keys=",
            )  # fmt: skip
        try:
            raw = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
            return aead.decrypt(raw[:12], raw[12:], associated)
        except (InvalidTag, binascii.Error, ValueError):
            raise StoreKeyError(
                "a stored record does not decrypt with its key id", requirement="A16",
                where=where, found=kid,
                hint="the key configured under this id differs from the one that wrote it "
                "(or the record was altered)",
            ) from None  # fmt: skip
