"""Your own middlewares: their order, what they see, what they may change, and the typed error
that names one breaking the contract."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import Call, GameApiClient, Handler, Reply
from gameapi_async._pipeline import compose

from .support import BASE_URL, PLAYER, FakeClock, failure, game_list_body, success

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


async def test_the_call_carries_its_deadline_from_the_start(
    mock: aioresponses, make_client: MakeClient
) -> None:
    # Fixed once when the call starts (the policy's deadline on the client's clock) and the
    # same on every attempt: retry and clock resync read it from the call.
    mock.post(LIST_URL, status=503, payload=failure("busy"))
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))
    clock = FakeClock()
    seen: list[tuple[int, float | None]] = []

    async def outer(call: Call, call_next: Handler) -> Reply:
        seen.append((call.attempt, call.deadline))
        return await call_next(call)

    client = make_client(middlewares=[outer], clock=clock,
                         retry=ga.RetryPolicy(attempts=3, deadline=20.0))
    reply_list = await client.list_games()
    assert reply_list.total == 0
    assert seen == [(1, 1_000.0 + 20.0)]
    no_deadline = make_client(retry=ga.RetryPolicy(deadline=None), middlewares=[outer])
    mock.post(LIST_URL, payload=success({"games": [], "total": 0}))
    await no_deadline.list_games()
    assert seen[-1] == (1, None)


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
    # With its deadline fixed, as the client makes it, the call reaches the sender untouched.
    call = Call(LIST_GAMES, {}, CallOptions(), deadline=clock.monotonic() + 30.0)
    for handler in (composed, composed):
        reply = await handler(call)
        assert reply.envelope.request_id == "rid"
    assert seen == [call, call]
    assert [type(e) for e in events] == [AttemptFinished, AttemptFinished]


# -- a middleware that breaks the contract gets a typed error naming it ------------------

DEMO_URL = f"{BASE_URL}/api/games/get_game_link_demo"


def sync_passthrough(call: Call, call_next: Handler) -> Awaitable[Reply]:
    return call_next(call)  # not async itself, but returns the awaitable: that is allowed


def sync_reply(call: Call, call_next: Handler) -> Any:
    return Reply(ga._protocol.Envelope({"url": "https://x/"}, "r", 200, None), 0.0, 0.0)


async def returns_envelope(call: Call, call_next: Handler) -> Any:
    return (await call_next(call)).envelope


async def returns_nothing(call: Call, call_next: Handler) -> Any:
    await call_next(call)


class Auditor:
    async def __call__(self, call: Call, call_next: Handler) -> Any:
        return {"oops": True}


@pytest.mark.parametrize(("middleware", "name", "problem"), [
    (sync_reply, "sync_reply", "is not async"),
    (returns_envelope, "returns_envelope", "returned Envelope, not a Reply"),
    (returns_nothing, "returns_nothing", "returned NoneType, not a Reply"),
    (Auditor(), "Auditor", "returned dict, not a Reply"),
])
async def test_a_broken_middleware_is_named_in_a_typed_error(
    make_client: MakeClient, mock: aioresponses, middleware: Any, name: str, problem: str
) -> None:
    mock.post(DEMO_URL, payload=success({"url": "https://play/1"}), repeat=True)
    client = make_client(middlewares=[sync_passthrough, middleware],
                         retry=ga.RetryPolicy(attempts=4))
    with pytest.raises(ga.MiddlewareError) as caught:
        await client.get_game_link_demo(**PLAYER)
    assert isinstance(caught.value, TypeError)
    assert caught.value.middleware.endswith(name)
    assert name in str(caught.value)
    assert problem in str(caught.value)
    assert not ga._errors.is_transient(caught.value)
    requests = sum(len(calls) for calls in mock.requests.values())
    assert requests <= 1  # a bug is not retried


async def test_a_broken_middleware_fails_list_games_the_same_way(
    make_client: MakeClient, mock: aioresponses
) -> None:
    mock.post(LIST_URL, body=game_list_body(range(1, 4)), repeat=True)
    client = make_client(middlewares=[returns_envelope])
    with pytest.raises(ga.MiddlewareError, match="returns_envelope"):
        await client.list_games()


async def test_a_sync_middleware_returning_the_awaitable_still_works(
    make_client: MakeClient, mock: aioresponses
) -> None:
    mock.post(DEMO_URL, payload=success({"url": "https://play/1"}))
    client = make_client(middlewares=[sync_passthrough])
    assert (await client.get_game_link_demo(**PLAYER)).url == "https://play/1"


async def test_an_async_event_hook_is_refused_at_construction(make_client: MakeClient) -> None:
    async def hook(event: ga.Event) -> None:
        pass

    with pytest.raises(ga.InvalidParameterError, match="on_event") as caught:
        make_client(on_event=hook)
    assert "async" in str(caught.value)
    with pytest.raises(ga.InvalidParameterError, match="on_event"):
        make_client(on_event=[lambda event: None, hook])


async def test_a_hook_object_returning_a_coroutine_is_logged_not_left_unawaited(
    make_client: MakeClient, mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    class Sneaky:  # async __call__ on an object: not detectable until called
        async def __call__(self, event: ga.Event) -> None:
            await asyncio.sleep(0)

    mock.post(DEMO_URL, payload=success({"url": "https://play/1"}))
    client = make_client(on_event=Sneaky())
    await client.get_game_link_demo(**PLAYER)  # ResourceWarning/unawaited are errors here
    assert "returned a coroutine" in caplog.text
