"""The aiohttp adapter: ``handler.aiohttp_handler`` for ``aiohttp.web``.

The body is read from the request's stream under our two limits, not with ``request.read()``:
that one enforces the application's ``client_max_size`` with aiohttp's own text/plain 413, so
the answer would depend on a setting elsewhere instead of ``max_body``. A body that a
middleware already read is taken from aiohttp's cache. Imported only when first used.
"""

from __future__ import annotations

import asyncio

from aiohttp import StreamReader, web

from ._adapters import Endpoint, log_hang_up
from ._answers import JSON_HEADERS, CallbackResponse

__all__ = ["serve_aiohttp"]


async def serve_aiohttp(endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
    cap = endpoint.max_body
    length = request.content_length
    if length is not None and length > cap:
        return _closing(endpoint.too_large())
    content = request.content
    if content.at_eof():  # nothing left to receive: no body, or a middleware read it
        body = await request.read()
    else:
        # What has arrived already, without a timer: usually the whole body.
        body = content.read_nowait(cap + 1)
        if not content.at_eof() and len(body) <= cap:
            try:
                body = await _read_rest(content, body, cap, endpoint.body_timeout)
            except TimeoutError:
                return await _cut_off(request, endpoint.timed_out())
            except ConnectionError:
                log_hang_up()
                return web.Response(status=400)  # never sent: the client is gone
    if len(body) > cap:
        return _closing(endpoint.too_large())
    status, reply, headers = await endpoint._answer(body, request.headers)
    if headers is JSON_HEADERS:  # the common case, without building a header map
        return web.Response(status=status, body=reply, content_type="application/json")
    return web.Response(status=status, body=reply, headers=headers)


async def _read_rest(content: StreamReader, first: bytes, cap: int, seconds: float) -> bytes:
    """The body up to one byte past ``cap``, or ``TimeoutError`` after ``seconds``."""
    body = bytearray(first)
    async with asyncio.timeout(seconds):
        while len(body) <= cap:
            chunk = await content.read(cap + 1 - len(body))
            if not chunk:
                break
            body += chunk
    return bytes(body)


def _closing(answer: CallbackResponse) -> web.StreamResponse:
    """The answer to an unread body. Its ``Connection: close`` header alone does not stop
    aiohttp from keeping the connection (and reading the rest of the body as if to reuse it):
    ``force_close`` does, once aiohttp's bounded lingering read is over."""
    response = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
    response.force_close()
    return response


async def _cut_off(request: web.Request, answer: CallbackResponse) -> web.StreamResponse:
    """The answer to a client too slow to send its body, then the connection closed at once:
    aiohttp would otherwise linger, reading whatever it still trickles in."""
    response = _closing(answer)
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
