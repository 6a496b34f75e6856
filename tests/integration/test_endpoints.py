"""The SDK against the fake platform over real sockets: what a PHP platform would accept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async.testing import FakePlatform

TOKEN = "integration-SECRET"
PLAYER = {
    "player_id": "p1",
    "player_username": "john",
    "language": "en",
    "currency": "USD",
    "home_url": "https://casino.example/lobby",
    "ip": "203.0.113.9",
}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agents={1: TOKEN, 2: None}, unavailable_games={3}) as platform:
        yield platform


@pytest.fixture
async def client(fake: FakePlatform) -> AsyncIterator[GameApiClient]:
    async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token=TOKEN) as c:
        yield c


async def test_all_three_endpoints_succeed(client: GameApiClient, fake: FakePlatform) -> None:
    games = await client.list_games()
    assert games.total == len(games.games) == len(fake.games) - 1
    assert all(isinstance(g, ga.Game) for g in games.games)
    link = await client.get_game_link(game_id=2, agent_session_id="s", **PLAYER)
    demo = await client.get_game_link_demo(game_id=1, **PLAYER)
    assert "/play?" in link.url
    assert "/demo?" in demo.url
    assert link.request_id
    assert demo.request_id
    assert link.request_id != demo.request_id


async def link(client: GameApiClient, game_id: int, *, demo: bool) -> ga.GameLink:
    if demo:
        return await client.get_game_link_demo(game_id=game_id, **PLAYER)
    return await client.get_game_link(game_id=game_id, agent_session_id="s", **PLAYER)


@pytest.mark.parametrize(
    ("game_id", "demo", "error"),
    [
        (999, False, ga.GameNotFoundError),
        (3, False, ga.GameNotAvailableError),
        (2, True, ga.GameProviderNotFoundError),
    ],
)
async def test_game_errors_are_typed(
    client: GameApiClient, game_id: int, demo: bool, error: type[ga.ApiError]
) -> None:
    with pytest.raises(error) as caught:
        await link(client, game_id, demo=demo)
    assert caught.value.request_id
    assert caught.value.http_status in (403, 404)


@pytest.mark.parametrize(
    ("agent_id", "token", "error"),
    [
        (1, "wrong-token", ga.InvalidSignatureError),
        (9, TOKEN, ga.AgentNotFoundError),
        (2, TOKEN, ga.ApiTokenNotFoundError),
    ],
)
async def test_credential_errors_are_typed(
    fake: FakePlatform, agent_id: int, token: str, error: type[ga.ApiError]
) -> None:
    async with GameApiClient(base_url=fake.base_url, agent_id=agent_id, api_token=token) as c:
        with pytest.raises(error):
            await c.list_games()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, alphabet=st.characters(exclude_categories=["Cs"])))
async def test_any_player_name_is_signed_as_php_would_check_it(
    client: GameApiClient, name: str
) -> None:
    link = await client.get_game_link_demo(game_id=1, **{**PLAYER, "player_username": name})
    assert link.url.startswith("https://")


async def test_a_caller_session_raising_for_status_still_gets_typed_platform_errors(
    fake: FakePlatform,
) -> None:
    # aiohttp's raise_for_status=True on the caller's session must not turn a definite
    # platform answer into a retried transport error.
    async with aiohttp.ClientSession(raise_for_status=True) as session, GameApiClient(
        base_url=fake.base_url, agent_id=1, api_token=TOKEN, session=session
    ) as client:
        with pytest.raises(ga.GameProviderNotFoundError) as caught:
            await client.get_game_link_demo(game_id=2, **PLAYER)
    assert caught.value.attempts == 1
    assert len(fake.requests) == 1
