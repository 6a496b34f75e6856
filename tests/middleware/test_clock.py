"""Clock skew: a host clock an hour or a day off costs at most one round trip."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async.testing import FakePlatform

from ..support import BASE_URL, FakeClock, failure, success

LIST_URL = f"{BASE_URL}/api/games/list"
MakeClient = Callable[..., GameApiClient]


def stamps(mock: aioresponses) -> list[int]:
    return [json.loads(r.kwargs["data"])["timestamp"]
            for r in mock.requests.get(("POST", URL(LIST_URL)), [])]


def empty(server_time: float) -> dict[str, Any]:
    return success({"games": [], "total": 0}, server_time=server_time)


@pytest.mark.parametrize("skew", [3600.0, -3600.0, 86400.0, -86400.0])
async def test_expired_request_resyncs_and_is_resent_once(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, skew: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = clock.wall + skew
    mock.post(LIST_URL, status=400, payload=failure("request_expired", server_time=server))
    mock.post(LIST_URL, payload=empty(server))
    mock.post(LIST_URL, payload=empty(server))
    client = make_client(games_ttl=0)
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        await client.list_games()
        await client.list_games()
    assert client.clock_offset == pytest.approx(skew)
    first, resent, later = stamps(mock)
    assert first == int(clock.wall)
    assert resent == later == int(server)
    warnings = [r for r in caplog.records if "clock" in r.getMessage()]
    assert len(warnings) == 1


async def test_resync_happens_at_most_once_per_call(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    for _ in range(3):
        mock.post(LIST_URL, status=400,
                  payload=failure("request_expired", server_time=clock.wall + 999))
    with pytest.raises(ga.RequestExpiredError):
        await make_client().list_games()
    assert len(stamps(mock)) == 2


async def test_the_resend_has_a_retry_budget_of_its_own(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    server = clock.wall + 3600
    mock.post(LIST_URL, status=400, payload=failure("request_expired", server_time=server))
    for _ in range(3):
        mock.post(LIST_URL, status=503, payload=failure("busy"))
    mock.post(LIST_URL, payload=empty(server))
    await make_client().list_games()
    assert len(stamps(mock)) == 5


async def test_expired_without_server_time_is_raised(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, status=400, payload=failure("request_expired"))
    with pytest.raises(ga.RequestExpiredError):
        await make_client().list_games()
    assert len(stamps(mock)) == 1


async def test_offset_is_learned_from_successful_answers(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    mock.post(LIST_URL, payload=empty(clock.wall + 120))
    client = make_client(games_ttl=0)
    await client.list_games()
    assert client.clock_offset == pytest.approx(120)
    await client.list_games()
    assert stamps(mock)[1] == int(clock.wall + 120)


@pytest.mark.parametrize("reported", [2.0, -3.0, 4000.0])
async def test_noise_and_impossible_times_are_ignored(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, reported: float
) -> None:
    mock.post(LIST_URL, payload=empty(clock.wall + reported))
    client = make_client()
    await client.list_games()
    assert client.clock_offset == 0.0


async def test_date_header_is_used_when_the_envelope_has_no_time(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    from email.utils import formatdate

    mock.post(LIST_URL, payload=success({"games": [], "total": 0}),
              headers={"Date": formatdate(clock.wall - 200, usegmt=True)})
    client = make_client()
    await client.list_games()
    assert client.clock_offset == pytest.approx(-200, abs=1)


@pytest.mark.parametrize("offset", [3600.0, -86400.0])
async def test_against_the_fake_platform_one_round_trip_is_lost(offset: float) -> None:
    async with FakePlatform(agent_id=1, api_token="t") as fake:
        fake.faults.clock_offset = offset
        async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token="t") as client:
            await client.list_games()
            await client.list_games(refresh=True)
            assert client.clock_offset == pytest.approx(offset, abs=2)
    assert [r.outcome for r in fake.requests] == ["request_expired", "success", "success"]


def test_restamping_a_call_keeps_every_other_field() -> None:
    # The middleware rebuilds a Call by hand (cheaper than attrs.evolve): it must stay in step
    # with the class, field for field.
    import attrs

    from gameapi_async._pipeline import Call, CallOptions
    from gameapi_async._protocol import GET_GAME_LINK
    from gameapi_async.middleware.clock import _with_offset

    assert [f.name for f in attrs.fields(Call)] == [
        "endpoint", "params", "options", "attempt", "clock_offset"
    ]
    call = Call(GET_GAME_LINK, {"game_id": 1}, CallOptions(timeout=3.0), 4, 12.5)
    assert _with_offset(call, -7.0) == attrs.evolve(call, clock_offset=-7.0)
