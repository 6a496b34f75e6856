"""The ``gameapi`` command: the SDK from a shell, and an embedded demo of it.

Exit status: 0 success; 1 the platform or the network failed the call (or ``mock-server``
could not listen); 2 bad usage or input (nothing was sent); 130 interrupted. Expected failures
print one line (or one JSON object with ``--json``) and no traceback. The API token is never
printed.

``main()`` returns the exit status and never raises ``SystemExit``, usage errors and
``--help`` included, so it can be called from Python; the console script exits with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
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


async def _games(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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


async def _link(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    session_id = args.session_id or f"cli-{uuid.uuid4()}"
    async with _client_from(args) as client:
        link = await client.get_game_link(**_player(args), agent_session_id=session_id)
    _print_link(link, args, out)
    return EXIT_OK


async def _demo_link(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with _client_from(args) as client:
        link = await client.get_game_link_demo(**_player(args))
    _print_link(link, args, out)
    return EXIT_OK


async def _wallet_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .testing._wallet_check import run

    return await run(args, out, err)


async def _demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._demo import run_demo

    return await run_demo(out)


async def _mock_server(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .testing import FakePlatform, Faults

    token = args.api_token or secrets.token_hex(16)
    faults = Faults(latency=args.latency, error_rate=args.error_rate,
                    error_statuses=tuple(args.error_status or (500, 502, 503)))
    fake = FakePlatform(agent_id=args.agent_id, api_token=token, faults=faults,
                        seed=args.seed, host=args.host, port=args.port)
    try:
        await fake.start()
    except OSError as error:  # the port is taken, the host is not ours or does not resolve
        reason = os.strerror(error.errno) if error.errno and error.errno > 0 else None
        print(f"error: cannot listen on {args.host}:{args.port}: "
              f"{reason or error.strerror or error}", file=err)
        return EXIT_FAILED
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread there are no signal handlers; Ctrl+C still interrupts.
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        print(f"Fake platform listening on {fake.base_url}", file=out)
        print(f"  {ENV_BASE_URL}={fake.base_url}", file=out)
        print(f"  {ENV_AGENT_ID}={args.agent_id}", file=out)
        print(f"  {ENV_API_TOKEN}={token}", file=out)
        print("Press Ctrl+C to stop.", file=out, flush=True)
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await fake.stop()
    print("Stopped.", file=out)
    return EXIT_OK


# -- parsing ------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return value


def _port(text: str) -> int:
    if not (text.isascii() and text.isdecimal() and int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}")
    return int(text)


def _error_status(text: str) -> int:
    if not (text.isascii() and text.isdecimal() and 400 <= int(text) <= 599):
        raise argparse.ArgumentTypeError(f"must be an HTTP status 400-599, got {text!r}")
    return int(text)


def _agent(text: str) -> int:
    if not (text.isascii() and text.isdecimal() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


_EPILOG: Final = f"""\
credentials (games, link, demo-link): flags, or the environment variables
  {ENV_BASE_URL}, {ENV_AGENT_ID} and {ENV_API_TOKEN}
  (prefer the environment for the token: command-line flags show in `ps`)

exit status:
  0    success
  1    the platform refused the call, the network failed, or mock-server could not listen
  2    bad usage or input; nothing was sent
  130  interrupted

Failures print one line on stderr with the error code, HTTP status and request id;
with --json, one JSON object {{"error": {{...}}}} on stdout instead."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameapi",
        description="Talk to the games platform, or try the SDK against a local fake.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    platform = argparse.ArgumentParser(add_help=False)
    platform.add_argument("--base-url", help=f"platform base URL (default ${ENV_BASE_URL})")
    platform.add_argument("--agent-id", help=f"your agent id (default ${ENV_AGENT_ID})")
    platform.add_argument("--api-token", help=f"your API token (default ${ENV_API_TOKEN})")
    platform.add_argument("--timeout", type=_seconds, default=10.0,
                          help="seconds per attempt (default 10)")
    platform.add_argument("--json", action="store_true",
                          help="print JSON on stdout, errors included")

    player = argparse.ArgumentParser(add_help=False)
    player.add_argument("game_id", type=int, metavar="GAME_ID", help="the game's id")
    player.add_argument("--player-id", required=True, help="the player's id in your system")
    player.add_argument("--player-username", help="default: the player id")
    player.add_argument("--currency", required=True, help="e.g. USD")
    player.add_argument("--home-url", required=True, help="where the game's Home button goes")
    player.add_argument("--ip", required=True, help="the player's IP address")
    player.add_argument("--language", default="en", help="default: en")

    commands.add_parser(
        "demo", help="run the SDK end to end against an embedded fake platform",
        description="List games, get a game link and a demo link, and handle one platform "
        "error, all against a fake platform started in-process. Needs no credentials.",
    )
    games = commands.add_parser("games", parents=[platform], help="list the games",
                                description="List the games available to your agent.")
    games.add_argument("--demo-only", action="store_true", help="only games with a demo")
    link = commands.add_parser(
        "link", parents=[platform, player], help="get a game link (real money)",
        description="Get a link that launches GAME_ID for a player, in a new game session.",
    )
    link.add_argument("--session-id", help="your session id (default: a new cli-<uuid>)")
    commands.add_parser(
        "demo-link", parents=[platform, player], help="get a demo game link",
        description="Get a link that launches the demo of GAME_ID (virtual balance).",
    )

    mock = commands.add_parser(
        "mock-server", help="serve a fake platform until interrupted",
        description="Serve the fake platform (the one gameapi_async.testing provides) and "
        "print its URL and credentials; stop with Ctrl+C or SIGTERM.",
    )
    mock.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    mock.add_argument("--port", type=_port, default=8080, help="default: 8080; 0 picks a free one")
    mock.add_argument("--agent-id", type=_agent, default=1, help="the agent it knows (default 1)")
    mock.add_argument("--api-token", help="the agent's token (default: random, printed)")
    mock.add_argument("--latency", type=_seconds, default=0.0,
                      help="seconds added to every answer (default 0)")
    mock.add_argument("--error-rate", type=_rate, default=0.0,
                      help="share of requests answered with an injected error (default 0)")
    mock.add_argument("--error-status", type=_error_status, action="append", metavar="STATUS",
                      help="status of injected errors, repeatable (default 500, 502 and 503)")
    mock.add_argument("--seed", type=int, default=0, help="seed for injected faults (default 0)")

    from .testing._wallet_check import add_parser as add_wallet_check

    add_wallet_check(commands)
    return parser


_Command = Callable[[argparse.Namespace, TextIO, TextIO], Coroutine[Any, Any, int]]
_COMMANDS: Final[dict[str, _Command]] = {
    "demo": _demo,
    "games": _games,
    "link": _link,
    "demo-link": _demo_link,
    "mock-server": _mock_server,
    "wallet-check": _wallet_check,
}


@contextlib.contextmanager
def _quiet_sdk_logging() -> Iterator[None]:
    """Keep the SDK's retry warnings off stderr when nobody configured logging.

    Python prints unhandled warnings to stderr; here they would surround the one error line.
    A program that set up logging (a handler anywhere up the tree) keeps its logs.
    """
    logger = logging.getLogger("gameapi_async")
    if logger.hasHandlers():
        yield
        return
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        # argparse writes usage errors and --help itself, then exits; keep both in out/err
        # and turn the exit into a return value.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    try:
        with _quiet_sdk_logging():
            return asyncio.run(_COMMANDS[args.command](args, out, err))
    except GameApiError as error:
        if as_json:
            _print_json(error_json(error), out)
        else:
            print(error_line(error), file=err)
        return EXIT_USAGE if isinstance(error, InvalidParameterError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
