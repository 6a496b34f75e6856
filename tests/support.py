"""Test doubles and constants shared by the suite."""

from __future__ import annotations

import asyncio

BASE_URL = "https://api.example.test"
AGENT_ID = 7
API_TOKEN = "tok-SECRET-7f3a9c"


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
