"""``gameapi mock-server``: the testing kit's fake platform, served until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import secrets
import shlex
import signal
from typing import TYPE_CHECKING, Any, Final, TextIO
from urllib.parse import urlsplit

from .._config import ENV_AGENT_ID, ENV_API_TOKEN, ENV_BASE_URL
from . import _options as option
from ._io import detach
from ._platform import needs_insecure_http
from ._status import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:  # the fake (and aiohttp) load when the command runs, not when it parses
    from ..testing import FakePlatform

__all__ = ["ENV_MOCK_PID", "add_parser"]

ENV_MOCK_PID: Final = "GAMEAPI_MOCK_PID"  # printed by `mock-server --print-env`, for `kill`


async def _mock_server(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..testing import FakePlatform, Faults

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
    if needs_insecure_http(fake.base_url):
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


def add_parser(commands: Any) -> None:
    """Register ``mock-server`` on the command's subparsers."""
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
    mock.add_argument("--api-token", type=option.api_token,
                      help="the agent's token (default: random, printed)")
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
    mock.set_defaults(run=_mock_server)
