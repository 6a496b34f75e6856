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


async def test_builtin_middlewares_work_as_plain_middlewares() -> None:
    # The client composes the built-ins exactly like the caller's own: by hand they work alike,
    # and a composed chain serves call after call.
    from gameapi_async import AttemptFinished, Event
    from gameapi_async._clock import SystemClock
    from gameapi_async._pipeline import Call, CallOptions, Reply
    from gameapi_async._protocol import LIST_GAMES, Envelope
    from gameapi_async.middleware import AttemptObserver, ClockSkewMiddleware, RetryMiddleware

    seen: list[Call] = []

    async def innermost(call: Call) -> Reply:
        seen.append(call)
        return Reply(Envelope({}, "rid", 200, None), 1.0, 2.0, call.attempt)

    events: list[Event] = []
    clock = SystemClock()

    def middlewares() -> list[ClockSkewMiddleware | RetryMiddleware | AttemptObserver]:
        return [ClockSkewMiddleware(clock=clock), RetryMiddleware(clock=clock),
                AttemptObserver(clock=clock, hooks=[events.append])]

    composed = compose(middlewares(), innermost)
    call = Call(LIST_GAMES, {}, CallOptions())
    for handler in (composed, composed):
        reply = await handler(call)
        assert reply.envelope.request_id == "rid"
    assert seen == [call, call]
    assert [type(e) for e in events] == [AttemptFinished, AttemptFinished]
