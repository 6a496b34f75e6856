"""``MockTransport``: the client driven by a function, seen through the public API only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gameapi_async import (
    ApiError,
    CallOptions,
    ClientClosedError,
    GameApiClient,
    NetworkError,
    RawResponse,
    RetryPolicy,
    SignedRequest,
    verify,
)
from gameapi_async.testing import MockTransport

from ..support import FakeClock

TOKEN = "mock-SECRET-token"
PLAYER = {"game_id": 3, "player_id": "p1", "player_username": "u", "language": "en",
          "currency": "EUR", "home_url": "https://home.example/", "ip": "10.0.0.1"}


def answer(content: dict[str, Any], status: int = 200) -> RawResponse:
    body = {"status": "success", "request_id": "rid-mock", "content": content}
    return RawResponse(status, json.dumps(body).encode())


def games(*ids: int) -> RawResponse:
    listed = [{"id": i, "title": f"Game {i}", "brand": "B", "image_url": f"https://i/{i}.png",
               "demo": True} for i in ids]
    return answer({"games": listed, "total": len(listed)})


def client_on(transport: MockTransport, **options: Any) -> GameApiClient:
    # The fake clock makes retry backoffs instant.
    return GameApiClient(base_url="https://api.example.test", agent_id=5, api_token=TOKEN,
                         transport=transport, clock=FakeClock(), **options)


async def test_a_plain_function_answers_and_sees_the_signed_request_the_sdk_built() -> None:
    transport = MockTransport(lambda request: games(1, 2))
    async with client_on(transport) as client:
        listed = await client.list_games()
    assert [game.id for game in listed.games] == [1, 2]
    assert listed.request_id == "rid-mock"
    [request] = transport.requests
    assert isinstance(request, SignedRequest)
    assert request.endpoint.path == "/api/games/list"
    assert json.loads(request.body)["agent_id"] == 5
    assert verify(TOKEN, request.body, request.signature)
    assert request.headers["X-Signature"] == request.signature


async def test_an_async_handler_is_awaited_and_gets_each_call_in_order() -> None:
    seen: list[str] = []

    async def handler(request: SignedRequest) -> RawResponse:
        await asyncio.sleep(0)
        seen.append(request.endpoint.name)
        if request.endpoint.path.endswith("_demo"):
            return answer({"url": "https://play.example/demo?x=1"})
        return answer({"url": "https://play.example/real?x=1"})

    transport = MockTransport(handler)
    async with client_on(transport) as client:
        demo = await client.get_game_link_demo(**PLAYER)
        real = await client.get_game_link(**PLAYER, agent_session_id="s-1")
    assert (demo.url, real.url) == ("https://play.example/demo?x=1",
                                    "https://play.example/real?x=1")
    assert seen == ["get_game_link_demo", "get_game_link"]
    sent = json.loads(transport.requests[1].body)
    assert sent["agent_session_id"] == "s-1"
    assert sent["game_id"] == 3


async def test_an_error_envelope_becomes_the_typed_error() -> None:
    envelope = {"status": "error", "error": "game_not_found", "message": "no such game",
                "request_id": "rid-404"}
    transport = MockTransport(lambda request: RawResponse(404, json.dumps(envelope).encode()))
    async with client_on(transport) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_game_link_demo(**PLAYER)
    assert (caught.value.code, caught.value.http_status, caught.value.request_id) == (
        "game_not_found", 404, "rid-404")


async def test_a_network_error_raised_by_the_handler_is_retried_like_a_real_one() -> None:
    failures = [NetworkError("connection reset"), NetworkError("connection reset")]

    def handler(request: SignedRequest) -> RawResponse:
        if failures:
            raise failures.pop()
        return games(7)

    transport = MockTransport(handler)
    retry = RetryPolicy(attempts=3)
    async with client_on(transport, retry=retry) as client:
        listed = await client.list_games()
    assert [game.id for game in listed.games] == [7]
    assert len(transport.requests) == 3

    failing = MockTransport(lambda request: (_ for _ in ()).throw(NetworkError("down")))
    async with client_on(failing, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(NetworkError, match="down"):
            await client.list_games()


async def test_a_failed_assertion_in_the_handler_propagates_untouched_and_is_not_retried(
) -> None:
    def handler(request: SignedRequest) -> RawResponse:
        raise AssertionError("the test's own check failed")

    transport = MockTransport(handler)
    async with client_on(transport, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(AssertionError, match="own check"):
            await client.list_games()
    assert len(transport.requests) == 1


async def test_a_handler_that_returns_something_else_is_a_type_error_naming_it() -> None:
    transport = MockTransport(lambda request: {"status": "success"})  # type: ignore[arg-type,return-value]
    async with client_on(transport) as client:
        with pytest.raises(TypeError, match="must return a RawResponse, not dict"):
            await client.list_games()


def test_a_handler_that_is_not_callable_is_refused_when_built() -> None:
    with pytest.raises(TypeError, match="handler must be callable, not RawResponse"):
        MockTransport(games(1))  # type: ignore[arg-type]


async def test_close_closes_the_transport_and_later_sends_are_refused() -> None:
    transport = MockTransport(lambda request: games(1))
    client = client_on(transport)
    await client.list_games()
    assert not transport.closed
    await client.close()
    assert transport.closed
    with pytest.raises(ClientClosedError):
        await client.list_games(refresh=True)
    with pytest.raises(ClientClosedError):  # the transport itself refuses, as the real one does
        await transport.send(transport.requests[0], CallOptions())
    assert len(transport.requests) == 1


def test_repr_names_the_handler_and_the_count_never_a_body() -> None:
    def platform(request: SignedRequest) -> RawResponse:
        return games(1)

    assert repr(MockTransport(platform)) == (
        "MockTransport(handler=test_repr_names_the_handler_and_the_count_never_a_body."
        "<locals>.platform, requests=0)"
    )
