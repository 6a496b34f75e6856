"""GameApiClient over aioresponses: every endpoint, every error code, the bytes on the wire."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async._errors import ERROR_CLASSES

from .support import AGENT_ID, API_TOKEN, BASE_URL, FakeClock

LIST_URL = f"{BASE_URL}/api/games/list"
LINK_URL = f"{BASE_URL}/api/games/get_game_link"
DEMO_URL = f"{BASE_URL}/api/games/get_game_link_demo"

PLAYER = {
    "game_id": 123,
    "player_id": "player/123",
    "player_username": "Иван",
    "language": "en",
    "currency": "USD",
    "home_url": "https://casino.example/lobby",
    "ip": "192.168.1.1",
}
GAME = {"id": 1, "title": "Champagne Party", "brand": "Mega",
        "image_url": "https://cdn.example/1.jpg", "demo": True}

MakeClient = Callable[..., GameApiClient]


def success(content: dict[str, Any], request_id: str = "rid-ok") -> dict[str, Any]:
    return {"status": "success", "timestamp": "2024-01-01T00:00:00.000Z",
            "request_id": request_id, "content": content}


def failure(code: str, message: str = "It failed") -> dict[str, Any]:
    return {"status": "error", "error": code, "message": message,
            "timestamp": "2024-01-01T00:00:00.000Z", "request_id": f"rid-{code}"}


def sent(mock: aioresponses, url: str) -> list[Any]:
    return mock.requests.get(("POST", URL(url)), [])


async def test_list_games_returns_typed_games(mock: aioresponses, make_client: MakeClient) -> None:
    mock.post(LIST_URL, payload=success({"games": [GAME], "total": 1}))
    games = await make_client().list_games()
    assert games == ga.GameList(games=(ga.Game(**GAME),), total=1, request_id="rid-ok")


async def test_list_games_sends_the_signed_php_canonical_body(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))
    await make_client().list_games()
    (request,) = sent(mock, LIST_URL)
    body = request.kwargs["data"]
    assert body == f'{{"agent_id":{AGENT_ID},"timestamp":{int(clock.wall)}}}'.encode()
    headers = request.kwargs["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Signature"] == ga.sign(API_TOKEN, body)


async def test_get_game_link_sends_every_parameter(
    mock: aioresponses, make_client: MakeClient, clock: FakeClock
) -> None:
    mock.post(LINK_URL, payload=success({"url": "https://game.example/play?t=1"}, "rid-l"))
    link = await make_client().get_game_link(**PLAYER, agent_session_id="sess-1")
    assert link == ga.GameLink(url="https://game.example/play?t=1", request_id="rid-l")
    (request,) = sent(mock, LINK_URL)
    body = request.kwargs["data"]
    assert json.loads(body) == {**PLAYER, "agent_session_id": "sess-1", "agent_id": AGENT_ID,
                                "timestamp": int(clock.wall)}
    assert b'"player_id":"player\\/123"' in body
    assert b'"player_username":"\\u0418\\u0432\\u0430\\u043d"' in body
    assert request.kwargs["headers"]["X-Signature"] == ga.sign(API_TOKEN, body)


async def test_get_game_link_demo_sends_no_session(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(DEMO_URL, payload=success({"url": "https://game.example/demo"}))
    link = await make_client().get_game_link_demo(**PLAYER)
    assert link.url == "https://game.example/demo"
    (request,) = sent(mock, DEMO_URL)
    assert "agent_session_id" not in json.loads(request.kwargs["data"])


async def test_endpoint_parameters_are_keyword_only(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(TypeError):
        await client.get_game_link(123, "p", "u", "en", "USD", "https://x.example", "s", "::1")  # type: ignore[misc]


ENDPOINT_ERRORS = [
    (url, code, status)
    for url, codes in {
        LIST_URL: ["invalid_signature", "agent_not_found", "validation_error"],
        LINK_URL: ["invalid_signature", "agent_not_found", "game_not_found",
                   "game_not_available", "validation_error"],
        DEMO_URL: ["invalid_signature", "agent_not_found", "game_not_found",
                   "game_not_available", "game_provider_not_found", "validation_error"],
    }.items()
    for code in codes
    for status in [{"invalid_signature": 403, "game_not_available": 403,
                    "validation_error": 422}.get(code, 404)]
] + [
    (LIST_URL, code, status)
    for code, status in [("signature_required", 401), ("api_token_not_found", 404),
                         ("method_not_allowed", 405), ("request_expired", 400)]
]


async def call(client: GameApiClient, url: str) -> object:
    if url == LIST_URL:
        return await client.list_games()
    if url == LINK_URL:
        return await client.get_game_link(**PLAYER, agent_session_id="s")
    return await client.get_game_link_demo(**PLAYER)


@pytest.mark.parametrize(("url", "code", "status"), ENDPOINT_ERRORS)
async def test_documented_errors_raise_typed_exceptions(
    mock: aioresponses, make_client: MakeClient, url: str, code: str, status: int
) -> None:
    # Registered twice: a client that resyncs its clock on request_expired sends once more.
    for _ in range(2):
        mock.post(url, status=status, payload=failure(code, "Platform says no"))
    with pytest.raises(ERROR_CLASSES[code]) as caught:
        await call(make_client(), url)
    error = caught.value
    assert (error.code, error.http_status, error.request_id) == (code, status, f"rid-{code}")
    assert error.message == "Platform says no"


async def test_unknown_error_code_raises_base_api_error(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LINK_URL, status=409, payload=failure("player_blocked"))
    with pytest.raises(ga.ApiError) as caught:
        await call(make_client(), LINK_URL)
    assert type(caught.value) is ga.ApiError
    assert (caught.value.code, caught.value.http_status) == ("player_blocked", 409)


async def test_non_200_with_success_body_is_an_error(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LINK_URL, status=202, payload=success({"url": "https://x.example/"}))
    with pytest.raises(ga.MalformedResponseError) as caught:
        await call(make_client(), LINK_URL)
    assert caught.value.http_status == 202


async def test_html_body_is_malformed_with_an_excerpt(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, status=200, body="<html><h1>Welcome to nginx</h1></html>")
    with pytest.raises(ga.MalformedResponseError) as caught:
        await make_client().list_games()
    assert "nginx" in caught.value.body_excerpt


async def test_invalid_input_never_reaches_the_network(
    mock: aioresponses, make_client: MakeClient
) -> None:
    client = make_client()
    with pytest.raises(ga.InvalidParameterError, match=r"^ip:"):
        await client.get_game_link(**{**PLAYER, "ip": "999.1.1.1"}, agent_session_id="s")
    with pytest.raises(ValueError, match=r"^agent_session_id:"):
        await client.get_game_link(**PLAYER, agent_session_id="")
    assert mock.requests == {}


async def test_connection_failure_is_a_network_error(
    mock: aioresponses, make_client: MakeClient
) -> None:
    for _ in range(8):
        mock.post(LIST_URL, exception=aiohttp.ClientConnectionError("refused"))
    with pytest.raises(ga.NetworkError, match="refused"):
        await make_client().list_games()


async def test_timeout_is_a_request_timeout_error(
    mock: aioresponses, make_client: MakeClient
) -> None:
    for _ in range(8):
        mock.post(LIST_URL, exception=TimeoutError())
    with pytest.raises(ga.RequestTimeoutError):
        await make_client().list_games()


async def test_with_options_changes_the_attempt_timeout_only_for_the_view(
    mock: aioresponses, make_client: MakeClient
) -> None:
    client = make_client(timeout=10)
    fast = client.with_options(timeout=2.5, connect_timeout=None)
    assert (fast.options.timeout, fast.options.connect_timeout) == (2.5, None)
    assert client.options.timeout == 10
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))
    await fast.list_games()
    (request,) = sent(mock, LIST_URL)
    assert request.kwargs["timeout"].total == 2.5
    await fast.close()
    assert client.closed  # a view shares the client's connections and lifetime


async def test_closed_client_refuses_calls_and_close_is_idempotent(
    make_client: MakeClient,
) -> None:
    client = make_client()
    async with client as entered:
        assert entered is client
    assert client.closed
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await client.list_games()
    with pytest.raises(ga.ClientClosedError):
        async with client:
            pass


async def test_a_session_passed_in_is_used_and_never_closed(mock: aioresponses) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))
    async with aiohttp.ClientSession() as session:
        async with GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t",
                                 session=session) as client:
            await client.list_games()
        assert not session.closed


async def test_client_without_calls_creates_no_session_and_closes_cleanly() -> None:
    client = GameApiClient(base_url=BASE_URL, agent_id=1, api_token="t")
    await client.close()  # ResourceWarnings are errors in this suite


def test_from_env_reads_the_three_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEAPI_BASE_URL", "https://env.example")
    monkeypatch.setenv("GAMEAPI_AGENT_ID", "42")
    monkeypatch.setenv("GAMEAPI_API_TOKEN", API_TOKEN)
    client = GameApiClient.from_env(timeout=3)
    assert client.agent_id == 42
    assert client.options.timeout == 3
    assert "env.example" in repr(client)


@pytest.mark.parametrize(
    ("variable", "override"),
    [("GAMEAPI_BASE_URL", {"base_url": "https://kw.example"}),
     ("GAMEAPI_AGENT_ID", {"agent_id": 7}),
     ("GAMEAPI_API_TOKEN", {"api_token": "kw-token"})],
)
def test_from_env_needs_no_variable_for_an_overridden_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, override: dict[str, Any]
) -> None:
    monkeypatch.setenv("GAMEAPI_BASE_URL", "https://env.example")
    monkeypatch.setenv("GAMEAPI_AGENT_ID", "42")
    monkeypatch.setenv("GAMEAPI_API_TOKEN", API_TOKEN)
    monkeypatch.setenv(variable, "")  # unset or malformed: the keyword wins, unread
    client = GameApiClient.from_env(**override)
    if "agent_id" in override:
        assert client.agent_id == 7
    if "base_url" in override:
        assert "kw.example" in repr(client)


@pytest.mark.parametrize(
    ("missing", "value"),
    [("GAMEAPI_BASE_URL", None), ("GAMEAPI_AGENT_ID", "abc"), ("GAMEAPI_API_TOKEN", "")],
)
def test_from_env_names_the_bad_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str, value: str | None
) -> None:
    settings = {"GAMEAPI_BASE_URL": "https://env.example", "GAMEAPI_AGENT_ID": "1",
                "GAMEAPI_API_TOKEN": "t"}
    for name, setting in settings.items():
        monkeypatch.setenv(name, setting)
    if value is None:
        monkeypatch.delenv(missing)
    else:
        monkeypatch.setenv(missing, value)
    with pytest.raises(ga.InvalidParameterError) as caught:
        GameApiClient.from_env()
    assert caught.value.field == missing


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"base_url": "api.example.com"}, "base_url"),
        ({"base_url": "http://api.example.com"}, "base_url"),
        ({"base_url": "https://api.example.com/?x=1"}, "base_url"),
        ({"agent_id": 0}, "agent_id"),
        ({"agent_id": "1"}, "agent_id"),
        ({"api_token": ""}, "api_token"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"connect_timeout": "5"}, "connect_timeout"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
        # aiohttp's ssl=False idiom would silently turn certificate checks off.
        ({"ssl": False}, "ssl"),
        ({"ssl": True}, "ssl"),
        ({"ssl": "no-verify"}, "ssl"),
        ({"middlewares": "abc"}, "middlewares"),
        ({"middlewares": [1]}, "middlewares"),
        ({"middlewares": len}, "middlewares"),  # one middleware, not in a sequence
    ],
)
def test_bad_settings_are_refused_naming_the_field(settings: dict[str, Any], field: str) -> None:
    base = {"base_url": BASE_URL, "agent_id": 1, "api_token": "t"}
    with pytest.raises(ga.InvalidParameterError) as caught:
        GameApiClient(**{**base, **settings})
    assert caught.value.field == field


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000/prefix"]
)
def test_plain_http_is_allowed_to_loopback(base_url: str) -> None:
    GameApiClient(base_url=base_url, agent_id=1, api_token="t")


def test_plain_http_elsewhere_needs_an_explicit_opt_in() -> None:
    GameApiClient(base_url="http://10.0.0.5", agent_id=1, api_token="t",
                  allow_insecure_http=True)


async def test_base_url_path_prefix_is_kept(mock: aioresponses, make_client: MakeClient) -> None:
    mock.post(f"{BASE_URL}/v2/api/games/list", payload=success({"games": [], "total": 0}))
    await make_client(base_url=f"{BASE_URL}/v2/").list_games()


def test_repr_never_shows_the_token(make_client: MakeClient) -> None:
    client = make_client()
    for text in (repr(client), str(client), repr(client.with_options(timeout=1))):
        assert API_TOKEN not in text
        assert "agent_id=7" in text
