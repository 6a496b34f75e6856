"""The client under an eager task factory (``loop.set_task_factory(asyncio.eager_task_factory)``,
Python 3.12+): an application may set one, and then ``create_task`` runs a coroutine up to its
first suspension before returning. The cache's single flight, background work and ``close()``
must not depend on a task starting later. Runs on 3.13 and 3.14 in CI (scripts/test-pythons)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gameapi_async import GameApiClient, RedisGameListStore
from gameapi_async.testing import FakePlatform

from .fleet.redis_server import RedisServer

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="asyncio.eager_task_factory is new in Python 3.12"
)

TOKEN = "eager-SECRET-token"
LIST = "/api/games/list"
PLAYER = {"player_id": "p1", "player_username": "ann", "language": "en", "currency": "USD",
          "home_url": "https://casino.example/", "ip": "203.0.113.7"}


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    try:
        async with FakePlatform(agent_id=1, api_token=TOKEN) as fake:
            yield fake
    finally:
        loop.set_task_factory(previous)


def others() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def test_concurrent_calls_share_one_request_and_close_leaves_no_task(
    platform: FakePlatform,
) -> None:
    before = others()
    platform.faults.latency = 0.2
    async with GameApiClient(base_url=platform.base_url, agent_id=1, api_token=TOKEN) as client:
        lists = await asyncio.gather(*(client.list_games() for _ in range(20)))
        link = await client.get_game_link(game_id=next(iter(platform.games)),
                                          agent_session_id="s", **PLAYER)
        client.invalidate_games()
        again = await client.list_games()
    assert len(platform.requests_to(LIST)) == 2
    assert len({id(result) for result in lists}) == 1
    assert again.games == lists[0].games
    assert link.url
    assert others() <= before


async def test_a_fleet_shares_one_list_and_closes_cleanly(platform: FakePlatform) -> None:
    server = RedisServer().start()
    try:
        before = others()
        async with RedisGameListStore(server.url, poll_interval=0.2) as store:
            clients = [GameApiClient(base_url=platform.base_url, agent_id=1, api_token=TOKEN,
                                     games_store=store) for _ in range(3)]
            try:
                results = await asyncio.gather(*(c.list_games() for c in clients))
            finally:
                for client in clients:
                    await client.close()
        assert len(platform.requests_to(LIST)) == 1
        assert all(result.games == results[0].games for result in results)
        assert others() <= before
    finally:
        server.close()
