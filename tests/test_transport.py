"""The aiohttp transport over real loopback sockets: lifetime, redirects, closed sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async._pipeline import CallOptions
from gameapi_async._transport import AiohttpTransport

from .support import BASE_URL, serve

STALL = web.AppKey("stall", asyncio.Event)
ARRIVED = web.AppKey("arrived", asyncio.Event)
HITS = web.AppKey("hits", list[str])
SUCCESS = {"status": "success", "timestamp": "2024-01-01T00:00:00.000Z", "request_id": "r",
           "content": {"games": [], "total": 0}}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[STALL] = asyncio.Event()
    app[ARRIVED] = asyncio.Event()
    app[HITS] = []

    async def stall(request: web.Request) -> web.Response:
        app[HITS].append(request.path)
        app[ARRIVED].set()
        await app[STALL].wait()
        if request.path.endswith("/get_game_link"):
            return web.json_response({**SUCCESS, "content": {"url": "https://g.example/play"}})
        return web.json_response(SUCCESS)

    async def ok(request: web.Request) -> web.Response:
        app[HITS].append(request.path)
        return web.json_response(SUCCESS)

    async def redirect(request: web.Request) -> web.Response:
        app[HITS].append(request.path)
        raise web.HTTPTemporaryRedirect("/elsewhere/api/games/list")

    app.router.add_post("/stall/api/games/list", stall)
    app.router.add_post("/stall/api/games/get_game_link", stall)
    app.router.add_post("/ok/api/games/list", ok)
    app.router.add_post("/elsewhere/api/games/list", ok)
    app.router.add_post("/redirect/api/games/list", redirect)
    async with serve(app) as url:
        try:
            yield url, app
        finally:
            app[STALL].set()


async def test_real_round_trip(server: tuple[str, web.Application]) -> None:
    url, _ = server
    async with GameApiClient(base_url=f"{url}/ok", agent_id=1, api_token="t") as client:
        games = await client.list_games()
    assert games.total == 0
    assert games.request_id == "r"


async def test_close_during_a_request_fails_it_cleanly(
    server: tuple[str, web.Application],
) -> None:
    url, app = server
    client = GameApiClient(base_url=f"{url}/stall", agent_id=1, api_token="t")
    call = asyncio.create_task(client.list_games())
    await app[ARRIVED].wait()
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await call


async def test_close_leaves_a_link_call_in_flight_on_a_callers_session_to_finish(
    server: tuple[str, web.Application],
) -> None:
    url, app = server
    async with aiohttp.ClientSession() as session:
        client = GameApiClient(base_url=f"{url}/stall", agent_id=1, api_token="t",
                               session=session)
        call = asyncio.create_task(client.get_game_link(
            game_id=1, player_id="p", player_username="u", language="en", currency="USD",
            home_url="https://c.example", agent_session_id="s", ip="203.0.113.1"))
        await app[ARRIVED].wait()
        await client.close()
        assert not session.closed  # the caller's session, and its connections, are the caller's
        app[STALL].set()
        assert (await call).url == "https://g.example/play"
        with pytest.raises(ga.ClientClosedError):
            await client.list_games()


async def test_redirects_are_not_followed(server: tuple[str, web.Application]) -> None:
    url, app = server
    async with GameApiClient(base_url=f"{url}/redirect", agent_id=1, api_token="t") as client:
        with pytest.raises(ga.MalformedResponseError) as caught:
            await client.list_games()
    assert caught.value.http_status == 307
    assert app[HITS] == ["/redirect/api/games/list"]


async def test_a_closed_session_passed_in_is_a_typed_error(
    server: tuple[str, web.Application],
) -> None:
    url, _ = server
    session = aiohttp.ClientSession()
    await session.close()
    client = GameApiClient(base_url=f"{url}/ok", agent_id=1, api_token="t", session=session)
    with pytest.raises(ga.ClientClosedError, match="session"):
        await client.list_games()
    await client.close()


async def test_connection_refused_is_a_network_error() -> None:
    # Bind a port, then free it, so nothing listens there.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with GameApiClient(base_url=f"http://127.0.0.1:{port}", agent_id=1,
                             api_token="t") as client:
        with pytest.raises(ga.NetworkError):
            await client.with_options(retry=ga.RetryPolicy.disabled()).list_games()




def test_client_timeouts_are_reused_and_their_cache_stays_bounded() -> None:
    transport = AiohttpTransport(BASE_URL, max_response_bytes=1024)
    usual = CallOptions(timeout=10.0, connect_timeout=5.0)
    assert transport._client_timeout(usual) is transport._client_timeout(usual)
    # Deadline-capped attempts get timeouts like 3.71828 s: one new key each.
    for i in range(10_000):
        transport._client_timeout(CallOptions(timeout=1 + i / 7919, connect_timeout=5.0))
    assert len(transport._timeouts) <= 64
    made = transport._client_timeout(usual)
    assert (made.total, made.sock_connect) == (10.0, 5.0)
