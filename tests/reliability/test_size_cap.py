"""The response-size cap: an oversized answer is refused without being read into memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy

from ..support import serve

SENT = web.AppKey("sent", list[int])
CAP = 64 * 1024
TOTAL = 64 * 1024 * 1024  # what the server would send if the client read it all


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[SENT] = []

    async def stream(request: web.Request, *, declare_length: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declare_length:
            response.content_length = TOTAL
        await response.prepare(request)
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < TOTAL:
                await response.write(chunk)
                sent += len(chunk)
                await asyncio.sleep(0)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        finally:
            app[SENT].append(sent)
        return response

    async def declared(request: web.Request) -> web.StreamResponse:
        return await stream(request, declare_length=True)

    async def chunked(request: web.Request) -> web.StreamResponse:
        return await stream(request, declare_length=False)

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "request_id": "r",
                                  "content": {"games": [], "total": 0}})

    app.router.add_post("/declared/api/games/list", declared)
    app.router.add_post("/chunked/api/games/list", chunked)
    app.router.add_post("/small/api/games/list", small)
    async with serve(app) as url:
        yield url, app


@pytest.mark.parametrize("kind", ["declared", "chunked"])
async def test_oversized_answers_are_refused_early(
    server: tuple[str, web.Application], kind: str
) -> None:
    url, app = server
    async with GameApiClient(base_url=f"{url}/{kind}", agent_id=1, api_token="t",
                             max_response_bytes=CAP, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ga.ResponseTooLargeError) as caught:
            await client.list_games()
        assert caught.value.http_status == 200
        assert str(CAP) in str(caught.value)
        ok = GameApiClient(base_url=f"{url}/small", agent_id=1, api_token="t")
        assert (await ok.list_games()).total == 0  # the same machinery still works
        await ok.close()
    for _ in range(100):
        if app[SENT]:
            break
        await asyncio.sleep(0.02)
    (sent,) = app[SENT]
    assert sent < TOTAL // 4  # the client hung up long before the end


async def test_answers_under_the_cap_are_read_whole(server: tuple[str, web.Application]) -> None:
    url, _ = server
    async with GameApiClient(base_url=f"{url}/small", agent_id=1, api_token="t",
                             max_response_bytes=200) as client:
        assert (await client.list_games()).total == 0


async def test_too_large_is_not_retried(server: tuple[str, web.Application]) -> None:
    url, _ = server
    async with GameApiClient(base_url=f"{url}/declared", agent_id=1, api_token="t",
                             max_response_bytes=CAP) as client:
        with pytest.raises(ga.ResponseTooLargeError) as caught:
            await client.list_games()
    assert caught.value.attempts == 1
