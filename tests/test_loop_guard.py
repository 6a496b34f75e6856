"""A client belongs to the event loop (and process) of its first call; anything else fails fast.

These tests run their own loops with ``asyncio.run`` (as a script or a second test loop
would), against a real FakePlatform on a loop of its own thread, so sockets are real.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async.testing import FakePlatform

from .support import PLAYER

TOKEN = "loop-token"


class PlatformThread:
    """A FakePlatform served by a loop on its own thread, outliving the tests' loops."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakePlatform(agent_id=1, api_token=TOKEN)
        asyncio.run_coroutine_threadsafe(self.fake.__aenter__(), self.loop).result(60)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(
            self.fake.__aexit__(None, None, None), self.loop
        ).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)
        self.loop.close()


@pytest.fixture(scope="module")
def platform() -> Iterator[PlatformThread]:
    served = PlatformThread()
    yield served
    served.stop()


def make_client(platform: PlatformThread, **overrides: Any) -> GameApiClient:
    settings: dict[str, Any] = {"base_url": platform.fake.base_url, "agent_id": 1,
                                "api_token": TOKEN}
    settings.update(overrides)
    return GameApiClient(**settings)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_socket_left_behind() -> Iterator[None]:
    gc.collect()
    before = open_fds()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        yield
        gc.collect()
    # The platform's side of each connection closes on its own thread once it sees ours go:
    # wait for that (a condition with a generous deadline), then nothing may be left.
    deadline = time.monotonic() + 30
    while not open_fds() <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= before


@pytest.mark.usefixtures("no_socket_left_behind")
def test_a_second_asyncio_run_fails_fast_with_a_typed_error(platform: PlatformThread) -> None:
    client = make_client(platform, retry=RetryPolicy(attempts=4))

    async def first() -> int:
        return (await client.list_games(refresh=True)).total

    async def second() -> None:
        await client.get_game_link_demo(**PLAYER)

    assert asyncio.run(first()) > 0
    requests = len(platform.fake.requests)
    with pytest.raises(ga.WrongEventLoopError, match="one client per event loop") as caught:
        asyncio.run(second())
    assert isinstance(caught.value, RuntimeError)  # old `except RuntimeError` still catches
    assert not ga._errors.is_transient(caught.value)
    assert caught.value.attempts == 1  # refused before the pipeline: never retried
    assert len(platform.fake.requests) == requests  # nothing was sent
    asyncio.run(client.close())  # from yet another loop: fine, nothing left to release
    assert client.closed


@pytest.mark.usefixtures("no_socket_left_behind")
def test_every_entry_point_refuses_a_foreign_loop(platform: PlatformThread) -> None:
    client = make_client(platform)

    async def bind() -> None:
        await client.list_games()

    asyncio.run(bind())
    for use in (
        lambda: client.list_games(),
        lambda: client.list_games(refresh=True),
        lambda: client.get_game(1),
        lambda: client.get_game_link(agent_session_id="s", **PLAYER),
        lambda: client.get_game_link_demo(**PLAYER),
        lambda: client.with_options(timeout=3).get_game_link_demo(**PLAYER),
        lambda: client.__aenter__(),
    ):

        async def attempt(use: Any = use) -> None:
            await use()

        with pytest.raises(ga.WrongEventLoopError):
            asyncio.run(attempt())


@pytest.mark.usefixtures("no_socket_left_behind")
def test_an_orphaned_background_refresh_gives_no_raw_runtime_error(
    platform: PlatformThread,
) -> None:
    # A refresh started in the background is still running when the first loop ends.
    client = make_client(platform, games_ttl=0.001)

    async def first() -> None:
        await client.list_games()
        await asyncio.sleep(0.01)  # past the TTL: the next call serves stale and refreshes
        await client.list_games()
        assert client.cache_stats().refreshes == 1

    asyncio.run(first())

    async def second() -> None:
        await client.list_games()

    with pytest.raises(ga.WrongEventLoopError):
        asyncio.run(second())


@pytest.mark.usefixtures("no_socket_left_behind")
def test_a_loop_ending_with_the_client_open_releases_its_sockets(
    platform: PlatformThread,
) -> None:
    # No close(), no `async with`: asyncio.run's shutdown still closes the pool on its loop.
    client = make_client(platform)

    async def use() -> None:
        await client.get_game_link_demo(**PLAYER)

    asyncio.run(use())
    assert not client.closed  # released, not closed: using it elsewhere says why it cannot


def test_close_from_another_thread_while_its_loop_runs(platform: PlatformThread) -> None:
    client = make_client(platform)
    asyncio.run_coroutine_threadsafe(client.get_game_link_demo(**PLAYER), platform.loop).result(60)
    asyncio.run(client.close())  # released on the platform thread's loop, where it belongs
    assert client.closed
    with pytest.raises(ga.ClientClosedError):
        asyncio.run_coroutine_threadsafe(
            client.get_game_link_demo(**PLAYER), platform.loop
        ).result(60)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.usefixtures("no_socket_left_behind")
def test_a_forked_child_refuses_the_inherited_client_and_the_parent_keeps_working(
    platform: PlatformThread,
) -> None:
    client = make_client(platform)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(client.get_game_link_demo(**PLAYER))
        read, write = os.pipe()
        with warnings.catch_warnings():
            # The platform's thread is running: the fork is the point of this test.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report what using the inherited client does, then leave
            os.close(read)
            verdict = b"?"
            try:
                asyncio.run(client.get_game_link_demo(**PLAYER))
                verdict = b"no error"
            except ga.WrongEventLoopError as error:
                verdict = b"refused: " + str(error).encode()
            except BaseException as error:
                verdict = f"{type(error).__name__}: {error}".encode()
            try:
                asyncio.run(client.close())
            except BaseException as error:
                verdict += f" / close: {type(error).__name__}".encode()
            os.write(write, verdict)
            os._exit(0)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 4096):
            chunks.append(chunk)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        verdict = b"".join(chunks).decode()
        assert os.waitstatus_to_exitcode(status) == 0
        assert verdict.startswith("refused: "), verdict
        assert "forked" in verdict or "fork" in verdict
        assert "close:" not in verdict
        # The child touched nothing of ours: the parent's pooled connection still works.
        link = loop.run_until_complete(client.get_game_link_demo(**PLAYER))
        assert link.url.startswith("http")
    finally:
        loop.run_until_complete(client.close())
        loop.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_client_made_before_a_fork_is_refused_in_the_child_even_if_never_used(
    platform: PlatformThread,
) -> None:
    # gunicorn's preload: the client is made at import, in the parent, and first used in a
    # worker. The child did not make it, so it is refused there like a used one.
    client = make_client(platform)
    requests = len(platform.fake.requests)
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the platform's thread runs
        pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            asyncio.run(client.get_game_link_demo(**PLAYER))
            verdict = b"no error"
        except BaseException as error:
            verdict = type(error).__name__.encode()
        os.write(write, verdict)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        verdict = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert verdict == "WrongEventLoopError"
    assert len(platform.fake.requests) == requests  # the child sent nothing
    asyncio.run(client.close())  # the parent still owns it: closes as usual


async def test_concurrent_close_calls_all_wait_until_everything_is_closed(
    platform: PlatformThread,
) -> None:
    client = make_client(platform)
    await client.get_game_link_demo(**PLAYER)
    transport = client._parts.transport
    first = asyncio.ensure_future(client.close())
    second = asyncio.ensure_future(client.close())
    await asyncio.sleep(0)  # both calls are under way
    await second
    # The second call returned: by then the pool is closed, not merely "closing".
    assert transport._closed  # type: ignore[attr-defined]
    assert transport._session is not None
    assert transport._session.closed
    await first


async def test_a_cancelled_close_still_closes_for_the_callers_that_wait(
    platform: PlatformThread,
) -> None:
    client = make_client(platform)
    await client.get_game_link_demo(**PLAYER)
    transport = client._parts.transport
    first = asyncio.ensure_future(client.close())
    await asyncio.sleep(0)
    first.cancel()
    await client.close()
    assert transport._session is not None
    assert transport._session.closed
    with pytest.raises(asyncio.CancelledError):
        await first


def test_close_after_a_loop_closed_by_hand_gives_up_quietly(platform: PlatformThread) -> None:
    # A loop closed without shutdown_asyncgens() cannot run any clean-up: close() from another
    # loop must neither raise nor leave the loop guard to a closed loop's finalizer.
    client = make_client(platform)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(client.get_game_link_demo(**PLAYER))
    loop.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the stranded socket, as documented
        asyncio.run(client.close())
        assert client.closed
        with pytest.raises(ga.ClientClosedError):
            asyncio.run(client.get_game_link_demo(**PLAYER))
        del client
        gc.collect()  # no "Exception ignored" from a finalizer on the closed loop
