"""``gameapi demo``: the SDK's main job, end to end, against an embedded fake platform."""

from __future__ import annotations

import argparse
import secrets
from typing import Any, TextIO

from .._client import GameApiClient
from .._errors import GameProviderNotFoundError
from ._output import games_table
from ._status import EXIT_OK

__all__ = ["add_parser", "run_demo"]

PLAYER = {
    "player_id": "player-42",
    "player_username": "Иван/Ivan 🎰",  # any name travels: the signer escapes it as PHP would
    "language": "en",
    "currency": "USD",
    "home_url": "https://casino.example/lobby",
    "ip": "203.0.113.7",
}


async def run_demo(out: TextIO) -> int:
    """List games, get a real and a demo link, and handle one platform error."""
    from ..testing import FakePlatform  # loaded when the demo runs, not when the CLI parses

    token = secrets.token_hex(16)  # a throwaway token shared with the embedded fake only
    async with FakePlatform(agent_id=1, api_token=token) as fake:
        print(f"Embedded fake platform at {fake.base_url} (agent 1, a throwaway token)\n",
              file=out)
        async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token=token) as client:
            print("1. client.list_games()", file=out)
            games = await client.list_games()
            print(games_table(games.games), file=out)
            print(f"{games.total} games (request_id={games.request_id})\n", file=out)

            real = next(g for g in games.games if not g.demo)
            print("2. client.get_game_link(...) and client.get_game_link_demo(...)", file=out)
            link = await client.get_game_link(
                game_id=real.id, agent_session_id="demo-session-1", **PLAYER
            )
            print(f"Game link for #{real.id} {real.title}:\n  {link.url}", file=out)

            playable = next(g for g in games.games if g.demo)
            demo = await client.get_game_link_demo(game_id=playable.id, **PLAYER)
            print(f"Demo link for #{playable.id} {playable.title}:\n  {demo.url}\n", file=out)

            print(f"3. A platform error: asking for a demo of #{real.id} {real.title}, "
                  "which has none:", file=out)
            try:
                await client.get_game_link_demo(game_id=real.id, **PLAYER)
            except GameProviderNotFoundError as error:
                print(
                    f"  handled {type(error).__name__}: code={error.code} "
                    f"http_status={error.http_status} request_id={error.request_id}\n"
                    f"  message: {error.message}",
                    file=out,
                )
            else:  # pragma: no cover - the fake always refuses this
                raise AssertionError("the fake platform served a demo of a game without one")
    print("\nDone. Next: `gameapi mock-server` serves this fake for your own code; "
          "`gameapi --help` lists every command.", file=out)
    return EXIT_OK


async def _demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return await run_demo(out)


def add_parser(commands: Any) -> None:
    """Register ``demo`` on the command's subparsers."""
    demo = commands.add_parser(
        "demo", help="run the SDK end to end against an embedded fake platform",
        description="List games, get a game link and a demo link, and handle one platform "
        "error, all against a fake platform started in-process. Needs no credentials.",
    )
    demo.set_defaults(run=_demo)
