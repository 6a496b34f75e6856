"""The aiohttp and ASGI adapters: real sockets for aiohttp, direct ASGI 3 calls for ASGI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gameapi_async.callbacks import CallbackHandler

from .servers import serving
from .support import RecordingWallet, body_of, get_balance_data, make_handler, signed

CAP = 1024


@pytest.fixture
def wallet() -> RecordingWallet:
    return RecordingWallet()


@pytest.fixture
def handler(wallet: RecordingWallet) -> CallbackHandler:
    return make_handler(wallet, max_body=CAP)


@pytest.fixture
async def server(handler: CallbackHandler) -> AsyncIterator[tuple[str, int]]:
    app = web.Application()
    app.router.add_post("/callback", handler.aiohttp_handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield host, port
    finally:
        await runner.cleanup()


async def test_aiohttp_answers_a_signed_callback(server: tuple[str, int]) -> None:
    body = body_of(get_balance_data())
    async with aiohttp.ClientSession() as session, session.post(
        f"http://{server[0]}:{server[1]}/callback", data=body,
        headers={**signed(body), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert await response.read() == b'{"content":{"balance":1000.50}}'


async def test_aiohttp_refuses_an_unsigned_callback(
    server: tuple[str, int], wallet: RecordingWallet
) -> None:
    async with aiohttp.ClientSession() as session, session.post(
        f"http://{server[0]}:{server[1]}/callback", data=body_of(get_balance_data()),
    ) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "signature_required"
    assert wallet.seen == []


async def test_aiohttp_refuses_a_declared_oversize_body_without_reading_it(
    server: tuple[str, int], wallet: RecordingWallet
) -> None:
    # Only the head is sent: an answer can only come if the body was not waited for.
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000\r\nX-Signature: 00\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    finally:
        writer.close()
        await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 413")
    assert wallet.seen == []


async def test_aiohttp_closes_the_connection_after_refusing_an_oversize_body(
    server: tuple[str, int], wallet: RecordingWallet
) -> None:
    """The answer says ``Connection: close``; the server must mean it, not keep the connection
    for whatever the client sends after the oversized body."""
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(b"POST /callback HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\nX-Signature: 00\r\n\r\n" % (CAP + 1))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        writer.write(b"x" * (CAP + 1))
        writer.write(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 60)  # up to EOF
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    assert b"HTTP/1.1" not in rest  # the pipelined request was not answered
    assert wallet.seen == []


async def test_aiohttp_refuses_a_chunked_body_over_the_cap(
    server: tuple[str, int], wallet: RecordingWallet
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * CAP

    async with aiohttp.ClientSession() as session, session.post(
        f"http://{server[0]}:{server[1]}/callback", data=chunks(),
        headers={"X-Signature": "00"},
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"] == "payload_too_large"
    assert wallet.seen == []


# -- ASGI -----------------------------------------------------------------------------------

Message = MutableMapping[str, Any]


class AsgiCall:
    """Feeds request messages to an ASGI app and records what it sends."""

    def __init__(self, *messages: Message) -> None:
        self.inbox = list(messages)
        self.sent: list[Message] = []
        self.received = 0

    async def receive(self) -> Message:
        self.received += 1
        return self.inbox.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def http_scope(headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "path": "/callback", "headers": headers}


async def test_asgi_answers_a_body_sent_in_pieces(handler: CallbackHandler) -> None:
    body = body_of(get_balance_data())
    call = AsgiCall({"type": "http.request", "body": body[:10], "more_body": True},
                    {"type": "http.request", "body": body[10:], "more_body": False})
    headers = [(b"content-type", b"application/json"),
               (b"x-signature", signed(body)["X-Signature"].encode())]
    await handler.asgi_app(http_scope(headers), call.receive, call.send)
    assert call.status == 200
    assert call.headers[b"content-type"] == b"application/json"
    assert call.body == b'{"content":{"balance":1000.50}}'


async def test_asgi_refuses_declared_oversize_without_receiving(
    handler: CallbackHandler, wallet: RecordingWallet
) -> None:
    call = AsgiCall()
    headers = [(b"content-length", str(CAP + 1).encode()), (b"x-signature", b"00")]
    await handler.asgi_app(http_scope(headers), call.receive, call.send)
    assert call.received == 0
    assert call.status == 413
    assert json.loads(call.body)["error"] == "payload_too_large"
    assert wallet.seen == []


async def test_asgi_refuses_an_absurdly_long_declared_length_without_receiving(
    handler: CallbackHandler, wallet: RecordingWallet
) -> None:
    """Thousands of digits: Python's int() refuses past 4300 of them; still a plain 413."""
    call = AsgiCall()
    headers = [(b"content-length", b"9" * 5000), (b"x-signature", b"00")]
    await handler.asgi_app(http_scope(headers), call.receive, call.send)
    assert call.received == 0
    assert (call.status, json.loads(call.body)["error"]) == (413, "payload_too_large")
    assert wallet.seen == []


async def test_asgi_stops_reading_a_stream_past_the_cap(
    handler: CallbackHandler, wallet: RecordingWallet
) -> None:
    pieces = [{"type": "http.request", "body": b"x" * 600, "more_body": True}
              for _ in range(10)]
    call = AsgiCall(*pieces)
    await handler.asgi_app(http_scope([(b"x-signature", b"00")]), call.receive, call.send)
    assert call.received == 2
    assert call.status == 413
    assert wallet.seen == []


async def test_asgi_refuses_other_methods(handler: CallbackHandler) -> None:
    call = AsgiCall()
    await handler.asgi_app(http_scope([], method="GET"), call.receive, call.send)
    assert call.status == 405
    assert call.headers[b"allow"] == b"POST"
    assert json.loads(call.body)["error"] == "method_not_allowed"


async def test_asgi_unsigned_is_refused(handler: CallbackHandler) -> None:
    call = AsgiCall({"type": "http.request", "body": body_of(get_balance_data())})
    await handler.asgi_app(http_scope([]), call.receive, call.send)
    assert (call.status, json.loads(call.body)["error"]) == (401, "signature_required")


async def test_asgi_client_disconnect_sends_nothing(handler: CallbackHandler) -> None:
    call = AsgiCall({"type": "http.request", "body": b"{", "more_body": True},
                    {"type": "http.disconnect"})
    await handler.asgi_app(http_scope([]), call.receive, call.send)
    assert call.sent == []


async def test_asgi_lifespan_is_acknowledged(handler: CallbackHandler) -> None:
    call = AsgiCall({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    await handler.asgi_app({"type": "lifespan"}, call.receive, call.send)
    assert [m["type"] for m in call.sent] == ["lifespan.startup.complete",
                                              "lifespan.shutdown.complete"]


async def test_asgi_refuses_websockets(handler: CallbackHandler) -> None:
    call = AsgiCall()
    with pytest.raises(ValueError, match="websocket"):
        await handler.asgi_app({"type": "websocket"}, call.receive, call.send)


# -- aiohttp: what the application around the handler does -----------------------------------


async def _post(server: tuple[str, int], body: bytes | Any,
                headers: dict[str, str]) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.post(
        f"http://{server[0]}:{server[1]}/callback", data=body, headers=headers,
    ) as response:
        return response.status, response.headers["Content-Type"], await response.read()


async def test_aiohttp_verifies_a_chunked_body_a_middleware_already_read(
    wallet: RecordingWallet,
) -> None:
    @web.middleware
    async def reads_first(request: web.Request, handler: Any) -> web.StreamResponse:
        assert await request.read()  # a logging or tracing middleware, say
        return await handler(request)  # type: ignore[no-any-return]

    body = body_of(get_balance_data())

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield body[:20]
        yield body[20:]

    with serving("aiohttp", make_handler(wallet), middlewares=[reads_first]) as server:
        status, _, answer = await _post(server, chunks(), signed(body))
    assert (status, answer) == (200, b'{"content":{"balance":1000.50}}')
    assert len(wallet.seen) == 1


async def test_aiohttp_max_body_governs_over_the_apps_client_max_size(
    wallet: RecordingWallet,
) -> None:
    """A body between the app's ``client_max_size`` and ``max_body`` is taken; one over
    ``max_body`` gets our 413, never aiohttp's text/plain one."""
    fits = body_of(get_balance_data(pad="x" * 2000))
    over = body_of(get_balance_data(pad="x" * 5000))
    handler = make_handler(wallet, max_body=4096)
    with serving("aiohttp", handler, client_max_size=1024) as server:
        status, _, answer = await _post(server, fits, signed(fits))
        assert (status, answer) == (200, b'{"content":{"balance":1000.50}}')

        async def chunks() -> AsyncIterator[bytes]:
            yield over

        for body in (over, chunks()):
            status, kind, answer = await _post(server, body, signed(over))
            assert (status, kind) == (413, "application/json")
            assert json.loads(answer)["error"] == "payload_too_large"
    assert len(wallet.seen) == 1
