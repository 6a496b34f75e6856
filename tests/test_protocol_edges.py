"""The protocol at its edges, through the client: how a long ``Retry-After`` is reported, and
launch links the quick URL check leaves to the full parser. Each case pins a line that mutation
testing (docs/testing.md) showed test_protocol.py leaves free."""

from __future__ import annotations

import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async._protocol import LIST_GAMES, build_request
from gameapi_async._signing import Signer

from .support import BASE_URL, PLAYER, failure, single_attempt_client, success

LIST_URL = f"{BASE_URL}/api/games/list"
DEMO_URL = f"{BASE_URL}/api/games/get_game_link_demo"


@pytest.mark.parametrize(("header", "reported"), [
    ("999999999999", 999_999_999_999.0),  # 12 digits: read as they are
    ("1234567890123", 1e12),  # longer: "very long", one fixed value
])
async def test_a_huge_retry_after_is_reported_exactly_up_to_twelve_digits(
    mock: aioresponses, header: str, reported: float
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": header})
    async with single_attempt_client() as client:
        with pytest.raises(ga.ApiError) as caught:
            await client.list_games()
    assert caught.value.retry_after == reported


@pytest.mark.parametrize("url", [
    "http://[2001:db8::1]/play?token=t", "HTTP://[2001:db8::1]:8080/play", "https://[::1]/p",
])
async def test_a_launch_link_to_an_ipv6_host_is_accepted(mock: aioresponses, url: str) -> None:
    mock.post(DEMO_URL, payload=success({"url": url}))
    async with single_attempt_client() as client:
        link = await client.get_game_link_demo(**PLAYER)
    assert link.url == url


def test_a_built_request_names_its_endpoint() -> None:
    # The sans-I/O entry point (the client itself goes through the same helper).
    request = build_request(LIST_GAMES, {}, agent_id=1, timestamp=1_700_000_000,
                            signer=Signer("t"))
    assert request.endpoint is LIST_GAMES
    assert request.body == b'{"agent_id":1,"timestamp":1700000000}'
