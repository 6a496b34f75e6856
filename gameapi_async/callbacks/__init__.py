"""Wallet callbacks: the platform calls the agent (``getBalance``, ``makeBet``, rollbacks).

>>> handler = CallbackHandler(agent_id=1, api_token=token, wallet=my_wallet)
>>> app.router.add_post("/callback", handler.aiohttp_handler)   # or mount handler.asgi_app

Every callback is verified (HMAC-SHA256 of the exact bytes, constant-time) before the wallet
sees it; money is ``decimal.Decimal`` end to end. See docs/callbacks.md.
"""

from __future__ import annotations

from ._answers import CallbackResponse
from ._errors import CallbackRefused, WalletError
from ._handler import CallbackHandler, Wallet
from ._models import Callback, GetBalance, MakeBet
from ._money import format_amount
from ._verify import DEFAULT_MAX_BODY, MAX_SKEW, CallbackVerifier

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_SKEW",
    "Callback",
    "CallbackHandler",
    "CallbackRefused",
    "CallbackResponse",
    "CallbackVerifier",
    "GetBalance",
    "MakeBet",
    "Wallet",
    "WalletError",
    "format_amount",
]
