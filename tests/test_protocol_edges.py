"""The protocol at its edges, through the client: how a long ``Retry-After`` is reported, and
launch links the quick URL check leaves to the full parser. Each case pins a line that mutation
testing (docs/testing.md) showed test_protocol.py leaves free."""

from __future__ import annotations

from typing import Any

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
    assert request.timestamp == 1_700_000_000
    assert request.body == b'{"agent_id":1,"timestamp":1700000000}'


async def malformed(mock: aioresponses, url: str = LIST_URL, **answer: Any
                    ) -> ga.MalformedResponseError:
    mock.post(url, **answer)
    async with single_attempt_client() as client:
        call = client.list_games() if url == LIST_URL else client.get_game_link_demo(**PLAYER)
        with pytest.raises(ga.MalformedResponseError) as caught:
            await call
    return caught.value


async def test_an_answer_that_is_not_json_says_so_and_keeps_its_retry_after(
    mock: aioresponses,
) -> None:
    error = await malformed(mock, status=503, body="<html>busy</html>",
                            headers={"Retry-After": "7"})
    assert error.message == "HTTP 503: answer is not UTF-8 JSON"
    assert error.retry_after == 7.0
    assert error.body_excerpt == "<html>busy</html>"


async def test_a_json_answer_that_is_not_an_object_names_its_type(mock: aioresponses) -> None:
    error = await malformed(mock, status=200, body="[1, 2]")
    assert error.message == "HTTP 200: answer is a JSON list, not an object"


async def test_a_success_envelope_on_another_status_is_refused(mock: aioresponses) -> None:
    error = await malformed(mock, status=201, payload=success({"games": [], "total": 0}))
    assert error.message == "HTTP 201: a success envelope on a non-200 answer is an error"
    assert error.request_id == "rid-ok"


async def test_a_success_envelope_without_content_is_refused(mock: aioresponses) -> None:
    error = await malformed(mock, status=200,
                            payload={"status": "success", "request_id": "rid-empty"})
    assert error.message == "HTTP 200: success envelope without a 'content' object"
    assert error.request_id == "rid-empty"


async def test_a_launch_link_that_is_not_http_names_the_field_and_shows_the_link(
    mock: aioresponses,
) -> None:
    error = await malformed(mock, DEMO_URL, payload=success({"url": "javascript:alert(1)"}))
    assert error.message == (
        "HTTP 200: unexpected content (content.url: not an absolute http(s) URL)")
    assert (error.http_status, error.request_id) == (200, "rid-ok")
    assert error.body_excerpt == "javascript:alert(1)"


async def test_an_answer_that_is_no_envelope_at_all_is_refused(mock: aioresponses) -> None:
    error = await malformed(mock, status=200, payload={"status": "odd", "request_id": "rid-w"})
    assert error.message == "HTTP 200: answer is neither a success nor an error envelope"
    assert error.request_id == "rid-w"


async def test_a_launch_link_holding_a_lone_surrogate_is_shown_with_a_replacement(
    mock: aioresponses,
) -> None:
    # JSON may escape a lone surrogate; it is no URL, and showing it must not fail either.
    error = await malformed(mock, DEMO_URL, payload=success({"url": "https://g.example/\ud800"}))
    assert error.body_excerpt == "https://g.example/?"


async def test_content_of_the_wrong_shape_names_its_first_three_problems(
    mock: aioresponses,
) -> None:
    error = await malformed(mock, status=200, payload=success({"games": [{}, {}], "total": 2}))
    assert error.message == (
        "HTTP 200: unexpected content (required field missing @ content.games[0].id; "
        "required field missing @ content.games[0].title; "
        "required field missing @ content.games[0].brand)"
    )
    assert error.body_excerpt == '{"games": [{}, {}], "total": 2}'


@pytest.mark.parametrize(("body", "excerpt"), [
    ("x" * 200, "x" * 200),  # exactly the excerpt's length: shown whole
    ("x" * 201, "x" * 200 + "..."),
    ("\U0001f600" * 200, "\U0001f600" * 200),  # four bytes a character: 800 bytes, whole
    ("\U0001f600" * 201, "\U0001f600" * 200 + "..."),
], ids=["exact", "one-over", "four-byte-exact", "four-byte-one-over"])
async def test_an_excerpt_marks_every_cut(mock: aioresponses, body: str, excerpt: str) -> None:
    error = await malformed(mock, status=502, body=body)
    assert error.body_excerpt == excerpt


async def test_a_request_id_with_control_characters_is_cleaned_on_a_success(
    mock: aioresponses,
) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}, request_id="rid\n1"))
    async with single_attempt_client() as client:
        games = await client.list_games()
    assert games.request_id == "rid\ufffd1"
