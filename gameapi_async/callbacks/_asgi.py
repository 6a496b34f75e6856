"""The ASGI 3 adapter: ``handler.asgi_app`` for uvicorn, hypercorn, Starlette or FastAPI.

``AsgiApp`` is an object whose ``__call__`` is a coroutine function taking
``(scope, receive, send)``: servers decide between ASGI 2 and 3 by looking at exactly that, and
a bound method fails their test (uvicorn serves it as ASGI 2 and every request fails).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from ._adapters import Endpoint, log_hang_up
from ._answers import CallbackResponse, error_answer

__all__ = ["AsgiApp", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_HUGE: Final = 10**18  # stands for a declared length too long to be worth converting
_NOT_POST: Final = CallbackResponse(*error_answer(
    "method_not_allowed", "Unsupported HTTP method used", 405,
    {"Content-Type": "application/json", "Allow": "POST"}))


class AsgiApp:
    """An ASGI 3 application answering callbacks for ``endpoint``; lifespan is acknowledged."""

    __slots__ = ("_endpoint",)

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            answer = await self._answer(scope, receive)
            if answer is not None:
                await _send(send, answer)
        elif kind == "lifespan":  # nothing to set up; acknowledge so servers start and stop
            await _lifespan(receive, send)
        else:
            raise ValueError(f"the callback handler serves HTTP, not {kind!r}")

    async def _answer(self, scope: Scope, receive: Receive) -> CallbackResponse | None:
        endpoint = self._endpoint
        if scope.get("method") != "POST":
            return _NOT_POST
        cap = endpoint.max_body
        length = _declared_length(scope)
        if length is not None and length > cap:
            return endpoint.too_large()
        body = bytearray()
        try:
            async with asyncio.timeout(endpoint.body_timeout):
                more = True
                while more and len(body) <= cap:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        log_hang_up()
                        return None  # nobody to answer
                    body += message.get("body", b"")
                    more = bool(message.get("more_body", False))
        except TimeoutError:
            return endpoint.timed_out()
        if len(body) > cap:
            return endpoint.too_large()
        return await endpoint.handle(bytes(body), scope.get("headers", ()))

    def __repr__(self) -> str:
        return f"<AsgiApp for {self._endpoint!r}>"


async def _send(send: Send, answer: CallbackResponse) -> None:
    await send({
        "type": "http.response.start",
        "status": answer.status,
        "headers": [*((k.lower().encode("latin-1"), v.encode("latin-1"))
                      for k, v in answer.headers.items()),
                    (b"content-length", b"%d" % len(answer.body))],
    })
    await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            if not value.isdigit():
                return None
            digits = value.lstrip(b"0")
            # More digits than any cap has is over it: int() would refuse past 4300 anyway.
            return int(digits or b"0") if len(digits) <= 18 else _HUGE
    return None
