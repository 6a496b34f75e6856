"""RetryBudget: retries spend a share of calls plus a floor, so an outage is not multiplied."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryBudget, RetryPolicy

from .support import BASE_URL, PLAYER, FakeClock, failure, success

DEMO_URL = f"{BASE_URL}/api/games/get_game_link_demo"
LINK = success({"url": "https://play.example/x"})

MakeClient = Callable[..., GameApiClient]


def sent(mock: aioresponses) -> int:
    return len(mock.requests.get(("POST", URL(DEMO_URL)), []))


async def outage(mock: aioresponses, client: GameApiClient, calls: int) -> list[ga.GameApiError]:
    """``calls`` demo-link calls, one after another, against a platform answering 503."""
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    errors: list[ga.GameApiError] = []
    for _ in range(calls):
        with pytest.raises(ga.GameApiError) as raised:
            await client.get_game_link_demo(**PLAYER)
        errors.append(raised.value)
    return errors


def test_on_by_default_and_off_with_none() -> None:
    assert RetryPolicy().budget == RetryBudget()
    assert RetryBudget() == RetryBudget(share=0.2, per_second=10.0, max_tokens=100.0)
    assert RetryPolicy(budget=None).budget is None
    assert RetryPolicy() == RetryPolicy()  # still a value: equal policies compare equal


@pytest.mark.parametrize(("field", "value"), [
    ("share", -0.1), ("share", float("nan")), ("per_second", "1"), ("max_tokens", True),
    ("max_tokens", float("inf")),
])
def test_bad_parameters_are_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ga.InvalidParameterError) as raised:
        RetryBudget(**{field: value})
    assert raised.value.field == f"budget.{field}"


def test_the_policy_refuses_anything_but_a_budget() -> None:
    with pytest.raises(ga.InvalidParameterError) as raised:
        RetryPolicy(budget=0.2)  # type: ignore[arg-type]
    assert raised.value.field == "retry.budget"


async def test_in_an_outage_attempts_stay_within_the_share_plus_the_floor(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    budget = RetryBudget(share=0.2, per_second=1.0, max_tokens=10)
    client = make_client(retry=RetryPolicy(budget=budget), games_ttl=0)
    start = clock.monotonic()
    calls = 200
    await outage(mock, client, calls)
    elapsed = clock.monotonic() - start  # the backoffs the fake clock slept through
    bound = (1 + budget.share) * calls + budget.max_tokens + budget.per_second * elapsed
    assert sent(mock) <= bound
    # The budget is spent, not hoarded: nearly every token it held went to a retry.
    assert sent(mock) >= bound - 2


async def test_without_a_budget_every_call_makes_every_attempt(
    mock: aioresponses, make_client: MakeClient
) -> None:
    client = make_client(retry=RetryPolicy(budget=None), games_ttl=0)
    errors = await outage(mock, client, 50)
    assert sent(mock) == 50 * 4
    assert {error.attempts for error in errors} == {4}


async def test_a_refused_retry_raises_the_last_error_at_once(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    events: list[ga.Event] = []
    client = make_client(retry=RetryPolicy(budget=RetryBudget(share=0, per_second=0,
                                                              max_tokens=2)),
                         games_ttl=0, on_event=events.append)
    first, second = await outage(mock, client, 2)
    assert first.attempts == 3  # two tokens: two retries
    assert second.attempts == 1
    assert second.http_status == 503
    assert len(clock.sleeps) == 2  # no backoff slept for a retry that was refused
    refused = [e for e in events if isinstance(e, ga.RetryRefused)]
    assert [(e.attempt, e.error) for e in refused] == [(3, first), (1, second)]


async def test_a_retry_that_is_answered_gives_its_token_back(
    mock: aioresponses, make_client: MakeClient
) -> None:
    # One token, no deposits, no refill: only the refund lets the second call retry.
    client = make_client(retry=RetryPolicy(budget=RetryBudget(share=0, per_second=0,
                                                              max_tokens=1)),
                         games_ttl=0)
    for _ in range(3):
        mock.post(DEMO_URL, status=503, payload=failure("blip"))
        mock.post(DEMO_URL, payload=LINK)
        link = await client.get_game_link_demo(**PLAYER)
        assert link.url == "https://play.example/x"
    assert sent(mock) == 6


async def test_time_refills_the_bucket(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(retry=RetryPolicy(budget=RetryBudget(share=0, per_second=0.5,
                                                              max_tokens=1),
                                           wait_initial=0), games_ttl=0)
    first, second = await outage(mock, client, 2)
    assert (first.attempts, second.attempts) == (2, 1)
    clock.advance(2.0)  # one token back
    (third,) = await outage(mock, client, 1)
    assert third.attempts == 2


async def test_the_views_of_a_client_share_its_bucket(
    mock: aioresponses, make_client: MakeClient
) -> None:
    policy = RetryPolicy(budget=RetryBudget(share=0, per_second=0, max_tokens=1))
    client = make_client(retry=policy, games_ttl=0)
    view = client.with_options(retry=RetryPolicy(budget=RetryBudget(share=0, per_second=0,
                                                                     max_tokens=1)))
    (first,) = await outage(mock, client, 1)
    (second,) = await outage(mock, view, 1)
    assert (first.attempts, second.attempts) == (2, 1)


async def test_spent_and_available_again_are_logged_once_each(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Back to half full after a refusal counts as available again: a trickle does not.
    client = make_client(retry=RetryPolicy(budget=RetryBudget(share=0.2, per_second=0.1,
                                                              max_tokens=2),
                                           wait_initial=0), games_ttl=0)
    with caplog.at_level(logging.INFO, logger="gameapi_async"):
        await outage(mock, client, 10)  # the deposits of 10 calls trickle out as retries
        clock.advance(30.0)  # full again
        await outage(mock, client, 3)
    changes = [r for r in caplog.records if "retry budget" in r.getMessage()]
    assert [(r.levelno, r.getMessage().split(";")[0]) for r in changes] == [
        (logging.WARNING, "retry budget spent"),
        (logging.INFO, "retry budget available again"),
        (logging.WARNING, "retry budget spent"),
    ]


async def test_concurrent_calls_draw_from_one_bucket(
    mock: aioresponses, make_client: MakeClient
) -> None:
    budget = RetryBudget(share=0.2, per_second=0, max_tokens=5)
    client = make_client(retry=RetryPolicy(budget=budget), games_ttl=0)
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    calls = 100
    results = await asyncio.gather(
        *(client.get_game_link_demo(**PLAYER) for _ in range(calls)), return_exceptions=True
    )
    assert all(isinstance(r, ga.GameApiError) for r in results)
    assert sent(mock) <= (1 + budget.share) * calls + budget.max_tokens


async def test_a_first_attempt_that_succeeds_refunds_nothing(
    mock: aioresponses, make_client: MakeClient
) -> None:
    client = make_client(retry=RetryPolicy(wait_initial=0, budget=RetryBudget(
        share=0, per_second=0, max_tokens=1)), games_ttl=0)
    mock.post(DEMO_URL, status=503, payload=failure("down"))
    mock.post(DEMO_URL, status=503, payload=failure("down"))  # the one token spent
    for _ in range(3):
        mock.post(DEMO_URL, payload=LINK)
    with pytest.raises(ga.ApiError):
        await client.get_game_link_demo(**PLAYER)
    for _ in range(3):
        await client.get_game_link_demo(**PLAYER)
    (after,) = await outage(mock, client, 1)
    assert after.attempts == 1  # answered first attempts gave back no token they never took


async def test_a_clock_resync_resend_deposits_nothing_more(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    # Half a token a call, one at most: one call's deposit buys no retry, two calls' would.
    client = make_client(retry=RetryPolicy(wait_initial=0, budget=RetryBudget(
        share=0.5, per_second=0, max_tokens=1)), games_ttl=0)
    (spent,) = await outage(mock, client, 1)
    assert spent.attempts == 2  # the starting token
    mock.clear()
    before = sent(mock)
    server = clock.wall + 3600
    mock.post(DEMO_URL, status=400, payload=failure("request_expired", server_time=server))
    mock.post(DEMO_URL, status=503, payload=failure("down"), repeat=True)
    with pytest.raises(ga.ApiError) as raised:
        await client.get_game_link_demo(**PLAYER)
    assert raised.value.http_status == 503
    assert sent(mock) - before == 2  # the expired attempt and its re-send; half a token: no retry
