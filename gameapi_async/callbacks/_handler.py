"""``CallbackHandler``: verify a callback, hand it to the agent's wallet, answer.

The handler is framework-neutral (``await handler.handle(body, headers)``); the aiohttp and
ASGI adapters are thin methods over it, and import their framework only when used.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import MethodType
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

from .._clock import Clock, SystemClock
from .._config import check_seconds, read_env
from ._answers import CLOSE_HEADERS, Answer, CallbackResponse, balance_answer, error_answer
from ._asgi import AsgiApp, Receive, Scope, Send
from ._errors import CallbackRefused, WalletError
from ._models import Callback, GetBalance, MakeBet
from ._verify import DEFAULT_MAX_BODY, CallbackVerifier, Headers

if TYPE_CHECKING:
    from decimal import Decimal

    from aiohttp import web

__all__ = ["DEFAULT_BODY_TIMEOUT", "CallbackHandler", "Receive", "Scope", "Send", "Wallet"]

logger: Final = logging.getLogger("gameapi_async.callbacks")

INTERNAL_ERROR: Final = ("internal_error", "Internal error", 500)
UNSUPPORTED: Final = ("unsupported_callback", 400)
REQUEST_TIMEOUT: Final = ("request_timeout", 408)

DEFAULT_BODY_TIMEOUT: Final = 10.0
"""Seconds a client has to send a callback's whole body (default 10): a real callback is a few
hundred bytes sent at once; a client still sending after that is holding a connection open."""


class Wallet(Protocol):
    """The agent's wallet. ``on_callback`` (any other ``type``) is optional.

    Any object with these two async methods will do; it need not inherit from this class. An
    optional ``async on_callback(callback: Callback) -> Decimal`` receives every callback of
    another ``type`` (a rollback); without it such callbacks are answered 400
    ``unsupported_callback``. Raise :class:`WalletError` to refuse with your own code.
    """

    async def get_balance(self, callback: GetBalance) -> Decimal:
        """The player's current balance; called for every verified ``getBalance``."""

    async def make_bet(self, callback: MakeBet) -> Decimal:
        """Debit ``callback.bet``, credit ``callback.win`` and return the new balance.

        The platform may deliver the same callback again: apply each movement at most once and
        answer the current balance for a repeat (docs/callbacks.md, idempotency).
        """


class CallbackHandler:
    """Answers the platform's wallet callbacks for one agent.

    ``CallbackHandler(agent_id=..., api_token=..., wallet=...)``; ``max_body`` caps the body
    (bytes, default 64 KiB), ``body_timeout`` is how long a client has to send it (seconds,
    default 10; then 408 and the connection is closed) and ``clock`` is what a callback's
    ``timestamp`` is checked against. Nothing reaches ``wallet`` until the signature, the body
    and the agent are verified.

    Attributes:
        asgi_app: an ASGI 3 application (mount it in FastAPI or Starlette, or serve it with
            uvicorn or hypercorn directly); lifespan is acknowledged.
    """

    def __init__(
        self,
        *,
        agent_id: int,
        api_token: str,
        wallet: Wallet,
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        clock: Clock | None = None,
    ) -> None:
        for method in ("get_balance", "make_bet"):
            if not callable(getattr(wallet, method, None)):
                raise TypeError(f"wallet must have an async {method}(callback) method")
        self._verifier = CallbackVerifier(agent_id=agent_id, api_token=api_token,
                                          max_body=max_body, clock=(clock or SystemClock()).time)
        self._body_timeout = check_seconds("body_timeout", body_timeout, allow_none=False)
        self._wallet = wallet
        self.asgi_app: Final = AsgiApp(self)
        on_callback = getattr(wallet, "on_callback", None)
        self._on_callback: Callable[[Callback], Awaitable[object]] | None = (
            on_callback if callable(on_callback) else None
        )

    @classmethod
    def from_env(cls, *, wallet: Wallet, **overrides: Any) -> Self:
        """A handler for the agent in ``GAMEAPI_AGENT_ID`` / ``GAMEAPI_API_TOKEN``, the same
        variables :meth:`GameApiClient.from_env` reads; keywords win over the environment."""
        settings = read_env(skip={"base_url", *overrides}) | overrides
        return cls(wallet=wallet, **settings)

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""
        return self._verifier.max_body

    @property
    def body_timeout(self) -> float:
        """Seconds a client has to send the whole body."""
        return self._body_timeout

    async def handle(self, body: bytes, headers: Headers) -> CallbackResponse:
        """Verify, dispatch to the wallet and answer; never raises for bad input or wallet bugs."""
        return CallbackResponse(*await self._answer(body, headers))

    async def _answer(self, body: bytes, headers: Headers) -> Answer:
        """What :meth:`handle` answers, as the ``(status, body, headers)`` tuple the adapters
        write out directly."""
        try:
            callback = self._verifier.verify(body, headers)
        except CallbackRefused as refusal:
            logger.info("callback refused: %s (%s)", refusal.code, refusal.message)
            return refused(refusal)
        balance: object
        try:
            # Dispatch inline (not a helper coroutine): this is the hot path of every callback.
            if type(callback) is MakeBet:
                balance = await self._wallet.make_bet(callback)
            elif type(callback) is GetBalance:
                balance = await self._wallet.get_balance(callback)
            elif self._on_callback is not None:
                balance = await self._on_callback(callback)
            else:
                raise CallbackRefused(UNSUPPORTED[0], f"callback type {callback.type!r} is not "
                                      "handled by this wallet", UNSUPPORTED[1], field="type")
        except WalletError as error:
            return error_answer(error.code, error.message, error.status)
        except CallbackRefused as refusal:
            return refused(refusal)
        except Exception:
            logger.exception("wallet failed on %s callback (request_id=%s)",
                             callback.type, callback.request_id)
            return error_answer(*INTERNAL_ERROR)
        try:
            return balance_answer(balance)
        except (TypeError, ValueError) as error:
            logger.error("wallet answered an unusable balance for %s (request_id=%s): %s",
                         callback.type, callback.request_id, error)
            return error_answer(*INTERNAL_ERROR)

    # -- adapters: a few lines each over handle() ----------------------------------------

    @property
    def aiohttp_handler(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """An ``aiohttp.web`` handler: ``app.router.add_post(path, handler.aiohttp_handler)``.

        The adapter itself, bound to this handler (aiohttp is imported on first use): no
        coroutine of ours in between, one fewer per request.
        """
        from ._aiohttp import serve_aiohttp

        return MethodType(serve_aiohttp, self)

    def too_large(self) -> CallbackResponse:
        """The answer to a body over ``max_body``, sent without reading the body."""
        return CallbackResponse(*refused(self._verifier.too_large(), close=True))

    def timed_out(self) -> CallbackResponse:
        """The answer to a body not received within ``body_timeout``; the connection closes."""
        return CallbackResponse(*error_answer(
            REQUEST_TIMEOUT[0], f"body not received within {self._body_timeout:g} s",
            REQUEST_TIMEOUT[1], CLOSE_HEADERS))

    def __repr__(self) -> str:
        return f"<CallbackHandler {self._verifier!r} wallet={type(self._wallet).__name__}>"


def refused(refusal: CallbackRefused, *, close: bool = False) -> Answer:
    if close:  # the unread body is still on the connection: do not reuse it
        return error_answer(refusal.code, refusal.message, refusal.status, CLOSE_HEADERS)
    return error_answer(refusal.code, refusal.message, refusal.status)
