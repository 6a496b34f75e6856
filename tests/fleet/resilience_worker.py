"""One fleet process with a circuit breaker:
``python -m tests.fleet.resilience_worker REDIS_URL BASE_URL TOKEN THRESHOLD COOL_DOWN``.

Reads commands on stdin, one per line, answers one JSON line each on stdout: ``call`` (one
demo-link call: ``{"outcome": <class name or "link">, "changes": [[state, reason], ...]}``),
``quit``. Says ``{"ready": true}`` once its first call has made it listen to the fleet.
"""

from __future__ import annotations

import asyncio
import json
import sys

import gameapi_async as ga
from gameapi_async import CircuitBreaker, GameApiClient, RedisGameListStore, RetryPolicy

PLAYER = {"game_id": 1, "player_id": "p1", "player_username": "u", "language": "en",
          "currency": "EUR", "home_url": "https://home/", "ip": "1.2.3.4"}


def say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main(redis_url: str, base_url: str, token: str, threshold: int, cool_down: float
               ) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    changes: list[list[str]] = []

    def hear(event: ga.Event) -> None:
        if isinstance(event, ga.CircuitChanged):
            changes.append([event.state, event.reason])

    async with RedisGameListStore(redis_url) as store, GameApiClient(
        base_url=base_url, agent_id=1, api_token=token, games_store=store,
        retry=RetryPolicy.disabled(), on_event=hear,
        # hold=0: refused calls answer at once, so each command's outcome is the circuit's
        # state (waiting for a probe is tested in test_resilience.py).
        breaker=CircuitBreaker(failure_threshold=threshold, cool_down=cool_down, hold=0),
    ) as client:
        await client.get_game_link_demo(**PLAYER)
        say({"ready": True})
        while line := (await reader.readline()).decode().strip():
            if line == "quit":
                break
            try:
                await client.get_game_link_demo(**PLAYER)
                outcome = "link"
            except ga.GameApiError as error:
                outcome = type(error).__name__
            say({"outcome": outcome, "changes": changes})


if __name__ == "__main__":
    url, base, secret, threshold, cool_down = sys.argv[1:6]
    asyncio.run(main(url, base, secret, int(threshold), float(cool_down)))
