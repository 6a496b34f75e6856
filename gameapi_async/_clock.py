"""The clock the SDK reads and sleeps on, injectable so tests never wait for real time."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Three readings of time. Tests pass a fake that advances only when told to."""

    def time(self) -> float:
        """Wall-clock Unix seconds: what requests are stamped with."""
        ...

    def monotonic(self) -> float:
        """A clock that never jumps: durations, deadlines and cache ages."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; every wait the SDK makes (backoff, Retry-After) goes through here."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"
