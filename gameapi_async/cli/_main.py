"""Parsing and dispatch of the ``gameapi`` command, and how it ends: an exit status, never a
traceback for an expected failure, a quiet stop when the reader goes away."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, TextIO

from .. import _version
from .._config import ENV_AGENT_ID, ENV_API_TOKEN, ENV_BASE_URL
from .._errors import GameApiError, InvalidParameterError
from . import _demo, _mock_server, _platform, _wallet_check
from . import _options as option
from ._io import dump_json, escaping_unencodable, or_devnull, stop_writing_if_broken
from ._output import error_json, error_line
from ._status import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["Command", "build_parser", "main"]

#: What a subcommand runs: ``(args, out, err) -> exit status``.
Command = Callable[[argparse.Namespace, TextIO, TextIO], Coroutine[Any, Any, int]]


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
    """The ``gameapi`` parser: each subcommand's module registers itself and its ``run``."""
    parser = argparse.ArgumentParser(
        prog="gameapi",
        description="Talk to the games platform, or try the SDK against a local fake.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _demo.add_parser(commands)
    _platform.add_parsers(commands)
    _mock_server.add_parser(commands)
    _wallet_check.add_parser(commands)
    for command in commands.choices.values():
        command.set_defaults(parser=command)  # a usage error shows this command's usage
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    with contextlib.ExitStack() as streams:
        out = or_devnull(out if out is not None else sys.stdout, streams)
        err = or_devnull(err if err is not None else sys.stderr, streams)
        return _main(argv, out, err)


def _main(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
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
    run: Command = args.run  # set by the subcommand's add_parser
    try:
        # The SDK's retry warnings stay off stderr through the package's NullHandler.
        return asyncio.run(run(args, out, err))
    except InvalidParameterError as error:
        # Nothing was sent: a usage error, shown as argparse shows its own.
        error = option.in_flag_terms(error) if error.field in option.FLAGS else error
        if as_json:
            dump_json(error_json(error), out)
        else:
            parser: argparse.ArgumentParser = args.parser
            parser.print_usage(err)
            print(f"{parser.prog}: error: {error.message}", file=err)
        return EXIT_USAGE
    except GameApiError as error:
        if as_json:
            dump_json(error_json(error), out)
        else:
            print(error_line(error), file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
