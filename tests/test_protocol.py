"""The sans-I/O protocol: requests built byte for byte, answers deciphered into types."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gameapi_async as ga
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
