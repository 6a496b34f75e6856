"""Retry at its edges: the last fraction of a second before the deadline, and exactly what a
retry tells the application (log line and event). Each case pins a line that mutation testing
(docs/testing.md) showed the broader tests of test_retry.py leave free."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy

from ..support import BASE_URL, FakeClock, failure, success

LIST_URL = f"{BASE_URL}/api/games/list"
EMPTY = success({"games": [], "total": 0})
MakeClient = Callable[..., GameApiClient]


def sent(mock: aioresponses) -> list[Any]:
    return mock.requests.get(("POST", URL(LIST_URL)), [])


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
