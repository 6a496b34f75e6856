"""Secrets: with DEBUG logging everywhere, the token shows up in no log, repr or exception."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async._signing import Signer
from gameapi_async.testing import FakePlatform

TOKEN = "tok_LIVE_9f8e7d6c5b4a39281706"
BASE = "https://api.example.test"
PLAYER = {"game_id": 1, "player_id": "p", "player_username": "u", "language": "en",
          "currency": "USD", "home_url": "https://c.example", "ip": "::1"}


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_token_and_signatures_never_appear(
    mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's included
    seen: list[str] = []
    url = BASE + "/api/games/list"
    mock.post(url, payload={"status": "success", "request_id": "r",
                            "content": {"games": [], "total": 0}})
    mock.post(url, status=403, payload={"status": "error", "error": "invalid_signature"})
    mock.post(url, status=503, body="<html>down</html>", repeat=True)
    client = GameApiClient(base_url=BASE, agent_id=1, api_token=TOKEN, games_ttl=0,
                           retry=RetryPolicy(attempts=2, wait_initial=0))
    seen += [repr(client), str(client), repr(client.with_options(timeout=1)),
             repr(client.options), repr(client.cache_stats())]
    games = await client.list_games()
    seen.append(repr(games))
    for _ in range(2):
        with pytest.raises(ga.GameApiError) as caught:
            await client.list_games()
        seen += texts_of(caught.value)
    with pytest.raises(ga.InvalidParameterError) as invalid:
        await client.get_game_link(**{**PLAYER, "ip": TOKEN}, agent_session_id="s")
    seen += texts_of(invalid.value)
    with pytest.raises(TypeError) as pickled:
        pickle.dumps(client)
    seen += texts_of(pickled.value)
    await client.close()
    seen += [repr(client), repr(Signer(TOKEN))]

    signatures = [call.kwargs["headers"]["X-Signature"]
                  for calls in mock.requests.values() for call in calls]
    logged = [record.getMessage() for record in caplog.records]
    logged += [repr(record.args) for record in caplog.records]
    assert any("attempt" in line for line in logged)  # DEBUG logging really was on
    for text in seen + logged:
        assert TOKEN not in text
        assert not any(signature in text for signature in signatures)
    assert "29-character str" in str(invalid.value)  # described, not quoted


async def test_config_errors_never_echo_the_token() -> None:
    with pytest.raises(ga.InvalidParameterError) as caught:
        GameApiClient(base_url="ftp://x", agent_id=1, api_token=TOKEN)
    assert TOKEN not in "".join(texts_of(caught.value))
    wrong_type = TOKEN.encode()
    with pytest.raises(ga.InvalidParameterError) as caught:
        GameApiClient(base_url=BASE, agent_id=1, api_token=wrong_type)  # type: ignore[arg-type]
    assert TOKEN not in "".join(texts_of(caught.value))


async def test_timeouts_over_real_sockets_stay_clean(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakePlatform(agent_id=1, api_token=TOKEN) as fake:
        fake.faults.stall_rate = 1.0
        fake.faults.stall_seconds = 2
        async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token=TOKEN,
                                 timeout=0.1, retry=RetryPolicy.disabled()) as client:
            with pytest.raises(ga.RequestTimeoutError) as caught:
                await client.list_games()
    for text in texts_of(caught.value) + [r.getMessage() for r in caplog.records]:
        assert TOKEN not in text
