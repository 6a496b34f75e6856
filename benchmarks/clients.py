"""The three ways to get a game link that the overhead benchmark compares.

``RawAiohttp`` and ``RawHttpx`` are what a careful engineer would write by hand: sort, encode
the PHP way, HMAC, post, parse, read ``content.url``. ``Sdk`` is one ``get_game_link`` call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Protocol

import aiohttp

from gameapi_async import GameApiClient

TOKEN = "bench-token-0123456789abcdef"
PARAMS: dict[str, Any] = {
    "game_id": 123,
    "player_id": "player_123",
    "player_username": "john_doe",
    "language": "en",
    "currency": "USD",
    "home_url": "https://casino.example/lobby",
    "agent_session_id": "session_abc123",
    "ip": "192.168.1.1",
}


class Mode(Protocol):
    name: str

    async def call(self) -> str: ...

    async def close(self) -> None: ...


def hand_signed(params: dict[str, Any]) -> tuple[bytes, str]:
    data = {"agent_id": 1, "timestamp": int(time.time()), **params}
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("/", "\\/").encode()
    return body, hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()


class RawAiohttp:
    name = "raw aiohttp"

    def __init__(self, base_url: str) -> None:
        self._url = base_url + "/api/games/get_game_link"
        self._session = aiohttp.ClientSession()

    async def call(self) -> str:
        body, signature = hand_signed(PARAMS)
        headers = {"Content-Type": "application/json", "X-Signature": signature}
        async with self._session.post(self._url, data=body, headers=headers) as response:
            payload = json.loads(await response.read())
        if response.status != 200 or payload.get("status") != "success":
            raise RuntimeError(payload)
        url: str = payload["content"]["url"]
        return url

    async def close(self) -> None:
        await self._session.close()


class RawHttpx:
    name = "raw httpx"

    def __init__(self, base_url: str) -> None:
        import httpx

        self._url = base_url + "/api/games/get_game_link"
        self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=100))

    async def call(self) -> str:
        body, signature = hand_signed(PARAMS)
        headers = {"Content-Type": "application/json", "X-Signature": signature}
        response = await self._client.post(self._url, content=body, headers=headers)
        payload = json.loads(response.content)
        if response.status_code != 200 or payload.get("status") != "success":
            raise RuntimeError(payload)
        url: str = payload["content"]["url"]
        return url

    async def close(self) -> None:
        await self._client.aclose()


class Sdk:
    name = "gameapi_async"

    def __init__(self, base_url: str) -> None:
        self._client = GameApiClient(base_url=base_url, agent_id=1, api_token=TOKEN)

    async def call(self) -> str:
        link = await self._client.get_game_link(**PARAMS)
        return link.url

    async def close(self) -> None:
        await self._client.close()


def available_modes() -> list[type[RawAiohttp] | type[RawHttpx] | type[Sdk]]:
    modes: list[type[RawAiohttp] | type[RawHttpx] | type[Sdk]] = [RawAiohttp, Sdk]
    try:
        import httpx  # noqa: F401
    except ImportError:
        return modes
    return [RawAiohttp, RawHttpx, Sdk]
