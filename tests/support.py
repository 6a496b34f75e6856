"""Test doubles and constants shared by the suite."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gameapi_async import GameApiClient, GameApiError, RawResponse, RetryPolicy, SignedRequest

BASE_URL = "https://api.example.test"
AGENT_ID = 7
API_TOKEN = "tok-SECRET-7f3a9c"


@asynccontextmanager
async def closing_clients(**defaults: Any) -> AsyncIterator[Callable[..., GameApiClient]]:
    """A factory of clients built from ``defaults`` (a call's keywords win); every client it
    made is closed on exit, so no test leaks a connection or a cache task."""
    made: list[GameApiClient] = []

    def factory(**overrides: Any) -> GameApiClient:
        client = GameApiClient(**(defaults | overrides))
        made.append(client)
        return client

    try:
        yield factory
    finally:
        for client in made:
            await client.close()


class FakeClock:
    """Wall and monotonic time that advance only through ``advance`` or ``sleep``.

    ``sleep`` records the wait, moves time forward and yields once to the loop, so code that
    backs off runs instantly and tests can assert on exactly how long it would have waited.
    """

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.wall = wall
        self.mono = 1_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


def readable_id(text: str) -> str:
    """A parametrize id with no backslash and no non-ASCII or control character (shown as
    ``<hex>``): pytest escapes those in node ids, and an escaped id cannot be selected again by
    name, as mutation testing does for every test it reruns."""
    return "".join(c if " " <= c <= "~" and c != "\\" else f"<{ord(c):x}>" for c in text)


def iso(epoch: float) -> str:
    """An envelope timestamp (``2024-01-01T00:00:00.000Z``) for Unix seconds."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def success(content: dict[str, Any], request_id: str = "rid-ok",
            server_time: float | None = None) -> dict[str, Any]:
    """A success envelope, optionally stamped with the platform's time."""
    body: dict[str, Any] = {"status": "success", "request_id": request_id, "content": content}
    if server_time is not None:
        body["timestamp"] = iso(server_time)
    return body


def failure(code: str, request_id: str | None = None, server_time: float | None = None,
            message: str = "It failed") -> dict[str, Any]:
    """An error envelope, optionally stamped with the platform's time."""
    body: dict[str, Any] = {"status": "error", "error": code, "message": message,
                            "request_id": request_id or f"rid-{code}"}
    if server_time is not None:
        body["timestamp"] = iso(server_time)
    return body


def game_list_body(ids: range | list[int], request_id: str = "rid") -> bytes:
    """A success envelope listing games with these ids (odd ids have a demo)."""
    games = [{"id": i, "title": f"Game {i}", "brand": "B", "image_url": f"https://i/{i}.jpg",
              "demo": i % 2 == 1} for i in ids]
    return json.dumps(success({"games": games, "total": len(games)}, request_id)).encode()


class Script:
    """A ``MockTransport`` handler that answers from a queue, then from a default.

    ``answers`` are used first, oldest first; a ``GameApiError`` among them is raised instead
    of answered. While ``gate`` holds an unset event, every request waits on it, so a test can
    hold requests in flight. Only the network is scripted: client, pipeline and cache are real.
    """

    def __init__(self, default: RawResponse) -> None:
        self.default = default
        self.answers: deque[RawResponse | GameApiError] = deque()
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: SignedRequest) -> RawResponse:
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.popleft() if self.answers else self.default
        if isinstance(answer, GameApiError):
            raise answer
        return answer


@asynccontextmanager
async def serve(app: web.Application, ssl_context: ssl.SSLContext | None = None
                ) -> AsyncIterator[str]:
    """Run an aiohttp app on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# A demo-link parameter set, and a client that makes one attempt and caches nothing: for tests
# of how one answer or one setting is handled.
PLAYER: dict[str, Any] = {"game_id": 1, "player_id": "p1", "player_username": "u",
                          "language": "en", "currency": "EUR", "home_url": "https://home/",
                          "ip": "1.2.3.4"}


def single_attempt_client(**overrides: Any) -> GameApiClient:
    settings: dict[str, Any] = {"base_url": BASE_URL, "agent_id": 1, "api_token": API_TOKEN,
                                "retry": RetryPolicy.disabled(), "games_ttl": 0}
    settings.update(overrides)
    return GameApiClient(**settings)
