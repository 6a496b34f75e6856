"""Cancellation storm: calls cancelled at random points leave a usable, consistent client."""

from __future__ import annotations

import asyncio
import gc
import random

import aiohttp
import pytest

from gameapi_async import GameApiClient, GameList
from gameapi_async.testing import FakePlatform, Faults

PLAYER = {"player_id": "p", "player_username": "u", "language": "en", "currency": "USD",
          "home_url": "https://c.example", "ip": "203.0.113.1"}


@pytest.mark.slow
async def test_hundreds_of_random_cancellations() -> None:
    rng = random.Random(3)
    faults = Faults(latency=0.01, error_rate=0.1)
    async with FakePlatform(agent_id=1, api_token="storm", faults=faults, seed=5) as fake:
        connector = aiohttp.TCPConnector(limit=8)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = GameApiClient(base_url=fake.base_url, agent_id=1, api_token="storm",
                                   session=session, games_ttl=0.05)
            cancelled = 0
            for _ in range(40):
                tasks = []
                for n in range(20):
                    if n % 3 == 0:
                        coro = client.list_games(refresh=rng.random() < 0.3)
                    elif n % 3 == 1:
                        coro = client.get_game_link_demo(game_id=1, **PLAYER)
                    else:
                        coro = client.get_game_link(game_id=2, agent_session_id="s", **PLAYER)
                    tasks.append(asyncio.create_task(coro))
                await asyncio.sleep(rng.uniform(0, 0.015))
                for task in tasks:
                    if rng.random() < 0.8 and task.cancel():
                        cancelled += 1
                await asyncio.gather(*tasks, return_exceptions=True)
            assert cancelled >= 300

            # Still usable: with only 8 pooled connections, a leak would hang these.
            async with asyncio.timeout(20):
                results = await asyncio.gather(
                    *(client.get_game_link_demo(game_id=1, **PLAYER) for _ in range(40)),
                    *(client.list_games() for _ in range(40)),
                )
            games = [r for r in results if isinstance(r, GameList)]
            assert len(games) == 40
            assert all(g.total == len(fake.games) for g in games)
            stats = client.cache_stats()
            assert stats.hits + stats.misses + stats.joins + stats.stale_served > 0
            await client.close()
        assert connector.closed
    gc.collect()
    assert asyncio.all_tasks() == {asyncio.current_task()}
