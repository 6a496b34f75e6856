"""A user middleware that breaks the contract gets a typed error naming it, not a raw one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aioresponses import aioresponses

import gameapi_async as ga
from gameapi_async import Call, GameApiClient, Handler, Reply

from .support import BASE_URL, PLAYER, game_list_body, success

LIST_URL = f"{BASE_URL}/api/games/list"
DEMO_URL = f"{BASE_URL}/api/games/get_game_link_demo"
MakeClient = Callable[..., GameApiClient]


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
