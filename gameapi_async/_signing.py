"""HMAC-SHA256 request signatures, as the platform computes them. Pure: no I/O.

The same functions sign outgoing requests, check them in the fake platform, and will verify
incoming callbacks, so there is exactly one definition of "a valid signature".
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NoReturn

__all__ = ["Signer", "sign", "verify"]


def sign(api_token: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with the UTF-8 bytes of ``api_token``."""
    return hmac.new(api_token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(api_token: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` signs ``body``; constant-time, case-sensitive like PHP's check."""
    return hmac.compare_digest(sign(api_token, body), signature)


class Signer:
    """Holds one token and signs many bodies.

    The keyed HMAC state is computed once and copied per body, which is cheaper than keying
    afresh. The token is kept out of ``repr`` and ``str`` so a logged client never leaks it.
    """

    __slots__ = ("_keyed",)

    def __init__(self, api_token: str) -> None:
        self._keyed = hmac.new(api_token.encode("utf-8"), digestmod=hashlib.sha256)

    def sign(self, body: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(body)
        return mac.hexdigest()

    def __repr__(self) -> str:
        return "Signer(api_token=<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer holds a secret and cannot be pickled")
