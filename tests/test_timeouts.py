"""Timeouts and cancellation over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import gameapi_async as ga
from gameapi_async import Event, GameApiClient, RetryPolicy, RetryScheduled

from .support import serve, success

ARRIVED = web.AppKey("arrived", asyncio.Event)
RELEASE = web.AppKey("release", asyncio.Event)
COUNT = web.AppKey("count", list[str])


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[ARRIVED], app[RELEASE], app[COUNT] = asyncio.Event(), asyncio.Event(), []

    async def handle(request: web.Request) -> web.Response:
        app[COUNT].append(request.path)
        if request.path.startswith("/slow"):
            app[ARRIVED].set()
            await app[RELEASE].wait()
        if request.path.startswith("/busy"):
            return web.json_response({"status": "error", "error": "busy", "message": "m"},
                                     status=503, headers={"Retry-After": "20"})
        return web.json_response(success({"games": [], "total": 0}))

    app.router.add_post("/{tail:.*}", handle)
    async with serve(app) as url:
        try:
            yield url, app
        finally:
            app[RELEASE].set()


async def test_a_slow_answer_times_out_with_a_typed_error(
    server: tuple[str, web.Application],
) -> None:
    url, _app = server
    async with GameApiClient(base_url=f"{url}/slow", agent_id=1, api_token="t", timeout=0.2,
                             retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ga.RequestTimeoutError) as caught:
            await client.list_games()
    assert isinstance(caught.value, ga.TransportError)
    assert isinstance(caught.value, TimeoutError)


async def test_timeouts_are_retried(server: tuple[str, web.Application]) -> None:
    url, app = server
    policy = RetryPolicy(attempts=3, wait_initial=0.01)
    async with GameApiClient(base_url=f"{url}/slow", agent_id=1, api_token="t", timeout=0.1,
                             retry=policy) as client:
        with pytest.raises(ga.RequestTimeoutError) as caught:
            await client.list_games()
    assert caught.value.attempts == 3
    assert len(app[COUNT]) == 3


def demo_link(client: GameApiClient) -> asyncio.Task[ga.GameLink]:
    return asyncio.create_task(client.get_game_link_demo(
        game_id=1, player_id="p", player_username="u", language="en", currency="USD",
        home_url="https://c.example", ip="::1",
    ))


async def test_cancelling_a_call_releases_its_connection(
    server: tuple[str, web.Application],
) -> None:
    url, _app = server
    # One connection in the pool: if a cancelled call kept it, the next call would hang.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        client = GameApiClient(base_url=url, agent_id=1, api_token="t", session=session)
        first, second = demo_link(client), demo_link(client.with_options(timeout=30))
        await asyncio.sleep(0)
        first.cancel()
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        with pytest.raises(asyncio.CancelledError):
            await second
        async with asyncio.timeout(5):
            assert (await client.list_games()).total == 0
        await client.close()


async def test_cancelling_mid_request_propagates_and_the_client_stays_usable(
    server: tuple[str, web.Application],
) -> None:
    url, app = server
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        slow_client = GameApiClient(base_url=f"{url}/slow", agent_id=1, api_token="t",
                                    session=session)
        ok_client = GameApiClient(base_url=url, agent_id=1, api_token="t", session=session)
        # A link call: a cancelled list_games() leaves its shared fetch running on purpose.
        call = demo_link(slow_client)
        await app[ARRIVED].wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        async with asyncio.timeout(5):
            assert (await ok_client.list_games()).total == 0
        assert (await ok_client.list_games(refresh=True)).total == 0
        await slow_client.close()
        await ok_client.close()


async def test_cancelling_during_a_backoff_sends_nothing_more(
    server: tuple[str, web.Application],
) -> None:
    url, app = server
    sleeping = asyncio.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, RetryScheduled):
            sleeping.set()

    async with GameApiClient(base_url=f"{url}/busy", agent_id=1, api_token="t",
                             on_event=[on_event]) as client:
        call = asyncio.create_task(client.list_games())
        await sleeping.wait()  # RetryScheduled: now in the 20 s Retry-After wait
        await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert len(app[COUNT]) == 1
