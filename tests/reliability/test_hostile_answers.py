"""Hostile answers: launch links, oversized or control-laden platform text, Retry-After and
Date headers. Each gives a typed error or a sane value, never a crash or an absurd wait."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import RetryPolicy

from ..support import PLAYER, FakeClock, failure, readable_id, single_attempt_client, success

BASE = "https://api.example.test"
LIST = BASE + "/api/games/list"
LINK = BASE + "/api/games/get_game_link"
DEMO = BASE + "/api/games/get_game_link_demo"
client = single_attempt_client


# -- a launch link is an absolute http(s) URL --------------------------------------------

BAD_URLS: list[Any] = ["", "/relative/path", "game.example/launch", "javascript:alert(1)",
                       "data:text/html,<script>x</script>", "ftp://files.example/x",
                       "https://", "https:///path-only", "http//missing-colon",
                       " https://g.example/x", "https://g.example/a b",
                       "https://g.example/\r\nSet-Cookie: x", "\x00https://g.example/",
                       "https://[::1/x", 7, None, True, ["https://g.example/"],
                       {"href": "https://g.example/"}]


@pytest.mark.parametrize("url", BAD_URLS, ids=lambda v: readable_id(repr(v)))
@pytest.mark.parametrize("demo", [False, True])
async def test_a_link_that_is_not_an_absolute_http_url_is_malformed(
    mock: aioresponses, url: Any, demo: bool
) -> None:
    mock.post(DEMO if demo else LINK, payload=success({"url": url}))
    async with client() as c:
        fetch = (c.get_game_link_demo(**PLAYER) if demo
                 else c.get_game_link(**PLAYER, agent_session_id="s"))
        with pytest.raises(ga.MalformedResponseError) as caught:
            await fetch
    assert "url" in str(caught.value)
    assert caught.value.http_status == 200


@pytest.mark.parametrize("url", ["https://g.example/launch?token=abc&lang=en",
                                 "HTTP://127.0.0.1:8080/x", "https://g.example",
                                 "https://[2001:db8::1]/game"])
async def test_absolute_http_links_are_accepted(mock: aioresponses, url: str) -> None:
    mock.post(LINK, payload=success({"url": url}))
    async with client() as c:
        link = await c.get_game_link(**PLAYER, agent_session_id="s")
    assert link.url == url


# -- platform-supplied text is bounded ---------------------------------------------------

async def test_huge_error_message_and_request_id_are_truncated(
    mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    huge = "M" * 2_000_000
    body = failure("game_not_found", request_id="R" * 1_000_000, message=huge)
    mock.post(LINK, status=404, payload=body)
    caplog.set_level(logging.DEBUG, logger="gameapi_async")
    async with client() as c:
        with pytest.raises(ga.GameNotFoundError) as caught:
            await c.get_game_link(**PLAYER, agent_session_id="s")
    error = caught.value
    assert error.code == "game_not_found"
    assert error.http_status == 404
    assert error.request_id is not None
    assert error.request_id.startswith("RRRR")
    assert len(error.request_id) <= 128
    assert error.message.startswith("MMMM")
    assert len(error.message) <= 1000
    assert len(str(error)) < 2000
    assert len(repr(error)) < 2100
    assert 0 < len(error.body_excerpt) <= 203
    assert all(len(record.getMessage()) < 2000 for record in caplog.records)


async def test_huge_unknown_error_code_is_truncated(mock: aioresponses) -> None:
    mock.post(LIST, status=400, payload=failure("x" * 100_000))
    async with client() as c:
        with pytest.raises(ga.ApiError) as caught:
            await c.list_games()
    assert type(caught.value) is ga.ApiError
    assert len(caught.value.code) <= 128
    assert len(str(caught.value)) < 2000


async def test_huge_request_id_on_success_is_truncated(mock: aioresponses) -> None:
    mock.post(LIST, payload=success({"games": [], "total": 0}, request_id="R" * 1_000_000))
    async with client() as c:
        games = await c.list_games()
    assert games.request_id is not None
    assert len(games.request_id) <= 128


async def test_control_characters_cannot_forge_log_lines(
    mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock.post(LIST, status=503, payload=failure(
        "maintenance", request_id="r1\nERROR forged line", message="down\r\nERROR forged"))
    mock.post(LIST, payload=success({"games": [], "total": 0}))
    caplog.set_level(logging.DEBUG, logger="gameapi_async")
    async with client(retry=RetryPolicy(attempts=2, wait_initial=0),
                      clock=FakeClock()) as c:
        await c.list_games()
    assert caplog.records
    assert not any("\n" in r.getMessage() or "\r" in r.getMessage() for r in caplog.records)


# -- hostile headers -----------------------------------------------------------------------

RETRY_AFTERS = ["²", "٣", "9" * 5000, "9" * 400, "99999999999", "-5", "nan", "inf", "1e999",
                "0x10", " 3 ", "", "Fri, 31 Dec 9999 23:59:59 GMT",
                "Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 01 Jan 0001 00:00:00 +2359",
                "Thu, 01 Jan 1970 00:00:00 GMT", "\x00", "a" * 100_000]


@pytest.mark.parametrize("value", RETRY_AFTERS, ids=lambda v: readable_id(repr(v[:20])))
async def test_hostile_retry_after_never_escapes_or_stalls(mock: aioresponses, value: str) -> None:
    clock = FakeClock()
    mock.post(LIST, status=503, payload=failure("maintenance"), headers={"Retry-After": value})
    mock.post(LIST, payload=success({"games": [], "total": 0}))
    policy = RetryPolicy(attempts=2, retry_after_max=30.0, deadline=None)
    async with client(retry=policy, clock=clock) as c:
        assert (await c.list_games()).total == 0
    assert len(clock.sleeps) == 1
    assert 0.0 <= clock.sleeps[0] <= 30.0


@pytest.mark.parametrize("date", ["Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
                                  "Thu, 01 Jan 1970 00:00:00 GMT", "Sat, 01 Jan 2300 00:00:00 GMT",
                                  "Fri, 31 Dec 9999 23:59:59 -2359", "garbage", "\x00" * 10])
async def test_a_hostile_date_never_moves_the_clock_absurdly(mock: aioresponses, date: str) -> None:
    clock = FakeClock()
    # request_expired trusts the platform's time; a bogus one must not be adopted.
    expired = failure("request_expired")
    mock.post(LIST, status=400, payload=expired, headers={"Date": date})
    mock.post(LIST, payload=success({"games": [], "total": 0}), headers={"Date": date})
    async with client(clock=clock) as c:
        with contextlib.suppress(ga.RequestExpiredError):
            await c.list_games()
        assert c.clock_offset == 0.0
