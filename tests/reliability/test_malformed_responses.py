"""A corpus of broken answers: each one gives a typed GameApiError, nothing else escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy

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
PLAYER = {"game_id": 1, "player_id": "p", "player_username": "u", "language": "en",
          "currency": "USD", "home_url": "https://c.example", "ip": "::1"}


async def call(client: GameApiClient, endpoint: str) -> object:
    if endpoint == "list":
        return await client.list_games()
    if endpoint == "link":
        return await client.get_game_link(**PLAYER, agent_session_id="s")
    return await client.get_game_link_demo(**PLAYER)


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
def test_success_first_decipher_decides_as_the_full_path(
    status: int, body: bytes, retry_after: str | None, date: str | None
) -> None:
    # The quick look for a well-formed success may never accept what the step-by-step path
    # refuses, nor change any error it raises.
    from gameapi_async._protocol import RawResponse, _parse_response_fully, parse_response

    response = RawResponse(status, body, date, retry_after)
    assert _verdict(parse_response, response) == _verdict(_parse_response_fully, response)
