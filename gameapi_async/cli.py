"""The ``gameapi`` command: the SDK from a shell, and an embedded demo of it.

Exit status: 0 success; 1 the platform or the network failed the call (or ``mock-server``
could not listen); 2 bad usage or input (nothing was sent); 130 interrupted; 141 stdout was
closed early (``| head``), as for any Unix tool killed by SIGPIPE. Expected failures print one
line (or one JSON object with ``--json``) and no traceback. The API token is never printed.

``main()`` returns the exit status and never raises ``SystemExit``, usage errors and
``--help`` included, so it can be called from Python; the console script exits with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import shlex
import signal
import sys
import unicodedata
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TextIO
from urllib.parse import urlsplit

import attrs

from . import __version__
from . import _cli_options as option
from ._cli_io import detach, dump_json, escaping_unencodable, stop_writing_if_broken
from ._client import GameApiClient
from ._config import ENV_AGENT_ID, ENV_API_TOKEN, ENV_BASE_URL, check_api_token, check_base_url
from ._errors import ApiError, GameApiError, InvalidParameterError
from ._events import Event, EventHook, RetryScheduled
from ._models import Game, GameLink

if TYPE_CHECKING:
    from .testing import FakePlatform

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`

ENV_MOCK_PID: Final = "GAMEAPI_MOCK_PID"  # printed by `mock-server --print-env`, for `kill`


# -- output -------------------------------------------------------------------------------


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes: CJK and emoji take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(char)
        else 2 if unicodedata.east_asian_width(char) in ("W", "F")
        else 1
        for char in text
    )


def games_table(games: Sequence[Game]) -> str:
    """A plain-text table of games, one row each, aligned as a terminal shows it."""
    rows = [("ID", "TITLE", "BRAND", "DEMO")]
    rows += [(str(g.id), g.title, g.brand, "yes" if g.demo else "no") for g in games]
    widths = [max(_columns(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell + " " * (w - _columns(cell))
                       for cell, w in zip(row, widths, strict=True)).rstrip()
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


_print_json: Final = dump_json


# -- commands -----------------------------------------------------------------------------


def _retry_notices(err: TextIO) -> EventHook:
    """One short line on ``err`` per retry, so a wait of seconds is never silent."""

    def notice(event: Event) -> None:
        if isinstance(event, RetryScheduled):
            what = getattr(event.error, "code", None) or type(event.error).__name__
            print(f"{event.endpoint}: attempt {event.attempt} failed ({what}); "
                  f"retrying in {event.wait:.1f} s", file=err, flush=True)

    return notice


def _needs_insecure_http(base_url: str) -> bool:
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
    if args.allow_insecure_http and _needs_insecure_http(base_url):
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
    async with _client_from(args, err) as client:
        link = await client.get_game_link(**_player(args), agent_session_id=session_id)
    _print_link(link, args, out)
    return EXIT_OK


async def _demo_link(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with _client_from(args, err) as client:
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
        _announce(fake, args, token, out, err)
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await fake.stop()
    print("Stopped.", file=out)
    return EXIT_OK


def _is_every_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def _announce(fake: FakePlatform, args: argparse.Namespace, token: str, out: TextIO,
              err: TextIO) -> None:
    """Say where the fake is, as ``export`` lines a shell can evaluate.

    ``fake.base_url`` is an address this machine can reach (loopback when listening on every
    address), so the lines work as printed. With ``--print-env`` they are all there is on
    stdout, which is then closed: ``eval "$(gameapi mock-server --print-env &)"`` returns
    with the settings while the server keeps serving in the background.
    """
    settings = {ENV_BASE_URL: fake.base_url, ENV_AGENT_ID: str(args.agent_id),
                ENV_API_TOKEN: token}
    if _needs_insecure_http(fake.base_url):
        print(f"warning: {fake.base_url} is plain http to a non-loopback address: clients "
              "need --allow-insecure-http (allow_insecure_http=True in Python)", file=err)
    if args.print_env:
        settings[ENV_MOCK_PID] = str(os.getpid())
        for name, value in settings.items():
            print(f"export {name}={shlex.quote(value)}", file=out)
        detach(out)
        return
    listening = fake.base_url
    if _is_every_address(args.host):
        port = urlsplit(fake.base_url).port
        listening = f"every address ({args.host}), port {port}; from this machine: {listening}"
    print(f"Fake platform listening on {listening}", file=out)
    for name, value in settings.items():
        print(f"  export {name}={shlex.quote(value)}", file=out)
    print("Press Ctrl+C to stop.", file=out, flush=True)


# -- parsing ------------------------------------------------------------------------------


_EPILOG: Final = f"""\
credentials (games, link, demo-link): flags, or the environment variables
  {ENV_BASE_URL}, {ENV_AGENT_ID} and {ENV_API_TOKEN}
  (prefer the environment for the token: command-line flags show in `ps`)

exit status:
  0    success
  1    the platform refused the call, the network failed, or mock-server could not listen
  2    bad usage or input; nothing was sent
  130  interrupted
  141  stdout was closed before everything was written (e.g. piped into head)

Failures print one line on stderr with the error code, HTTP status and request id;
with --json, one JSON object {{"error": {{...}}}} on stdout instead."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameapi",
        description="Talk to the games platform, or try the SDK against a local fake.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    link.add_argument("--session-id", type=option.parameter("agent_session_id"),
                      help="your session id (default: a new cli-<uuid>)")
    commands.add_parser(
        "demo-link", parents=[platform, player], help="get a demo game link",
        description="Get a link that launches the demo of GAME_ID (virtual balance).",
    )

    mock = commands.add_parser(
        "mock-server", help="serve a fake platform until interrupted",
        description="Serve the fake platform (the one gameapi_async.testing provides) and "
        "print its URL and credentials as export lines; stop with Ctrl+C or SIGTERM.",
    )
    mock.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    mock.add_argument("--port", type=option.port, default=8080,
                      help="default: 8080; 0 picks a free one")
    mock.add_argument("--agent-id", type=option.agent_id, default=1,
                      help="the agent it knows (default 1)")
    mock.add_argument("--api-token", help="the agent's token (default: random, printed)")
    mock.add_argument("--latency", type=option.fault("latency"), default=0.0,
                      help="seconds added to every answer (default 0)")
    mock.add_argument("--error-rate", type=option.fault("error_rate"), default=0.0,
                      help="share of requests answered with an injected error (default 0)")
    mock.add_argument("--error-status", type=option.error_status, action="append",
                      metavar="STATUS",
                      help="status of injected errors, repeatable (default 500, 502 and 503)")
    mock.add_argument("--seed", type=option.integer, default=0,
                      help="seed for injected faults (default 0)")
    mock.add_argument("--print-env", action="store_true",
                      help=f"print only `export` lines (with {ENV_MOCK_PID}) and close stdout, "
                      "then serve: eval \"$(gameapi mock-server --print-env &)\"")

    from .testing._wallet_check import add_parser as add_wallet_check

    add_wallet_check(commands)

    for command in commands.choices.values():
        command.set_defaults(parser=command)  # a usage error shows this command's usage
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
    with escaping_unencodable(out), escaping_unencodable(err):
        try:
            status = _run(argv, out, err)
            out.flush()  # a broken pipe surfaces here, not at interpreter exit
            err.flush()
        except BrokenPipeError:
            # The reader left (`| head -1`): stop quietly, as `yes | head -1` does.
            stop_writing_if_broken(out)
            stop_writing_if_broken(err)
            return EXIT_BROKEN_PIPE
    return status


def _run(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    try:
        # argparse writes usage errors and --help itself, then exits; keep both in out/err
        # and turn the exit into a return value.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args, unknown = build_parser().parse_known_args(argv)
            if unknown:  # argparse would blame the top level; the command's usage helps more
                args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    try:
        with _quiet_sdk_logging():
            return asyncio.run(_COMMANDS[args.command](args, out, err))
    except InvalidParameterError as error:
        # Nothing was sent: a usage error, shown as argparse shows its own.
        error = option.in_flag_terms(error) if error.field in option.FLAGS else error
        if as_json:
            _print_json(error_json(error), out)
        else:
            parser: argparse.ArgumentParser = args.parser
            parser.print_usage(err)
            print(f"{parser.prog}: error: {error.message}", file=err)
        return EXIT_USAGE
    except GameApiError as error:
        if as_json:
            _print_json(error_json(error), out)
        else:
            print(error_line(error), file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
