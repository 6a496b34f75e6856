"""The sans-I/O protocol: requests built byte for byte, answers deciphered into types; every
broken or hostile answer, seen through the client, gives a typed error or a sane value."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from aioresponses import aioresponses
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async._protocol import (
    GET_GAME_LINK,
    LIST_GAMES,
    RawResponse,
    build_request,
    excerpt,
    parse_game_link,
    parse_game_list,
    parse_http_date,
    parse_iso_timestamp,
    parse_response,
    parse_retry_after,
)
from gameapi_async._signing import Signer, sign

from .support import (
    BASE_URL,
    PLAYER,
    FakeClock,
    failure,
    readable_id,
    single_attempt_client,
    success,
)

NOW = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def envelope(content: object, **extra: object) -> bytes:
    body = {
        "status": "success",
        "timestamp": "2024-01-01T00:00:00.000Z",
        "request_id": "rid-1",
        "content": content,
    }
    body.update(extra)
    return json.dumps(body).encode()


def error_body(code: str, message: str = "Something", **extra: object) -> bytes:
    body = {
        "status": "error",
        "error": code,
        "message": message,
        "timestamp": "2024-01-01T00:00:05.250Z",
        "request_id": "rid-err",
    }
    body.update(extra)
    return json.dumps(body).encode()


def test_build_request_signs_the_exact_body_it_sends() -> None:
    request = build_request(
        GET_GAME_LINK,
        {"game_id": 5, "home_url": "https://a.example/b"},
        agent_id=7,
        timestamp=1_700_000_000,
        signer=Signer("s3cr3t"),
    )
    assert request.body == (
        b'{"agent_id":7,"game_id":5,"home_url":"https:\\/\\/a.example\\/b",'
        b'"timestamp":1700000000}'
    )
    assert request.headers == {
        "Content-Type": "application/json",
        "X-Signature": sign("s3cr3t", request.body),
    }
    assert request.signature not in repr(request)


def test_success_envelope_is_deciphered() -> None:
    result = parse_response(RawResponse(200, envelope({"url": "https://g.example/p"})), now=NOW)
    assert result.content == {"url": "https://g.example/p"}
    assert result.request_id == "rid-1"
    assert result.http_status == 200
    assert result.server_time == NOW


@pytest.mark.parametrize(("code", "status"), [
    ("signature_required", 401),
    ("invalid_signature", 403),
    ("agent_not_found", 404),
    ("api_token_not_found", 404),
    ("game_not_found", 404),
    ("game_not_available", 403),
    ("game_provider_not_found", 404),
    ("method_not_allowed", 405),
    ("validation_error", 422),
    ("request_expired", 400),
])
def test_error_envelopes_raise_their_class(code: str, status: int) -> None:
    with pytest.raises(ga.ApiError) as caught:
        parse_response(RawResponse(status, error_body(code, "Nope")), now=NOW)
    error = caught.value
    assert type(error) is ga._errors.ERROR_CLASSES[code]
    assert (error.code, error.http_status, error.message) == (code, status, "Nope")
    assert error.request_id == "rid-err"
    assert error.server_time == NOW + 5.25


def test_unknown_code_keeps_the_code_on_the_base_class() -> None:
    with pytest.raises(ga.ApiError) as caught:
        parse_response(RawResponse(503, error_body("maintenance")), now=NOW)
    assert type(caught.value) is ga.ApiError
    assert caught.value.code == "maintenance"
    assert caught.value.http_status == 503


def test_error_envelope_on_http_200_is_still_an_error() -> None:
    with pytest.raises(ga.GameNotFoundError) as caught:
        parse_response(RawResponse(200, error_body("game_not_found")), now=NOW)
    assert caught.value.http_status == 200


def test_success_body_on_non_200_is_an_error() -> None:
    with pytest.raises(ga.MalformedResponseError, match="non-200") as caught:
        parse_response(RawResponse(500, envelope({"url": "x"})), now=NOW)
    assert caught.value.http_status == 500
    assert caught.value.request_id == "rid-1"


def test_missing_message_falls_back_to_the_code() -> None:
    body = json.dumps({"status": "error", "error": "agent_not_found"}).encode()
    with pytest.raises(ga.AgentNotFoundError) as caught:
        parse_response(RawResponse(404, body), now=NOW)
    assert caught.value.message == "agent_not_found"
    assert caught.value.request_id is None


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502 Bad Gateway</html>", b'{"status": "succ', b"\xff\xfe{}", b"[1,2]",
     b'"success"', b'{"status":"success"}', b'{"status":"success","content":[]}',
     b'{"status":"error"}', b'{"status":"error","error":5}', b"[" * 100_000],
)
def test_undecipherable_bodies_raise_malformed(body: bytes) -> None:
    with pytest.raises(ga.MalformedResponseError) as caught:
        parse_response(RawResponse(200, body), now=NOW)
    assert caught.value.http_status == 200
    assert len(caught.value.body_excerpt) <= 203


def test_retry_after_is_read_from_seconds_or_a_date_on_the_server_clock() -> None:
    with pytest.raises(ga.ApiError) as caught:
        parse_response(RawResponse(429, error_body("too_many"), retry_after="7"), now=NOW)
    assert caught.value.retry_after == 7.0
    with pytest.raises(ga.ApiError) as caught:
        parse_response(
            RawResponse(
                503,
                error_body("busy"),
                date="Mon, 01 Jan 2024 00:00:00 GMT",
                retry_after="Mon, 01 Jan 2024 00:00:30 GMT",
            ),
            now=NOW + 3600,  # a local clock an hour off does not change the wait
        )
    assert caught.value.retry_after == 30.0


def test_parse_helpers() -> None:
    assert parse_iso_timestamp("2024-01-01T00:00:00.500Z") == NOW + 0.5
    assert parse_iso_timestamp("2024-01-01T00:00:00") is None  # no zone: not trusted
    assert parse_iso_timestamp("yesterday") is None
    assert parse_iso_timestamp(12) is None
    assert parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT") == NOW
    assert parse_http_date("garbage") is None
    assert parse_http_date(None) is None
    assert parse_retry_after(" 12 ", now=NOW) == 12.0
    assert parse_retry_after("Sun, 31 Dec 2023 23:59:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None
    assert parse_retry_after("-5", now=NOW) is None


def test_game_list_is_structured_strictly_and_tolerates_extra_fields() -> None:
    game = {"id": 1, "title": "T", "brand": "B", "image_url": "https://i/1.jpg", "demo": True}
    result = parse_response(
        RawResponse(200, envelope({"games": [{**game, "rtp": 96.5}], "total": 1, "page": 1})),
        now=NOW,
    )
    games = parse_game_list(result)
    assert games == ga.GameList(games=(ga.Game(**game),), total=1, request_id="rid-1")


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ({"total": 0}, "content.games"),
        ({"games": {}, "total": 0}, "content.games"),
        ({"games": "abc", "total": 0}, "content.games"),
        ({"games": [], "total": "0"}, "content.total"),
        ({"games": [], "total": True}, "content.total"),
        ({"games": [{"title": "t", "brand": "b", "image_url": "u", "demo": True}], "total": 1},
         "content.games[0].id"),
        ({"games": [{"id": 1, "title": "t", "brand": "b", "image_url": "u", "demo": True},
                    {"id": True, "title": "t", "brand": "b", "image_url": "u", "demo": True}],
          "total": 2}, "content.games[1].id"),
        ({"games": [{"id": 1, "title": None, "brand": "b", "image_url": "u", "demo": True}],
          "total": 1}, "content.games[0].title"),
        ({"games": [{"id": 1, "title": "t", "brand": "b", "image_url": "u", "demo": "yes"}],
          "total": 1}, "content.games[0].demo"),
        ({"games": [5], "total": 1}, "content.games[0]"),
    ],
)
def test_wrong_game_list_shapes_name_the_path(content: dict[str, object], where: str) -> None:
    result = parse_response(RawResponse(200, envelope(content)), now=NOW)
    with pytest.raises(ga.MalformedResponseError) as caught:
        parse_game_list(result)
    assert where in str(caught.value)
    assert caught.value.request_id == "rid-1"


@pytest.mark.parametrize("content", [{}, {"url": 5}, {"url": ""}, {"url": None}])
def test_wrong_link_shapes_are_malformed(content: dict[str, object]) -> None:
    result = parse_response(RawResponse(200, envelope(content)), now=NOW)
    with pytest.raises(ga.MalformedResponseError, match="content"):
        parse_game_link(result)


def test_stray_request_id_inside_content_does_not_win() -> None:
    result = parse_response(
        RawResponse(200, envelope({"url": "https://x/", "request_id": 5})), now=NOW
    )
    assert parse_game_link(result).request_id == "rid-1"


def test_excerpt_is_bounded_and_tolerates_bad_bytes() -> None:
    assert excerpt(b"x" * 10_000) == "x" * 200 + "..."
    assert excerpt(b"\xff\xfeok") == "\ufffd\ufffdok"


def test_list_games_endpoint_takes_no_parameters() -> None:
    assert LIST_GAMES.params == ()
    assert LIST_GAMES.path == "/api/games/list"


def _oracle_accepts(url: str) -> bool:
    """The rule for launch links, stated plainly: printable, no space, http(s) with a host."""
    if not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


_URL_PIECES = st.sampled_from([
    "http", "https", "HTTPS", "ftp", "javascript", ":", "//", "/", "?", "#", "@", "[", "]",
    "::1", "a", "games.example", "-", ".", "8080", ":99999", " ", "\t", "\x00", "é", "%20",
    "user:pw", "q=1&s=2",
])


@given(st.lists(_URL_PIECES, max_size=10).map("".join))
@example("https://games.example/launch?s=1")
@example("HTTP://a:8080")
@example("https://user:pw@games.example/")
@example("https://[::1]/x")
@example("https://games.example:99999/")
@example("https:///path")
@settings(max_examples=800)
def test_launch_links_are_accepted_exactly_when_the_plain_rule_says(url: str) -> None:
    result = parse_response(RawResponse(200, envelope({"url": url}), None, None), now=NOW)
    if _oracle_accepts(url):
        assert parse_game_link(result).url == url
    else:
        with pytest.raises(ga.MalformedResponseError):
            parse_game_link(result)


# -- through the client: a long Retry-After, links the quick URL check leaves to the parser
# Each case pins a line that mutation testing (docs/testing.md) showed free.

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


# -- a corpus of broken answers: each a typed GameApiError, nothing else escapes ---------

BASE = "https://api.example.test"
GAME = {"id": 1, "title": "T", "brand": "B", "image_url": "https://i/1.jpg", "demo": True}


def env(content: Any, **override: Any) -> bytes:
    body = {"status": "success", "timestamp": "2024-01-01T00:00:00.000Z", "request_id": "r",
            "content": content}
    body.update(override)
    return json.dumps(body).encode()


def games(*items: Any, total: Any = 1) -> bytes:
    return env({"games": list(items), "total": total})


Malformed = ga.MalformedResponseError
# (name, HTTP status, body, expected error class, endpoints it applies to: "all", "list", "link")
CORPUS: list[tuple[str, int, bytes, type[ga.GameApiError], str]] = [
    ("empty body", 200, b"", Malformed, "all"),
    ("whitespace", 200, b"  \n ", Malformed, "all"),
    ("html error page", 502, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
     Malformed, "all"),
    ("html on 200", 200, b"<!DOCTYPE html><html>maintenance</html>", Malformed, "all"),
    ("truncated json", 200, env({"url": "https://g/x"})[:-7], Malformed, "all"),
    ("invalid json", 200, b"{'status': 'success'}", Malformed, "all"),
    ("non-utf8 bytes", 200, b'{"status":"success","content":{"url":"\xff\xfe"}}', Malformed,
     "all"),
    ("utf-8 bom", 200, b"\xef\xbb\xbf" + env({"url": "https://g/x"}), Malformed, "all"),
    ("json array", 200, b"[]", Malformed, "all"),
    ("json string", 200, b'"success"', Malformed, "all"),
    ("json number", 200, b"200", Malformed, "all"),
    ("json null", 200, b"null", Malformed, "all"),
    ("NaN literal", 200, b'{"status":"success","content":NaN}', Malformed, "all"),
    ("deep nesting", 200, b"[" * 50_000 + b"]" * 50_000, Malformed, "all"),
    ("huge integer", 200, b'{"status":"success","content":{"total":' + b"9" * 5000 + b"}}",
     Malformed, "all"),
    ("no status", 200, json.dumps({"content": {}}).encode(), Malformed, "all"),
    ("status wrong type", 200, env({}, status=True), Malformed, "all"),
    ("status unknown", 200, env({}, status="ok"), Malformed, "all"),
    ("content missing", 200, json.dumps({"status": "success"}).encode(), Malformed, "all"),
    ("content is a list", 200, env([]), Malformed, "all"),
    ("content is a string", 200, env("games"), Malformed, "all"),
    ("content is null", 200, env(None), Malformed, "all"),
    ("success on 500", 500, env({"url": "https://g/x"}), Malformed, "all"),
    ("success on 201", 201, env({"url": "https://g/x"}), Malformed, "all"),
    ("error without code", 400, json.dumps({"status": "error"}).encode(), Malformed, "all"),
    ("error code not a string", 404, json.dumps({"status": "error", "error": 404}).encode(),
     Malformed, "all"),
    ("error envelope on 200", 200,
     json.dumps({"status": "error", "error": "game_not_found", "request_id": "r"}).encode(),
     ga.GameNotFoundError, "all"),
    ("unknown error code", 418,
     json.dumps({"status": "error", "error": "teapot", "message": "short and stout"}).encode(),
     ga.ApiError, "all"),
    ("error message wrong type", 403,
     json.dumps({"status": "error", "error": "invalid_signature", "message": ["x"]}).encode(),
     ga.InvalidSignatureError, "all"),
    ("request_id wrong type", 404,
     json.dumps({"status": "error", "error": "agent_not_found", "request_id": 7}).encode(),
     ga.AgentNotFoundError, "all"),
    ("games missing", 200, env({"total": 0}), Malformed, "list"),
    ("games not a list", 200, env({"games": {"1": GAME}, "total": 1}), Malformed, "list"),
    ("games a string", 200, env({"games": "1,2,3", "total": 3}), Malformed, "list"),
    ("total missing", 200, env({"games": []}), Malformed, "list"),
    ("total a string", 200, games(GAME, total="1"), Malformed, "list"),
    ("total a float", 200, games(GAME, total=1.0), Malformed, "list"),
    ("game not an object", 200, games([1, "T"]), Malformed, "list"),
    ("game id missing", 200, games({k: v for k, v in GAME.items() if k != "id"}), Malformed,
     "list"),
    ("game id a string", 200, games({**GAME, "id": "1"}), Malformed, "list"),
    ("game id a bool", 200, games({**GAME, "id": True}), Malformed, "list"),
    ("game id null", 200, games({**GAME, "id": None}), Malformed, "list"),
    ("game title a number", 200, games({**GAME, "title": 5}), Malformed, "list"),
    ("game brand null", 200, games({**GAME, "brand": None}), Malformed, "list"),
    ("game image_url a list", 200, games({**GAME, "image_url": ["x"]}), Malformed, "list"),
    ("game demo a string", 200, games({**GAME, "demo": "true"}), Malformed, "list"),
    ("game demo an int", 200, games({**GAME, "demo": 1}), Malformed, "list"),
    ("url missing", 200, env({}), Malformed, "link"),
    ("url a number", 200, env({"url": 5}), Malformed, "link"),
    ("url empty", 200, env({"url": ""}), Malformed, "link"),
    ("url an object", 200, env({"url": {"href": "https://g/x"}}), Malformed, "link"),
]
ENDPOINTS = {
    "list": "/api/games/list",
    "link": "/api/games/get_game_link",
    "demo": "/api/games/get_game_link_demo",
}
CASES = [
    pytest.param(status, body, error, name, id=f"{name}-{endpoint}")
    for name, status, body, error, applies in CORPUS
    for endpoint, path in ENDPOINTS.items()
    if applies == "all" or (applies == "list") == (endpoint == "list")
    for name in [f"{endpoint}|{name}"]
]
CORPUS_PLAYER = {"game_id": 1, "player_id": "p", "player_username": "u", "language": "en",
          "currency": "USD", "home_url": "https://c.example", "ip": "::1"}


async def call(client: GameApiClient, endpoint: str) -> object:
    if endpoint == "list":
        return await client.list_games()
    if endpoint == "link":
        return await client.get_game_link(**CORPUS_PLAYER, agent_session_id="s")
    return await client.get_game_link_demo(**CORPUS_PLAYER)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert len(CASES) >= 100


@pytest.mark.parametrize(("status", "body", "error", "name"), CASES)
async def test_every_broken_answer_is_a_typed_error(
    mock: aioresponses, status: int, body: bytes, error: type[ga.GameApiError], name: str
) -> None:
    endpoint = name.split("|")[0]
    mock.post(BASE + ENDPOINTS[endpoint], status=status, body=body)
    async with GameApiClient(base_url=BASE, agent_id=1, api_token="t",
                             retry=RetryPolicy.disabled(), games_ttl=0) as client:
        with pytest.raises(ga.GameApiError) as caught:
            await call(client, endpoint)
    assert type(caught.value) is error
    assert caught.value.http_status == status
    if isinstance(caught.value, ga.ResponseError):
        assert len(caught.value.body_excerpt) <= 203
        assert len(str(caught.value)) < 1200


def _verdict(decide: Any, response: Any) -> object:
    try:
        return ("envelope", decide(response, now=1_700_000_000.0))
    except ga.GameApiError as exc:
        return (type(exc), str(exc), exc.http_status, exc.request_id,
                getattr(exc, "retry_after", None), getattr(exc, "server_time", None))


EXTRA_SUCCESS_SHAPES = [
    env({"url": "https://g/x"}),
    env({"url": "https://g/x"}, request_id=7),
    env({"url": "https://g/x"}, timestamp="yesterday"),
    env({"url": "https://g/x"}, timestamp=None),
    json.dumps({"status": "success", "content": {}}).encode(),
    json.dumps({"content": {"a": 1}, "status": "success", "status2": "x"}).encode(),
    b" " + env({"url": "https://g/x"}),
    env({"url": "https://g/x"}) + b"\r\n",
    env({"url": "https://g/x"}) + b"x",
    env({"url": "https://g/x"}) + env({"url": "https://g/y"}),
    env({"url": float("nan")}),
    b'{"status":"success","content":{"a":1},"content":{"b":2}}',
]


@pytest.mark.parametrize("date", [None, "Mon, 01 Jan 2024 00:00:05 GMT"])
@pytest.mark.parametrize("retry_after", [None, "3"])
@pytest.mark.parametrize(
    ("status", "body"),
    [(status, body) for _, status, body, _, _ in CORPUS]
    + [(status, body) for body in EXTRA_SUCCESS_SHAPES for status in (200, 201, 500)],
)
def test_success_first_parse_decides_as_the_full_path(
    status: int, body: bytes, retry_after: str | None, date: str | None
) -> None:
    # The quick look for a well-formed success may never accept what the step-by-step path
    # refuses, nor change any error it raises.
    from gameapi_async._protocol import RawResponse, _parse_response_fully, parse_response

    response = RawResponse(status, body, date, retry_after)
    assert _verdict(parse_response, response) == _verdict(_parse_response_fully, response)


# -- hostile answers: a typed error or a sane value, never a crash or an absurd wait -----

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
