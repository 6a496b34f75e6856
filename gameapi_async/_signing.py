"""HMAC-SHA256 request signatures, as the platform computes them. Pure: no I/O.

The same functions sign outgoing requests, check them in the fake platform, and will verify
incoming callbacks, so there is exactly one definition of "a valid signature".
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NoReturn

__all__ = ["Signer", "sign", "verify"]

_IPAD = bytes(byte ^ 0x36 for byte in range(256))  # translate tables: key ^ ipad, key ^ opad
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


def sign(api_token: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with the UTF-8 bytes of ``api_token``."""
    return hmac.new(api_token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(api_token: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` signs ``body``; constant-time, case-sensitive like PHP's check."""
    return hmac.compare_digest(sign(api_token, body), signature)


class Signer:
    """Holds one token and signs many bodies.

    HMAC (RFC 2104) is ``H(key ^ opad || H(key ^ ipad || body))``. The two keyed SHA-256
    states are computed once and copied per body, so a signature costs two copies, two updates
    and a digest, all in C. The token is kept out of ``repr`` and ``str`` so a logged client
    never leaks it.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, api_token: str) -> None:
        key = api_token.encode("utf-8")
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def sign(self, body: bytes) -> str:
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def __repr__(self) -> str:
        return "Signer(api_token=<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer holds a secret and cannot be pickled")
