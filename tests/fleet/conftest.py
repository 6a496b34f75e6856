"""Fixtures of the fleet tests: a real redis-server per test, a fake platform, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from gameapi_async import GameApiClient, RedisGameListStore, RetryPolicy
from gameapi_async.testing import FakePlatform

from ..support import closing_clients
from .redis_server import RedisServer

FLEET_AGENT = 1
FLEET_TOKEN = "fleet-SECRET-token-42"
LIST_PATH = "/api/games/list"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=FLEET_AGENT, api_token=FLEET_TOKEN) as fake:
        yield fake


@pytest.fixture
async def make_store(redis_server: RedisServer) -> AsyncIterator[Callable[..., RedisGameListStore]]:
    """Stores on the test's server (short pick-up interval); all closed at the end."""
    made: list[RedisGameListStore] = []

    def factory(**settings: Any) -> RedisGameListStore:
        settings.setdefault("poll_interval", 0.2)
        store = RedisGameListStore(settings.pop("url", redis_server.url), **settings)
        made.append(store)
        return store

    yield factory
    for store in made:
        await store.aclose()


@pytest.fixture
async def make_fleet_client(
    platform: FakePlatform,
) -> AsyncIterator[Callable[..., GameApiClient]]:
    """Clients of the fake platform (one per simulated process); all closed at the end."""
    async with closing_clients(
        base_url=platform.base_url, agent_id=FLEET_AGENT, api_token=FLEET_TOKEN,
        retry=RetryPolicy.disabled(),
    ) as factory:
        yield factory


def list_requests(platform: FakePlatform) -> int:
    """Upstream ``list_games`` requests the platform has received so far."""
    return len(platform.requests_to(LIST_PATH))
