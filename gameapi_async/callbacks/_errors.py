"""The two ways a callback ends without a balance: refused by the SDK, or by the wallet.

``CallbackRefused`` is raised by the sans-I/O core before the wallet is called (bad signature,
bad body); ``WalletError`` is raised by the agent's wallet code (insufficient funds, unknown
player). Both become the platform's documented error answer ``{"error": code, "message": text}``
with an HTTP status.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CallbackRefused", "WalletError"]

_CODE_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class CallbackRefused(Exception):
    """The SDK refused a callback before any wallet code saw it.

    ``code`` and ``status`` are what the answer carries; ``field`` names the offending body
    field where there is one. The message never holds the signature or the token.

    Attributes:
        code: the error code sent in the answer (``invalid_signature``, ``validation_error``...).
        message: the answer's human-readable message.
        status: the HTTP status of the answer (401, 403, 413, 422 or 400).
        field: the body field that was missing or wrong, or ``None`` when the refusal is not
            about one field (a bad signature, an oversized body).
    """

    def __init__(self, code: str, message: str, status: int, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field

    def __repr__(self) -> str:
        return (f"CallbackRefused(code={self.code!r}, status={self.status}, "
                f"message={self.message!r})")


class WalletError(Exception):
    """Raised by wallet code to refuse a callback with its own code, message and HTTP status.

    ``WalletError("insufficient_funds", "Not enough money", status=402)``. The platform's
    documentation names no wallet error codes, so the agent chooses them; the status defaults
    to 400. Arguments are checked here so a typo fails in the wallet's tests, not in production.

    Attributes:
        code: the error code sent in the answer: an ASCII word your platform manager agreed to.
        message: the answer's message; it is sent to the platform, so keep secrets out of it.
        status: the HTTP status of the answer, 400-599.
    """

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        if not isinstance(code, str) or not code or not set(code) <= _CODE_CHARS:
            raise ValueError(f"WalletError code must be a non-empty ASCII word, got {code!r}")
        if not isinstance(message, str):
            raise TypeError(f"WalletError message must be a str, got {type(message).__name__}")
        if type(status) is not int or not 400 <= status <= 599:
            raise ValueError(f"WalletError status must be an HTTP status 400-599, got {status!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"WalletError({self.code!r}, {self.message!r}, status={self.status})"
