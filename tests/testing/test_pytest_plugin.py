"""The pytest fixtures users get from the plugin, used exactly as a user would."""

from __future__ import annotations

from typing import Any

import pytest

from gameapi_async import GameApiClient, GameNotAvailableError
from gameapi_async.testing import FakePlatform


async def test_fixtures_give_a_running_fake_and_a_bound_client(
    fake_platform: FakePlatform, gameapi_client: GameApiClient
) -> None:
    games = await gameapi_client.list_games()
    assert games.total == len(fake_platform.games)
    assert fake_platform.requests_to("/api/games/list")[0].outcome == "success"


class TestOverriddenOptions:
    @pytest.fixture
    def fake_platform_options(self) -> dict[str, Any]:
        return {"agent_id": 5, "api_token": "custom", "unavailable_games": {3}}

    async def test_options_reach_the_fake_and_the_client(
        self, fake_platform: FakePlatform, gameapi_client: GameApiClient
    ) -> None:
        assert gameapi_client.agent_id == 5
        with pytest.raises(GameNotAvailableError):
            await gameapi_client.get_game_link_demo(
                game_id=3, player_id="p", player_username="u", language="en",
                currency="USD", home_url="https://c.example", ip="::1",
            )
