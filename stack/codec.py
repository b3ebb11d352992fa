"""Payload encryption: every payload the worker and the API exchange with Temporal is AES-256-GCM encrypted.

Customer names and emails travel in workflow inputs, results, queries and updates; Temporal stores them in its
histories. With this codec Temporal (and whoever reads its database or Web UI) sees only ciphertext; the
operator reads it decoded through the API's codec server (`api/routes/codec.py`).

Keys come from `PAYLOAD_KEYS`, `id:base64key,...` (32-byte keys): the first encrypts, every one decrypts, so a
key is rotated by putting a new one first and keeping the old one until no open run or kept history needs it.
Each encrypted payload names its key in its metadata. Payloads that were never encrypted (orders started before
the codec, recorded test histories) decode unchanged.
"""

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from stack.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12  # 96 bits, random per payload: GCM's nonce must never repeat under one key
KEY_BYTES = 32  # AES-256
_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class PayloadKeyError(ValueError):
    """`PAYLOAD_KEYS` is malformed; the message says how (never the key material)."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload that no configured key opens: unknown key id, or altered ciphertext or metadata."""


@dataclass(frozen=True)
class PayloadKey:
    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID_PATTERN.fullmatch(self.key_id):
            raise PayloadKeyError(f"payload key id {self.key_id!r}: 1-64 of letters, digits, '_', '.', '-'")
        if len(self.key) != KEY_BYTES:
            raise PayloadKeyError(f"payload key {self.key_id!r}: must be {KEY_BYTES} bytes, is {len(self.key)}")

    def __str__(self) -> str:
        """The key as one `PAYLOAD_KEYS` entry, `id:base64key`."""
        return f"{self.key_id}:{base64.urlsafe_b64encode(self.key).decode().rstrip('=')}"

    @classmethod
    def generate(cls, key_id: str) -> "PayloadKey":
        return cls(key_id, os.urandom(KEY_BYTES))

    @classmethod
    def from_secret(cls, key_id: str, secret: str) -> "PayloadKey":
        """A key from a base64 text of 32 bytes (standard or URL-safe alphabet, padding optional)."""
        text = secret.strip().replace("+", "-").replace("/", "_")
        try:
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as error:
            raise PayloadKeyError(f"payload key {key_id!r}: not base64") from error
        return cls(key_id, key)


def parse_payload_keys(text: str) -> list[PayloadKey]:
    """`id:base64key,id:base64key,...` -> keys, the encrypting one first."""
    keys: list[PayloadKey] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        key_id, sep, secret = entry.partition(":")
        if not sep:
            raise PayloadKeyError("PAYLOAD_KEYS entries are `id:base64key`, separated by commas")
        keys.append(PayloadKey.from_secret(key_id.strip(), secret))
    if not keys:
        raise PayloadKeyError("PAYLOAD_KEYS holds no key")
    ids = [key.key_id for key in keys]
    if len(set(ids)) != len(ids):
        raise PayloadKeyError("PAYLOAD_KEYS names a key id twice")
    return keys


def payload_keys(settings: Settings) -> list[PayloadKey]:
    if settings.payload_keys is None or not settings.payload_keys.get_secret_value().strip():
        raise RuntimeError("PAYLOAD_KEYS is not set; `make run` generates one into .data/payload-key")
    return parse_payload_keys(settings.payload_keys.get_secret_value())


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload (its encoding metadata included), key id in the clear."""

    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise PayloadKeyError("the codec needs at least one key")
        self._encrypting = keys[0].key_id
        self._ciphers = {key.key_id: AESGCM(key.key) for key in keys}

    @classmethod
    def from_settings(cls, settings: Settings) -> "EncryptionCodec":
        return cls(payload_keys(settings))

    @property
    def key_id(self) -> str:
        """The id of the key new payloads are encrypted with."""
        return self._encrypting

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._encrypting.encode()
        # the key id is authenticated too: a payload relabelled to another key fails to open
        sealed = self._ciphers[self._encrypting].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # never encrypted: written before the codec, or by a client without it
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(f"payload encrypted with key {key_id!r}, which PAYLOAD_KEYS does not hold")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except (InvalidTag, ValueError) as error:  # ValueError: too short to hold a nonce
            raise PayloadDecryptionError(f"payload under key {key_id!r} was altered or is not ours") from error
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded
