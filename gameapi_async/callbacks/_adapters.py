"""The framework adapters: bytes in, ``handle()``, bytes out. Bodies over the cap are refused
from their declared length, unread; a body without a length is read only up to the cap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._answers import JSON_HEADERS, error_answer

if TYPE_CHECKING:
    from aiohttp import web

    from ._handler import CallbackHandler, Receive, Scope, Send

__all__ = ["serve_aiohttp", "serve_asgi"]


async def serve_aiohttp(handler: CallbackHandler, request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    cap = handler.max_body
    length = request.content_length
    if length is not None and length > cap:
        answer = handler.too_large()
    elif length is not None:  # the parser stops at the declared length: one read, bounded
        answer = await handler.handle(await request.read(), request.headers)
    else:
        body = bytearray()
        while not request.content.at_eof() and len(body) <= cap:
            chunk = await request.content.read(cap + 1 - len(body))
            if not chunk:
                break
            body += chunk
        answer = handler.too_large() if len(body) > cap else await handler.handle(
            bytes(body), request.headers)
    if answer.headers is JSON_HEADERS:  # the common case, without building a header map
        return web.Response(status=answer.status, body=answer.body,
                            content_type="application/json")
    return web.Response(status=answer.status, body=answer.body, headers=answer.headers)


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def serve_asgi(handler: CallbackHandler, scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "lifespan":  # nothing to set up; acknowledge so servers can start and stop
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind != "http":
        raise ValueError(f"the callback handler serves HTTP, not {kind!r}")
    if scope.get("method") != "POST":
        answer = error_answer("method_not_allowed", "Unsupported HTTP method used", 405,
                              {"Content-Type": "application/json", "Allow": "POST"})
    else:
        cap = handler.max_body
        length = _declared_length(scope)
        if length is not None and length > cap:
            answer = handler.too_large()
        else:
            body = bytearray()
            more = True
            while more and len(body) <= cap:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the platform hung up: nobody to answer
                body += message.get("body", b"")
                more = bool(message.get("more_body", False))
            answer = handler.too_large() if len(body) > cap else await handler.handle(
                bytes(body), scope.get("headers", ()))
    await send({
        "type": "http.response.start",
        "status": answer.status,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in answer.headers.items()],
    })
    await send({"type": "http.response.body", "body": answer.body})
