"""Waiting on conditions (never on time) and reading the server's own counters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis

DEADLINE = 60.0  # seconds: generous, so a loaded CI machine is slow but never wrong


async def eventually(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``deadline`` seconds."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        await asyncio.sleep(0.02)


def commands_processed(server: redis.Redis) -> int:
    """Commands the server has processed (``INFO stats``), this look included."""
    return int(server.info("stats")["total_commands_processed"])


def command_calls(server: redis.Redis, command: str) -> int:
    """How often the server has run one command (``INFO commandstats``)."""
    stats = server.info("commandstats").get(f"cmdstat_{command}")
    return int(stats["calls"]) if stats else 0


def namespace_keys(server: redis.Redis) -> list[str]:
    return sorted(key.decode() for key in server.scan_iter("gameapi:*"))


def age_stored_lists(server: redis.Redis, seconds: float) -> None:
    """Make every stored list ``seconds`` older by the store's clock: the server's time
    stamped in its version (in milliseconds), which every process ages it by."""
    for key in server.scan_iter("gameapi:*:version"):
        version = (server.get(key) or b"").decode()
        if version.startswith("x"):  # a tombstone has no age
            continue
        head, _, stamp = version.rpartition("-")
        server.set(key, f"{head}-{int(stamp) - int(seconds * 1000)}", keepttl=True)
