"""Observability: a DEBUG line per attempt, a WARNING per retry, events for metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import AttemptFinished, ClockResynced, Event, GameApiClient, RetryScheduled

from ..support import API_TOKEN, BASE_URL, FakeClock, failure, success

LIST_URL = f"{BASE_URL}/api/games/list"
MakeClient = Callable[..., GameApiClient]


async def test_events_describe_attempts_retries_and_resyncs(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    server = clock.wall + 3600
    mock.post(LIST_URL, status=400, payload=failure("request_expired", server_time=server))
    mock.post(LIST_URL, status=503, payload=failure("busy", request_id="rid-busy"),
              headers={"Retry-After": "2"})
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}, request_id="rid-ok"))
    events: list[Event] = []
    await make_client(on_event=[events.append]).list_games()
    kinds = [type(e).__name__ for e in events]
    # The resync is announced once the re-sent call is accepted; the re-send continues the
    # call's attempt count.
    assert kinds == ["AttemptFinished", "AttemptFinished", "RetryScheduled", "AttemptFinished",
                     "ClockResynced"]
    expired, busy, retry, ok, resync = events
    assert isinstance(expired, AttemptFinished)
    assert isinstance(expired.error, ga.RequestExpiredError)
    assert expired.attempt == 1
    assert isinstance(resync, ClockResynced)
    assert resync.offset == pytest.approx(3600)
    assert resync.reason == "request_expired"
    assert isinstance(busy, AttemptFinished)
    assert (busy.http_status, busy.attempt) == (503, 2)
    assert isinstance(retry, RetryScheduled)
    assert (retry.wait, retry.attempt) == (2.0, 2)
    assert isinstance(ok, AttemptFinished)
    assert (ok.attempt, ok.http_status, ok.request_id, ok.error) == (3, 200, "rid-ok", None)
    assert ok.endpoint == "list_games"


async def test_a_failing_hook_never_breaks_the_call(
    mock: aioresponses, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))

    def broken(event: Event) -> None:
        raise RuntimeError("metrics backend down")

    with caplog.at_level(logging.ERROR, logger="gameapi_async"):
        games = await make_client(on_event=[broken]).list_games()
    assert games.total == 0
    assert "event hook" in caplog.text


async def test_logs_name_attempts_and_retries_but_never_secrets(
    mock: aioresponses, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.post(LIST_URL, status=502, payload=failure("bad_gateway", request_id="rid-502"))
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}, request_id="rid-ok"))
    with caplog.at_level(logging.DEBUG):
        await make_client().list_games()
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG
             and r.name == "gameapi_async"]
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("list_games attempt 1: HTTP 502" in m and "rid-502" in m for m in debug)
    assert any("list_games attempt 2: HTTP 200" in m and "rid-ok" in m for m in debug)
    assert len(warning) == 1
    assert "retrying in" in warning[0]
    assert "bad_gateway" in warning[0]
    (_, first), = [(k, v) for k, v in mock.requests.items()]
    signatures = [r.kwargs["headers"]["X-Signature"] for r in first]
    for record in caplog.records:
        text = record.getMessage()
        assert API_TOKEN not in text
        assert not any(signature in text for signature in signatures)


async def test_on_event_takes_a_single_callable_or_a_sequence(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}), repeat=True)
    single: list[Event] = []
    await make_client(on_event=single.append, games_ttl=0).list_games()
    assert [type(e).__name__ for e in single] == ["AttemptFinished"]
    first: list[Event] = []
    second: list[Event] = []
    await make_client(on_event=(first.append, second.append), games_ttl=0).list_games()
    assert len(first) == len(second) == 1


@pytest.mark.parametrize("bad", [42, "hook", [print, 3]])
def test_a_bad_on_event_is_a_typed_error_naming_the_parameter(
    make_client: MakeClient, bad: object
) -> None:
    with pytest.raises(ga.InvalidParameterError, match="on_event"):
        make_client(on_event=bad)


async def test_debug_switched_on_and_off_between_calls_of_one_client(
    mock: aioresponses, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Without hooks the client's observer checks the level per attempt, not once when built.
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}), repeat=True)
    client = make_client(games_ttl=0)

    def debug_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == logging.DEBUG and r.name == "gameapi_async"]

    with caplog.at_level(logging.INFO, logger="gameapi_async"):
        await client.list_games()
    assert debug_lines() == []
    with caplog.at_level(logging.DEBUG, logger="gameapi_async"):
        await client.list_games()
    assert len([m for m in debug_lines() if "list_games attempt 1: HTTP 200" in m]) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gameapi_async"):
        await client.list_games()
    assert debug_lines() == []
