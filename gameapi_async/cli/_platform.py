"""``gameapi games``, ``link`` and ``demo-link``: the SDK's calls from a shell.

Credentials come from the flags or, where a flag is absent, from the environment; each value
is checked by the SDK's own rule and refused under the name the user typed.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from .._client import GameApiClient
from .._config import ENV_AGENT_ID, ENV_API_TOKEN, ENV_BASE_URL, check_api_token, check_base_url
from .._errors import InvalidParameterError
from .._events import Event, EventHook, RetryScheduled
from .._models import GameLink
from . import _options as option
from ._io import dump_json
from ._output import games_table
from ._status import EXIT_OK

__all__ = ["add_parsers", "needs_insecure_http"]


def _retry_notices(err: TextIO) -> EventHook:
    """One short line on ``err`` per retry, so a wait of seconds is never silent."""

    def notice(event: Event) -> None:
        if isinstance(event, RetryScheduled):
            what = getattr(event.error, "code", None) or type(event.error).__name__
            print(f"{event.endpoint}: attempt {event.attempt} failed ({what}); "
                  f"retrying in {event.wait:.1f} s", file=err, flush=True)

    return notice


def needs_insecure_http(base_url: str) -> bool:
    """True when the SDK would refuse ``base_url`` without ``allow_insecure_http``."""
    try:
        check_base_url(base_url, allow_insecure_http=False)
    except InvalidParameterError:
        return True
    return False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _client_from(args: argparse.Namespace, err: TextIO) -> GameApiClient:
    """A client from the flags, or the environment where a flag is absent.

    Each value is checked by the SDK's rule and refused under the name the user typed: the
    flag, or the variable it came from.
    """

    def pick(flag: str, value: str | None, env: str) -> tuple[str, str]:
        if value is not None:
            return value, flag
        found = os.environ.get(env)
        if not found:
            raise InvalidParameterError(flag, f"not given, and {env} is not set")
        return found, env

    def checked(check: Callable[[str], object], value: str, name: str) -> None:
        try:
            check(value)
        except InvalidParameterError as error:
            raise option.in_flag_terms(error, name) from None

    base_url, base_url_name = pick("--base-url", args.base_url, ENV_BASE_URL)
    agent_text, agent_name = pick("--agent-id", args.agent_id, ENV_AGENT_ID)
    token, token_name = pick("--api-token", args.api_token, ENV_API_TOKEN)
    checked(lambda url: check_base_url(url, allow_insecure_http=args.allow_insecure_http),
            base_url, base_url_name)
    agent_id = option.agent_id_from(agent_name, agent_text)
    checked(check_api_token, token, token_name)
    if args.allow_insecure_http and needs_insecure_http(base_url):
        print("warning: --allow-insecure-http: requests go over plain http; anyone on the "
              "network path can read them and replay them for 300 s", file=err)
    return GameApiClient(
        base_url=base_url, agent_id=agent_id, api_token=token, timeout=args.timeout,
        allow_insecure_http=args.allow_insecure_http,
        on_event=_retry_notices(err) if _is_terminal(err) else (),
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


async def _games(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with _client_from(args, err) as client:
        result = await client.list_games()
    games = [g for g in result.games if g.demo] if args.demo_only else list(result.games)
    if args.json:
        dump_json({"games": [attrs.asdict(g) for g in games], "total": len(games),
                   "request_id": result.request_id}, out)
    else:
        print(games_table(games), file=out)
        print(f"{len(games)} games (request_id={result.request_id})", file=out)
    return EXIT_OK


def _print_link(link: GameLink, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        dump_json(attrs.asdict(link), out)
    else:
        print(link.url, file=out)


async def _link(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    session_id = args.session_id or f"cli-{uuid.uuid4()}"
    async with _client_from(args, err) as client:
        link = await client.get_game_link(**_player(args), agent_session_id=session_id)
    _print_link(link, args, out)
    return EXIT_OK


async def _demo_link(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with _client_from(args, err) as client:
        link = await client.get_game_link_demo(**_player(args))
    _print_link(link, args, out)
    return EXIT_OK


def _platform_flags() -> argparse.ArgumentParser:
    platform = argparse.ArgumentParser(add_help=False)
    platform.add_argument("--base-url", help=f"platform base URL (default ${ENV_BASE_URL})")
    platform.add_argument("--agent-id", help=f"your agent id (default ${ENV_AGENT_ID})")
    platform.add_argument("--api-token", help=f"your API token (default ${ENV_API_TOKEN})")
    platform.add_argument("--timeout", type=option.timeout, default=10.0,
                          help="seconds per attempt (default 10)")
    platform.add_argument("--allow-insecure-http", action="store_true",
                          help="allow a plain-http base URL that is not loopback (a staging "
                          "host); requests can then be read on the network")
    platform.add_argument("--json", action="store_true",
                          help="print JSON on stdout, errors included")
    return platform


def _player_flags() -> argparse.ArgumentParser:
    player = argparse.ArgumentParser(add_help=False)
    player.add_argument("game_id", type=option.game_id, metavar="GAME_ID",
                        help="the game's id")
    player.add_argument("--player-id", type=option.parameter("player_id"), required=True,
                        help="the player's id in your system")
    player.add_argument("--player-username", type=option.parameter("player_username"),
                        help="default: the player id")
    player.add_argument("--currency", type=option.parameter("currency"), required=True,
                        help="e.g. USD")
    player.add_argument("--home-url", type=option.parameter("home_url"), required=True,
                        help="where the game's Home button goes")
    player.add_argument("--ip", type=option.parameter("ip"), required=True,
                        help="the player's IP address")
    player.add_argument("--language", type=option.parameter("language"), default="en",
                        help="default: en")
    return player


def add_parsers(commands: Any) -> None:
    """Register ``games``, ``link`` and ``demo-link`` on the command's subparsers."""
    platform, player = _platform_flags(), _player_flags()
    games = commands.add_parser("games", parents=[platform], help="list the games",
                                description="List the games available to your agent.")
    games.add_argument("--demo-only", action="store_true", help="only games with a demo")
    games.set_defaults(run=_games)
    link = commands.add_parser(
        "link", parents=[platform, player], help="get a game link (real money)",
        description="Get a link that launches GAME_ID for a player, in a new game session.",
    )
    link.add_argument("--session-id", type=option.parameter("agent_session_id"),
                      help="your session id (default: a new cli-<uuid>)")
    link.set_defaults(run=_link)
    demo_link = commands.add_parser(
        "demo-link", parents=[platform, player], help="get a demo game link",
        description="Get a link that launches the demo of GAME_ID (virtual balance).",
    )
    demo_link.set_defaults(run=_demo_link)
