"""Secrets kept at rest (model endpoints' API keys): Fernet (AES-128-CBC with HMAC-SHA256)
under keys derived by HKDF-SHA256 from ENDPOINT_KEYS_SECRET, a comma-separated list whose
first entry encrypts and every entry decrypts (rotation: put the new secret first, run
`manage.py rotate_endpoint_keys`, then drop the old one). Unset, the keys come from
SECRET_KEY and SECRET_KEY_FALLBACKS, so a deployment needs nothing more to start."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

#: HKDF's info: a key derived for this use is no other key derived from the same secret.
PURPOSE = b"prefpanel model endpoint api keys"


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys opens (the key it was sealed with is gone)."""


def _fernet_key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(derived)


def _secrets() -> list[str]:
    configured = [s.strip() for s in settings.ENDPOINT_KEYS_SECRET.split(",") if s.strip()]
    return configured or [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def _box() -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in _secrets()])


def seal(plaintext: str) -> str:
    """The ciphertext to store (ASCII, base64), under the first key."""
    return _box().encrypt(plaintext.encode()).decode("ascii")


def unseal(ciphertext: str) -> str:
    """The plaintext of a stored secret, by whichever configured key sealed it."""
    try:
        return _box().decrypt(ciphertext.encode("ascii")).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured key opens this secret") from exc


def reseal(ciphertext: str) -> str:
    """The same secret sealed under the first key (key rotation)."""
    try:
        return _box().rotate(ciphertext.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise SecretUnreadable("no configured key opens this secret") from exc
