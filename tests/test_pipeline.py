"""Your own middlewares: their order, what they see, and what they may change."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import Call, GameApiClient, Handler, Reply
from gameapi_async._pipeline import compose

from .support import BASE_URL, failure, success

LIST_URL = f"{BASE_URL}/api/games/list"
MakeClient = Callable[..., GameApiClient]


async def test_compose_runs_middlewares_outermost_first() -> None:
    seen: list[str] = []

    def named(name: str) -> ga.Middleware:
        async def middleware(call: Call, call_next: Handler) -> Reply:
            seen.append(f"{name} in")
            reply = await call_next(call)
            seen.append(f"{name} out")
            return reply

        return middleware

    async def innermost(call: Call) -> Reply:
        seen.append("send")
        return Reply(ga._protocol.Envelope({}, "r", 200, None), 0.0, 0.0)

    handler = compose([named("a"), named("b")], innermost)
    await handler(Call(ga._protocol.LIST_GAMES, {}, ga.CallOptions()))
    assert seen == ["a in", "b in", "send", "b out", "a out"]


async def test_a_user_middleware_sees_each_logical_call_once(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, status=503, payload=failure("busy"))
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))
    calls: list[tuple[str, int]] = []

    async def metrics(call: Call, call_next: Handler) -> Reply:
        reply = await call_next(call)
        calls.append((call.endpoint.name, reply.attempt))
        return reply

    await make_client(middlewares=[metrics]).list_games()
    assert calls == [("list_games", 2)]  # one call, answered on its second attempt


async def test_a_middleware_may_change_the_call_or_refuse_it(
    mock: aioresponses, make_client: MakeClient
) -> None:
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))

    async def tighter(call: Call, call_next: Handler) -> Reply:
        return await call_next(attrs.evolve(call, options=attrs.evolve(call.options, timeout=1.5)))

    async def circuit_open(call: Call, call_next: Handler) -> Reply:
        raise ga.NetworkError("circuit open: not calling the platform")

    await make_client(middlewares=[tighter]).list_games()
    ((_, requests),) = mock.requests.items()
    assert requests[0].kwargs["timeout"].total == 1.5
    with pytest.raises(ga.NetworkError, match="circuit open"):
        await make_client(middlewares=[circuit_open]).list_games()
    assert len(requests) == 1
