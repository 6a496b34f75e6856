"""The ``gameapi`` command: the SDK from a shell, and an embedded demo of it.

Exit status: 0 success; 1 the platform or the network failed the call; 2 bad usage or input
(nothing was sent); 130 interrupted. Expected failures print one line (or one JSON object with
``--json``) and no traceback. The API token is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, TextIO

import attrs

from ._client import GameApiClient
from ._config import ENV_AGENT_ID, ENV_API_TOKEN, ENV_BASE_URL
from ._errors import ApiError, GameApiError, InvalidParameterError
from ._models import Game, GameLink

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


# -- output -------------------------------------------------------------------------------


def games_table(games: Sequence[Game]) -> str:
    """A plain-text table of games, one row each."""
    rows = [("ID", "TITLE", "BRAND", "DEMO")]
    rows += [(str(g.id), g.title, g.brand, "yes" if g.demo else "no") for g in games]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    return "\n".join(lines)


def error_line(error: GameApiError) -> str:
    """One line that says what failed, with the code, HTTP status and request id."""
    if isinstance(error, ApiError):
        return f"error: {error}"
    return f"error: {type(error).__name__}: {error}"


def error_json(error: GameApiError) -> dict[str, Any]:
    return {
        "error": {
            "type": type(error).__name__,
            "code": getattr(error, "code", None),
            "message": error.message,
            "http_status": error.http_status,
            "request_id": error.request_id,
            "field": getattr(error, "field", None),
        }
    }


def _print_json(value: object, out: TextIO) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2), file=out)


# -- commands -----------------------------------------------------------------------------


def _client_from(args: argparse.Namespace) -> GameApiClient:
    def pick(flag: str, value: object, env: str) -> str:
        found = value if value is not None else os.environ.get(env)
        if not found:
            raise InvalidParameterError(flag, f"not given, and {env} is not set")
        return str(found)

    base_url = pick("--base-url", args.base_url, ENV_BASE_URL)
    agent_text = pick("--agent-id", args.agent_id, ENV_AGENT_ID)
    token = pick("--api-token", args.api_token, ENV_API_TOKEN)
    if not (agent_text.isascii() and agent_text.isdecimal()) or len(agent_text) > 20:
        raise InvalidParameterError("--agent-id", "must be a positive integer")
    return GameApiClient(
        base_url=base_url, agent_id=int(agent_text), api_token=token, timeout=args.timeout
    )


def _player(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "game_id": args.game_id,
        "player_id": args.player_id,
        "player_username": args.player_username or args.player_id,
        "language": args.language,
        "currency": args.currency,
        "home_url": args.home_url,
        "ip": args.ip,
    }


async def _games(args: argparse.Namespace, out: TextIO) -> int:
    async with _client_from(args) as client:
        result = await client.list_games()
    games = [g for g in result.games if g.demo] if args.demo_only else list(result.games)
    if args.json:
        _print_json({"games": [attrs.asdict(g) for g in games], "total": len(games),
                     "request_id": result.request_id}, out)
    else:
        print(games_table(games), file=out)
        print(f"{len(games)} games (request_id={result.request_id})", file=out)
    return EXIT_OK


def _print_link(link: GameLink, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        _print_json(attrs.asdict(link), out)
    else:
        print(link.url, file=out)


async def _link(args: argparse.Namespace, out: TextIO) -> int:
    session_id = args.session_id or f"cli-{uuid.uuid4()}"
    async with _client_from(args) as client:
        link = await client.get_game_link(**_player(args), agent_session_id=session_id)
    _print_link(link, args, out)
    return EXIT_OK


async def _demo_link(args: argparse.Namespace, out: TextIO) -> int:
    async with _client_from(args) as client:
        link = await client.get_game_link_demo(**_player(args))
    _print_link(link, args, out)
    return EXIT_OK


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import run_demo

    return await run_demo(out)


async def _mock_server(args: argparse.Namespace, out: TextIO) -> int:
    from .testing import FakePlatform, Faults

    token = args.api_token or secrets.token_hex(16)
    faults = Faults(latency=args.latency, error_rate=args.error_rate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with FakePlatform(agent_id=args.agent_id, api_token=token, faults=faults,
                                seed=args.seed, host=args.host, port=args.port) as fake:
            print(f"Fake platform listening on {fake.base_url}", file=out)
            print(f"  {ENV_BASE_URL}={fake.base_url}", file=out)
            print(f"  {ENV_AGENT_ID}={args.agent_id}", file=out)
            print(f"  {ENV_API_TOKEN}={token}", file=out)
            print("Press Ctrl+C to stop.", file=out, flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    print("Stopped.", file=out)
    return EXIT_OK


# -- parsing ------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameapi",
        description="Talk to the games platform, or try the SDK against a local fake.",
        epilog=f"Credentials come from flags or {ENV_BASE_URL}, {ENV_AGENT_ID} and "
        f"{ENV_API_TOKEN} (prefer the environment for the token: flags show in `ps`).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    platform = argparse.ArgumentParser(add_help=False)
    platform.add_argument("--base-url", help=f"platform base URL (default ${ENV_BASE_URL})")
    platform.add_argument("--agent-id", help=f"agent id (default ${ENV_AGENT_ID})")
    platform.add_argument("--api-token", help=f"API token (default ${ENV_API_TOKEN})")
    platform.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt")
    platform.add_argument("--json", action="store_true", help="machine-readable output")

    player = argparse.ArgumentParser(add_help=False)
    player.add_argument("game_id", type=int, metavar="GAME_ID")
    player.add_argument("--player-id", required=True)
    player.add_argument("--player-username", help="default: the player id")
    player.add_argument("--currency", required=True, help="e.g. USD")
    player.add_argument("--home-url", required=True, help="where the game's Home button goes")
    player.add_argument("--ip", required=True, help="the player's IP address")
    player.add_argument("--language", default="en", help="default: en")

    commands.add_parser("demo", help="run the SDK end to end against an embedded fake platform")
    games = commands.add_parser("games", parents=[platform], help="list the games")
    games.add_argument("--demo-only", action="store_true", help="only games with a demo")
    link = commands.add_parser("link", parents=[platform, player], help="a real-money link")
    link.add_argument("--session-id", help="your session id (default: a new cli-<uuid>)")
    commands.add_parser("demo-link", parents=[platform, player], help="a demo link")

    mock = commands.add_parser("mock-server", help="serve a fake platform until interrupted")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=8080)
    mock.add_argument("--agent-id", type=int, default=1)
    mock.add_argument("--api-token", help="default: a random token, printed at start")
    mock.add_argument("--latency", type=_positive_float, default=0.0, help="seconds added")
    mock.add_argument("--error-rate", type=_rate, default=0.0, help="share of 5xx answers")
    mock.add_argument("--seed", type=int, default=0, help="seed for injected faults")
    return parser


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, TextIO], Coroutine[Any, Any, int]]]] = {
    "demo": _demo,
    "games": _games,
    "link": _link,
    "demo-link": _demo_link,
    "mock-server": _mock_server,
}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        return asyncio.run(_COMMANDS[args.command](args, out))
    except GameApiError as error:
        if as_json:
            _print_json(error_json(error), out)
        else:
            print(error_line(error), file=err)
        return EXIT_USAGE if isinstance(error, InvalidParameterError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
