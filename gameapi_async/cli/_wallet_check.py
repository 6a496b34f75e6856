"""``gameapi wallet-check URL``: the testing kit's wallet conformance check, from a shell."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO
from urllib.parse import urlsplit

from .._config import ENV_AGENT_ID, ENV_API_TOKEN, check_api_token
from .._errors import InvalidParameterError
from . import _options as option
from ._status import EXIT_FAILED, EXIT_OK

__all__ = ["add_parser"]


def _credentials(args: argparse.Namespace) -> tuple[int, str]:
    """The agent id and token, from the flags or the environment, by the SDK's own rules."""
    agent_text, agent_name = args.agent_id, "--agent-id"
    if agent_text is None:
        agent_text, agent_name = os.environ.get(ENV_AGENT_ID), ENV_AGENT_ID
    token, token_name = args.api_token, "--api-token"
    if token is None:
        token, token_name = os.environ.get(ENV_API_TOKEN), ENV_API_TOKEN
    if not agent_text and agent_name == ENV_AGENT_ID:
        raise InvalidParameterError("--agent-id", f"not given, and {ENV_AGENT_ID} is not set")
    if not token and token_name == ENV_API_TOKEN:
        raise InvalidParameterError("--api-token", f"not given, and {ENV_API_TOKEN} is not set")
    agent_id = option.agent_id_from(agent_name, agent_text or "")
    try:
        check_api_token(token or "")
    except InvalidParameterError as error:
        raise option.in_flag_terms(error, token_name) from None
    return agent_id, token or ""


def _check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidParameterError("URL", "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError("URL", "must be an absolute http(s) URL")
    return url


async def _wallet_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """0 when every check passed, 1 when any failed; bad usage raises before anything is sent."""
    from ..testing import run_wallet_check  # aiohttp loads when the check runs

    url = _check_url(args.url)
    agent_id, token = _credentials(args)
    if not 1 <= args.concurrency <= 256:
        raise InvalidParameterError("--concurrency", "must be between 1 and 256")
    report = await run_wallet_check(url, agent_id=agent_id, api_token=token,
                                    player_id=args.player_id, currency=args.currency,
                                    concurrency=args.concurrency,
                                    callback_timeout=args.timeout)
    if args.json:
        print(json.dumps(report.as_json(), indent=2), file=out)
    else:
        print(report.text(), file=out)
    return EXIT_OK if report.passed else EXIT_FAILED


def add_parser(commands: Any) -> None:
    """Register ``wallet-check`` on the command's subparsers."""
    parser = commands.add_parser(
        "wallet-check", help="check a running wallet callback endpoint before go-live",
        description="Send signed getBalance and makeBet callbacks to URL as the platform "
        "would, and report which conformance checks pass. Moves a small share of the "
        "money of the given player (amounts are sized to the balance), who must exist with "
        "a balance of at least 20.",
    )
    parser.add_argument("url", metavar="URL", help="the wallet's callback URL")
    parser.add_argument("--agent-id", help=f"your agent id (default ${ENV_AGENT_ID})")
    parser.add_argument("--api-token", help=f"your API token (default ${ENV_API_TOKEN})")
    parser.add_argument("--player-id", type=option.parameter("player_id"),
                        default="wallet-check-player",
                        help="the test player (default: wallet-check-player)")
    parser.add_argument("--currency", type=option.parameter("currency"), default="USD",
                        help="default: USD")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="makeBets racing each other in the concurrency checks, 1-256 "
                        "(default 8)")
    parser.add_argument("--timeout", type=option.timeout, default=30.0,
                        help="seconds per callback (default 30)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=_wallet_check)
