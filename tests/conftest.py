"""Shared fixtures: a clock that only moves when told, and a client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, settings

from gameapi_async import GameApiClient

from .support import AGENT_ID, API_TOKEN, BASE_URL, FakeClock, closing_clients, readable_id

# Property tests judge results, not speed: a CI machine under load must not turn a slow example
# into a failure (hypothesis's default is a 200 ms deadline per example), nor slow generation
# (its too_slow health check failed a run beside a mutation run: 2 inputs in 35 s).
settings.register_profile("gameapi", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gameapi")


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Ids of odd strings and bytes that round-trip as node ids (see ``readable_id``)."""
    if isinstance(val, bytes):
        val = val.decode("latin-1")
    if isinstance(val, str) and not (val.isascii() and val.isprintable() and "\\" not in val):
        return readable_id(val)
    return None  # pytest's own id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_client(clock: FakeClock) -> AsyncIterator[Callable[..., GameApiClient]]:
    """Build clients on the fake clock; every one is closed when the test ends."""
    async with closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, clock=clock
    ) as factory:
        yield factory


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    """aioresponses, intercepting every aiohttp request of the test."""
    with aioresponses() as intercepted:
        yield intercepted
