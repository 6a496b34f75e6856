"""Hostile transport: compressed answers meet the size cap decoded; raw socket, TLS and
short-read failures are typed; cancellation is left alone."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async._errors import is_transient

from ..support import API_TOKEN, FakeClock, serve, success

BASE = "https://api.example.test"
LIST = BASE + "/api/games/list"
CAP = 64 * 1024
BOMB = 64 * 1024 * 1024  # decoded size of the compressed answers below


def client(**overrides: Any) -> GameApiClient:
    settings: dict[str, Any] = {"base_url": BASE, "agent_id": 1, "api_token": API_TOKEN,
                                "retry": RetryPolicy.disabled(), "games_ttl": 0}
    settings.update(overrides)
    return GameApiClient(**settings)


# -- the size cap counts decoded bytes ---------------------------------------------------

def _bomb(encoding: str) -> bytes:
    plain = b" " * BOMB
    if encoding == "gzip":
        return gzip.compress(plain, compresslevel=9)
    return zlib.compress(plain, 9)


@pytest.fixture
async def bomb_server() -> AsyncIterator[str]:
    bombs = {name: _bomb(name) for name in ("gzip", "deflate")}

    async def answer(request: web.Request) -> web.StreamResponse:
        encoding = request.match_info["encoding"]
        body = bombs[encoding]
        declared = request.match_info["framing"] == "declared"
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Content-Encoding": encoding})
        if declared:
            response.content_length = len(body)
        await response.prepare(request)
        try:
            for start in range(0, len(body), 16384):
                await response.write(body[start:start + 16384])
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up
        return response

    app = web.Application()
    app.router.add_post("/{encoding}/{framing}/api/games/list", answer)
    async with serve(app) as url:
        yield url


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("framing", ["declared", "chunked"])
async def test_compressed_answer_inflating_past_the_cap_is_refused(
    bomb_server: str, encoding: str, framing: str
) -> None:
    assert len(_bomb(encoding)) < CAP  # small on the wire, huge once decoded
    async with client(base_url=f"{bomb_server}/{encoding}/{framing}",
                      max_response_bytes=CAP) as c:
        with pytest.raises(ga.ResponseTooLargeError) as caught:
            await c.list_games()
    assert caught.value.http_status == 200
    assert str(CAP) in str(caught.value)


async def test_compressed_answer_under_the_cap_is_decoded() -> None:
    body = gzip.compress(json.dumps(success({"games": [], "total": 0})).encode())

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json",
                                                "Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_post("/api/games/list", answer)
    async with serve(app) as url, client(base_url=url, max_response_bytes=CAP) as c:
        assert (await c.list_games()).total == 0


# -- transport-level exceptions become NetworkError --------------------------------------

@pytest.mark.parametrize("raised", [
    OSError("No route to host"),
    ConnectionResetError("reset"),
    ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac"),
    asyncio.IncompleteReadError(b"partial", 100),
    aiohttp.ClientPayloadError("Response payload is not completed"),
    EOFError("eof"),
], ids=lambda e: type(e).__name__)
async def test_raw_transport_exceptions_become_network_errors(
    mock: aioresponses, raised: BaseException
) -> None:
    mock.post(LIST, exception=raised)
    async with client() as c:
        with pytest.raises(ga.NetworkError) as caught:
            await c.list_games()
    assert caught.value.__cause__ is raised
    assert "list_games" in str(caught.value)
    assert is_transient(caught.value)


async def test_a_raw_oserror_is_retried_then_succeeds(mock: aioresponses) -> None:
    mock.post(LIST, exception=OSError("reset"))
    mock.post(LIST, payload=success({"games": [], "total": 0}))
    async with client(retry=RetryPolicy(attempts=2), clock=FakeClock()) as c:
        assert (await c.list_games()).total == 0


async def test_unexpected_exceptions_inside_the_transport_are_typed(mock: aioresponses) -> None:
    mock.post(LIST, exception=RuntimeError("aiohttp internal surprise"))
    async with client() as c:
        with pytest.raises(ga.TransportError):
            await c.list_games()


async def test_cancellation_still_propagates_untouched(mock: aioresponses) -> None:
    mock.post(LIST, exception=asyncio.CancelledError())
    async with client() as c:
        with pytest.raises(asyncio.CancelledError):
            await c.list_games()
