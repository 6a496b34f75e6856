"""Retry: what is tried again, how long it waits, when it gives up (on a fake clock)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy

from ..support import API_TOKEN, BASE_URL, FakeClock, failure, success

LIST_URL = f"{BASE_URL}/api/games/list"
EMPTY = success({"games": [], "total": 0})

MakeClient = Callable[..., GameApiClient]


def sent(mock: aioresponses) -> list[Any]:
    return mock.requests.get(("POST", URL(LIST_URL)), [])


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, status: int
) -> None:
    mock.post(LIST_URL, status=status, payload=failure("busy"))
    mock.post(LIST_URL, payload=EMPTY)
    games = await make_client(rng=random.Random(1)).list_games()
    assert games.total == 0
    assert len(sent(mock)) == 2
    (wait,) = clock.sleeps
    assert 0 <= wait <= 0.25


@pytest.mark.parametrize(
    "exception", [aiohttp.ClientConnectionError("reset"), TimeoutError()]
)
async def test_network_errors_and_timeouts_are_retried(
    mock: aioresponses, make_client: MakeClient, exception: Exception
) -> None:
    mock.post(LIST_URL, exception=exception)
    mock.post(LIST_URL, body="<html>bad gateway</html>", status=502)
    mock.post(LIST_URL, payload=EMPTY)
    await make_client().list_games()
    assert len(sent(mock)) == 3


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "invalid_signature"), (404, "agent_not_found"), (422, "validation_error"),
     (405, "method_not_allowed"), (403, "game_not_available"), (400, "bad_request")],
)
async def test_definite_answers_are_never_retried(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock, status: int, code: str
) -> None:
    mock.post(LIST_URL, status=status, payload=failure(code), repeat=True)
    with pytest.raises(ga.ApiError) as caught:
        await make_client().list_games()
    assert caught.value.code == code
    assert caught.value.attempts == 1
    assert len(sent(mock)) == 1
    assert clock.sleeps == []


async def test_giving_up_reports_attempts_status_and_last_request_id(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    for n in range(4):
        mock.post(LIST_URL, status=503, payload=failure("overloaded", request_id=f"rid-{n}"))
    with pytest.raises(ga.ApiError) as caught:
        await make_client(rng=random.Random(3)).list_games()
    error = caught.value
    assert (error.attempts, error.http_status, error.request_id) == (4, 503, "rid-3")
    assert "attempts=4" in str(error)
    assert len(clock.sleeps) == 3
    for n, wait in enumerate(clock.sleeps, start=1):
        assert 0 <= wait <= min(8.0, 0.25 * 2 ** (n - 1))


async def test_every_attempt_is_stamped_and_signed_afresh(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": "20"})
    mock.post(LIST_URL, payload=EMPTY)
    await make_client().list_games()
    first, second = sent(mock)
    stamps = [json.loads(r.kwargs["data"])["timestamp"] for r in (first, second)]
    assert stamps[1] - stamps[0] == 20
    for request in (first, second):
        body = request.kwargs["data"]
        assert request.kwargs["headers"]["X-Signature"] == ga.sign(API_TOKEN, body)


async def test_retry_after_seconds_is_honoured(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=429, payload=failure("slow_down"), headers={"Retry-After": "7"})
    mock.post(LIST_URL, payload=EMPTY)
    await make_client().list_games()
    assert clock.sleeps == [7.0]


async def test_retry_after_date_is_read_against_the_server_date(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    server_now = clock.wall + 5000  # the platform's clock differs; the wait must not
    headers = {"Date": formatdate(server_now, usegmt=True),
               "Retry-After": formatdate(server_now + 4, usegmt=True)}
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers=headers)
    mock.post(LIST_URL, payload=EMPTY)
    await make_client().list_games()
    assert clock.sleeps == [4.0]


async def test_retry_after_is_capped(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": "600"})
    mock.post(LIST_URL, payload=EMPTY)
    await make_client(retry=RetryPolicy(deadline=None, retry_after_max=12)).list_games()
    assert clock.sleeps == [12.0]


async def test_a_wait_past_the_deadline_gives_up_at_once(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": "25"})
    mock.post(LIST_URL, payload=EMPTY)
    with pytest.raises(ga.ApiError) as caught:
        await make_client(retry=RetryPolicy(deadline=20)).list_games()
    assert caught.value.attempts == 1
    assert clock.sleeps == []


async def test_no_sleep_reaches_the_deadline(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=500, payload=failure("oops"), repeat=True)
    policy = RetryPolicy(attempts=50, wait_initial=2, wait_max=8, deadline=15)
    with pytest.raises(ga.ApiError) as caught:
        await make_client(retry=policy, rng=random.Random(5)).list_games()
    assert sum(clock.sleeps) < 15
    assert caught.value.attempts == len(clock.sleeps) + 1 < 50


async def test_later_attempts_get_no_more_time_than_the_deadline_leaves(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": "26"})
    mock.post(LIST_URL, payload=EMPTY)
    await make_client(timeout=10, retry=RetryPolicy(deadline=30)).list_games()
    first, second = sent(mock)
    assert first.kwargs["timeout"].total == 10
    assert second.kwargs["timeout"].total == pytest.approx(4)


async def test_retry_can_be_disabled_per_client_and_per_call(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), repeat=True)
    client = make_client(retry=RetryPolicy.disabled())
    with pytest.raises(ga.ApiError):
        await client.list_games()
    assert len(sent(mock)) == 1
    with pytest.raises(ga.ApiError) as caught:
        await client.with_options(retry=RetryPolicy(attempts=2)).list_games()
    assert caught.value.attempts == 2
    assert len(sent(mock)) == 3


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"attempts": 0}, "retry.attempts"), ({"attempts": True}, "retry.attempts"),
     ({"wait_initial": -1}, "retry.wait_initial"), ({"deadline": -5}, "retry.deadline"),
     # NaN slips past "< 0" and would reach asyncio's timer heap as a wait.
     ({"wait_initial": float("nan")}, "retry.wait_initial"),
     ({"wait_max": float("nan")}, "retry.wait_max"),
     ({"deadline": float("nan")}, "retry.deadline"),
     ({"retry_after_max": float("nan")}, "retry.retry_after_max")],
)
def test_bad_policies_are_refused_naming_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(ga.InvalidParameterError) as caught:
        RetryPolicy(**settings)
    assert caught.value.field == field


def test_retry_must_be_a_policy() -> None:
    with pytest.raises(ga.InvalidParameterError, match="RetryPolicy"):
        GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t", retry=3)  # type: ignore[arg-type]


async def test_with_options_never_leaks_into_the_parent_client(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), repeat=True)
    client = make_client(timeout=10, retry=RetryPolicy(attempts=3, deadline=None))
    view = client.with_options(retry=RetryPolicy.disabled(), timeout=2)
    assert view.options.timeout == 2
    assert client.options == ga.CallOptions(
        timeout=10, retry=RetryPolicy(attempts=3, deadline=None)
    )
    with pytest.raises(ga.ApiError) as once:
        await view.list_games(refresh=True)
    with pytest.raises(ga.ApiError) as thrice:
        await client.list_games(refresh=True)
    assert (once.value.attempts, thrice.value.attempts) == (1, 3)
    assert [r.kwargs["timeout"].total for r in sent(mock)] == [2, 10, 10, 10]


async def test_a_link_call_whose_answer_was_lost_is_retried(
    mock: aioresponses, make_client: MakeClient
) -> None:
    # Documented: the first attempt may have opened a platform session; the player only
    # ever gets the link that came back. RetryPolicy.disabled() opts out per call.
    link_url = f"{BASE_URL}/api/games/get_game_link"
    mock.post(link_url, exception=aiohttp.ServerDisconnectedError())
    mock.post(link_url, payload=success({"url": "https://game.example/play?t=2"}))
    player = {"game_id": 1, "player_id": "p1", "player_username": "u", "language": "en",
              "currency": "USD", "home_url": "https://casino.example", "ip": "10.0.0.1",
              "agent_session_id": "s1"}
    client = make_client()
    link = await client.get_game_link(**player)
    assert link.url == "https://game.example/play?t=2"
    assert len(mock.requests[("POST", URL(link_url))]) == 2
    mock.post(link_url, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(ga.NetworkError):
        await client.with_options(retry=RetryPolicy.disabled()).get_game_link(**player)
    assert len(mock.requests[("POST", URL(link_url))]) == 3


# -- the last fraction of a second before the deadline; what a retry tells the app -------
# Each case pins a line that mutation testing (docs/testing.md) showed free.

async def test_an_attempt_with_under_a_second_left_gets_just_that(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": "10"})
    mock.post(LIST_URL, payload=EMPTY)
    await make_client(timeout=10, retry=RetryPolicy(deadline=10.5)).list_games()
    assert clock.sleeps == [10.0]
    assert sent(mock)[1].kwargs["timeout"].total == pytest.approx(0.5)


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "gameapi_async" and r.levelno == logging.WARNING]


async def test_the_retry_warning_names_the_call_the_failure_and_the_wait(
    mock: aioresponses, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy", request_id="rid-busy"),
              headers={"Retry-After": "3"})
    mock.post(LIST_URL, payload=EMPTY)
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        await make_client().list_games()
    assert retry_warnings(caplog) == [
        "list_games attempt 1 failed (busy, http_status=503, request_id=rid-busy); "
        "retrying in 3.00 s"
    ]


async def test_a_failure_without_a_code_is_named_by_its_type(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock.post(LIST_URL, exception=aiohttp.ClientConnectionError("reset"))
    mock.post(LIST_URL, payload=EMPTY)
    with caplog.at_level(logging.WARNING, logger="gameapi_async"):
        await make_client().list_games()
    (wait,) = clock.sleeps
    assert retry_warnings(caplog) == [
        "list_games attempt 1 failed (NetworkError, http_status=None, request_id=None); "
        f"retrying in {wait:.2f} s"
    ]


async def test_the_retry_event_names_the_endpoint_attempt_wait_and_error(
    mock: aioresponses, make_client: MakeClient
) -> None:
    events: list[ga.Event] = []
    mock.post(LIST_URL, status=503, payload=failure("busy"), headers={"Retry-After": "3"})
    mock.post(LIST_URL, payload=EMPTY)
    await make_client(on_event=[events.append]).list_games()
    (scheduled,) = [e for e in events if isinstance(e, ga.RetryScheduled)]
    assert (scheduled.endpoint, scheduled.attempt, scheduled.wait) == ("list_games", 1, 3.0)
    assert isinstance(scheduled.error, ga.ApiError)
    assert scheduled.error.code == "busy"


class Ceiling(random.Random):
    """Draws every backoff at the top of its range: the waits become exactly predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_backoff_is_drawn_from_the_rng_the_client_was_given(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"), repeat=True)
    policy = RetryPolicy(attempts=4, wait_initial=1, wait_max=3, deadline=None)
    with pytest.raises(ga.ApiError):
        await make_client(retry=policy, rng=Ceiling()).list_games()
    assert clock.sleeps == [1.0, 2.0, 3.0]
